"""Encoding clips to files, each carrying the workflow that made it, and putting them in place without overwriting.

Formats: H.264 mp4 (yuv420p, CRF), VP9 webm (CRF), animated GIF (one palette for the whole clip) and a folder of PNG
frames. Everything goes through PyAV and OpenCV, never a hand-rolled ffmpeg pipe. Every writer encodes to a hidden
temporary name next to the target; `place` then renames it into place only when complete, so a failure (a full disk,
a crash) never leaves a half-written output.
"""
from __future__ import annotations

import contextlib
import errno
import io
import math
import numbers
import os
import pathlib
import shutil
import uuid
from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Iterator

import av
import av.filter
import cv2
import numpy as np
from av.error import FFmpegError

from studio.media.embedded import WORKFLOW_TAG, gif_with_comment, png_with_text
from studio.media.video_io import MediaError, PathLike, Video

_BT601_MATRIX, _LIMITED_RANGE = 6, 1  # AVCOL_SPC_SMPTE170M, AVCOL_RANGE_MPEG
CRF_RANGE = {"mp4": (0, 51), "webm": (0, 63)}
# One entry per format: its suffix ("" for a folder of PNG frames) and what a person calls it.
FORMATS = {"mp4": ".mp4", "webm": ".webm", "gif": ".gif", "png": ""}
FORMAT_NAMES = {"mp4": "H.264 mp4", "webm": "VP9 webm", "gif": "animated GIF", "png": "PNG frames"}
Writer = Callable[[Video, pathlib.Path, "Encoding"], None]
Progress = Callable[[int, int], None]  # (frames done, frames in all); it may raise to abort the export


# ---------------------------------------------------------------- formats


@dataclass(frozen=True)
class Encoding:
    """How to encode: quality (CRF, for mp4 and webm), the workflow text to embed, and an integer upscale factor
    applied frame by frame as frames are encoded, so a x4 export never holds the whole enlarged clip in memory.
    `progress`, when given, is called with (done, total) after each frame is handed to the encoder."""

    crf: int = 18
    workflow_text: str | None = None
    upscale: int = 1
    progress: Progress | None = None

    def size(self, video: Video) -> tuple[int, int]:
        return video.width * self.upscale, video.height * self.upscale

    def frames(self, video: Video) -> Iterator[np.ndarray]:
        total = len(video.frames)
        for index, frame in enumerate(video.frames):
            yield upscale_frame(frame, self.upscale)
            if self.progress is not None:  # runs when the writer asks for the next frame: this one is encoded
                self.progress(index + 1, total)


def upscale_frame(frame: np.ndarray, factor: int) -> np.ndarray:
    """(H, W, 3) uint8 enlarged `factor` times with Lanczos resampling (smooth edges, where nearest-neighbour would
    make big blocks); OpenCV saturates the result to 0..255, so overshoot at hard edges is clipped."""
    if factor == 1:
        return frame
    height, width = frame.shape[:2]
    return cv2.resize(frame, (width * factor, height * factor), interpolation=cv2.INTER_LANCZOS4)


def _pad_to_even(frame: np.ndarray) -> np.ndarray:
    # yuv420p subsamples chroma 2x2, so the encoders need even sizes: repeat the last row/column.
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if not (pad_h or pad_w):
        return frame
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


def _rate(video: Video) -> Fraction:
    return Fraction(float(video.fps)).limit_denominator(1001)


def _encode_yuv(video: Video, path: pathlib.Path, encoding: Encoding, container_format: str, codec: str,
                options: dict[str, str], container_options: dict[str, str]) -> None:
    width, height = encoding.size(video)
    with av.open(str(path), mode="w", format=container_format, options=container_options) as container:
        if encoding.workflow_text is not None:
            container.metadata[WORKFLOW_TAG] = encoding.workflow_text
        stream = container.add_stream(codec, rate=_rate(video), options=options)
        stream.width, stream.height = width + width % 2, height + height % 2
        stream.pix_fmt = "yuv420p"
        # Tag the matrix PyAV's rgb->yuv conversion uses, so players don't guess BT.709 for HD.
        stream.codec_context.colorspace = _BT601_MATRIX
        stream.codec_context.color_range = _LIMITED_RANGE
        for index, array in enumerate(encoding.frames(video)):
            frame = av.VideoFrame.from_ndarray(_pad_to_even(array), format="rgb24")
            frame.pts = index  # the stream time base is 1/rate, so pts counts frames
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))  # flush frames buffered by the encoder


def _write_mp4(video: Video, path: pathlib.Path, encoding: Encoding) -> None:
    # The temporary name has no suffix, hence the explicit format; use_metadata_tags keeps a custom key (the
    # workflow) that the plain mp4 muxer would drop.
    _encode_yuv(video, path, encoding, "mp4", "libx264", {"crf": str(encoding.crf)},
                {"movflags": "use_metadata_tags"})


