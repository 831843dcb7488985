"""LTX-Video text-to-video and first-frame image-to-video (diffusers LTXPipeline / LTXImageToVideoPipeline).

The transformer takes packed tokens (B, N, C * patch^2 * patch_t); the studio keeps (1, C, F, h, w) and packs inside
predict. Each step mirrors the pipeline operation for operation (tests/models/families/test_ltx.py): sigmas
linspace(1, 1/steps) shifted by `calculate_shift` of the latent sequence length, rope interpolation from the VAE's
compression and the frame rate, and for image-to-video a clean first latent frame whose tokens get timestep 0.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from studio.models.families.base import ModelFamily, to_uint8
from studio.models.values import Conditioning

# LTXPipeline's default encoder length, frame rate and size.
LTX_MAX_SEQUENCE_LENGTH = 128
LTX_FRAME_RATE = 25
LTX_NATIVE_SIZE = (704, 512, 161)
# LTXPipeline.check_inputs refuses any width or height that is not a multiple of 32.
LTX_PIPELINE_MULTIPLE = 32


@dataclass
class LTXFirstFrame:
    """The first frame's VAE posterior: the pipeline samples it with the run's generator before drawing the noise,
    so the latent depends on the seed and is only drawn when sampling starts."""

    posterior: Any  # diffusers DiagonalGaussianDistribution


class LTXFamily(ModelFamily):
    name = "LTX-Video"
    pipeline_classes = ("LTXPipeline", "LTXImageToVideoPipeline")
    schedulers = ("default",)
    # The decoder drops the first upsampled frames: latent frame 0 decodes to pixel frame 0 alone.
    causal_first_frame = True
    supports_first_frame = True

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(pipe, manifest)
        self.spatial_compression = pipe.vae_spatial_compression_ratio
        self.temporal_compression = pipe.vae_temporal_compression_ratio
        self.patch = pipe.transformer_spatial_patch_size
        self.patch_t = pipe.transformer_temporal_patch_size
        self.size_multiple = math.lcm(LTX_PIPELINE_MULTIPLE, self.spatial_compression * self.patch)
        self.max_tokens = min(LTX_MAX_SEQUENCE_LENGTH, pipe.tokenizer.model_max_length)
        # Read once: ModelMixin.dtype walks every parameter, which costs more than a tiny model's step.
        self.transformer_dtype = pipe.transformer.dtype
        self.text_dtype = pipe.text_encoder.dtype
        self._schedulers: dict[str, Any] = {}

    @property
    def fps(self) -> float:
        return float(self.manifest.get("fps", LTX_FRAME_RATE))

    def native_size(self) -> tuple[int, int, int]:
        return tuple(self.manifest.get("native_size", LTX_NATIVE_SIZE))

    def frames_ok(self, frames: int) -> bool:
        latent_frames = (frames - 1) // self.temporal_compression + 1
        return super().frames_ok(frames) and latent_frames % self.patch_t == 0

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        return (1, self.pipe.transformer.config.in_channels, (frames - 1) // self.temporal_compression + 1,
                height // self.spatial_compression, width // self.spatial_compression)

    # -- text
    @torch.no_grad()
    def encode_prompt(self, text: str) -> Conditioning:
        embeds, mask, _, _ = self.pipe.encode_prompt(prompt=text, do_classifier_free_guidance=False,
                                                     max_sequence_length=self.max_tokens,
                                                     device=self.pipe._execution_device)
        tokens = len(self.pipe.tokenizer(text, add_special_tokens=True).input_ids)
        return Conditioning(text=text, embeds=embeds, tokens=tokens, max_tokens=self.max_tokens,
                            extras={"attention_mask": mask})

    # -- sampling
    def make_scheduler(self, name: str) -> Any:
        # Kept and reused like the pipeline's own: set_timesteps() resets a scheduler's state for each run.
        if name not in self._schedulers:
            self._schedulers[name] = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
        return self._schedulers[name]

    def set_timesteps(self, scheduler: Any, steps: int, device: Any, latent_shape: tuple[int, ...] | None) -> None:
        from diffusers.pipelines.ltx.pipeline_ltx import calculate_shift

        _, _, frames, height, width = latent_shape
        config = scheduler.config
        mu = calculate_shift(frames * height * width, config.get("base_image_seq_len", 256),
                             config.get("max_image_seq_len", 4096), config.get("base_shift", 0.5),
                             config.get("max_shift", 1.15))
        scheduler.set_timesteps(sigmas=np.linspace(1.0, 1 / steps, steps), device=device, mu=mu)

    def initial_noise_with(self, shape: tuple[int, ...], seed: int, device: Any,
                           first_frame: LTXFirstFrame | None) -> torch.Tensor:
        if first_frame is None:
            return self.initial_noise(shape, seed, device)
        from diffusers.utils.torch_utils import randn_tensor

        # As LTXImageToVideoPipeline.prepare_latents: the image latent is sampled first, from the same generator.
        generator = torch.Generator("cpu").manual_seed(seed)
        image = self._normalize(first_frame.posterior.sample(generator).to(torch.float32), 1.0)
        image = image.repeat(1, 1, shape[2], 1, 1)
        mask = self._first_frame_mask(shape, device)
        noise = randn_tensor(shape, generator=generator, device=device, dtype=torch.float32)
        return image * mask + noise * (1 - mask)

    @staticmethod
    def _first_frame_mask(shape: tuple[int, ...], device: Any) -> torch.Tensor:
        mask = torch.zeros((shape[0], 1, *shape[2:]), device=device, dtype=torch.float32)
        mask[:, :, 0] = 1.0
        return mask

    def _pack(self, latents: torch.Tensor) -> torch.Tensor:
        return self.pipe._pack_latents(latents, self.patch, self.patch_t)

    def _unpack(self, tokens: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
        return self.pipe._unpack_latents(tokens, shape[2], shape[3], shape[4], self.patch, self.patch_t)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning,
                first_frame: LTXFirstFrame | None, *, scheduler: Any, guidance_scale: float) -> torch.Tensor:
        _, _, frames, height, width = latents.shape
        timestep = t.expand(latents.shape[0])
        mask = None
        if first_frame is not None:
            # The clean first frame's tokens are at timestep 0: t * (1 - conditioning_mask) per token.
            mask = self._first_frame_mask(tuple(latents.shape), latents.device)
            timestep = timestep.unsqueeze(-1) * (1 - self._pack(mask).squeeze(-1))
        rope_scale = (self.temporal_compression / self.fps, self.spatial_compression, self.spatial_compression)
        prediction = self.pipe.transformer(
            hidden_states=self._pack(latents).to(conditioning.embeds.dtype), encoder_hidden_states=conditioning.embeds,
            timestep=timestep, encoder_attention_mask=conditioning.extras["attention_mask"], num_frames=frames,
            height=height, width=width, rope_interpolation_scale=rope_scale, return_dict=False)[0]
        prediction = self._unpack(prediction.float(), tuple(latents.shape))
        if mask is not None:
            # The pipeline steps only the later frames; a zero velocity keeps the first one exactly as it is.
            prediction = prediction * (1 - mask)
        return prediction

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: LTXFirstFrame | None) -> torch.Tensor:
        # Flow matching: x0 = x_t - sigma v (v is zero on a clean first frame, which stays as it is).
        sigma = scheduler.sigmas[scheduler.step_index - 1].to(latents.device, torch.float32)
        return latents.to(torch.float32) - sigma * prediction.to(torch.float32)

    # -- inpainting
    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        sigma = torch.as_tensor(level).to(clean.device, torch.float32)
        return (1 - sigma) * clean + sigma * noise

    # -- pixels
    def _stats(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        vae = self.pipe.vae
        mean = vae.latents_mean.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
        std = vae.latents_std.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
        return mean, std

    def _normalize(self, latents: torch.Tensor, scaling_factor: float) -> torch.Tensor:
        mean, std = self._stats(latents)
        return (latents - mean) * scaling_factor / std

    @torch.no_grad()
    def encode_first_frame(self, image: np.ndarray, width: int, height: int, frames: int) -> LTXFirstFrame:
        import PIL.Image

        vae = self.pipe.vae
        pixels = self.pipe.video_processor.preprocess(PIL.Image.fromarray(image), height=height, width=width)
        pixels = pixels.to(self.pipe._execution_device, self.text_dtype)
        return LTXFirstFrame(vae.encode(pixels.unsqueeze(2).to(vae.dtype)).latent_dist)

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        vae = self.pipe.vae
        pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).to(torch.float32) / 127.5 - 1.0
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
        # The inverse of decode's denormalisation (the image-to-video pipeline leaves the scaling factor out).
        return self._normalize(latents.to(self.pipe._execution_device, torch.float32), vae.config.scaling_factor)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        vae = self.pipe.vae
        latents = latents.to(self.pipe._execution_device, torch.float32)
        mean, std = self._stats(latents)
        latents = (latents * std / vae.config.scaling_factor + mean).to(self.text_dtype)
        timestep = None
        if vae.config.timestep_conditioning:
            # LTX 0.9.1+ decodes at a small timestep; studio_model.json may set it (the pipeline's default is 0).
            decode_timestep = float(self.manifest.get("decode_timestep", 0.0))
            noise_scale = float(self.manifest.get("decode_noise_scale", decode_timestep))
            timestep = torch.tensor([decode_timestep], device=latents.device, dtype=latents.dtype)
            if noise_scale:
                # The pipeline draws this noise from the run's generator; the Decode node has no seed, so a fixed one.
                noise = torch.randn(latents.shape, generator=torch.Generator("cpu").manual_seed(0),
                                    dtype=latents.dtype).to(latents.device)
                latents = (1 - noise_scale) * latents + noise_scale * noise
        vae.enable_tiling() if tiled else vae.disable_tiling()
        video = vae.decode(latents.to(vae.dtype), timestep, return_dict=False)[0]
        return to_uint8(self.pipe.video_processor.postprocess_video(video, output_type="np")[0])
