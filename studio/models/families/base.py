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
    # diffusers step caches (keys of studio.models.memory.STEP_CACHES) checked to run with this family's
    # transformer; Load Model refuses the others, naming the family.
    step_caches: ClassVar[tuple[str, ...]] = ()

    def make_scheduler(self, name: str) -> Any:
        raise NotImplementedError

    def set_timesteps(self, scheduler: Any, steps: int, device: Any, latent_shape: tuple[int, ...] | None) -> None:
        """Set `scheduler` for `steps` steps as the plain pipeline does for latents of `latent_shape` (the studio's
        layout; None when unknown). A family whose pipeline passes its own sigmas or a resolution-dependent shift
        (`mu`) overrides."""
        scheduler.set_timesteps(steps, device=device)

    def initial_noise_with(self, shape: tuple[int, ...], seed: int, device: Any, first_frame: Any) -> torch.Tensor:
        """What a full denoise starts from when the clip has `first_frame` (what encode_first_frame returned, or
        None): initial_noise, unless the family's pipeline draws from the same generator for the image too."""
        return self.initial_noise(shape, seed, device)

    def initial_noise(self, shape: tuple[int, ...], seed: int, device: Any) -> torch.Tensor:
        """The starting noise for `shape` (the studio's (1, C, F, h, w) layout), drawn exactly as the family's plain
        pipeline draws it for generator=torch.Generator("cpu").manual_seed(seed): a family whose pipeline keeps
        another layout draws in that layout and permutes."""
        return seeded_noise(shape, seed, device)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning, first_frame: Any, *,
                scheduler: Any, guidance_scale: float) -> torch.Tensor:
        """The model's prediction at timestep t for the current latents ((1, C, F, h, w), whatever layout the
        transformer wants inside). `first_frame` is what encode_first_frame returned, or None; `scheduler` is the
        run's (for scale_model_input); `guidance_scale` is the Guidance node's scale, which guidance-distilled
        families feed to the model itself."""
        raise NotImplementedError

    def predict_unconditional(self, latents: torch.Tensor, t: torch.Tensor, negative: Conditioning, first_frame: Any,
                              *, scheduler: Any, guidance_scale: float) -> torch.Tensor:
        """The unconditional prediction guidance needs: the model on the negative prompt. A family whose
        unconditional input is something else (Stable Video Diffusion: zeroed image embeddings and latents)
        overrides."""
        return self.predict(latents, t, negative, first_frame, scheduler=scheduler, guidance_scale=guidance_scale)

    def runs_unconditional(self, scale: float) -> bool:
        """Whether guidance at `scale` needs an unconditional prediction each step (as the plain pipeline: not at
        scale 1; never for a guidance-distilled family)."""
        return scale > 1.0

    def guide(self, combine: Any, conditional: torch.Tensor, unconditional: torch.Tensor, index: int, total: int,
              t: torch.Tensor) -> torch.Tensor:
        """Combine the two predictions with the run's diffusers guider."""
        combine.set_state(index, total, t)
        return combine.forward(conditional, unconditional).pred

    def step(self, scheduler: Any, prediction: torch.Tensor, t: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        """One scheduler step; a family whose scheduler steps differently (extra state, other arguments) overrides."""
        return scheduler.step(prediction, t, latents, return_dict=False)[0]

    def apply_first_frame(self, latents: torch.Tensor, first_frame: Any) -> torch.Tensor:
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

    def noise_level(self, scheduler: Any, index: int) -> Any:
        """The noise level of the latents at `index` of the scheduler's schedule (index len(timesteps): the end,
        clean), in whatever form `noised` takes. Flow-matching schedulers keep it in `sigmas`."""
        return scheduler.sigmas[index]

    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: Any) -> torch.Tensor:
        """`clean` latents noised to `level` (from noise_level) with `noise`, as the family's schedulers define it;
        the level at the end of the schedule gives `clean` exactly."""
        raise NotImplementedError

    def inpaint_problem(self) -> str | None:
        """Why this model cannot inpaint, or None when it can."""
        if type(self).noised is ModelFamily.noised:
            return f"{self.name} models cannot inpaint yet"
        return None

    # -- pixels
    supports_first_frame: bool = False

    def encode_first_frame(self, image: np.ndarray, width: int, height: int, frames: int) -> Any:
        """Only called when supports_first_frame; Image Conditioning refuses other models by name. Whatever it
        returns reaches predict, apply_first_frame and predicted_clean as `first_frame`."""
        raise NotImplementedError

    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        raise NotImplementedError

    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        """Latents -> (F, H, W, 3) uint8 RGB frames."""
        raise NotImplementedError


def seeded_noise(shape: tuple[int, ...], seed: int, device: Any) -> torch.Tensor:
    """The same noise as a plain pipeline's randn_tensor given generator=torch.Generator("cpu").manual_seed(seed)."""
    from diffusers.utils.torch_utils import randn_tensor

    return randn_tensor(shape, generator=torch.Generator("cpu").manual_seed(seed), device=device,
                        dtype=torch.float32)


@torch.no_grad()
def encode_frames_one_by_one(pipe: Any, frames: np.ndarray, chunk: int) -> torch.Tensor:
    """(F, H, W, 3) uint8 frames -> (1, C, F, h, w) latents times the VAE's scaling_factor, for families whose VAE
    encodes images (AnimateDiff's, SVD's): `chunk` frames a call, each frame its own latent frame."""
    vae = pipe.vae
    pixels = torch.from_numpy(frames).permute(0, 3, 1, 2).to(torch.float32) / 127.5 - 1.0
    parts = [vae.encode(pixels[i:i + chunk].to(vae.device, vae.dtype)).latent_dist.mode()
             for i in range(0, len(pixels), chunk)]
    latents = torch.cat(parts).to(pipe._execution_device, torch.float32) * vae.config.scaling_factor
    return latents.unsqueeze(0).permute(0, 2, 1, 3, 4)


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Float frames in [0, 1] -> uint8, rounding to nearest (as PIL conversion of the pipeline's output does)."""
    return np.ascontiguousarray((np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8))
