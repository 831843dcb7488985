"""Step previews: a linear latent -> RGB projection fitted to the loaded model's own VAE.

Each latent pixel's C channels (plus a bias) map linearly to the RGB values of the whole block of pixels it decodes
to: temporal_compression frames x spatial_compression^2 pixels ("sub-pixel" weights), with a separate set for the
first latent frame of a causal video VAE, which decodes to one frame. The weights are the least-squares fit of the
VAE's real decodes of a few synthetic clips, computed once per model and cached on disk as safetensors, so no model
needs a hand-made table. Previews are shrunk by pooling the weights (pooling is linear), never by resizing images.
"""
from __future__ import annotations

import hashlib
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import cv2
import numpy as np
import torch

from studio.paths import user_cache_dir

if TYPE_CHECKING:
    from studio.models.families.base import ModelFamily
    from studio.models.values import LoadedModel

FORMAT_VERSION = 1  # bump when the fit or the file layout changes: old cache files are then simply not found
PREVIEW_MAX_SIDE = 256
FIT_LATENT_FRAMES = 3  # the first latent frame (alone for a causal VAE) and two more
FIT_MOSAICS = 1
FIT_TILE_LATENTS = 4  # each mosaic tile spans 4x4 latent pixels; a 4x4 mosaic gives 256 rows per latent frame
RIDGE = 1e-4  # relative to the mean feature energy: keeps the solve stable when a latent channel is nearly unused


@dataclass
class LatentProjection:
    """Sub-pixel weights: `rest` is (C + 1, temporal * spatial^2 * 3), the last row the bias; `first` likewise
    with one frame, present for a causal VAE. Values map to RGB in 0..1."""

    rest: torch.Tensor
    first: torch.Tensor | None
    spatial: int
    temporal: int
    error: float = float("nan")  # the fit's mean absolute error on its own clips, in 0..255
    _pooled: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def channels(self) -> int:
        return self.rest.shape[0] - 1

    def preview_scale(self, height: int, width: int, max_side: int = PREVIEW_MAX_SIDE) -> int:
        """Pixels per latent pixel in a preview: the largest divisor of the VAE's factor that keeps the longest
        side within max_side, and never below one (the latent grid itself)."""
        fits = [p for p in range(1, self.spatial + 1) if self.spatial % p == 0 and max(height, width) * p <= max_side]
        return max(fits, default=1)

    @torch.no_grad()
    def project(self, latents: torch.Tensor, max_side: int = PREVIEW_MAX_SIDE) -> np.ndarray:
        """Latents (1, C, T, h, w) or (C, T, h, w) in the sampler's space -> uint8 C-contiguous (F, H, W, 3),
        with as many frames as the decoded clip and H, W = h, w times preview_scale."""
        x = (latents[0] if latents.dim() == 5 else latents).to(torch.float32)
        if x.shape[0] != self.channels:
            raise ValueError(f"the projection takes {self.channels} latent channels, got {x.shape[0]}")
        scale = self.preview_scale(x.shape[2], x.shape[3], max_side)
        first, rest = self._weights(scale, x.device)
        parts = []
        if first is not None:
            parts.append(_expand(x[:, :1], first, 1, scale))
            x = x[:, 1:]
        if x.shape[1]:
            parts.append(_expand(x, rest, self.temporal, scale))
        frames = torch.cat(parts) if len(parts) > 1 else parts[0]
        return np.ascontiguousarray(frames.cpu().numpy())  # quantised on the device: only uint8 crosses

    def _weights(self, scale: int, device: torch.device) -> tuple[torch.Tensor | None, torch.Tensor]:
        """Weights pooled to `scale` pixels per latent pixel, on `device`, mapping straight to 0..255 + 0.5 (so
        truncating to uint8 rounds): fewer passes over the preview each step."""
        key = (scale, str(device))
        if key not in self._pooled:
            pool = self.spatial // scale

            def pooled(weights: torch.Tensor | None, frames: int) -> torch.Tensor | None:
                if weights is None:
                    return None
                blocks = weights.view(-1, frames, scale, pool, scale, pool, 3).mean(dim=(3, 5))
                blocks = blocks.reshape(weights.shape[0], -1) * 255.0
                blocks[-1] += 0.5
                return blocks.to(device)

            self._pooled[key] = (pooled(self.first, 1), pooled(self.rest, self.temporal))
        return self._pooled[key]


