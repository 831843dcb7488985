"""What the studio needs to know about a model family; one subclass per family, in its own module."""
from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import torch

from studio.models.values import Conditioning

# A clip whose decoded float32 frames would pass this is refused up front: it could not fit in memory anyway.
MAX_DECODED_BYTES = 48 * 2**30


class ModelFamily:
    """Adapter between the studio's nodes and one family of diffusers video pipelines."""

    name: ClassVar[str]
    pipeline_classes: ClassVar[tuple[str, ...]]

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        self.pipe = pipe
        # studio_model.json beside model_index.json, when the folder has one: {"native_size": [w, h, f], "fps": n}
        self.manifest = manifest or {}

    @property
    def fps(self) -> float:
        return float(self.manifest.get("fps", 16.0))

    # -- geometry
    spatial_compression: int
    temporal_compression: int
    size_multiple: int  # width and height must be multiples of this

    # A causal video VAE decodes latent frame 0 to pixel frame 0 alone, and each later latent frame to the next
    # temporal_compression frames; a non-causal one decodes every latent frame to temporal_compression frames.
    causal_first_frame: bool = False

    def pixel_frames(self, latent_frames: int) -> int:
        """How many frames a clip of `latent_frames` latent frames decodes to."""
        t = self.temporal_compression
        return 1 + (latent_frames - 1) * t if self.causal_first_frame else latent_frames * t

    def native_size(self) -> tuple[int, int, int]:
        """(width, height, frames) the model was trained at."""
        raise NotImplementedError

    def frames_ok(self, frames: int) -> bool:
        return (frames - 1) % self.temporal_compression == 0

    def size_problem(self, width: int, height: int, frames: int) -> tuple[str, str] | None:
        """(parameter, message) when the family cannot take this size; checked before anything is allocated."""
        for param, value in (("width", width), ("height", height)):
            if value % self.size_multiple:
                below = value // self.size_multiple * self.size_multiple
                return param, (f"must be a multiple of {self.size_multiple} for {self.name} models, got {value} "
                               f"(try {max(below, self.size_multiple)} or {below + self.size_multiple})")
        if not self.frames_ok(frames):
            t = self.temporal_compression
            below = (frames - 1) // t * t + 1
            return "frames", (f"{self.name} models take 1 + a multiple of {t} frames, got {frames} "
                              f"(try {below} or {below + t})")
        decoded = width * height * frames * 3 * 4
        if decoded > MAX_DECODED_BYTES:
            return "frames", (f"{width}x{height}x{frames} frames would need {decoded / 2**30:.0f} GiB just for the "
                              f"decoded clip (limit {MAX_DECODED_BYTES / 2**30:.0f} GiB); render fewer or smaller "
                              "frames")
        return None

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        raise NotImplementedError

    # -- text
    def encode_prompt(self, text: str) -> Conditioning:
        raise NotImplementedError

    def empty_prompt(self) -> Conditioning:
        """The unconditional prompt guidance uses when no negative is connected; encoded once per loaded model."""
        if getattr(self, "_empty_prompt", None) is None:
            self._empty_prompt = self.encode_prompt("")
        return self._empty_prompt

    # -- sampling
    schedulers: ClassVar[tuple[str, ...]] = ("default",)

    def make_scheduler(self, name: str) -> Any:
        raise NotImplementedError

    def predict(self, latents: torch.Tensor, t: torch.Tensor, embeds: torch.Tensor,
                first_frame: torch.Tensor | None) -> torch.Tensor:
        """The model's prediction at timestep t for the current latents."""
        raise NotImplementedError

    def apply_first_frame(self, latents: torch.Tensor, first_frame: torch.Tensor | None) -> torch.Tensor:
        return latents

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: torch.Tensor | None) -> torch.Tensor | None:
        """The clean clip the model currently expects (x0), for previews; None when the family cannot tell.

        Called right after `scheduler.step(prediction, t, latents)`, with the `latents` that step started from; it
        must not change the scheduler or the latents.
        """
        return None

    # -- inpainting
    def latent_mask(self, covered: torch.Tensor) -> torch.Tensor:
        """(F, H, W) bool pixels to regenerate -> (1, 1, T, h, w) float32 latent cells to regenerate (1) or keep (0).

        A latent cell is regenerated when any pixel it decodes to is covered (dilate, never erode), so every
        covered pixel comes from regenerated latents: temporal_compression frames x spatial_compression^2 pixels
        per cell, and the first frame alone in the first latent frame of a causal VAE.
        """
        s, t = self.spatial_compression, self.temporal_compression
        pixels = covered.to(torch.float32)[None, None]
        parts = []
        if self.causal_first_frame:
            parts.append(torch.nn.functional.max_pool3d(pixels[:, :, :1], (1, s, s), ceil_mode=True))
            pixels = pixels[:, :, 1:]
        if pixels.shape[2]:
            parts.append(torch.nn.functional.max_pool3d(pixels, (t, s, s), ceil_mode=True))
        return torch.cat(parts, dim=2) if len(parts) > 1 else parts[0]

    def noised(self, clean: torch.Tensor, noise: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
        """`clean` latents noised to the scheduler's noise level `sigma` (one of scheduler.sigmas) with `noise`, as
        the family's schedulers define it; sigma 0 gives `clean` exactly."""
        raise NotImplementedError

    def inpaint_problem(self) -> str | None:
        """Why this model cannot inpaint, or None when it can."""
        if type(self).noised is ModelFamily.noised:
            return f"{self.name} models cannot inpaint yet"
        return None

    # -- pixels
    supports_first_frame: bool = False

    def encode_first_frame(self, image: np.ndarray, width: int, height: int, frames: int) -> torch.Tensor:
        """Only called when supports_first_frame; Image Conditioning refuses other models by name."""
        raise NotImplementedError

    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        """Latents -> (F, H, W, 3) uint8 RGB frames."""
        raise NotImplementedError


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] -> uint8, rounding to nearest (as PIL conversion of the pipeline's output does)."""
    return np.ascontiguousarray((np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8))
