"""Masks: which pixels of which frames to regenerate, as (F, H, W) float32 weights in 0..1.

A region is a rectangle or an ellipse given as fractions of the frame (easy to drive from a window: drag handles
map straight onto them), or a painted mask (one PNG for every frame, or a folder of one PNG per frame), limited to a
range of frames. Feathering ramps the weight from 0 at the region's edge to 1 `feather` pixels inside it, so every
pixel outside the region keeps weight 0 (the source, untouched) and the seam is soft on the inside only.
Numpy and OpenCV only: no torch, no Qt.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

SHAPES = ("rectangle", "ellipse")


class MaskError(Exception):
    """A user-facing problem with a mask's parameters, naming the parameter at fault."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class Mask:
    """`values` is (F, H, W) float32 in [0, 1]: 1 regenerates a pixel, 0 keeps the source's exactly, and values
    between blend the two (a feathered edge)."""

    values: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.values.shape[0])

    @property
    def height(self) -> int:
        return int(self.values.shape[1])

    @property
    def width(self) -> int:
        return int(self.values.shape[2])

    def covered(self) -> np.ndarray:
        """(F, H, W) bool: the pixels that change at all (weight above 0)."""
        return self.values > 0

    def is_empty(self) -> bool:
        return not bool((self.values > 0).any())


def frame_range(first: int, last: int, frames: int) -> tuple[int, int]:
    """Frame indices (negative ones count from the end, -1 the last) resolved to 0-based inclusive bounds."""
    resolved = []
    for param, value in (("first_frame", first), ("last_frame", last)):
        index = value + frames if value < 0 else value
        if not 0 <= index < frames:
            raise MaskError(f"frame {value} is outside the clip, which has {frames} frames (0..{frames - 1}, or "
                            f"-{frames}..-1 from the end)", param)
        resolved.append(index)
    if resolved[0] > resolved[1]:
        raise MaskError(f"the first frame ({first}, frame {resolved[0]}) comes after the last frame ({last}, frame "
                        f"{resolved[1]})", "first_frame")
    return resolved[0], resolved[1]


def check_fractions(left: float, top: float, right: float, bottom: float) -> None:
    for param, value in (("left", left), ("top", top), ("right", right), ("bottom", bottom)):
        if not 0.0 <= value <= 1.0:
            raise MaskError(f"must be a fraction of the frame between 0 and 1, got {value}", param)
    if left >= right:
        raise MaskError(f"must be greater than left ({left}), got {right}", "right")
    if top >= bottom:
        raise MaskError(f"must be greater than top ({top}), got {bottom}", "bottom")


def shape_region(shape: str, left: float, top: float, right: float, bottom: float, width: int,
                 height: int) -> np.ndarray:
    """(H, W) bool: the pixels whose centres lie inside the rectangle, or the ellipse inscribed in it."""
    if shape not in SHAPES:
        raise MaskError(f"must be one of {', '.join(SHAPES)}, got {shape!r}", "shape")
    check_fractions(left, top, right, bottom)
    x = (np.arange(width, dtype=np.float64) + 0.5) / width
    y = (np.arange(height, dtype=np.float64) + 0.5) / height
    if shape == "rectangle":
        return ((y >= top) & (y < bottom))[:, None] & ((x >= left) & (x < right))[None, :]
    cx, cy, rx, ry = (left + right) / 2, (top + bottom) / 2, (right - left) / 2, (bottom - top) / 2
    return ((x[None, :] - cx) / rx) ** 2 + ((y[:, None] - cy) / ry) ** 2 <= 1.0


def feathered(weights: np.ndarray, feather: float) -> np.ndarray:
    """(H, W) weights in 0..1 times a ramp from 1/feather on their outermost pixels to 1 `feather` pixels inside;
    pixels with weight 0 stay 0, so feathering never reaches outside the region. The frame's border is no edge."""
    if feather <= 0:
        return weights.astype(np.float32)
    support = (weights > 0).astype(np.uint8)
    # A pixel's distance to the nearest pixel outside the region: 1 right at the edge.
    padded = cv2.copyMakeBorder(support, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    distance = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    return (weights * np.clip(distance / feather, 0.0, 1.0)).astype(np.float32)


def read_painted(path: Path, width: int, height: int, frames: int) -> np.ndarray:
    """(F, H, W) weights from a painted mask: one PNG for every frame, or a folder of one PNG per frame. White
    regenerates, black keeps; grey levels (soft brushes) blend. Transparent pixels count as black."""
    from studio.media.video_io import MediaError, read_image, read_video

    try:
        if path.is_dir():
            painted = read_video(path).frames
        else:
            painted = read_image(path)[None]
    except MediaError as exc:
        raise MaskError(str(exc), "path") from None
    if painted.shape[1:3] != (height, width):
        raise MaskError(f"the painted mask is {painted.shape[2]}x{painted.shape[1]} but the clip is "
                        f"{width}x{height}; paint it at the clip's size", "path")
    if len(painted) != 1 and len(painted) != frames:
        raise MaskError(f"the painted mask folder has {len(painted)} frames but the clip has {frames}; give one "
                        "PNG per frame, or a single PNG for all of them", "path")
    weights = painted.max(axis=3).astype(np.float32) / 255.0
    return np.ascontiguousarray(np.broadcast_to(weights, (frames, height, width)))


def region_mask(*, width: int, height: int, frames: int, shape: str = "rectangle", left: float = 0.0,
                top: float = 0.0, right: float = 1.0, bottom: float = 1.0, first_frame: int = 0,
                last_frame: int = -1, feather: float = 0.0, painted: Path | None = None) -> Mask:
    """The mask of a clip of `frames` frames of width x height: the shape (or the painted mask, when given) on the
    frames first_frame..last_frame (inclusive), feathered. Raises MaskError naming the parameter at fault,
    including for a mask that covers no pixel at all."""
    first, last = frame_range(first_frame, last_frame, frames)
    if feather < 0:
        raise MaskError(f"must be 0 or more pixels, got {feather}", "feather")
    values = np.zeros((frames, height, width), np.float32)
    if painted is not None:
        weights = read_painted(painted, width, height, frames)
        for index in range(first, last + 1):
            values[index] = feathered(weights[index], feather)
        if not values.any():
            raise MaskError(f"the painted mask is black on frames {first}..{last}: nothing to inpaint", "path")
        return Mask(values)
    region = shape_region(shape, left, top, right, bottom, width, height)
    if not region.any():
        raise MaskError(f"the {shape} ({left}..{right} x {top}..{bottom} of the frame) covers no pixel of the "
                        f"{width}x{height} clip: nothing to inpaint; make it larger", "right")
    values[first:last + 1] = feathered(region.astype(np.float32), feather)
    return Mask(values)
