"""Masks: regions as fractions of the frame over a frame range, feathered inside, or painted; mistakes named."""
import numpy as np
import PIL.Image
import pytest

from studio.media.masks import MaskError, region_mask


def make(**options):
    return region_mask(width=32, height=16, frames=9, **options).values


def test_a_rectangle_covers_exactly_the_pixels_whose_centres_it_holds_on_its_frames():
    values = make(left=0.5, top=0.0, right=1.0, bottom=0.5, first_frame=2, last_frame=4)
    assert values.shape == (9, 16, 32) and values.dtype == np.float32
    expected = np.zeros((16, 32), np.float32)
    expected[:8, 16:] = 1
    for index in range(9):
        assert np.array_equal(values[index], expected if 2 <= index <= 4 else np.zeros_like(expected)), index


def test_negative_frame_indices_count_from_the_end():
    values = make(left=0.0, right=1.0, first_frame=-3, last_frame=-1)
    assert [bool(frame.any()) for frame in values] == [False] * 6 + [True] * 3


def test_an_ellipse_is_the_one_inscribed_in_the_rectangle():
    values = region_mask(width=32, height=32, frames=1, shape="ellipse", left=0.25, top=0.25, right=0.75,
                         bottom=0.75).values[0]
    assert values[16, 16] == 1 and values[8, 16] == 1 and values[16, 8] == 1  # centre and the edges' middles
    assert values[8, 8] == 0 and values[23, 23] == 0  # the rectangle's corners are outside the ellipse
    assert values[:8].sum() == 0 and values[:, 24:].sum() == 0
    assert abs(values.sum() - np.pi * 8 * 8) < 12


def test_feathering_ramps_inside_the_region_and_never_reaches_outside_it():
    hard = make(left=0.25, top=0.0, right=0.75, bottom=1.0)
    soft = make(left=0.25, top=0.0, right=0.75, bottom=1.0, feather=4.0)
    assert np.array_equal(soft > 0, hard > 0)  # the same pixels change at all
    row = soft[0, 8]
    assert np.allclose(row[8:13], [0.25, 0.5, 0.75, 1.0, 1.0])  # 1/4 at the edge, full 4 pixels in
    assert np.allclose(row[19:24], [1.0, 1.0, 0.75, 0.5, 0.25])
    assert (soft[0, :, 12:20] == 1).all()
    # The frame's own border is not an edge of the region: a region touching it is not faded there.
    assert (soft[0, 0, 12:20] == 1).all() and (soft[0, -1, 12:20] == 1).all()


def test_a_painted_png_is_used_on_every_frame_of_the_range_with_its_grey_levels(tmp_path):
    painted = np.zeros((16, 32, 3), np.uint8)
    painted[4:8, 4:8] = 255
    painted[10, 20] = 128
    PIL.Image.fromarray(painted).save(tmp_path / "m.png")
    values = make(painted=tmp_path / "m.png", first_frame=1, last_frame=-2)
    assert values[0].sum() == 0 and values[-1].sum() == 0
    assert (values[1:-1, 4:8, 4:8] == 1).all() and np.allclose(values[1:-1, 10, 20], 128 / 255)
    assert values[1:-1].sum() == pytest.approx(7 * (16 + 128 / 255))


def test_a_folder_of_painted_pngs_gives_one_mask_per_frame(tmp_path):
    for index in range(9):
        frame = np.zeros((16, 32), np.uint8)
        frame[:, index] = 255
        PIL.Image.fromarray(frame).save(tmp_path / f"{index:03d}.png")
    values = make(painted=tmp_path)
    for index in range(9):
        assert set(zip(*values[index].nonzero())) == {(row, index) for row in range(16)}


@pytest.mark.parametrize("options, param, message", [
    ({"first_frame": 9}, "first_frame", "frame 9 is outside the clip, which has 9 frames"),
    ({"last_frame": -10}, "last_frame", "frame -10 is outside the clip"),
    ({"first_frame": 5, "last_frame": 3}, "first_frame", "comes after the last frame"),
    ({"first_frame": -1, "last_frame": 0}, "first_frame", "comes after the last frame"),
    ({"left": 0.6, "right": 0.6}, "right", "must be greater than left (0.6)"),
    ({"top": 0.8, "bottom": 0.2}, "bottom", "must be greater than top (0.8)"),
    ({"left": -0.1}, "left", "between 0 and 1"),
    ({"bottom": 1.5}, "bottom", "between 0 and 1"),
    ({"left": 0.5, "right": 0.51, "top": 0.5, "bottom": 0.51}, "right", "covers no pixel"),
    ({"feather": -1.0}, "feather", "0 or more"),
    ({"shape": "star"}, "shape", "rectangle, ellipse"),
])
def test_mistakes_name_the_parameter(options, param, message):
    with pytest.raises(MaskError) as caught:
        make(**options)
    assert caught.value.param == param and message in caught.value.message


def test_painted_masks_that_do_not_fit_the_clip_are_refused(tmp_path):
    PIL.Image.fromarray(np.full((16, 16), 255, np.uint8)).save(tmp_path / "small.png")
    PIL.Image.fromarray(np.zeros((16, 32), np.uint8)).save(tmp_path / "black.png")
    (tmp_path / "three").mkdir()
    for index in range(3):
        PIL.Image.fromarray(np.full((16, 32), 255, np.uint8)).save(tmp_path / "three" / f"{index}.png")
    cases = [("small.png", "the painted mask is 16x16 but the clip is 32x16"),
             ("black.png", "the painted mask is black on frames 0..8: nothing to inpaint"),
             ("three", "the painted mask folder has 3 frames but the clip has 9"),
             ("nowhere.png", "not found")]
    for name, message in cases:
        with pytest.raises(MaskError) as caught:
            make(painted=tmp_path / name)
        assert caught.value.param == "path" and message in caught.value.message, name
