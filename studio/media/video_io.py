"""Reading images, videos and PNG-frame folders as plain numpy arrays (writing lives in writers.py).

Frames are always (F, H, W, 3) uint8 RGB. This module deliberately depends only on
numpy, PyAV and OpenCV so it can be used (and tested) without torch or Qt.
"""
from __future__ import annotations

import os
import pathlib
import re
from dataclasses import dataclass

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


def shrink_frames(frames: np.ndarray, max_side: int) -> np.ndarray:
    """(F, H, W, 3) uint8 frames with the longest side at most max_side (area-averaged, aspect kept); a C-contiguous
    copy either way, so the caller may hand it on without sharing the original's memory."""
    height, width = frames.shape[1:3]
    scale = max_side / max(height, width)
    if scale >= 1:
        return np.array(frames, dtype=np.uint8, order="C")
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.stack([cv2.resize(frame, size, interpolation=cv2.INTER_AREA) for frame in frames])


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


def write_video(video: Video, path: PathLike, *, crf: int = 18, overwrite: bool = False,
                workflow_text: str | None = None) -> pathlib.Path:
    """Write video to exactly `path` (.mp4, .webm, .gif, or a folder for PNG frames), atomically, never replacing
    an existing output unless overwrite is True; see studio.media.writers.write_video."""
    from studio.media.writers import write_video as write

    return write(video, path, crf=crf, overwrite=overwrite, workflow_text=workflow_text)
