"""Procedural clips: one antialiased shape sliding across a black frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional

import cv2
import numpy as np

from studio.shapes.vocabulary import (ATTRIBUTES, COLOUR_RGB, COLOURS, DIRECTION_STEP,
                                      DIRECTIONS, SHAPES, TRAINING_TRIPLES, Triple, caption)

SIZE_RANGE_PX = (14, 22)  # inclusive bounding-box side of the shape
EDGE_MARGIN_PX = 2.5  # AA lights pixels up to ~1.6 px past the box: keep them off the border
MIN_TRAVEL_FRAC = 0.45  # above the 40% promise, leaving slack for rounding
_SHIFT = 4  # cv2 fixed-point bits: sub-pixel positions give smooth motion
_SCALE = 1 << _SHIFT
_TRIANGLE_HEIGHT = np.sqrt(3.0) / 2.0  # equilateral: height relative to base


@dataclass(frozen=True)
class ClipSpec:
    """Everything needed to redraw a clip.

    start_xy is the bounding-box centre at frame 0, in pixel units where (0, 0)
    is the centre of the top-left pixel (cv2's convention).
    """

    colour: str
    shape: str
    direction: str
    size_px: float
    start_xy: tuple[float, float]
    speed_px_per_frame: float

    def centre(self, frame: int) -> tuple[float, float]:
        dx, dy = DIRECTION_STEP[self.direction]
        step = self.speed_px_per_frame * frame
        return self.start_xy[0] + dx * step, self.start_xy[1] + dy * step

    @property
    def attrs(self) -> Triple:
        return self.colour, self.shape, self.direction


def _fixed(points: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(points, dtype=np.float64) * _SCALE).astype(np.int32)


def _draw_shape(img: np.ndarray, shape: str, cx: float, cy: float, size: float,
                rgb: tuple[int, int, int]) -> None:
    half = size / 2.0
    if shape == "circle":
        centre = tuple(int(v) for v in _fixed([cx, cy]))
        cv2.circle(img, centre, int(round(half * _SCALE)), rgb, -1, cv2.LINE_AA, _SHIFT)
        return
    if shape == "square":
        pts = [[cx - half, cy - half], [cx + half, cy - half],
               [cx + half, cy + half], [cx - half, cy + half]]
    elif shape == "triangle":
        # Pointing up, equilateral, centred vertically inside the size x size box.
        h2 = size * _TRIANGLE_HEIGHT / 2.0
        pts = [[cx, cy - h2], [cx + half, cy + h2], [cx - half, cy + h2]]
    else:
        raise ValueError(f"unknown shape {shape!r}")
    cv2.fillPoly(img, [_fixed(pts)], rgb, cv2.LINE_AA, _SHIFT)


def draw_clip(spec: ClipSpec, width: int = 64, height: int = 64,
              frames: int = 16) -> np.ndarray:
    """Render spec as (frames, height, width, 3) uint8 RGB on black."""
    clip = np.zeros((frames, height, width, 3), dtype=np.uint8)
    rgb = COLOUR_RGB[spec.colour]
    for f in range(frames):
        cx, cy = spec.centre(f)
        _draw_shape(clip[f], spec.shape, cx, cy, spec.size_px, rgb)
    return clip


def sample_clip_spec(rng: np.random.Generator, colour: str, shape: str, direction: str,
                     width: int = 64, height: int = 64, frames: int = 16) -> ClipSpec:
    """Random size/start/speed such that the shape stays fully visible and travels far."""
    if frames < 2:
        raise ValueError("need at least 2 frames to show motion")
    if colour not in COLOURS or shape not in SHAPES or direction not in DIRECTIONS:
        raise ValueError(f"unknown attributes {(colour, shape, direction)}")
    size = int(rng.integers(SIZE_RANGE_PX[0], SIZE_RANGE_PX[1] + 1))
    dx, dy = DIRECTION_STEP[direction]
    axis_len, cross_len = (width, height) if dx else (height, width)
    # Centre range keeping box + AA margin inside; pixel centres are 0 .. len-1.
    lo = size / 2.0 + EDGE_MARGIN_PX
    axis_hi, cross_hi = axis_len - 1 - lo, cross_len - 1 - lo
    room = axis_hi - lo
    min_travel = MIN_TRAVEL_FRAC * axis_len
    if room < min_travel or cross_hi < lo:
        raise ValueError(f"frame {width}x{height} too small for a {size}px shape to travel")
    travel = float(rng.uniform(min_travel, room))
    first = float(rng.uniform(lo, axis_hi - travel))
    # Moving towards -axis means we start at the far end of the path.
    along = first if (dx + dy) > 0 else first + travel
    across = float(rng.uniform(lo, cross_hi))
    start = (along, across) if dx else (across, along)
    return ClipSpec(colour, shape, direction, float(size), start, travel / (frames - 1))


def caption_for(attrs: Triple, omit: Optional[str] = None) -> str:
    """Caption of a (colour, shape, direction) triple, optionally leaving one attribute out."""
    if omit is not None and omit not in ATTRIBUTES:
        raise ValueError(f"omit must be one of {ATTRIBUTES} or None, got {omit!r}")
    kept = {name: (None if name == omit else value) for name, value in zip(ATTRIBUTES, attrs)}
    return caption(**kept)


def training_examples(seed: int, count: int, width: int = 64, height: int = 64,
                      frames: int = 16, partial_caption_rate: float = 0.15,
                      ) -> Iterator[tuple[np.ndarray, str, Triple]]:
    """Yield (clip, caption, attrs) for non-held-out triples, fully determined by seed."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        attrs = TRAINING_TRIPLES[int(rng.integers(len(TRAINING_TRIPLES)))]
        spec = sample_clip_spec(rng, *attrs, width=width, height=height, frames=frames)
        # Always draw both numbers so the rng stream does not depend on the rate.
        partial = rng.random() < partial_caption_rate
        omit_idx = int(rng.integers(len(ATTRIBUTES)))
        omit = ATTRIBUTES[omit_idx] if partial else None
        yield draw_clip(spec, width, height, frames), caption_for(attrs, omit), attrs
