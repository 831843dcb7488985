"""Shapes world: captions, held-out split, clip drawing and the detector."""

import itertools
import json
from collections import Counter

import cv2
import numpy as np
import pytest

from studio.shapes.clips import (ClipSpec, caption_for, draw_clip, sample_clip_spec,
                                 training_examples)
from studio.shapes.detector import detect_clip
from studio.shapes.vocabulary import (ALL_TRIPLES, COLOURS, DIRECTIONS, HELD_OUT, HELDOUT_PATH,
                                      SHAPES, TRAINING_TRIPLES, caption, load_heldout,
                                      save_heldout)

W, H, F = 64, 64, 16


@pytest.fixture(scope="module")
def examples():
    # One shared draw of 2000 examples keeps the suite fast.
    return list(training_examples(seed=7, count=2000))


def degrade(clip, rng):
    """Blur, colour cast and noise, roughly what a small generative model produces."""
    blurred = np.stack([cv2.GaussianBlur(f, (3, 3), 0) for f in clip]).astype(np.float32)
    cast = blurred * rng.uniform(0.8, 1.0, 3) + rng.uniform(0.0, 30.0, 3)
    noisy = cast + rng.normal(0.0, 12.0, clip.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)


# --- vocabulary -------------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (("red", "circle", "left"), "a red circle moving left"),
    ((None, "circle", "left"), "a circle moving left"),
    (("red", "circle", None), "a red circle"),
    (("red", None, "left"), "a red shape moving left"),
    ((None, None, "up"), "a shape moving up"),
    (("blue", None, None), "a blue shape"),
    ((None, None, None), "a shape"),
])
def test_caption_grammar(args, expected):
    assert caption(*args) == expected


def test_caption_rejects_unknown_words():
    with pytest.raises(ValueError):
        caption("purple", "circle", "left")
    with pytest.raises(ValueError):
        caption_for(("red", "circle", "left"), omit="size")


def test_caption_for_omits_one_attribute():
    attrs = ("cyan", "triangle", "down")
    assert caption_for(attrs) == "a cyan triangle moving down"
    assert caption_for(attrs, "colour") == "a triangle moving down"
    assert caption_for(attrs, "shape") == "a cyan shape moving down"
    assert caption_for(attrs, "direction") == "a cyan triangle"


def test_heldout_keeps_every_pair_in_training():
    assert len(HELD_OUT) == 9 and len(set(HELD_OUT)) == 9
    assert set(HELD_OUT) <= set(ALL_TRIPLES)
    assert len(TRAINING_TRIPLES) == 72 - 9
    train = set(TRAINING_TRIPLES)
    # Every pair of attribute values (not only held-out ones) is still seen in training.
    for i, j in itertools.combinations(range(3), 2):
        seen = {(t[i], t[j]) for t in train}
        every = {(t[i], t[j]) for t in ALL_TRIPLES}
        assert seen == every


def test_heldout_file_matches_and_roundtrips(tmp_path):
    assert load_heldout(HELDOUT_PATH) == HELD_OUT
    assert json.loads(HELDOUT_PATH.read_text()) == [list(t) for t in HELD_OUT]
    path = tmp_path / "sub" / "heldout.json"
    save_heldout(path, HELD_OUT[:2])
    assert load_heldout(path) == HELD_OUT[:2]


# --- training examples -------------------------------------------------------

def test_examples_are_deterministic_from_seed():
    a = list(training_examples(seed=3, count=20))
    b = list(training_examples(seed=3, count=20))
    c = list(training_examples(seed=4, count=20))
    for (clip_a, cap_a, attrs_a), (clip_b, cap_b, attrs_b) in zip(a, b):
        assert np.array_equal(clip_a, clip_b) and cap_a == cap_b and attrs_a == attrs_b
    assert any(not np.array_equal(x[0], y[0]) for x, y in zip(a, c))


def test_examples_never_yield_heldout_and_cover_vocabulary(examples):
    attrs = [a for _, _, a in examples]
    assert not set(attrs) & set(HELD_OUT)
    assert {a[0] for a in attrs} == set(COLOURS)
    assert {a[1] for a in attrs} == set(SHAPES)
    assert {a[2] for a in attrs} == set(DIRECTIONS)


def test_example_clips_have_expected_format(examples):
    clip, text, _ = examples[0]
    assert clip.shape == (F, H, W, 3) and clip.dtype == np.uint8
    assert isinstance(text, str)