def _write_webm(video: Video, path: pathlib.Path, encoding: Encoding) -> None:
    # b:v 0 makes crf the only target (constant quality); cpu-used 4 with row-mt keeps VP9 from dominating export.
    options = {"crf": str(encoding.crf), "b:v": "0", "deadline": "good", "cpu-used": "4", "row-mt": "1"}
    _encode_yuv(video, path, encoding, "webm", "libvpx-vp9", options, {})


def _write_gif(video: Video, path: pathlib.Path, encoding: Encoding) -> None:
    width, height = encoding.size(video)
    palette = _palette(video)
    lookup = _nearest_colour_table(palette)
    argb = np.concatenate([np.full((256, 1), 255, np.uint8), palette], axis=1)
    dither = (np.tile(_BAYER, (height // 8 + 1, width // 8 + 1))[:height, :width, None] / 64 - 0.5) * _DITHER_LEVELS
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="gif", options={"loop": "0"}) as container:
        stream = container.add_stream("gif", rate=_rate(video))
        stream.width, stream.height, stream.pix_fmt = width, height, "pal8"
        for index, array in enumerate(encoding.frames(video)):
            cells = (np.clip(array + dither, 0, 255).astype(np.uint8) >> 3).astype(np.intp)
            indices = lookup[cells[..., 0], cells[..., 1], cells[..., 2]]
            frame = av.VideoFrame.from_ndarray((indices, argb), format="pal8")
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    data = buffer.getvalue()
    if encoding.workflow_text is not None:
        data = gif_with_comment(data, encoding.workflow_text)
    with open(path, "xb") as handle:
        handle.write(data)


# An 8x8 ordered-dither matrix: a fixed pattern, so still areas of the clip stay still (error diffusion would crawl).
_BAYER = np.array([[0, 32, 8, 40, 2, 34, 10, 42], [48, 16, 56, 24, 50, 18, 58, 26], [12, 44, 4, 36, 14, 46, 6, 38],
                   [60, 28, 52, 20, 62, 30, 54, 22], [3, 35, 11, 43, 1, 33, 9, 41], [51, 19, 59, 27, 49, 17, 57, 25],
                   [15, 47, 7, 39, 13, 45, 5, 37], [63, 31, 55, 23, 61, 29, 53, 21]], np.float32)
_DITHER_LEVELS = 16.0  # peak-to-peak, in 8-bit levels: enough to hide banding in gradients


def _palette(video: Video) -> np.ndarray:
    """(256, 3) uint8: one palette for the whole clip (no flicker between frames), by FFmpeg's palettegen.

    It sees the clip at its own size with 5 bits per channel: an upscaled copy has no new colours worth a palette
    entry, and fewer distinct colours make palettegen many times faster at the same quality."""
    graph = av.filter.Graph()
    source = graph.add_buffer(width=video.width, height=video.height, format="rgb24",
                              time_base=Fraction(1, 1000))
    palettegen, sink = graph.add("palettegen", "stats_mode=full:reserve_transparent=0"), graph.add("buffersink")
    source.link_to(palettegen)
    palettegen.link_to(sink)
    graph.configure()
    for index, array in enumerate(video.frames):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray((array & 0xF8) | 4), format="rgb24")
        frame.pts = index
        source.push(frame)
    source.push(None)  # palettegen answers once it has seen every frame
    return np.ascontiguousarray(sink.pull().to_ndarray(format="rgb24").reshape(256, 3))


def _nearest_colour_table(palette: np.ndarray) -> np.ndarray:
    """(32, 32, 32) palette indices: the nearest palette colour to the centre of each 5-bit RGB cell."""
    cells = (np.stack(np.meshgrid(*[np.arange(32)] * 3, indexing="ij"), -1).reshape(-1, 3) * 8 + 4).astype(np.float32)
    colours = palette.astype(np.float32)
    # argmin |c - p|^2 = argmin (|p|^2 - 2 c.p): one matrix product instead of a 32768 x 256 x 3 difference
    distance = (colours ** 2).sum(axis=1)[None, :] - 2 * cells @ colours.T
    return distance.argmin(axis=1).astype(np.uint8).reshape(32, 32, 32)


def png_bytes(frame: np.ndarray, workflow_text: str | None = None) -> bytes:
    """One RGB frame as a PNG file, with the workflow in a text chunk when given."""
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(frame[:, :, ::-1]))  # RGB -> BGR
    if not ok:
        raise MediaError("Cannot encode a PNG frame")
    data = encoded.tobytes()
    return data if workflow_text is None else png_with_text(data, WORKFLOW_TAG, workflow_text)


def _write_png(data: bytes, path: pathlib.Path) -> None:
    with open(path, "xb") as handle:  # raises OSError on failure, unlike cv2.imwrite
        handle.write(data)


def _write_png_folder(video: Video, folder: pathlib.Path, encoding: Encoding) -> None:
    folder.mkdir()
    for index, frame in enumerate(encoding.frames(video)):
        _write_png(png_bytes(frame, encoding.workflow_text), folder / f"{index:05d}.png")


