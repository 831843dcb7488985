"""Reading and writing images, videos and PNG-frame folders as plain numpy arrays.

Frames are always (F, H, W, 3) uint8 RGB. This module deliberately depends only on
numpy, PyAV and OpenCV so it can be used (and tested) without torch or Qt.
"""
from __future__ import annotations

import contextlib
import math
import numbers
import os
import pathlib
import re
import shutil
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable

import av
import cv2
import numpy as np
from av.error import FFmpegError
from av.video.reformatter import Interpolation

DEFAULT_FPS = 16.0
PathLike = str | os.PathLike
try:  # swscale's default yuv->rgb path truncates, coming out ~1 level too dark; this doesn't
    _ACCURATE_YUV_TO_RGB = Interpolation.BILINEAR | Interpolation.ACCURATE_RND | Interpolation.FULL_CHR_H_INT
except AttributeError:  # older PyAV without the flag members: accept the default
    _ACCURATE_YUV_TO_RGB = None
_BT601_MATRIX, _LIMITED_RANGE = 6, 1  # AVCOL_SPC_SMPTE170M, AVCOL_RANGE_MPEG


class MediaError(Exception):
    """A user-facing problem with a media file: message says which file and what is wrong."""


@dataclass(frozen=True)
class Video:
    """Decoded video: frames is (F, H, W, 3) uint8, C-contiguous, RGB."""

    frames: np.ndarray
    fps: float

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    @property
    def height(self) -> int:
        return int(self.frames.shape[1])

    @property
    def width(self) -> int:
        return int(self.frames.shape[2])


# ---------------------------------------------------------------- reading


def read_image(path: PathLike) -> np.ndarray:
    """Read a PNG/JPEG/WebP/BMP file as (H, W, 3) uint8 RGB.

    Alpha is composited on black, grayscale is expanded to RGB, 16-bit is scaled to
    8 bit, and JPEG EXIF orientation is applied.
    """
    path = _existing(path)
    try:
        data = np.fromfile(path, dtype=np.uint8)  # not cv2.imread: that fails silently
    except OSError as exc:
        raise MediaError(f"Cannot read image {path}: {exc.strerror or exc}") from exc
    head = data[:12].tobytes()
    has_alpha_or_depth = head.startswith(b"\x89PNG") or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    # IMREAD_UNCHANGED keeps alpha and 16 bit but ignores EXIF rotation, so use it only
    # where it matters; IMREAD_COLOR also avoids all-zero "alpha" in 32-bit BMPs.
    flags = cv2.IMREAD_UNCHANGED if has_alpha_or_depth else cv2.IMREAD_COLOR
    image = cv2.imdecode(data, flags) if data.size else None
    if image is None:
        raise MediaError(f"Cannot read image {path}: not a valid PNG/JPEG/WebP/BMP file")
    return _to_rgb8(image, path)


def _to_rgb8(image: np.ndarray, path: pathlib.Path) -> np.ndarray:
    if image.dtype not in (np.uint8, np.uint16):
        raise MediaError(f"Cannot read image {path}: unsupported pixel type {image.dtype}")
    max_value = float(np.iinfo(image.dtype).max)
    if image.ndim == 2:
        image = image[:, :, None]
    channels = image.shape[2]
    if channels == 4:
        alpha = image[:, :, 3:].astype(np.float32) / max_value
        color = image[:, :, :3].astype(np.float32) * alpha  # composite on black
        image = np.round(color * (255.0 / max_value)).astype(np.uint8)
    elif image.dtype == np.uint16:
        image = np.round(image.astype(np.float32) * (255.0 / max_value)).astype(np.uint8)
    if channels in (1, 2):  # gray (+ alpha, which OpenCV usually already expands)
        return np.ascontiguousarray(np.repeat(image[:, :, :1], 3, axis=2))
    return np.ascontiguousarray(image[:, :, 2::-1])  # BGR -> RGB