def test_partial_captions_rate_and_grammar(examples):
    omitted = Counter()
    for _, text, attrs in examples:
        full = caption_for(attrs)
        partial = [caption_for(attrs, omit) for omit in ("colour", "shape", "direction")]
        assert text == full or text in partial
        if text != full:
            omitted[partial.index(text)] += 1
    rate = sum(omitted.values()) / len(examples)
    assert 0.11 < rate < 0.19
    assert len(omitted) == 3 and min(omitted.values()) > 50


def test_no_partial_captions_when_rate_is_zero():
    for _, text, attrs in training_examples(seed=1, count=50, partial_caption_rate=0.0):
        assert text == caption_for(attrs)


# --- clip geometry ------------------------------------------------------------

def test_shape_fully_visible_and_constant_size(examples):
    for clip, _, _ in examples:
        # Elementwise maximum: numpy's max over a length-3 axis is slow.
        value = np.maximum(np.maximum(clip[..., 0], clip[..., 1]), clip[..., 2])
        union = value.max(axis=0)
        assert not union[0].any() and not union[-1].any()
        assert not union[:, 0].any() and not union[:, -1].any()
        counts = (value > 80).sum(axis=(1, 2))
        assert counts.min() > 0.85 * np.median(counts)
        assert counts.max() < 1.15 * np.median(counts)


def test_travel_is_at_least_40_percent_and_size_in_range():
    rng = np.random.default_rng(0)
    for colour, shape, direction in ALL_TRIPLES * 5:
        spec = sample_clip_spec(rng, colour, shape, direction, W, H, F)
        assert 14 <= spec.size_px <= 22
        travel = spec.speed_px_per_frame * (F - 1)
        assert travel >= 0.4 * (W if direction in ("left", "right") else H)
        start, end = np.array(spec.centre(0)), np.array(spec.centre(F - 1))
        half = spec.size_px / 2
        for x, y in (start, end):
            assert half <= x <= W - half and half <= y <= H - half


def test_lit_centroid_travels_in_direction():
    spec = ClipSpec("green", "square", "up", 16, (32.0, 50.0), 2.0)
    clip = draw_clip(spec, W, H, F)
    ys = [np.nonzero(f.max(axis=-1))[0].mean() for f in clip[[0, -1]]]
    assert ys[0] - ys[1] == pytest.approx(30.0, abs=0.5)


# --- detector -----------------------------------------------------------------

def test_detector_reads_every_combination_on_clean_clips():
    rng = np.random.default_rng(11)
    for attrs in ALL_TRIPLES:
        clip = draw_clip(sample_clip_spec(rng, *attrs, W, H, F), W, H, F)
        found = detect_clip(clip)
        assert found.attrs == attrs
        assert all(c is not None for c in found.centroids)
        assert found.first_frame_bbox is not None


def test_detector_is_robust_to_noise_blur_and_colour_cast():
    rng = np.random.default_rng(12)
    results = Counter()
    for i in range(144):
        attrs = ALL_TRIPLES[int(rng.integers(len(ALL_TRIPLES)))]
        clip = degrade(draw_clip(sample_clip_spec(rng, *attrs, W, H, F), W, H, F), rng)
        found = detect_clip(clip)
        for name, got, want in zip(("colour", "shape", "direction"), found.attrs, attrs):
            results[name] += got == want
        results["all"] += found.attrs == attrs
    assert min(results.values()) >= 0.95 * 144, results


def test_detector_on_black_clip_returns_nothing():
    found = detect_clip(np.zeros((F, H, W, 3), np.uint8))
    assert found.attrs == (None, None, None)
    assert found.centroids == [None] * F and found.first_frame_bbox is None
    # Pure noise on a grey-ish background must not hallucinate a shape either.
    noise = np.random.default_rng(0).normal(20.0, 25.0, (F, H, W, 3))
    assert detect_clip(np.clip(noise, 0, 255).astype(np.uint8)).attrs == (None, None, None)


def test_detector_abstains_on_static_and_grey_shapes():
    static = draw_clip(ClipSpec("red", "circle", "left", 18, (32.0, 32.0), 0.0), W, H, F)
    assert detect_clip(static).direction is None
    assert detect_clip(static).shape == "circle"
    grey = np.repeat(static.max(axis=-1, keepdims=True), 3, axis=-1)
    assert detect_clip(grey).colour is None
