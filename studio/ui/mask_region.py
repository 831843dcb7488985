"""What the mask tools draw on and draw with, Qt-free: which Mask node is edited, the clip it is drawn on, its
region as the overlay shows it, and painted masks written as PNGs the Mask node reads.

The overlay is computed here from the node's own parameters with studio.media.masks (numpy and OpenCV, no torch),
so it shows exactly the region the engine will regenerate, at a size small enough to redraw while dragging.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry
from studio.media.masks import MaskError, feathered, frame_range, read_painted, shape_region

OVERLAY_MAX_SIDE = 480  # the overlay is stretched over the frame: it needs no more pixels than this
BACKDROP_MAX_SIDE = 512  # like the engine's final frames: what the timeline shows of the source


def base_type(type_id: str) -> str:
    return type_id.split("@", 1)[0]


def mask_node_ids(graph: Graph) -> list[str]:
    return [node_id for node_id, node in graph.nodes.items() if base_type(node.type) == "mask"]


def target_mask(graph: Graph, selected: list[str]) -> str | None:
    """The Mask node the tools edit: the selected one, the one feeding a selected node (an Inpaint node), or
    else the workflow's only Mask node; None when that is ambiguous or there is none."""
    masks = mask_node_ids(graph)
    for node_id in selected:
        node = graph.nodes.get(node_id)
        if node is None:
            continue
        if node_id in masks:
            return node_id
        link = node.inputs.get("mask")
        if link is not None and link[0] in masks:
            return link[0]
    return masks[0] if len(masks) == 1 else None


def resolve(graph: Graph, value: str) -> Path:
    """A path parameter as the engine resolves it: `~` expanded, relative to the workflow's folder."""
    path = Path(value).expanduser()
    return path if path.is_absolute() else graph.base_dir() / path


def source_clip_path(graph: Graph, mask_id: str) -> Path | None:
    """The file the Mask node's clip is read from, when a Load Video node feeds it directly."""
    link = graph.nodes[mask_id].inputs.get("video")
    source = graph.nodes.get(link[0]) if link else None
    if source is None or base_type(source.type) != "load_video" or not source.params.get("path"):
        return None
    return resolve(graph, str(source.params["path"]))


def mask_params(graph: Graph, registry: NodeRegistry, mask_id: str) -> dict[str, Any]:
    """The node's parameters with the declared defaults filled in."""
    node = graph.nodes[mask_id]
    spec = registry.get(node.type)
    params = {param.name: param.default for param in spec.params} if spec else {}
    params.update(node.params)
    return params


@dataclass(frozen=True)
class SourceClip:
    """The clip a mask is drawn on: its size and frame count (what a painted mask must match), and a small copy
    of its frames to show while there are no previews."""

    path: Path
    width: int
    height: int
    frames: int
    backdrop: np.ndarray


class ClipReader:
    """Reads source clips, remembering the last one (a file re-read only when it changes)."""

    def __init__(self) -> None:
        self._key: tuple | None = None
        self._clip: SourceClip | None = None
        self.error: str | None = None

    def read(self, path: Path | None) -> SourceClip | None:
        if path is None:
            return None
        try:
            stat = path.stat()
            newest = max((p.stat().st_mtime_ns for p in path.iterdir()), default=0) if path.is_dir() else 0
        except OSError:
            self.error = f"the source clip {path} does not exist"
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns, newest)
        if key != self._key:
            from studio.media.video_io import MediaError, read_video, shrink_frames

            self._key, self._clip, self.error = key, None, None
            try:
                video = read_video(path)
            except (MediaError, OSError) as exc:
                self.error = str(exc)
                return None
            frames = video.frames
            self._clip = SourceClip(path, frames.shape[2], frames.shape[1], len(frames),
                                    shrink_frames(frames, BACKDROP_MAX_SIDE))
        return self._clip


