"""Exporting a clip: one call from frames to a finished, named, tagged and signed file in the output folder.

    export_clip(video, "renders", "{date}-seed{seed}-{counter}", "mp4", workflow=..., seed="7") -> Export

The Save Video node and the window's Export dialog both use it. The file is encoded to a hidden temporary name,
signed, then renamed to the first free name the template gives: a failure leaves nothing behind, an existing file is
never replaced (the counter moves on), and a provenance failure costs the manifest, never the render.
"""
from __future__ import annotations

import datetime
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from av.error import FFmpegError

from studio.media import naming, writers
from studio.media import provenance as signing
from studio.media.embedded import workflow_text
from studio.media.video_io import MediaError, Video

MAX_UPSCALE = 8
MAX_SIDE = 8192  # larger than any encoder here is happy with, and than memory for a frame should allow


class ExportError(MediaError):
    """An export that did not happen; `param` names the setting at fault ("folder", "name", "format", ...)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Export:
    path: Path
    signed: bool  # whether a C2PA manifest was embedded
    warnings: list[str] = field(default_factory=list)


def export_clip(video: Video, folder: str | os.PathLike, name: str = naming.DEFAULT_TEMPLATE, format: str = "mp4",
                *, fps: float = 0, crf: int = 18, upscale: int = 1, workflow: dict[str, Any] | None = None,
                seed: str = "", model: str | None = None, provenance: bool = True,
                overwrite: bool = False, now: datetime.datetime | None = None,
                progress: writers.Progress | None = None) -> Export:
    """Write `video` into `folder` under the name `name` gives, as `format` (mp4, webm, gif or png frames).

    fps 0 keeps the clip's own; crf is the quality of mp4 (0-51) and webm (0-63); upscale enlarges each frame by an
    integer factor (Lanczos). `workflow` is embedded in the file (a tag, GIF comment or PNG text chunk); with
    provenance, mp4, gif and png also get a C2PA manifest naming `model`. `overwrite` replaces a taken name
    (a template without {counter} only). Raises ExportError naming the parameter at fault.

    `progress(done, total)` is called after each frame is encoded and once more just before the file is put in place;
    an exception it raises (a cancel) aborts the export, propagates, and leaves nothing behind.
    """
    if format not in writers.FORMATS:
        raise ExportError(f"unknown format {format!r}; choose one of {', '.join(writers.FORMATS)}", "format")
    try:
        writers.check_video(video)
    except ValueError as exc:
        raise ExportError(str(exc)) from None
    _check_settings(video, format, fps, crf, upscale)
    if fps:
        video = Video(video.frames, float(fps))
    folder = Path(folder).expanduser()
    try:
        naming.check_template(name)
    except naming.TemplateError as exc:
        raise ExportError(str(exc), "name") from None
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"Cannot write to {folder}: it is a file, not a folder", "folder")
    now = now or datetime.datetime.now()
    encoding = writers.Encoding(crf, workflow_text(workflow) if workflow is not None else None, upscale, progress)
    target, temp, warnings, signed = None, None, [], False
    try:
        target = _free_path(folder, name, format, seed, overwrite, now)
        temp = writers.temporary_sibling(target)
        writers.encode(video, temp, format, encoding)
        if provenance and format in signing.MIME_TYPES:
            temp, signed = _sign(temp, target, format, model, warnings)
        if progress is not None:  # the last chance to cancel before the file appears
            progress(video.num_frames, video.num_frames)
        for _ in range(1000):  # another export may take the name while this one encodes: move on to the next
            if writers.place(temp, target, as_folder=format == "png", overwrite=overwrite):
                temp = None
                return Export(target, signed, warnings)
            target = _free_path(folder, name, format, seed, False, now)
        raise ExportError(f"Cannot write into {folder}: no free name for {name!r}", "name")
    except (OSError, FFmpegError) as exc:
        where = target or folder
        raise ExportError(f"Cannot write {where}: {writers.os_error_reason(exc)}", "folder") from exc
    finally:
        if temp is not None:
            writers.remove(temp)


def _check_settings(video: Video, format: str, fps: float, crf: int, upscale: int) -> None:
    if format in writers.CRF_RANGE:
        low, high = writers.CRF_RANGE[format]
        if not low <= crf <= high:
            raise ExportError(f"{writers.FORMAT_NAMES[format]} quality (CRF) goes from {low} to {high}, got {crf}",
                              "crf")
    if not (isinstance(fps, numbers.Real) and 0 <= fps <= 1000):
        raise ExportError(f"fps must be between 0 (the clip's own) and 1000, got {fps!r}", "fps")
    if not (isinstance(upscale, numbers.Integral) and not isinstance(upscale, bool) and 1 <= upscale <= MAX_UPSCALE):
        raise ExportError(f"upscale must be a whole factor from 1 to {MAX_UPSCALE}, got {upscale!r}", "upscale")
    if max(video.width, video.height) * upscale > MAX_SIDE:
        raise ExportError(f"x{upscale} would make {video.width * upscale}x{video.height * upscale} frames; "
                          f"the longest side may be at most {MAX_SIDE}", "upscale")


def _free_path(folder: Path, name: str, format: str, seed: str, overwrite: bool, now: datetime.datetime) -> Path:
    try:
        path = naming.output_path(folder, name, writers.FORMATS[format], seed=seed, overwrite=overwrite, now=now)
    except naming.TemplateError as exc:
        raise ExportError(str(exc), "name") from None
    if not naming.confined(folder, path):  # a sub-folder that is a link to elsewhere
        raise ExportError(f"the name {name!r} leads out of {folder} (through a symbolic link)", "name")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _sign(temp: Path, target: Path, format: str, model: str | None, warnings: list[str]) -> tuple[Path, bool]:
    """(the file to place, whether it is signed); a failure to sign is a warning, and the unsigned file stays."""
    definition = signing.manifest(target.name, signing.MIME_TYPES[format], model)
    if format == "png":
        return temp, _sign_frames(temp, definition, warnings)
    signed = writers.temporary_sibling(target, "signed")
    try:
        signing.sign_file(temp, signed, format, definition)
    except BaseException as exc:
        writers.remove(signed)
        warnings.append(f"{_signing_failure(exc)}; the export has no C2PA manifest")
        return temp, False
    writers.remove(temp)
    return signed, True


def _sign_frames(folder: Path, definition: dict[str, Any], warnings: list[str]) -> bool:
    # Sign every frame to a side file first, then swap them in: the frames end up all signed or all unsigned.
    frames = sorted(p for p in folder.iterdir() if p.suffix == ".png")
    signed = [frame.with_name(f".{frame.name}.signed") for frame in frames]
    try:
        for frame, side in zip(frames, signed):
            side.write_bytes(signing.sign_bytes(frame.read_bytes(), "png", definition))
    except BaseException as exc:
        for side in signed:
            writers.remove(side)
        warnings.append(f"{_signing_failure(exc)}; the frames have no C2PA manifest")
        return False
    for frame, side in zip(frames, signed):
        os.replace(side, frame)
    return True


def _signing_failure(exc: BaseException) -> str:
    """The warning for a signature that did not happen. A full disk fails the export (re-raised); anything else,
    even a bug in the C2PA library, costs only the manifest, never the render."""
    if isinstance(exc, signing.ProvenanceError):
        return str(exc)
    if isinstance(exc, (OSError, KeyboardInterrupt, SystemExit)) or not isinstance(exc, Exception):
        raise exc
    return f"C2PA signing failed: {type(exc).__name__}: {exc}"