def _expand(x: torch.Tensor, weights: torch.Tensor, frames: int, scale: int) -> torch.Tensor:
    """(C, n, h, w) latents -> uint8 (n * frames, h * scale, w * scale, 3) RGB through sub-pixel weights."""
    c, n, h, w = x.shape
    out = torch.addmm(weights[-1], x.permute(1, 2, 3, 0).reshape(-1, c), weights[:-1])
    out = out.clamp_(0.0, 255.0).to(torch.uint8)  # truncation after the folded +0.5: rounding
    return out.view(n, h, w, frames, scale, scale, 3).permute(0, 3, 1, 4, 2, 5, 6).reshape(
        n * frames, h * scale, w * scale, 3)


# ---------------------------------------------------------------- fitting

def synthetic_clip(tile: int, frames: int, grid: int = 4, seed: int = 0) -> np.ndarray:
    """A deterministic (frames, grid * tile, grid * tile, 3) uint8 mosaic of varied moving patterns: gradients,
    soft blobs, hard-edged saturated shapes on dark or bright grounds, smooth colour noise, flat colour fields and
    fine grain.
    One mosaic rather than many small clips: the VAE's cost per call dominates at these sizes."""
    rng = np.random.default_rng(seed)
    rows = [np.concatenate([_pattern(i * grid + j, rng, tile, frames) for j in range(grid)], axis=2)
            for i in range(grid)]
    return np.ascontiguousarray((np.clip(np.concatenate(rows, axis=1), 0, 1) * 255).round().astype(np.uint8))