def overlay_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, OVERLAY_MAX_SIDE / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink(weights: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(H, W) or (F, H, W) float weights resized to `size` (width, height), area-averaged."""
    if weights.shape[-1] == size[0] and weights.shape[-2] == size[1]:
        return weights.astype(np.float32)
    resize = lambda w: cv2.resize(w.astype(np.float32), size, interpolation=cv2.INTER_AREA)  # noqa: E731
    return resize(weights) if weights.ndim == 2 else np.stack([resize(w) for w in weights])


def region_overlay(graph: Graph, params: dict[str, Any], width: int, height: int,
                   frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(weights, shown_on): the node's region for a clip of width x height x frames as overlay weights ((h, w),
    or (F, h, w) for a folder of painted frames) and one bool per frame for its frame range. Raises MaskError."""
    first, last = frame_range(int(params["first_frame"]), int(params["last_frame"]), frames)
    shown_on = np.zeros(frames, bool)
    shown_on[first:last + 1] = True
    size = overlay_size(width, height)
    feather = float(params["feather"]) * size[0] / width  # the feather in overlay pixels
    if params.get("path"):
        painted_path = resolve(graph, str(params["path"]))
        if painted_path.is_dir():
            painted = read_painted(painted_path, width, height, frames)
        else:  # one PNG for every frame: one overlay image
            painted = read_painted(painted_path, width, height, 1)[0]
        small = shrink(painted, size)
        weights = feathered(small, feather) if small.ndim == 2 else np.stack([feathered(w, feather) for w in small])
        return weights, shown_on
    region = shape_region(str(params["shape"]), float(params["left"]), float(params["top"]),
                          float(params["right"]), float(params["bottom"]), *size)
    return feathered(region.astype(np.float32), feather), shown_on


def paint_canvas(graph: Graph, params: dict[str, Any], clip: SourceClip) -> np.ndarray:
    """The (H, W) uint8 mask a brush stroke starts from: the painted PNG the node reads, else its shape drawn at
    the clip's size, so painting adds to (or erases from) exactly what the overlay shows. Raises MaskError."""
    if params.get("path"):
        painted = resolve(graph, str(params["path"]))
        if painted.is_dir():
            raise MaskError("this mask is a folder of one PNG per frame; the brush paints one PNG for every frame, "
                            "so clear the mask first to paint over it", "path")
        weights = read_painted(painted, clip.width, clip.height, 1)[0]
        return np.round(weights * 255).astype(np.uint8)
    try:
        region = shape_region(str(params["shape"]), float(params["left"]), float(params["top"]),
                              float(params["right"]), float(params["bottom"]), clip.width, clip.height)
    except MaskError:
        return np.zeros((clip.height, clip.width), np.uint8)
    return region.astype(np.uint8) * 255


def paint_line(canvas: np.ndarray, start: tuple[float, float], end: tuple[float, float], diameter: float,
               value: int) -> None:
    """Paint a round-ended stroke from `start` to `end` (pixel coordinates) onto `canvas`, in place."""
    shift = 4  # sub-pixel precision: a slow stroke does not snap to whole pixels
    scale = 1 << shift
    a = (round(start[0] * scale), round(start[1] * scale))
    b = (round(end[0] * scale), round(end[1] * scale))
    radius = max(diameter / 2, 0.5)
    cv2.circle(canvas, a, round(radius * scale), int(value), -1, cv2.LINE_8, shift)
    cv2.circle(canvas, b, round(radius * scale), int(value), -1, cv2.LINE_8, shift)
    if a != b:
        cv2.line(canvas, a, b, int(value), max(1, round(diameter)), cv2.LINE_8, shift)


def painted_mask_folder(graph: Graph, data_dir: Path) -> Path:
    """Where painted masks go: a `masks` folder next to the workflow file, or in the studio's data folder while
    the workflow is unsaved."""
    return graph.source_path.parent / "masks" if graph.source_path else data_dir / "masks"


def write_painted(canvas: np.ndarray, folder: Path, stem: str) -> Path:
    """Write `canvas` as a new grey PNG `stem-NNN.png` in `folder`, atomically (a temp file, then a rename), and
    return its path. A new name every time: no file is ever overwritten, so undo can go back to the last one."""
    ok, data = cv2.imencode(".png", np.ascontiguousarray(canvas))
    if not ok:
        raise OSError("the mask could not be encoded as PNG")
    folder.mkdir(parents=True, exist_ok=True)
    number = 1
    while (folder / f"{stem}-{number:03d}.png").exists():
        number += 1
    target = folder / f"{stem}-{number:03d}.png"
    handle, temp = tempfile.mkstemp(prefix=f".{stem}-", suffix=".png.tmp", dir=folder)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data.tobytes())
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def param_path(graph: Graph, path: Path) -> str:
    """`path` as a parameter: relative inside the workflow's folder (it moves with the workflow), else absolute."""
    if graph.source_path is not None:
        try:
            return path.resolve().relative_to(graph.source_path.parent.resolve()).as_posix()
        except ValueError:
            pass
    return str(path.resolve())
