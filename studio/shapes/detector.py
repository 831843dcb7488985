"""Classical detector that reads colour, shape and direction back out of a clip.

Used by the evaluator to score generated clips, so it must tolerate blur, noise
and small colour casts, and must answer None rather than guess when unsure.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from studio.shapes.vocabulary import COLOUR_HUE_DEG

LIT_THRESHOLD = 80  # floor on the foreground threshold (max channel)
FOREGROUND_PERCENTILE = 99.5  # the shape covers >= ~2% of a frame, so this lands on it
MIN_AREA_PX = 12  # smaller blobs are noise, not a shape
MIN_SATURATION = 80  # below this (0..255) the blob is grey/white: no colour
MIN_TRAVEL_PX = 8.0  # less motion than this is "not moving"
MIN_AXIS_RATIO = 2.0  # major/minor displacement; diagonal motion is no direction
MAX_HUE_ERROR_DEG = 30.0  # half the spacing of the six pure hues

# Shape cue thresholds, measured on drawn clips with and without noise/blur.
CIRCLE_MIN_HULL_CIRCULARITY = 0.92  # circles ~0.95-0.99, squares <= ~0.89
TRIANGLE_MAX_HULL_CIRCULARITY = 0.75  # triangles ~0.65-0.81, squares >= ~0.78
TRIANGLE_MAX_EXTENT = 0.68  # fill of bbox: triangle ~0.5-0.67
CIRCLE_MAX_EXTENT = 0.86  # circle ~0.69-0.83, square ~0.88-1.0
APPROX_EPS_FRAC = 0.06  # approxPolyDP tolerance relative to hull perimeter

BBox = tuple[int, int, int, int]


@dataclass(frozen=True)
class Detection:
    colour: Optional[str]
    shape: Optional[str]
    direction: Optional[str]
    centroids: list[Optional[tuple[float, float]]]
    first_frame_bbox: Optional[BBox]  # (x, y, w, h) of the blob in frame 0

    @property
    def attrs(self) -> tuple[Optional[str], Optional[str], Optional[str]]:
        return self.colour, self.shape, self.direction


def _largest_blob(value: np.ndarray) -> Optional[tuple[np.ndarray, BBox, tuple[float, float]]]:
    """Mask, bbox and centroid of the largest lit 8-connected component of a (H, W) brightness."""
    # Midway between background (median) and shape brightness keeps the mask on
    # the true edge under blur and lifts it above a noisy, non-black background.
    background, foreground = np.percentile(value, (50.0, FOREGROUND_PERCENTILE))
    lit = (value > max(LIT_THRESHOLD, (background + foreground) / 2.0)).astype(np.uint8)
    n, labels, stats, cents = cv2.connectedComponentsWithStats(lit, connectivity=8)
    if n <= 1:
        return None
    best = 1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))
    if stats[best, cv2.CC_STAT_AREA] < MIN_AREA_PX:
        return None
    x, y, w, h = (int(v) for v in stats[best, :4])
    return labels == best, (x, y, w, h), (float(cents[best][0]), float(cents[best][1]))


def _vote(cues: list[str]) -> Optional[str]:
    """Strict majority or None: an evaluator should not credit a coin-flip."""
    (top, count), = Counter(cues).most_common(1)
    return top if count * 2 > len(cues) else None


def classify_shape(mask: np.ndarray, bbox: BBox) -> Optional[str]:
    """Majority of three cues (vertex count, hull circularity, bbox extent); None on a 3-way split."""
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    if not contours or min(bbox[2], bbox[3]) < 3:
        return None
    # The convex hull smooths the ragged edge that noise leaves on the threshold.
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    perimeter = cv2.arcLength(hull, True)
    if perimeter <= 0:
        return None
    circularity = 4.0 * np.pi * cv2.contourArea(hull) / perimeter ** 2
    extent = float(mask.sum()) / (bbox[2] * bbox[3])
    vertices = len(cv2.approxPolyDP(hull, APPROX_EPS_FRAC * perimeter, True))

    by_vertices = {3: "triangle", 4: "square"}.get(vertices, "circle")
    if circularity >= CIRCLE_MIN_HULL_CIRCULARITY:
        by_circularity = "circle"
    elif circularity < TRIANGLE_MAX_HULL_CIRCULARITY:
        by_circularity = "triangle"
    else:
        by_circularity = "square"
    if extent < TRIANGLE_MAX_EXTENT:
        by_extent = "triangle"
    elif extent < CIRCLE_MAX_EXTENT:
        by_extent = "circle"
    else:
        by_extent = "square"
    return _vote([by_vertices, by_circularity, by_extent])


def _circular_median_deg(angles_deg: np.ndarray) -> float:
    """Median taken around the circular mean, so red hues near 0/360 do not split."""
    rad = np.deg2rad(angles_deg)
    mean = np.arctan2(np.sin(rad).mean(), np.cos(rad).mean())
    offsets = np.angle(np.exp(1j * (rad - mean)))
    return float(np.rad2deg(mean + np.median(offsets)) % 360.0)


def classify_colour(pixels_rgb: np.ndarray) -> Optional[str]:
    """Nearest pure hue to the circular median hue of (N, 3) uint8 RGB pixels."""
    if len(pixels_rgb) == 0:
        return None
    hsv = cv2.cvtColor(pixels_rgb.reshape(-1, 1, 3), cv2.COLOR_RGB2HSV_FULL).reshape(-1, 3)
    if np.median(hsv[:, 1]) < MIN_SATURATION:
        return None
    hue = _circular_median_deg(hsv[:, 0].astype(np.float64) * (360.0 / 256.0))
    errors = {name: abs((hue - ref + 180.0) % 360.0 - 180.0)
              for name, ref in COLOUR_HUE_DEG.items()}
    name = min(errors, key=errors.get)
    return name if errors[name] <= MAX_HUE_ERROR_DEG else None


def classify_direction(centroids: list[Optional[tuple[float, float]]]) -> Optional[str]:
    """Direction of first->last valid centroid along the dominant axis (image y points down)."""
    valid = [c for c in centroids if c is not None]
    if len(valid) < 2:
        return None
    dx = valid[-1][0] - valid[0][0]
    dy = valid[-1][1] - valid[0][1]
    major, minor = (abs(dx), abs(dy)) if abs(dx) >= abs(dy) else (abs(dy), abs(dx))
    if major < MIN_TRAVEL_PX or major < MIN_AXIS_RATIO * minor:
        return None
    if abs(dx) >= abs(dy):
        return "right" if dx > 0 else "left"
    return "down" if dy > 0 else "up"


def detect_clip(frames: np.ndarray) -> Detection:
    """Read (colour, shape, direction) from (F, H, W, 3) uint8 RGB frames."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected (F, H, W, 3) uint8 frames, got {frames.dtype} {frames.shape}")
    centroids: list[Optional[tuple[float, float]]] = []
    shapes: list[str] = []
    pixels: list[np.ndarray] = []
    first_bbox: Optional[BBox] = None
    # Elementwise max of channels: much faster than .max(axis=-1) on a length-3 axis.
    values = np.maximum(np.maximum(frames[..., 0], frames[..., 1]), frames[..., 2])
    for index, (frame, value) in enumerate(zip(frames, values)):
        blob = _largest_blob(value)
        if blob is None:
            centroids.append(None)
            continue
        mask, bbox, centroid = blob
        centroids.append(centroid)
        if index == 0:
            first_bbox = bbox
        pixels.append(frame[mask])
        shape = classify_shape(mask, bbox)
        if shape is not None:
            shapes.append(shape)
    all_pixels = np.concatenate(pixels) if pixels else np.zeros((0, 3), np.uint8)
    # Frames whose cues split three ways abstain; the rest must agree by majority.
    shape = _vote(shapes) if shapes else None
    return Detection(classify_colour(all_pixels), shape, classify_direction(centroids),
                     centroids, first_bbox)