def read_video(path: PathLike) -> Video:
    """Read a video file (mp4/webm/gif/mov/mkv, via PyAV) or a folder of PNG frames.

    Folders are read in natural name order (2.png before 10.png) at DEFAULT_FPS;
    files use the stream's average frame rate, or DEFAULT_FPS when it is unknown.
    """
    path = _existing(path)
    if path.is_dir():
        return _read_png_folder(path)
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise MediaError(f"Cannot read video {path}: it has no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"  # multithreaded decode; frame order is unchanged
            frames: list[np.ndarray] = []
            size: dict = {}
            for frame in container.decode(stream):
                # Some streams change size mid-way; scale everything to the first frame.
                size = size or {"width": frame.width, "height": frame.height}
                frames.append(frame.to_ndarray(format="rgb24", interpolation=_ACCURATE_YUV_TO_RGB, **size))
            rate = stream.average_rate
    except (FFmpegError, OSError, ValueError) as exc:
        raise MediaError(f"Cannot read video {path}: {exc}") from exc
    if not frames:
        raise MediaError(f"Cannot read video {path}: it contains no frames")
    fps = float(rate) if rate else DEFAULT_FPS
    return Video(np.stack(frames), fps)


def _natural_key(name: str) -> tuple:
    # Splitting on digit runs alternates str/int, so keys always compare cleanly.
    parts = re.split(r"(\d+)", name.lower())
    return tuple(int(p) if i % 2 else p for i, p in enumerate(parts)), name


def _read_png_folder(folder: pathlib.Path) -> Video:
    # Hidden files are skipped: they are OS junk (._0001.png) or our own temp folders.
    names = [p.name for p in folder.iterdir()
             if p.suffix.lower() == ".png" and not p.name.startswith(".") and p.is_file()]
    if not names:
        raise MediaError(f"Cannot read video {folder}: the folder contains no PNG frames")
    names.sort(key=_natural_key)
    frames = [read_image(folder / names[0])]
    for name in names[1:]:
        frame = read_image(folder / name)
        if frame.shape != frames[0].shape:
            raise MediaError(
                f"Cannot read video {folder}: frame {name} is {frame.shape[1]}x{frame.shape[0]} "
                f"but {names[0]} is {frames[0].shape[1]}x{frames[0].shape[0]}")
        frames.append(frame)
    return Video(np.stack(frames), DEFAULT_FPS)


def _existing(path: PathLike) -> pathlib.Path:
    path = pathlib.Path(path)
    if not path.exists():
        raise MediaError(f"{path} not found")
    return path


# ---------------------------------------------------------------- writing


def _write_png(frame: np.ndarray, path: pathlib.Path) -> None:
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(frame[:, :, ::-1]))  # RGB -> BGR
    if not ok:
        raise MediaError(f"Cannot encode PNG frame {path}")
    encoded.tofile(path)  # raises OSError on failure, unlike cv2.imwrite


def _write_png_folder(video: Video, folder: pathlib.Path) -> None:
    for index, frame in enumerate(video.frames):
        _write_png(frame, folder / f"{index:05d}.png")


