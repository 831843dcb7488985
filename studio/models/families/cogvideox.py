"""CogVideoX text-to-video and image-to-video (diffusers CogVideoXPipeline / CogVideoXImageToVideoPipeline).

The transformer takes (B, F, C, H, W); the studio keeps (1, C, F, h, w) and permutes inside. Each step mirrors the
pipeline operation for operation (tests/models/families/test_cogvideox.py): v-prediction DDIM, or the SDE
CogVideoXDPMScheduler whose step takes the previous x0 estimate and timestep and draws noise from the run's
generator; rotary embeddings from the latent grid; the optional dynamic guidance scale; and for image-to-video the
image latents concatenated channel-wise, zero-padded over the later frames.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from studio.models.families.base import ModelFamily, to_uint8
from studio.models.values import Conditioning

# CogVideoXPipeline's default size and frame count (CogVideoX 1.0); the frame rate its clips are exported at.
COGVIDEOX_NATIVE_SIZE = (720, 480, 49)
COGVIDEOX_FPS = 8


@dataclass
class CogVideoXFirstFrame:
    """The image's VAE posterior. The pipeline samples it with the run's generator before drawing the noise, so the
    image latents depend on the seed: they are drawn when sampling starts (initial_noise_with) and kept here for
    that run's steps."""

    posterior: Any  # diffusers DiagonalGaussianDistribution
    latents: torch.Tensor | None = None  # (1, F, C, h, w), the pipeline's image_latents