# One entry per file format: adding a format is one writer function plus one line here (and one in FORMATS).
FILE_WRITERS: dict[str, Writer] = {".mp4": _write_mp4, ".webm": _write_webm, ".gif": _write_gif}


def encode(video: Video, temp: pathlib.Path, kind: str, encoding: Encoding) -> None:
    """Encode `video` as format `kind` (a FORMATS key) to the not-yet-existing path `temp`."""
    suffix = FORMATS[kind]
    writer = FILE_WRITERS[suffix] if suffix else _write_png_folder
    writer(video, temp, encoding)


# ---------------------------------------------------------------- putting files in place


def temporary_sibling(target: pathlib.Path, tag: str = "partial") -> pathlib.Path:
    """A hidden, unique name in the target's folder, so the final rename stays on one filesystem.

    Not mkstemp/mkdtemp: those create 0600/0700 entries, which would survive the rename."""
    return target.parent / f".{target.name}.{tag}-{uuid.uuid4().hex[:12]}"


def place(temp: pathlib.Path, target: pathlib.Path, *, as_folder: bool, overwrite: bool = False) -> bool:
    """Rename the finished `temp` to `target`. Returns False, leaving `temp`, when `target` is taken (something is
    there already, except an empty folder for frames) and overwrite is False: an existing output is never replaced
    unless asked, even by a job that created it while this one was encoding."""
    if overwrite:
        (_replace_folder if as_folder else os.replace)(temp, target)
        return True
    if as_folder:
        with contextlib.suppress(OSError):
            target.rmdir()  # only succeeds on an empty folder, which holds nothing to lose
        try:
            os.rename(temp, target)  # fails on anything left at target, never replaces it
        except OSError as exc:
            if exc.errno in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR, errno.EISDIR):
                return False
            raise
        return True
    try:
        os.link(temp, target)  # atomic "create only if absent"
    except FileExistsError:
        return False
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        # A filesystem without hard links (FAT, some network shares): check, then rename.
        if target.exists() or target.is_symlink():
            return False
        os.replace(temp, target)
        return True
    os.unlink(temp)
    return True


def _replace_folder(new: pathlib.Path, target: pathlib.Path) -> None:
    # Move the old folder aside only once the new one is complete, and restore it on failure.
    old = temporary_sibling(target, "old") if target.exists() else None
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


def remove(path: pathlib.Path) -> None:
    """Delete a temporary file or folder, quietly."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(OSError):
            path.unlink()


def os_error_reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


# ---------------------------------------------------------------- one exact path


def write_video(video: Video, path: PathLike, *, crf: int = 18, overwrite: bool = False,
                workflow_text: str | None = None) -> pathlib.Path:
    """Write video to path and return the final path.

    A path ending in a separator, or an existing folder, gets PNG frames 00000.png, 00001.png, ...; ".mp4" gets
    H.264 yuv420p at the given CRF (0-51), ".webm" VP9 (CRF 0-63), ".gif" an animated GIF, each at the video's fps.
    Odd widths/heights are padded by one repeated row/column for mp4 and webm, so the file decodes one pixel larger.
    `workflow_text` (JSON) is embedded as a metadata tag, a GIF comment or a PNG text chunk. Existing outputs are
    only replaced if overwrite is True; output is written to a temporary name first, so a failure never leaves a
    partial file, and missing parent folders are created.
    """
    check_video(video)
    raw = os.fspath(path)
    target = pathlib.Path(raw)
    as_folder = raw.endswith(("/", os.sep)) or target.is_dir()
    kind = "png" if as_folder else next((k for k, s in FORMATS.items() if s and s == target.suffix.lower()), None)
    if kind is None:
        kinds = ", ".join(sorted(FILE_WRITERS)) + ", or a folder path ending in '/' (PNG frames)"
        raise MediaError(f"Cannot write {target}: unsupported output kind "
                         f"'{target.suffix or '(no suffix)'}'; supported: {kinds}")
    low, high = CRF_RANGE.get(kind, (0, 63))
    if not low <= crf <= high:
        raise ValueError(f"crf must be between {low} and {high} for {kind}, got {crf}")
    _refuse_if_occupied(target, as_folder, overwrite)
    if as_folder and target.is_file():
        raise MediaError(f"Cannot write PNG frames to {target}: it is a file, not a folder")
    temp = None
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = temporary_sibling(target)
        encode(video, temp, kind, Encoding(crf, workflow_text))
        if not place(temp, target, as_folder=as_folder, overwrite=overwrite):
            raise MediaError(f"Cannot write {target}: it already exists (pass overwrite=True to replace it)")
    except BaseException as exc:
        if temp is not None:
            remove(temp)
        if isinstance(exc, (OSError, FFmpegError)):
            raise MediaError(f"Cannot write {target}: {os_error_reason(exc)}") from exc
        raise
    return target


def check_video(video: Video) -> None:
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