def _pattern(index: int, rng: np.random.Generator, size: int, frames: int) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    clip = np.empty((frames, size, size, 3), np.float32)
    colours = rng.uniform(0, 1, (6, 3)).astype(np.float32)
    kind, angle = index % 6, rng.uniform(0, np.pi)
    grid = rng.uniform(0, 1, (frames // 4 + 2, 4, 4, 3)).astype(np.float32)
    for f in range(frames):
        t = f / max(frames - 1, 1)
        if kind == 0:  # two-colour gradient turning over time
            a = angle + 0.3 * f
            ramp = np.clip(0.5 + np.cos(a) * (xx - 0.5) + np.sin(a) * (yy - 0.5), 0, 1)[..., None]
            clip[f] = colours[0] * (1 - ramp) + colours[1] * ramp
        elif kind == 1:  # soft blobs drifting over a flat ground
            clip[f] = colours[5]
            for b in range(3):
                cx, cy = 0.2 + 0.6 * colours[b, 0] + 0.3 * t * (b - 1), 0.2 + 0.6 * colours[b, 1]
                weight = np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (0.02 + 0.05 * colours[b, 2]))[..., None]
                clip[f] = clip[f] * (1 - weight) + colours[b] * weight
        elif kind == 2:  # hard-edged saturated shapes sliding across a dark or bright ground
            image = np.full((size, size, 3), 0.05 if index % 2 == 0 else 0.9, np.float32)
            for b in range(2):
                colour = tuple(float(c) for c in np.round(colours[b]))  # saturated: corners of the RGB cube
                cx = int(size * (0.25 + 0.5 * colours[b + 3, 0] + 0.3 * t * (1 if b else -1)))
                cy, radius = int(size * (0.25 + 0.5 * colours[b + 3, 1])), max(2, int(size * 0.2 * colours[b, 2]))
                if b:
                    cv2.rectangle(image, (cx - radius, cy - radius), (cx + radius, cy + radius), colour, -1)
                else:
                    cv2.circle(image, (cx, cy), radius, colour, -1, lineType=cv2.LINE_AA)
            clip[f] = image
        elif kind == 3:  # smooth colour noise, changing and panning
            low = grid[f // 4] * (1 - (f % 4) / 4) + grid[f // 4 + 1] * ((f % 4) / 4)
            big = cv2.resize(low, (size * 3 // 2, size * 3 // 2), interpolation=cv2.INTER_CUBIC)
            shift = int(t * size / 2)
            clip[f] = big[shift // 2: shift // 2 + size, shift: shift + size]
        elif kind == 5:  # fine detail, 1-3 px grains, drifting: pins down what latents hold below their own grid
            if f == 0:
                grain = int(rng.integers(1, 4))
                texture = rng.uniform(0, 1, (size // grain + 3, size // grain + 3, 3)).astype(np.float32)
                texture = np.repeat(np.repeat(texture, grain, axis=0), grain, axis=1)
            shift = f % (2 * grain + 1)
            clip[f] = texture[shift: shift + size, : size]
        else:  # flat colour fields whose border moves: pure colours pin down the bias and the colour axes
            split = int(size * (0.3 + 0.4 * t))
            clip[f, :, :split], clip[f, :, split:] = colours[0], colours[1]
            clip[f, size // 2:] = clip[f, size // 2:] * 0.5 + colours[2] * 0.5
    return clip


def _frame_spans(causal: bool, temporal: int, latent_frames: int) -> list[tuple[int, int]]:
    """(first pixel frame, count) that each latent frame decodes to."""
    if causal:
        return [(0, 1)] + [(1 + (k - 1) * temporal, temporal) for k in range(1, latent_frames)]
    return [(k * temporal, temporal) for k in range(latent_frames)]


def _rows(latents: torch.Tensor, decoded: np.ndarray, start: int, count: int, k: int,
          spatial: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One latent frame's pixels as rows of (C) features and (count * spatial^2 * 3) targets in 0..1."""
    x = latents[0, :, k].to("cpu", torch.float64)
    c, h, w = x.shape
    y = torch.from_numpy(decoded[start:start + count]).to(torch.float64) / 255.0
    y = y.view(count, h, spatial, w, spatial, 3).permute(1, 3, 0, 2, 4, 5).reshape(h * w, -1)
    return x.permute(1, 2, 0).reshape(h * w, c), y


def _solve(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Ridge-regularised least squares with a bias column, by the normal equations (small: C + 1 unknowns)."""
    x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=x.dtype)], dim=1)
    gram = x.T @ x
    ridge = RIDGE * gram.diagonal()[:-1].mean()
    gram[:-1, :-1] += ridge * torch.eye(x.shape[1] - 1, dtype=x.dtype)
    return torch.linalg.solve(gram, x.T @ y)


@torch.no_grad()
def fit_latent_projection(family: "ModelFamily", *, mosaics: int = FIT_MOSAICS,
                          check_aborted: Callable[[], None] | None = None) -> LatentProjection:
    """Fit the projection to the family's own VAE: encode synthetic clips, decode them, and solve least squares
    from each latent pixel to the block of decoded pixels it stands for. The result's `error` is the mean absolute
    error of the fit, in 0..255."""
    spatial, temporal, causal = family.spatial_compression, family.temporal_compression, family.causal_first_frame
    spans = _frame_spans(causal, temporal, FIT_LATENT_FRAMES)
    frames = family.pixel_frames(FIT_LATENT_FRAMES)
    first: tuple[list, list] = ([], [])
    rest: tuple[list, list] = ([], [])
    for seed in range(mosaics):
        clip = synthetic_clip(FIT_TILE_LATENTS * spatial, frames, seed=seed)
        if check_aborted is not None:
            check_aborted()
        latents = family.encode_video(clip)
        if check_aborted is not None:
            check_aborted()
        decoded = family.decode(latents, tiled=False)
        if decoded.shape[0] != frames or latents.shape[2] != FIT_LATENT_FRAMES:
            raise RuntimeError(f"{family.name}: {frames} frames encoded to {latents.shape[2]} latent frames and "
                               f"decoded to {decoded.shape[0]}, not the {FIT_LATENT_FRAMES} and {frames} expected")
        for k, (start, count) in enumerate(spans):
            x, y = _rows(latents, decoded, start, count, k, spatial)
            target = first if (causal and k == 0) else rest
            target[0].append(x)
            target[1].append(y)
    errors, weights = [], []
    for xs, ys in (first, rest):
        if not xs:
            weights.append(None)
            continue
        x, y = torch.cat(xs), torch.cat(ys)
        w = _solve(x, y)
        errors.append((x @ w[:-1] + w[-1] - y).abs().flatten())
        weights.append(w.to(torch.float32).contiguous())
    error = float(torch.cat(errors).mean() * 255.0)
    return LatentProjection(rest=weights[1], first=weights[0], spatial=spatial, temporal=temporal, error=error)


# ---------------------------------------------------------------- per model, memoised and cached on disk

def cache_file(model: "LoadedModel") -> Path | None:
    """Where this model's projection is cached: keyed by the VAE's config, its files' sizes and times, the family's
    geometry and the format version, so a changed VAE or a new format never reads a stale fit."""
    vae = Path(model.path) / "vae"
    if not vae.is_dir():
        return None
    family = model.family
    digest = hashlib.sha256(f"{FORMAT_VERSION}:{family.name}:{family.spatial_compression}:"
                            f"{family.temporal_compression}:{family.causal_first_frame}".encode())
    for path in sorted(vae.iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"|{path.name}:{stat.st_size}:{stat.st_mtime_ns}".encode())
            if path.suffix == ".json":
                digest.update(path.read_bytes())
    return user_cache_dir() / "latent-projections" / f"{digest.hexdigest()[:40]}.safetensors"


def save_projection(projection: LatentProjection, path: Path) -> None:
    from safetensors.torch import save_file

    tensors = {"rest": projection.rest.contiguous()}
    if projection.first is not None:
        tensors["first"] = projection.first.contiguous()
    metadata = {"format": str(FORMAT_VERSION), "spatial": str(projection.spatial),
                "temporal": str(projection.temporal), "error": repr(projection.error)}
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.partial")  # never leave a half-written file
    try:
        save_file(tensors, str(partial), metadata=metadata)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def load_projection(path: Path, family: "ModelFamily") -> LatentProjection | None:
    """The cached projection, or None when the file is missing, unreadable or does not fit this family."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            # Copied out of the memory map: a file replaced or truncated later must not pull pages from under us.
            tensors = {name: handle.get_tensor(name).clone() for name in handle.keys()}
        projection = LatentProjection(rest=tensors["rest"], first=tensors.get("first"),
                                      spatial=int(metadata["spatial"]), temporal=int(metadata["temporal"]),
                                      error=float(metadata["error"]))
    except Exception:  # corrupt, truncated or foreign: refit rather than fail a render over a preview
        return None
    channels = family.latent_shape(family.spatial_compression, family.spatial_compression, 1)[1]
    blocks = family.spatial_compression ** 2 * 3
    expected = (metadata.get("format") == str(FORMAT_VERSION) and projection.spatial == family.spatial_compression
                and projection.temporal == family.temporal_compression
                and tuple(projection.rest.shape) == (channels + 1, projection.temporal * blocks)
                and (projection.first is not None) == family.causal_first_frame
                and (projection.first is None or tuple(projection.first.shape) == (channels + 1, blocks)))
    if not expected or not all(torch.isfinite(t).all() for t in tensors.values()):
        return None
    return projection


def projection_for(model: "LoadedModel", check_aborted: Callable[[], None] | None = None) -> LatentProjection:
    """The model's projection: memoised on the loaded model, read from the disk cache, or fitted (and cached)."""
    if model.latent_projection is not None:
        return model.latent_projection
    path = cache_file(model)
    projection = load_projection(path, model.family) if path is not None and path.is_file() else None
    if projection is None:
        projection = fit_latent_projection(model.family, check_aborted=check_aborted)
        if path is not None:
            try:
                save_projection(projection, path)
            except OSError:
                pass  # a read-only cache only means fitting again next time
    model.latent_projection = projection
    return projection
