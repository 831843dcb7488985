"""Exporting clips: every format read back with PyAV, upscaling, names that never overwrite, failures that leave
nothing behind."""
from __future__ import annotations

import datetime
import errno
import os

import av
import cv2
import numpy as np
import pytest

from studio.media import writers
from studio.media.export import ExportError, export_clip
from studio.media.video_io import Video, read_video

NOW = datetime.datetime(2026, 1, 2, 3, 4, 5)
CODECS = {"mp4": "h264", "webm": "vp9", "gif": "gif", "png": "png"}


def moving_clip(frames: int = 16, height: int = 40, width: int = 56) -> np.ndarray:
    """A soft blob moving right over a gradient: smooth enough for every codec, different in every frame."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    clip = np.empty((frames, height, width, 3), np.uint8)
    for i in range(frames):
        blob = np.exp(-((x - 8 - 2.5 * i) ** 2 + (y - height / 2) ** 2) / 40.0)
        clip[i, ..., 0] = np.clip(40 + 200 * blob, 0, 255)
        clip[i, ..., 1] = y * 180 / height
        clip[i, ..., 2] = x * 120 / width
    return clip


def decoded(path) -> tuple[str, int, tuple[int, int], float]:
    """(codec name, frame count, (width, height), average rate) as PyAV reads them; a folder is read frame by frame."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    codec, count, size, rate = "", 0, (0, 0), 0.0
    for file in files:
        with av.open(str(file)) as container:
            stream = container.streams.video[0]
            codec, rate = stream.codec_context.name, float(stream.average_rate or 0)
            for frame in container.decode(stream):
                count, size = count + 1, (frame.width, frame.height)
    return codec, count, size, rate


@pytest.mark.parametrize("kind", ["mp4", "webm", "gif", "png"])
def test_every_format_reads_back_with_pyav_with_the_right_codec_and_frame_count(tmp_path, kind):
    clip = moving_clip()
    export = export_clip(Video(clip, 16.0), tmp_path, "clip-{counter}", kind, provenance=False, now=NOW)
    assert export.path == tmp_path / ("clip-0001" + writers.FORMATS[kind])
    codec, count, size, _ = decoded(export.path)
    assert (codec, count, size) == (CODECS[kind], 16, (56, 40))
    frames = read_video(export.path).frames
    tolerance = {"mp4": 6, "webm": 6, "gif": 12, "png": 0}[kind]  # mean error: lossy codecs stay close
    assert np.abs(frames.astype(int) - clip).mean() <= tolerance
    assert sorted(os.listdir(tmp_path)) == [export.path.name]  # no temporary file left beside it


@pytest.mark.parametrize("factor", [2, 4])
def test_upscale_multiplies_the_size_with_smooth_resampling(tmp_path, factor):
    clip = moving_clip(frames=4)
    export = export_clip(Video(clip, 16.0), tmp_path, "big", "png", upscale=factor, provenance=False)
    big = read_video(export.path).frames
    assert big.shape == (4, 40 * factor, 56 * factor, 3)
    # Lanczos, not nearest neighbour: shrinking it back gives the original, and it has in-between values, not blocks.
    back = np.stack([cv2.resize(frame, (56, 40), interpolation=cv2.INTER_AREA) for frame in big])
    assert np.abs(back.astype(int) - clip).mean() < 1.5
    blocks = np.repeat(np.repeat(clip, factor, axis=1), factor, axis=2)
    assert not np.array_equal(big, blocks)


def test_fps_zero_keeps_the_clips_own_and_a_value_replaces_it(tmp_path):
    own = export_clip(Video(moving_clip(frames=4), 16.0), tmp_path, "own", "mp4", provenance=False)
    slow = export_clip(Video(moving_clip(frames=4), 16.0), tmp_path, "slow", "webm", fps=8, provenance=False)
    assert decoded(own.path)[3] == 16.0 and decoded(slow.path)[3] == 8.0


def test_the_counter_moves_on_and_nothing_is_ever_overwritten(tmp_path):
    clip = Video(moving_clip(frames=2), 16.0)
    paths = [export_clip(clip, tmp_path, "{date}-seed{seed}-{counter}", "mp4", seed="7", provenance=False,
                         now=NOW).path for _ in range(3)]
    assert [p.name for p in paths] == [f"2026-01-02-seed7-000{i}.mp4" for i in (1, 2, 3)]
    before = {p: p.read_bytes() for p in paths}
    (tmp_path / "2026-01-02-seed7-0009.mp4").write_bytes(b"kept by hand")
    assert export_clip(clip, tmp_path, "{date}-seed{seed}-{counter}", "mp4", seed="7", provenance=False,
                       now=NOW).path.name == "2026-01-02-seed7-0010.mp4"
    assert all(p.read_bytes() == data for p, data in before.items())
    assert (tmp_path / "2026-01-02-seed7-0009.mp4").read_bytes() == b"kept by hand"


def test_a_taken_name_without_counter_is_numbered_unless_overwrite_is_asked(tmp_path):
    (tmp_path / "clip.gif").write_bytes(b"earlier")
    clip = Video(moving_clip(frames=2), 16.0)
    assert export_clip(clip, tmp_path, "clip", "gif", provenance=False).path.name == "clip-2.gif"
    assert (tmp_path / "clip.gif").read_bytes() == b"earlier"
    assert export_clip(clip, tmp_path, "clip", "gif", provenance=False, overwrite=True).path.name == "clip.gif"
    assert (tmp_path / "clip.gif").read_bytes() != b"earlier"