class CogVideoXFamily(ModelFamily):
    name = "CogVideoX"
    pipeline_classes = ("CogVideoXPipeline", "CogVideoXImageToVideoPipeline")
    schedulers = ("default", "dpm++")
    causal_first_frame = True

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(pipe, manifest)
        config = pipe.transformer.config
        self.spatial_compression = pipe.vae_scale_factor_spatial
        self.temporal_compression = pipe.vae_scale_factor_temporal
        self.size_multiple = self.spatial_compression * config.patch_size
        self.patch_t = config.patch_size_t or 1
        self.channels = pipe.vae.config.latent_channels
        # Image-to-video transformers take the image latents as extra input channels.
        self.supports_first_frame = config.in_channels == 2 * self.channels
        self.max_tokens = min(config.max_text_seq_length, pipe.tokenizer.model_max_length)
        # CogVideoX 5b's recommended cosine ramp of the guidance scale; studio_model.json turns it on.
        self.use_dynamic_cfg = bool(self.manifest.get("use_dynamic_cfg", False))
        self.transformer_dtype = pipe.transformer.dtype
        self.text_dtype = pipe.text_encoder.dtype
        self._schedulers: dict[str, Any] = {}
        self._rotary: dict[tuple[int, ...], Any] = {}
        # Per run: the generator the DPM scheduler's noise comes from, and its previous x0 estimate and timestep.
        self._generator: torch.Generator | None = None
        self._previous: tuple[Any, Any] = (None, None)
        self._last_clean: torch.Tensor | None = None

    @property
    def fps(self) -> float:
        return float(self.manifest.get("fps", COGVIDEOX_FPS))

    def native_size(self) -> tuple[int, int, int]:
        return tuple(self.manifest.get("native_size", COGVIDEOX_NATIVE_SIZE))

    def size_problem(self, width: int, height: int, frames: int) -> tuple[str, str] | None:
        problem = super().size_problem(width, height, frames)
        if problem or self.patch_t == 1:
            return problem
        # CogVideoX 1.5 patches latent frames in pairs; the pipeline pads an odd count with a frame it then drops,
        # which a clip passed between nodes could not undo.
        t = self.temporal_compression
        latent_frames = (frames - 1) // t + 1
        if latent_frames % self.patch_t:
            return "frames", (f"this {self.name} model takes (frames - 1) / {t} + 1 latent frames in multiples of "
                              f"{self.patch_t}, got {frames} frames (try {max(frames - t, 1 + t)} or {frames + t})")
        return None

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        return (1, self.channels, (frames - 1) // self.temporal_compression + 1,
                height // self.spatial_compression, width // self.spatial_compression)

    # -- text
    @torch.no_grad()
    def encode_prompt(self, text: str) -> Conditioning:
        embeds, _ = self.pipe.encode_prompt(prompt=text, do_classifier_free_guidance=False,
                                            max_sequence_length=self.max_tokens, device=self.pipe._execution_device)
        tokens = len(self.pipe.tokenizer(text, add_special_tokens=True).input_ids)
        return Conditioning(text=text, embeds=embeds, tokens=tokens, max_tokens=self.max_tokens)

    # -- sampling
    def make_scheduler(self, name: str) -> Any:
        if name not in self._schedulers:
            import diffusers

            config = self.pipe.scheduler.config
            kind = type(self.pipe.scheduler) if name == "default" else diffusers.CogVideoXDPMScheduler
            self._schedulers[name] = kind.from_config(config)
        return self._schedulers[name]

    def set_timesteps(self, scheduler: Any, steps: int, device: Any, latent_shape: tuple[int, ...] | None) -> None:
        scheduler.set_timesteps(steps, device=device)
        self._previous, self._last_clean = (None, None), None

    def initial_noise(self, shape: tuple[int, ...], seed: int, device: Any) -> torch.Tensor:
        return self.initial_noise_with(shape, seed, device, None)

    def initial_noise_with(self, shape: tuple[int, ...], seed: int, device: Any,
                           first_frame: CogVideoXFirstFrame | None) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        # One generator per run, as the pipeline's: the image latents, then the noise, then the DPM steps' noise.
        self._generator = torch.Generator("cpu").manual_seed(seed)
        _, channels, frames, height, width = shape
        if first_frame is not None:
            first_frame.latents = self._image_latents(first_frame, frames)
        noise = randn_tensor((1, frames, channels, height, width), generator=self._generator, device=device,
                             dtype=self.text_dtype)
        return noise.permute(0, 2, 1, 3, 4)

    def _image_latents(self, first_frame: CogVideoXFirstFrame, frames: int) -> torch.Tensor:
        vae = self.pipe.vae
        image = first_frame.posterior.sample(self._generator).to(self.text_dtype).permute(0, 2, 1, 3, 4)
        scale = vae.config.scaling_factor
        # The CogVideoX 1.5 image-to-video VAE config inverts the scale, as its pipeline does.
        image = image / scale if vae.config.invert_scale_latents else scale * image
        padding = torch.zeros((1, frames - 1, *image.shape[2:]), device=image.device, dtype=image.dtype)
        return torch.cat([image, padding], dim=1)

    def _rotary_embeddings(self, frames: int, height: int, width: int, device: Any) -> Any:
        if not self.pipe.transformer.config.use_rotary_positional_embeddings:
            return None
        key = (frames, height, width, str(device))
        if key not in self._rotary:
            self._rotary[key] = self.pipe._prepare_rotary_positional_embeddings(
                height * self.spatial_compression, width * self.spatial_compression, frames, device)
        return self._rotary[key]

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning,
                first_frame: CogVideoXFirstFrame | None, *, scheduler: Any, guidance_scale: float) -> torch.Tensor:
        _, _, frames, height, width = latents.shape
        model_input = scheduler.scale_model_input(latents.permute(0, 2, 1, 3, 4), t)
        ofs = None
        if self.supports_first_frame:
            if first_frame is None or first_frame.latents is None:
                from studio.engine.errors import NodeError

                raise NodeError(f"this {self.name} model is image-to-video: give the latent a first frame with an "
                                "Image Conditioning node", input="latent")
            model_input = torch.cat([model_input, first_frame.latents.to(model_input.dtype)], dim=2)
            if self.pipe.transformer.config.ofs_embed_dim is not None:
                ofs = model_input.new_full((1,), fill_value=2.0)
        prediction = self.pipe.transformer(
            hidden_states=model_input, encoder_hidden_states=conditioning.embeds, timestep=t.expand(1),
            image_rotary_emb=self._rotary_embeddings(frames, height, width, latents.device), ofs=ofs,
            return_dict=False)[0]
        return prediction.float().permute(0, 2, 1, 3, 4)

    def guide(self, combine: Any, conditional: torch.Tensor, unconditional: torch.Tensor, index: int, total: int,
              t: torch.Tensor) -> torch.Tensor:
        if self.use_dynamic_cfg:
            # As the pipeline: 1 + scale * (1 - cos(pi * ((steps - t) / steps) ** 5)) / 2, from the run's own scale.
            base = vars(combine).setdefault("studio_base_scale", combine.guidance_scale)
            combine.guidance_scale = 1 + base * ((1 - math.cos(math.pi * ((total - t.item()) / total) ** 5.0)) / 2)
        return super().guide(combine, conditional, unconditional, index, total, t)

    def step(self, scheduler: Any, prediction: torch.Tensor, t: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        import diffusers

        sample = latents.permute(0, 2, 1, 3, 4)
        prediction = prediction.permute(0, 2, 1, 3, 4)
        if isinstance(scheduler, diffusers.CogVideoXDPMScheduler):
            previous_clean, previous_t = self._previous
            sample, clean = scheduler.step(prediction, previous_clean, t, previous_t, sample, eta=0.0,
                                           generator=self._generator, return_dict=False)
            self._previous = (clean, t)
        else:
            sample, clean = scheduler.step(prediction, t, sample, eta=0.0, generator=self._generator,
                                           return_dict=False)
        self._last_clean = clean
        return sample.to(self.text_dtype).permute(0, 2, 1, 3, 4)

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: CogVideoXFirstFrame | None) -> torch.Tensor:
        # The step just taken computed x0 from the v-prediction; both schedulers return it.
        return self._last_clean.permute(0, 2, 1, 3, 4).to(torch.float32)

    # -- inpainting
    def noise_level(self, scheduler: Any, index: int) -> torch.Tensor:
        # DDPM-style: the level is alpha_bar at the schedule's timestep; past the last step, clean (alpha_bar 1).
        if index >= len(scheduler.timesteps):
            return torch.tensor(1.0)
        return scheduler.alphas_cumprod[scheduler.timesteps[index].long().cpu()]

    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        # scheduler.add_noise: sqrt(alpha_bar) x0 + sqrt(1 - alpha_bar) noise.
        alpha = torch.as_tensor(level).to(clean.device, clean.dtype)
        return alpha ** 0.5 * clean + (1 - alpha) ** 0.5 * noise

    def inpaint_problem(self) -> str | None:
        if self.supports_first_frame:
            return (f"this {self.name} model is image-to-video (it takes {self.channels} extra image channels); "
                    "inpaint with a text-to-video CogVideoX model")
        return None

    # -- pixels
    @torch.no_grad()
    def encode_first_frame(self, image: np.ndarray, width: int, height: int, frames: int) -> CogVideoXFirstFrame:
        import PIL.Image

        vae = self.pipe.vae
        pixels = self.pipe.video_processor.preprocess(PIL.Image.fromarray(image), height=height, width=width)
        pixels = pixels.to(self.pipe._execution_device, self.text_dtype).unsqueeze(2)
        return CogVideoXFirstFrame(vae.encode(pixels.to(vae.dtype)).latent_dist)

    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        vae = self.pipe.vae
        pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).to(torch.float32) / 127.5 - 1.0
        latents = vae.encode(pixels.to(vae.device, vae.dtype)).latent_dist.mode()
        return vae.config.scaling_factor * latents.to(self.pipe._execution_device, torch.float32)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        vae = self.pipe.vae
        latents = 1 / vae.config.scaling_factor * latents.to(self.pipe._execution_device, self.text_dtype)
        vae.enable_tiling() if tiled else vae.disable_tiling()
        video = vae.decode(latents.to(vae.dtype)).sample
        return to_uint8(self.pipe.video_processor.postprocess_video(video=video, output_type="np")[0])
