"""Tests for studio.media.video_io using real files written and read back with PyAV/OpenCV."""
from __future__ import annotations

import errno
import os
import struct
import subprocess
import sys
from fractions import Fraction

import av
import cv2
import numpy as np
import pytest

from studio.media import writers
from studio.media.video_io import MediaError, Video, read_image, read_video, write_video


def gradient_clip(frames: int = 6, height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth moving gradient: compresses well, so a good codec keeps it close."""
    y, x = np.mgrid[0:height, 0:width]
    clip = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        clip[i, ..., 0] = x * 200 // (width - 1) + 4 * i  # max 228: no wrap-around edge
        clip[i, ..., 1] = y * 255 // (height - 1)
        clip[i, ..., 2] = 128
    return clip


def noise_clip(frames: int = 3, height: int = 9, width: int = 11, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, height, width, 3), dtype=np.uint8)


def encode_with_pyav(path, codec: str, pix_fmt: str, clip: np.ndarray, rate: int, **options) -> None:
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate, options=options)
        stream.width, stream.height, stream.pix_fmt = clip.shape[2], clip.shape[1], pix_fmt
        for i, array in enumerate(clip):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def write_png(path, bgr_or_gray: np.ndarray) -> None:
    assert cv2.imwrite(str(path), bgr_or_gray)


# ---------------------------------------------------------------- mp4


def test_mp4_round_trip(tmp_path):
    clip = gradient_clip(frames=8)
    out = write_video(Video(clip, 24.0), tmp_path / "clip.mp4", crf=10)

    assert out == tmp_path / "clip.mp4"
    assert os.listdir(tmp_path) == ["clip.mp4"]
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.codec_context.colorspace, stream.codec_context.color_range) == (6, 1)  # BT.601, limited
        assert stream.average_rate == 24
        assert sum(1 for _ in container.decode(stream)) == 8
    video = read_video(out)
    assert video.frames.shape == (8, 48, 64, 3) and video.frames.dtype == np.uint8
    assert video.frames.flags.c_contiguous
    assert (video.num_frames, video.height, video.width) == (8, 48, 64)
    assert video.fps == pytest.approx(24.0)
    error = video.frames.astype(int) - clip
    assert np.abs(error).mean() < 1.5
    assert np.abs(error.mean()) < 0.5  # no overall darkening from yuv<->rgb rounding


def test_written_files_get_normal_permissions(tmp_path):
    # Temp names from mkstemp/mkdtemp would be 0600/0700; outputs must look like normal files.
    (tmp_path / "ref_file").touch()
    (tmp_path / "ref_dir").mkdir()
    out = write_video(Video(gradient_clip(frames=2), np.float32(16.0)), tmp_path / "clip.mp4")
    folder = write_video(Video(noise_clip(frames=1), Fraction(16)), f"{tmp_path / 'frames'}/")

    def mode(path):
        return path.stat().st_mode & 0o777

    assert mode(out) == mode(folder / "00000.png") == mode(tmp_path / "ref_file")
    assert mode(folder) == mode(tmp_path / "ref_dir")


def test_mp4_keeps_ntsc_rate_and_creates_parents(tmp_path):
    out = write_video(Video(gradient_clip(frames=3), 30000 / 1001), tmp_path / "a" / "b" / "c.mp4")
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    assert read_video(out).fps == pytest.approx(29.97, abs=1e-3)


def test_mp4_odd_size_is_padded_by_repeating_edge(tmp_path):
    clip = gradient_clip(frames=2, height=47, width=63)
    video = read_video(write_video(Video(clip, 16.0), tmp_path / "odd.mp4", crf=10))

    assert video.frames.shape == (2, 48, 64, 3)
    padded_row, last_row = video.frames[:, 47, :63].astype(int), clip[:, 46].astype(int)
    padded_col, last_col = video.frames[:, :47, 63].astype(int), clip[:, :, 62].astype(int)
    assert np.abs(padded_row - last_row).mean() < 3.0
    assert np.abs(padded_col - last_col).mean() < 3.0


# ---------------------------------------------------------------- PNG folders


@pytest.mark.parametrize("as_existing_empty_dir", [False, True])
def test_png_folder_round_trip_is_exact(tmp_path, as_existing_empty_dir):
    clip = noise_clip(frames=3)
    folder = tmp_path / "frames"
    if as_existing_empty_dir:
        folder.mkdir()  # an existing empty folder is a fine target, even without "/"
        out = write_video(Video(clip, 24.0), folder)
    else:
        out = write_video(Video(clip, 24.0), f"{folder}{os.sep}")

    assert out == folder
    assert sorted(os.listdir(folder)) == ["00000.png", "00001.png", "00002.png"]
    assert os.listdir(tmp_path) == ["frames"]
    video = read_video(folder)
    np.testing.assert_array_equal(video.frames, clip)
    assert video.fps == 16.0


def test_png_folder_uses_natural_sort_and_skips_hidden_files(tmp_path):
    for value, name in [(10, "frame2.png"), (20, "frame10.png"), (5, "frame1.png"), (99, ".frame0.png")]:
        write_png(tmp_path / name, np.full((4, 4, 3), value, np.uint8))
    (tmp_path / "notes.txt").write_text("not a frame")

    video = read_video(tmp_path)
    assert video.frames[:, 0, 0, 0].tolist() == [5, 10, 20]


def test_png_folder_with_mismatched_size_names_the_file(tmp_path):
    write_png(tmp_path / "1.png", np.zeros((4, 4, 3), np.uint8))
    write_png(tmp_path / "2.png", np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(MediaError, match=r"2\.png"):
        read_video(tmp_path)


def test_folder_without_pngs_is_an_error(tmp_path):
    (tmp_path / "readme.txt").write_text("hi")
    with pytest.raises(MediaError, match="no PNG"):
        read_video(tmp_path)


# ---------------------------------------------------------------- other readable formats


def test_read_gif(tmp_path):
    clip = np.zeros((4, 24, 32, 3), np.uint8)
    clip[1::2, ..., 0] = 255
    encode_with_pyav(tmp_path / "a.gif", "gif", "rgb8", clip, rate=10)

    video = read_video(tmp_path / "a.gif")
    assert video.frames.shape == (4, 24, 32, 3)
    assert video.fps == pytest.approx(10.0)
    assert video.frames[:, 5, 5, 0].tolist()[0] < 10 and video.frames[1, 5, 5, 0] > 240


def test_read_webm_vp9(tmp_path):
    clip = gradient_clip(frames=4, height=32, width=48)
    encode_with_pyav(tmp_path / "a.webm", "libvpx-vp9", "yuv420p", clip, rate=12,
                     deadline="realtime", **{"cpu-used": "8", "crf": "10", "b": "0"})

    video = read_video(tmp_path / "a.webm")
    assert video.frames.shape == (4, 32, 48, 3)
    assert video.fps == pytest.approx(12.0)
    assert np.abs(video.frames.astype(int) - clip).mean() < 6.0


# ---------------------------------------------------------------- safety rules


def test_refuses_to_overwrite_file_unless_asked(tmp_path):
    target = tmp_path / "out.mp4"
    write_video(Video(gradient_clip(frames=2), 16.0), target)
    before = target.read_bytes()

    with pytest.raises(MediaError, match="already exists"):
        write_video(Video(gradient_clip(frames=5), 16.0), target)
    assert target.read_bytes() == before

    write_video(Video(gradient_clip(frames=5), 16.0), target, overwrite=True)
    assert read_video(target).num_frames == 5
    assert os.listdir(tmp_path) == ["out.mp4"]


def test_refuses_to_overwrite_folder_unless_asked(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "keep.txt").write_text("precious")

    with pytest.raises(MediaError, match="already exists"):
        write_video(Video(noise_clip(frames=2), 16.0), f"{folder}/")
    assert os.listdir(folder) == ["keep.txt"]

    clip = noise_clip(frames=2, seed=1)
    write_video(Video(clip, 16.0), folder, overwrite=True)
    assert sorted(os.listdir(folder)) == ["00000.png", "00001.png"]
    np.testing.assert_array_equal(read_video(folder).frames, clip)
    assert os.listdir(tmp_path) == ["frames"]


def test_png_frames_onto_existing_file_is_refused(tmp_path):
    (tmp_path / "x").write_text("a file")
    with pytest.raises(MediaError, match="already exists"):
        write_video(Video(noise_clip(), 16.0), f"{tmp_path / 'x'}/")
    with pytest.raises(MediaError, match="not a folder"):
        write_video(Video(noise_clip(), 16.0), f"{tmp_path / 'x'}/", overwrite=True)


def test_failure_mid_mp4_encode_leaves_nothing(tmp_path, monkeypatch):
    out_dir = tmp_path / "out"
    real_from_ndarray = av.VideoFrame.from_ndarray
    calls, seen_while_encoding = [], []

    def failing_from_ndarray(*args, **kwargs):
        calls.append(1)
        if len(calls) == 50:  # past x264's lookahead, so packets are already on disk
            seen_while_encoding.extend(os.listdir(out_dir))
            raise RuntimeError("simulated encoder crash")
        return real_from_ndarray(*args, **kwargs)

    monkeypatch.setattr(av.VideoFrame, "from_ndarray", failing_from_ndarray)
    with pytest.raises(RuntimeError, match="simulated"):
        write_video(Video(gradient_clip(frames=60, height=16, width=16), 16.0), out_dir / "clip.mp4")
    assert len(seen_while_encoding) == 1 and ".partial" in seen_while_encoding[0]  # a real partial file
    assert os.listdir(out_dir) == []


def test_failure_after_encode_wraps_os_error_and_leaves_nothing(tmp_path, monkeypatch):
    real_writer = writers.FILE_WRITERS[".mp4"]

    def writer_then_disk_full(video, path, encoding):
        real_writer(video, path, encoding)
        assert path.stat().st_size > 0
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setitem(writers.FILE_WRITERS, ".mp4", writer_then_disk_full)
    with pytest.raises(MediaError, match=r"clip\.mp4.*No space left"):
        write_video(Video(gradient_clip(frames=2), 16.0), tmp_path / "clip.mp4")
    assert os.listdir(tmp_path) == []


def test_failure_mid_png_folder_keeps_old_folder_and_leaves_no_temp(tmp_path, monkeypatch):
    folder = tmp_path / "frames"
    old = noise_clip(frames=2, seed=5)
    write_video(Video(old, 16.0), f"{folder}/")
    real_write_png, calls = writers._write_png, []

    def failing_write_png(data, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write_png(data, path)

    monkeypatch.setattr(writers, "_write_png", failing_write_png)
    with pytest.raises(MediaError, match="No space left") as info:
        write_video(Video(noise_clip(frames=4), 16.0), folder, overwrite=True)
    assert str(folder) in str(info.value)
    assert os.listdir(tmp_path) == ["frames"]
    np.testing.assert_array_equal(read_video(folder).frames, old)


def test_target_created_during_encode_is_not_clobbered(tmp_path, monkeypatch):
    target = tmp_path / "clip.mp4"
    real_writer = writers.FILE_WRITERS[".mp4"]

    def writer_racing_another_job(video, path, encoding):
        real_writer(video, path, encoding)
        target.write_bytes(b"another job's export")

    monkeypatch.setitem(writers.FILE_WRITERS, ".mp4", writer_racing_another_job)
    with pytest.raises(MediaError, match="already exists"):
        write_video(Video(gradient_clip(frames=2), 16.0), target)
    assert target.read_bytes() == b"another job's export"
    assert os.listdir(tmp_path) == ["clip.mp4"]


def test_unwritable_location_is_a_media_error(tmp_path):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(MediaError, match="blocker"):
        write_video(Video(gradient_clip(frames=2), 16.0), tmp_path / "blocker" / "clip.mp4")
    assert os.listdir(tmp_path) == ["blocker"]


def test_unsupported_suffix_lists_supported_kinds(tmp_path):
    with pytest.raises(MediaError, match=r"\.avi.*\.mp4.*folder"):
        write_video(Video(gradient_clip(frames=2), 16.0), tmp_path / "clip.avi")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("frames, message", [
    (np.zeros((2, 8, 8, 3), np.float32), "uint8"),
    (np.zeros((8, 8, 3), np.uint8), "shape"),
    (np.zeros((2, 8, 8, 4), np.uint8), "shape"),
    (np.zeros((0, 8, 8, 3), np.uint8), "shape"),
])
def test_invalid_frames_are_rejected(tmp_path, frames, message):
    with pytest.raises(ValueError, match=message):
        write_video(Video(frames, 16.0), tmp_path / "x.mp4")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("fps", [0, -1.0, float("nan"), float("inf"), "16"])
def test_invalid_fps_is_rejected(tmp_path, fps):
    with pytest.raises(ValueError, match="fps"):
        write_video(Video(noise_clip(), fps), tmp_path / "x.mp4")


# ---------------------------------------------------------------- images


def test_read_image_rgba_is_composited_on_black(tmp_path):
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., :3] = (40, 80, 200)  # BGR, i.e. RGB (200, 80, 40)
    bgra[..., 3] = [[255, 0, 128]] * 2
    write_png(tmp_path / "a.png", bgra)

    image = read_image(tmp_path / "a.png")
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    assert image[0, 0].tolist() == [200, 80, 40]
    assert image[0, 1].tolist() == [0, 0, 0]
    assert image[0, 2].tolist() == [100, 40, 20]


def test_read_image_gray_and_16_bit(tmp_path):
    write_png(tmp_path / "gray.png", np.array([[0, 100, 255]], np.uint8))
    assert read_image(tmp_path / "gray.png").tolist() == [[[0] * 3, [100] * 3, [255] * 3]]

    bgr16 = np.array([[[0, 0, 65535], [257 * 10, 257 * 20, 257 * 30]]], np.uint16)
    write_png(tmp_path / "deep.png", bgr16)
    assert read_image(tmp_path / "deep.png").tolist() == [[[255, 0, 0], [30, 20, 10]]]

    write_png(tmp_path / "gray16.png", np.array([[65535, 257 * 7]], np.uint16))
    assert read_image(tmp_path / "gray16.png").tolist() == [[[255] * 3, [7] * 3]]


def test_read_image_jpeg_bmp_webp(tmp_path):
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 2] = 200  # red
    for suffix in (".jpg", ".bmp", ".webp"):
        write_png(tmp_path / f"a{suffix}", bgr)
        image = read_image(tmp_path / f"a{suffix}")
        assert image.shape == (8, 8, 3)
        assert abs(int(image[4, 4, 0]) - 200) < 8 and image[4, 4, 2] < 8


def test_read_image_applies_jpeg_exif_orientation(tmp_path):
    ok, encoded = cv2.imencode(".jpg", np.zeros((16, 32, 3), np.uint8))
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0))  # "rotate 90"
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
    data = encoded.tobytes()
    (tmp_path / "phone.jpg").write_bytes(data[:2] + app1 + data[2:])
    assert read_image(tmp_path / "phone.jpg").shape == (32, 16, 3)


# ---------------------------------------------------------------- read errors


def test_missing_paths_are_not_found(tmp_path):
    with pytest.raises(MediaError, match=r"nope\.png not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(MediaError, match=r"nope\.mp4 not found"):
        read_video(tmp_path / "nope.mp4")


def test_corrupt_files_name_the_file(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"definitely not a video" * 10)
    (tmp_path / "bad.png").write_bytes(b"\x89PNG garbage")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(MediaError, match=r"bad\.mp4"):
        read_video(tmp_path / "bad.mp4")
    with pytest.raises(MediaError, match=r"bad\.png"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(MediaError, match=r"empty\.png"):
        read_image(tmp_path / "empty.png")


def test_module_does_not_import_torch_or_qt():
    code = ("import sys, studio.media.video_io; "
            "bad = [m for m in ('torch', 'diffusers', 'PySide6') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert result.returncode == 0, result.stderr
