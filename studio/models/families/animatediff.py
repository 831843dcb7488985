"""AnimateDiff: a Stable Diffusion 1.5 UNet with a MotionAdapter's temporal layers (UNetMotionModel), CLIP text
conditioning and the image VAE applied frame by frame.

Each step mirrors diffusers' AnimateDiffPipeline operation for operation (scale_model_input, the UNet on the prompt
embeddings repeated per frame, the scheduler's step with the pipeline's generator), so the studio's frames equal the
plain pipeline's for the same components, seed and settings (tests/models/families/test_animatediff.py).
"""
from __future__ import annotations

import inspect
from typing import Any

import numpy as np
import torch

from studio.models.families.base import ModelFamily, encode_frames_one_by_one, to_uint8
from studio.models.values import Conditioning

# AnimateDiffPipeline's defaults: the size its examples use and how many frames its VAE decodes per call.
NATIVE_SIZE = (512, 512, 16)
DECODE_CHUNK_FRAMES = 16


class AnimateDiffFamily(ModelFamily):
    name = "AnimateDiff"
    pipeline_classes = ("AnimateDiffPipeline", "AnimateDiffVideoToVideoPipeline")
    schedulers = ("default", "ddim", "euler", "dpm++")
    temporal_compression = 1  # the image VAE encodes every frame on its own

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(pipe, manifest)
        self.spatial_compression = pipe.vae_scale_factor
        self.size_multiple = self.spatial_compression
        # The motion module's positional embedding has this many slots: a longer clip cannot be denoised at once.
        self.max_frames = int(pipe.unet.config.get("motion_max_seq_length", 32))
        self.unet_dtype = pipe.unet.dtype  # read once: ModelMixin.dtype walks every parameter
        self._schedulers: dict[str, Any] = {}
        self._timestep: torch.Tensor | None = None  # the step being predicted, for DDIM-style previews
        self._generator: torch.Generator | None = None  # the run's, as the pipeline hands it to scheduler.step

    @property
    def fps(self) -> float:
        return float(self.manifest.get("fps", 8.0))

    def native_size(self) -> tuple[int, int, int]:
        return tuple(self.manifest.get("native_size", NATIVE_SIZE))

    def size_problem(self, width: int, height: int, frames: int) -> tuple[str, str] | None:
        if frames > self.max_frames:
            return "frames", (f"this {self.name} motion module takes at most {self.max_frames} frames at once, "
                              f"got {frames}")
        return super().size_problem(width, height, frames)

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        return (1, self.pipe.unet.config.in_channels, frames, height // self.spatial_compression,
                width // self.spatial_compression)

    # -- text
    @torch.no_grad()
    def encode_prompt(self, text: str) -> Conditioning:
        tokenizer = self.pipe.tokenizer
        embeds, _ = self.pipe.encode_prompt(text, self.pipe._execution_device, 1, False)
        return Conditioning(text=text, embeds=embeds.to(self.unet_dtype), tokens=len(tokenizer(text).input_ids),
                            max_tokens=tokenizer.model_max_length)

    # -- sampling
    def make_scheduler(self, name: str) -> Any:
        # Kept and reused like the pipeline's own: set_timesteps() resets a scheduler's state for each run.
        if name not in self._schedulers:
            import diffusers

            kinds = {"default": type(self.pipe.scheduler), "ddim": diffusers.DDIMScheduler,
                     "euler": diffusers.EulerDiscreteScheduler, "dpm++": diffusers.DPMSolverMultistepScheduler}
            # from_config keeps the betas, prediction type and timestep spacing the model was trained with.
            self._schedulers[name] = kinds[name].from_config(self.pipe.scheduler.config)
        return self._schedulers[name]

    def initial_noise(self, shape: tuple[int, ...], seed: int, device: Any) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        # Kept for scheduler.step: the pipeline hands its generator, past the noise it drew, to stochastic steps.
        self._generator = torch.Generator("cpu").manual_seed(seed)
        return randn_tensor(shape, generator=self._generator, device=device, dtype=torch.float32)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning, first_frame: Any, *,
                scheduler: Any, guidance_scale: float) -> torch.Tensor:
        self._timestep = t
        model_input = scheduler.scale_model_input(latents, t)
        # The UNet folds frames into the batch: one copy of the prompt per frame, as the pipeline repeats it.
        embeds = conditioning.embeds.repeat_interleave(latents.shape[2], dim=0)
        return self.pipe.unet(model_input.to(self.unet_dtype), t, encoder_hidden_states=embeds,
                              return_dict=False)[0]

    def step(self, scheduler: Any, prediction: torch.Tensor, t: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        # As the pipeline's prepare_extra_step_kwargs: eta 0 and the run's generator, where the scheduler takes them.
        accepted = inspect.signature(scheduler.step).parameters
        extra = {key: value for key, value in (("eta", 0.0), ("generator", self._generator)) if key in accepted}
        return scheduler.step(prediction, t, latents, **extra, return_dict=False)[0]

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: Any) -> torch.Tensor:
        return clean_estimate(scheduler, self._timestep, latents, prediction)

    # -- inpainting
    def noise_level(self, scheduler: Any, index: int) -> tuple[Any, Any]:
        alpha, sigma, _ = noise_space(scheduler, index)
        return alpha, sigma

    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: tuple[Any, Any]) -> torch.Tensor:
        # scheduler.add_noise's formula for the level's timestep; the end of the schedule is the clean clip itself.
        alpha, sigma = level
        if float(sigma) == 0.0:
            return clean
        return torch.as_tensor(alpha).to(clean) * clean + torch.as_tensor(sigma).to(clean) * noise

    # -- pixels
    def _frames_in_batch(self, latents: torch.Tensor) -> torch.Tensor:
        b, c, f, h, w = latents.shape
        return latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)

    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        return encode_frames_one_by_one(self.pipe, frames, DECODE_CHUNK_FRAMES)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        # AnimateDiffPipeline.decode_latents, operation for operation.
        vae = self.pipe.vae
        vae.enable_tiling() if tiled else vae.disable_tiling()
        latents = 1 / vae.config.scaling_factor * latents.to(vae.device, vae.dtype)
        frames = latents.shape[2]
        batch = self._frames_in_batch(latents)
        video = torch.cat([vae.decode(batch[i:i + DECODE_CHUNK_FRAMES]).sample
                           for i in range(0, batch.shape[0], DECODE_CHUNK_FRAMES)])
        video = video[None, :].reshape((1, frames, -1) + video.shape[2:]).permute(0, 2, 1, 3, 4)
        return to_uint8(self.pipe.video_processor.postprocess_video(video.float(), output_type="np")[0])


