"""Wan 2.1 / 2.2 text-to-video, Wan 2.2 TI2V-style first-frame conditioning (`expand_timesteps`) and Wan 2.1
image-to-video (extra transformer channels and CLIP image embeddings: studio.models.families.wan_image).

Each step mirrors diffusers' WanPipeline / WanImageToVideoPipeline operation for operation, so the studio's frames
equal the plain pipeline's for the same components, seed and settings (tests/models/test_pipeline_equivalence.py).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from studio.engine.errors import NodeError
from studio.models.families.base import ModelFamily, to_uint8
from studio.models.families.wan_image import WanImageCondition, encode_image_condition, image_channels
from studio.models.values import Conditioning

# WanPipeline's default encoder length.
WAN_MAX_SEQUENCE_LENGTH = 512


class WanFamily(ModelFamily):
    name = "Wan"
    pipeline_classes = ("WanPipeline", "WanImageToVideoPipeline")
    schedulers = ("default", "unipc", "euler", "dpm++")
    # Each run on the tiny WanTransformer3DModel (tests/models/test_memory_options.py); MagCache needs mag_ratios.
    step_caches = ("first_block", "pyramid_attention", "faster_cache", "taylorseer", "magcache")
    causal_first_frame = True

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(pipe, manifest)
        self.spatial_compression = pipe.vae_scale_factor_spatial
        self.temporal_compression = pipe.vae_scale_factor_temporal
        self.patch = pipe.transformer.config.patch_size
        self.size_multiple = self.spatial_compression * self.patch[1]
        # Wan 2.2 TI2V-style models take per-token timesteps, which is what lets a clean first frame sit at t = 0.
        self.expand_timesteps = bool(pipe.config.get("expand_timesteps", False))
        # Wan 2.1 image-to-video models take the image as extra channels (and CLIP embeddings) instead.
        self.image_channels = 0 if self.expand_timesteps else image_channels(pipe)
        self.supports_first_frame = self.expand_timesteps or self.image_channels > 0
        self.max_tokens = min(WAN_MAX_SEQUENCE_LENGTH, pipe.tokenizer.model_max_length)
        # Read once: ModelMixin.dtype walks every parameter, which costs more than a tiny model's step.
        self.transformer_dtype = pipe.transformer.dtype
        self._schedulers: dict[str, Any] = {}

    def native_size(self) -> tuple[int, int, int]:
        # The folder's studio_model.json says what it was trained at; otherwise the pipeline's own defaults.
        return tuple(self.manifest.get("native_size", (832, 480, 81)))

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        return (1, self.pipe.vae.config.z_dim, (frames - 1) // self.temporal_compression + 1,
                height // self.spatial_compression, width // self.spatial_compression)

    # -- text
    @torch.no_grad()
    def encode_prompt(self, text: str) -> Conditioning:
        from diffusers.pipelines.wan.pipeline_wan import prompt_clean

        embeds, _ = self.pipe.encode_prompt(prompt=text, do_classifier_free_guidance=False,
                                            max_sequence_length=self.max_tokens, device=self.pipe._execution_device)
        tokens = len(self.pipe.tokenizer(prompt_clean(text), add_special_tokens=True).input_ids)
        return Conditioning(text=text, embeds=embeds.to(self.transformer_dtype), tokens=tokens,
                            max_tokens=self.max_tokens)

    # -- sampling
    def make_scheduler(self, name: str) -> Any:
        # Kept and reused like the pipeline's own: set_timesteps() resets a scheduler's state for each run.
        if name not in self._schedulers:
            self._schedulers[name] = self._new_scheduler(name)
        return self._schedulers[name]

    def _new_scheduler(self, name: str) -> Any:
        import diffusers

        config = self.pipe.scheduler.config
        if name == "default":
            return type(self.pipe.scheduler).from_config(config)
        shift = config.get("flow_shift") or config.get("shift") or 1.0
        if name == "euler":
            return diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
        flow = {"prediction_type": "flow_prediction", "use_flow_sigmas": True, "flow_shift": shift}
        if name == "unipc":
            return diffusers.UniPCMultistepScheduler(**flow)
        return diffusers.DPMSolverMultistepScheduler(**flow)

    @staticmethod
    def _first_frame_mask(latents: torch.Tensor, first_frame: torch.Tensor | None) -> torch.Tensor:
        mask = torch.ones((1, 1, *latents.shape[2:]), dtype=torch.float32, device=latents.device)
        if first_frame is not None:
            mask[:, :, 0] = 0
        return mask

    @staticmethod
    def _blend(latents: torch.Tensor, first_frame: torch.Tensor | None, mask: torch.Tensor) -> torch.Tensor:
        return latents if first_frame is None else (1 - mask) * first_frame + mask * latents

    def apply_first_frame(self, latents: torch.Tensor, first_frame: Any) -> torch.Tensor:
        if first_frame is None or isinstance(first_frame, WanImageCondition):
            return latents  # Wan 2.1 image-to-video conditions through extra channels, never replaces latents
        return self._blend(latents, first_frame, self._first_frame_mask(latents, first_frame))

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning,
                first_frame: Any, *, scheduler: Any, guidance_scale: float) -> torch.Tensor:
        if self.image_channels:
            return self._predict_from_image(latents, t, conditioning, first_frame)
        if self.expand_timesteps:
            # One mask serves both the first-frame blend and the per-token timesteps (0 on the clean first frame).
            mask = self._first_frame_mask(latents, first_frame)
            model_input = self._blend(latents, first_frame, mask)
            timestep = (mask[0][0][:, ::2, ::2] * t).flatten().unsqueeze(0).expand(latents.shape[0], -1)
        else:
            model_input = self.apply_first_frame(latents, first_frame)
            timestep = t.expand(latents.shape[0])
        return self.pipe.transformer(hidden_states=model_input.to(self.transformer_dtype), timestep=timestep,
                                     encoder_hidden_states=conditioning.embeds, return_dict=False)[0]

    def _predict_from_image(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning,
                            first_frame: WanImageCondition | None) -> torch.Tensor:
        if first_frame is None:
            raise NodeError(f"this {self.name} image-to-video model needs an image to start from: connect Image "
                            "Conditioning between the latent and the sampler", input="latent")
        model_input = torch.cat([latents, first_frame.channels], dim=1).to(self.transformer_dtype)
        return self.pipe.transformer(hidden_states=model_input, timestep=t.expand(latents.shape[0]),
                                     encoder_hidden_states=conditioning.embeds,
                                     encoder_hidden_states_image=first_frame.image_embeds, return_dict=False)[0]

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: torch.Tensor | None) -> torch.Tensor:
        # Flow matching: x_t = (1 - sigma) x0 + sigma noise and the model predicts v = noise - x0, so
        # x0 = x_t - sigma v. Every scheduler offered here advances step_index by one per step, so the sigma of the
        # step just taken is sigmas[step_index - 1] (for a partial denoise too, where step_index did not start at 0).
        sigma = scheduler.sigmas[scheduler.step_index - 1].to(latents.device, torch.float32)
        clean = latents.to(torch.float32) - sigma * prediction.to(torch.float32)
        return self.apply_first_frame(clean, first_frame)

    # -- inpainting
    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        # Flow matching: x_t = (1 - sigma) x0 + sigma noise, as every scheduler offered here adds noise.
        sigma = torch.as_tensor(level).to(clean.device, torch.float32)
        return (1 - sigma) * clean + sigma * noise

    def inpaint_problem(self) -> str | None:
        config = self.pipe.transformer.config
        if config.in_channels != self.pipe.vae.config.z_dim:
            # Wan 2.1 image-to-video concatenates image channels to the latents; inpainting has no image to give.
            return (f"this {self.name} model takes {config.in_channels - self.pipe.vae.config.z_dim} extra image "
                    "channels (Wan 2.1 image-to-video); inpaint with a text-to-video or Wan 2.2 TI2V model")
        return None

    # -- pixels
    def _stats(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        config = self.pipe.vae.config
        mean = torch.tensor(config.latents_mean).view(1, config.z_dim, 1, 1, 1).to(device, dtype)
        inverse_std = 1.0 / torch.tensor(config.latents_std).view(1, config.z_dim, 1, 1, 1).to(device, dtype)
        return mean, inverse_std

    def _encode(self, pixels: torch.Tensor) -> torch.Tensor:
        vae = self.pipe.vae
        latents = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()
        latents = latents.to(self.pipe._execution_device, torch.float32)
        mean, inverse_std = self._stats(latents.device, latents.dtype)
        return (latents - mean) * inverse_std

    @torch.no_grad()
    def encode_first_frame(self, image: np.ndarray, width: int, height: int, frames: int) -> Any:
        if self.image_channels:
            return encode_image_condition(self.pipe, image, width, height, frames, self._encode,
                                          self.transformer_dtype)
        import PIL.Image

        pixels = self.pipe.video_processor.preprocess(PIL.Image.fromarray(image), height=height, width=width)
        return self._encode(pixels.to(torch.float32).unsqueeze(2))

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).to(torch.float32) / 127.5 - 1.0
        return self._encode(pixels)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        vae = self.pipe.vae
        latents = latents.to(vae.device, dtype=vae.dtype)
        mean, inverse_std = self._stats(latents.device, latents.dtype)
        latents = latents / inverse_std + mean
        vae.enable_tiling() if tiled else vae.disable_tiling()
        video = vae.decode(latents, return_dict=False)[0]
        frames = self.pipe.video_processor.postprocess_video(video, output_type="np")[0]
        return to_uint8(frames)