def test_a_name_taken_while_encoding_moves_the_counter_on(tmp_path, monkeypatch):
    real_writer = writers.FILE_WRITERS[".mp4"]

    def writer_racing_another_job(video, path, encoding):
        real_writer(video, path, encoding)
        (tmp_path / "clip-0001.mp4").write_bytes(b"another job's export")

    monkeypatch.setitem(writers.FILE_WRITERS, ".mp4", writer_racing_another_job)
    export = export_clip(Video(moving_clip(frames=2), 16.0), tmp_path, "clip-{counter}", "mp4", provenance=False)
    assert export.path.name == "clip-0002.mp4"
    assert (tmp_path / "clip-0001.mp4").read_bytes() == b"another job's export"
    assert sorted(os.listdir(tmp_path)) == ["clip-0001.mp4", "clip-0002.mp4"]


@pytest.mark.parametrize("template", ["../outside-{counter}", "/tmp/outside", "a/../../outside"])
def test_a_template_that_escapes_the_folder_is_refused_and_writes_nothing(tmp_path, template):
    with pytest.raises(ExportError) as info:
        export_clip(Video(moving_clip(frames=2), 16.0), tmp_path / "renders", template, "mp4", provenance=False)
    assert info.value.param == "name" and "must stay inside the output folder" in str(info.value)
    assert os.listdir(tmp_path) == []


def test_a_sub_folder_that_links_outside_is_refused(tmp_path):
    (tmp_path / "renders").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "renders" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    with pytest.raises(ExportError, match="symbolic link") as info:
        export_clip(Video(moving_clip(frames=2), 16.0), tmp_path / "renders", "link/clip", "mp4", provenance=False)
    assert info.value.param == "name" and os.listdir(tmp_path / "elsewhere") == []


@pytest.mark.parametrize("kwargs, param, fragment", [
    ({"format": "avi"}, "format", "unknown format 'avi'; choose one of mp4, webm, gif, png"),
    ({"format": "mp4", "crf": 52}, "crf", "H.264 mp4 quality (CRF) goes from 0 to 51"),
    ({"format": "webm", "crf": 64}, "crf", "from 0 to 63"),
    ({"upscale": 0}, "upscale", "whole factor"),
    ({"fps": -1}, "fps", "fps must be between 0"),
])
def test_bad_settings_are_refused_naming_the_setting(tmp_path, kwargs, param, fragment):
    with pytest.raises(ExportError) as info:
        export_clip(Video(moving_clip(frames=2), 16.0), tmp_path, **kwargs)
    assert info.value.param == param and fragment in str(info.value)
    assert os.listdir(tmp_path) == []


def test_an_unwritable_folder_is_a_clear_error_and_leaves_nothing(tmp_path):
    # Tests run as root, so permissions would not stop the write: a file where a folder should be does.
    (tmp_path / "blocker").write_text("a file where a folder should be")
    with pytest.raises(ExportError, match=r"blocker.*Not a directory") as info:
        export_clip(Video(moving_clip(frames=2), 16.0), tmp_path / "blocker" / "renders", "clip", "mp4")
    assert info.value.param == "folder"
    with pytest.raises(ExportError, match="it is a file, not a folder"):
        export_clip(Video(moving_clip(frames=2), 16.0), tmp_path / "blocker", "clip", "mp4")
    assert os.listdir(tmp_path) == ["blocker"]


@pytest.mark.parametrize("kind", ["mp4", "webm", "gif"])
def test_a_full_disk_mid_write_leaves_no_partial_file(tmp_path, monkeypatch, kind):
    suffix = writers.FORMATS[kind]
    real_writer = writers.FILE_WRITERS[suffix]

    def writer_then_disk_full(video, path, encoding):
        real_writer(video, path, encoding)
        assert path.stat().st_size > 0  # a real, complete-looking temporary file exists at this point
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setitem(writers.FILE_WRITERS, suffix, writer_then_disk_full)
    with pytest.raises(ExportError, match="No space left on device") as info:
        export_clip(Video(moving_clip(frames=3), 16.0), tmp_path, "clip", kind)
    assert info.value.param == "folder" and os.listdir(tmp_path) == []


def test_a_full_disk_mid_png_folder_leaves_no_partial_folder(tmp_path, monkeypatch):
    real_write_png, calls = writers._write_png, []

    def failing_write_png(data, path):
        calls.append(path)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real_write_png(data, path)

    monkeypatch.setattr(writers, "_write_png", failing_write_png)
    with pytest.raises(ExportError, match="No space left"):
        export_clip(Video(moving_clip(frames=6), 16.0), tmp_path, "frames", "png")
    assert os.listdir(tmp_path) == []


def test_odd_sizes_are_padded_for_yuv_formats_and_kept_for_the_others(tmp_path):
    clip = Video(moving_clip(frames=2, height=33, width=47), 16.0)
    assert decoded(export_clip(clip, tmp_path, "a", "mp4", provenance=False).path)[2] == (48, 34)
    assert decoded(export_clip(clip, tmp_path, "b", "gif", provenance=False).path)[2] == (47, 33)
    assert decoded(export_clip(clip, tmp_path, "c", "png", provenance=False).path)[2] == (47, 33)