def noise_space(scheduler: Any, index: int) -> tuple[Any, Any, Any]:
    """(alpha, sigma, input_scale) at `index` of the scheduler's schedule: its latents there are
    alpha * x0 + sigma * noise, and the model sees them times input_scale (scale_model_input). Index
    len(timesteps), the end, is the clean clip: (1, 0, 1)."""
    if index >= len(scheduler.timesteps):
        return 1.0, 0.0, 1.0
    sigmas = getattr(scheduler, "sigmas", None)
    if sigmas is None:  # DDIM, PNDM: the training schedule's cumulative alphas at the timestep
        cumulative = scheduler.alphas_cumprod[int(scheduler.timesteps[index])]
        return cumulative ** 0.5, (1 - cumulative) ** 0.5, 1.0
    sigma = sigmas[index].to(torch.float32)
    if hasattr(scheduler, "_sigma_to_alpha_sigma_t"):  # DPM-Solver: variance-preserving latents
        alpha, sigma_t = scheduler._sigma_to_alpha_sigma_t(sigma)
        return alpha, sigma_t, 1.0
    return 1.0, sigma, (sigma ** 2 + 1) ** -0.5  # Euler-style: x0 + sigma noise, scaled down for the model


def clean_estimate(scheduler: Any, t: torch.Tensor, latents: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """x0 by the scheduler's own formula, right after scheduler.step(prediction, t, latents)."""
    # Schedulers with sigmas have advanced step_index by one; the others (DDIM, PNDM) keep only the timestep.
    if getattr(scheduler, "sigmas", None) is not None and scheduler.step_index is not None:
        alpha, sigma, scale = noise_space(scheduler, scheduler.step_index - 1)
    else:
        cumulative = scheduler.alphas_cumprod[int(t)]
        alpha, sigma, scale = cumulative ** 0.5, (1 - cumulative) ** 0.5, 1.0
    x, prediction = latents.to(torch.float32), prediction.to(torch.float32)
    kind = scheduler.config.prediction_type
    if kind == "epsilon":
        return (x - sigma * prediction) / alpha
    if kind == "v_prediction":
        # In the model's (variance-preserving) input space: x0 = alpha x_t - sigma v.
        return (alpha * scale) * (x * scale) - (sigma * scale) * prediction
    return prediction  # "sample": the model predicts x0 itself