def _pad_to_even(frames: np.ndarray) -> np.ndarray:
    # yuv420p subsamples chroma 2x2, so x264 needs even sizes: repeat the last row/column.
    pad_h, pad_w = frames.shape[1] % 2, frames.shape[2] % 2
    if not (pad_h or pad_w):
        return frames
    return np.pad(frames, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _write_mp4(video: Video, path: pathlib.Path, crf: int) -> None:
    frames = _pad_to_even(video.frames)
    rate = Fraction(float(video.fps)).limit_denominator(1001)
    with av.open(str(path), mode="w", format="mp4") as container:  # temp name has no suffix
        stream = container.add_stream("libx264", rate=rate, options={"crf": str(crf)})
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        # Tag the matrix PyAV's rgb->yuv conversion uses, so players don't guess BT.709 for HD.
        stream.codec_context.colorspace = _BT601_MATRIX
        stream.codec_context.color_range = _LIMITED_RANGE
        for index, array in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(array, format="rgb24")
            frame.pts = index  # the stream time base is 1/rate, so pts counts frames
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush frames buffered by the encoder


# One entry per file format: adding a format is one writer function plus one line here.
_FILE_WRITERS: dict[str, Callable[[Video, pathlib.Path, int], None]] = {
    ".mp4": _write_mp4,
}


def write_video(video: Video, path: PathLike, *, crf: int = 18, overwrite: bool = False) -> pathlib.Path:
    """Write video to path and return the final path.

    A path ending in a separator, or an existing folder, gets PNG frames 00000.png,
    00001.png, ...; ".mp4" gets H.264 yuv420p at the given CRF and the video's fps.
    Odd widths/heights are padded by one repeated row/column for mp4, so the file
    decodes one pixel larger. Existing outputs are only replaced if overwrite is True;
    output is written to a temporary name first, so a failure never leaves a partial
    file, and missing parent folders are created.
    """
    _check_video(video)
    if not 0 <= crf <= 51:
        raise ValueError(f"crf must be between 0 and 51, got {crf}")
    raw = os.fspath(path)
    target = pathlib.Path(raw)
    as_folder = raw.endswith(("/", os.sep)) or target.is_dir()
    if not as_folder and target.suffix.lower() not in _FILE_WRITERS:
        kinds = ", ".join(sorted(_FILE_WRITERS)) + ", or a folder path ending in '/' (PNG frames)"
        raise MediaError(f"Cannot write {target}: unsupported output kind "
                         f"'{target.suffix or '(no suffix)'}'; supported: {kinds}")
    _refuse_if_occupied(target, as_folder, overwrite)
    if as_folder and target.is_file():
        raise MediaError(f"Cannot write PNG frames to {target}: it is a file, not a folder")
    temp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = _sibling(target, "partial")
        if as_folder:
            temp.mkdir()
            _write_png_folder(video, temp)
        else:
            _FILE_WRITERS[target.suffix.lower()](video, temp, crf)
        # Check again: another job may have created the target while we were encoding.
        _refuse_if_occupied(target, as_folder, overwrite)
        (_replace_folder if as_folder else os.replace)(temp, target)
    except BaseException as exc:
        if temp is not None:
            _remove(temp)
        if isinstance(exc, (OSError, FFmpegError)):
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise MediaError(f"Cannot write {target}: {reason}") from exc
        raise
    return target


def _check_video(video: Video) -> None:
    frames = video.frames
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8:
        kind = getattr(frames, "dtype", type(frames).__name__)
        raise ValueError(f"Video frames must be a uint8 numpy array, got {kind}")
    if frames.ndim != 4 or frames.shape[3] != 3 or min(frames.shape) < 1:
        raise ValueError(f"Video frames must have shape (F>=1, H, W, 3), got {frames.shape}")
    if not isinstance(video.fps, numbers.Real) or not 0 < float(video.fps) < math.inf:
        raise ValueError(f"Video fps must be a positive number, got {video.fps!r}")


def _refuse_if_occupied(target: pathlib.Path, as_folder: bool, overwrite: bool) -> None:
    # An empty folder is a fine place to write frames into; anything else is taken.
    taken = any(target.iterdir()) if as_folder and target.is_dir() else target.exists()
    if (taken or target.is_symlink()) and not overwrite:
        raise MediaError(f"Cannot write {target}: it already exists (pass overwrite=True to replace it)")


def _sibling(target: pathlib.Path, tag: str) -> pathlib.Path:
    # A hidden, unique name in the same folder, so the final rename stays on one filesystem.
    # Not mkstemp/mkdtemp: those create 0600/0700 entries, which would survive the rename.
    return target.parent / f".{target.name}.{tag}-{uuid.uuid4().hex[:12]}"


def _replace_folder(new: pathlib.Path, target: pathlib.Path) -> None:
    # Move the old folder aside only once the new one is complete, and restore it on failure.
    old = _sibling(target, "old") if target.exists() else None
    if old is not None:
        os.rename(target, old)
    try:
        os.rename(new, target)
    except BaseException:
        if old is not None:
            os.rename(old, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _remove(path: pathlib.Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()
