"""HunyuanVideo text-to-video (diffusers' HunyuanVideoPipeline), step for step as the pipeline runs it.

The prompt goes through the pipeline's own encode_prompt: the Llama encoder reads it inside the pipeline's prompt
template and the template's `crop_start` tokens are cut off; the CLIP encoder's pooled output and the Llama
attention mask travel in `Conditioning.extras`.

HunyuanVideo is guidance-distilled: the Guidance node's scale is the embedded guidance the transformer takes
(`scale * 1000`, the pipeline's `guidance_scale`), and a render runs one prediction per step. A negative prompt is
therefore ignored, as by the pipeline, unless the model folder's studio_model.json sets `"true_cfg_scale"` above 1:
then every step also predicts with the negative prompt (the empty prompt when none is connected) and the Guidance
node's method combines the two at that scale, as the pipeline's `true_cfg_scale` with `negative_prompt` does.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from studio.models.families.base import ModelFamily, to_uint8
from studio.models.values import Conditioning

# HunyuanVideoPipeline's default max_sequence_length: prompt tokens after the template.
HUNYUAN_MAX_SEQUENCE_LENGTH = 256


def with_pipeline_sigmas(scheduler_class: type) -> type:
    """`scheduler_class`, setting the sigmas HunyuanVideoPipeline passes (linspace(1, 0, steps + 1) without the
    last) where it is given only a step count, instead of the scheduler's own spacing."""

    class PipelineSigmas(scheduler_class):
        def set_timesteps(self, num_inference_steps: int | None = None, device: Any = None, **kwargs: Any) -> None:
            if num_inference_steps is not None and kwargs.get("sigmas") is None:
                kwargs["sigmas"] = np.linspace(1.0, 0.0, num_inference_steps + 1)[:-1]
                num_inference_steps = None
            super().set_timesteps(num_inference_steps, device=device, **kwargs)

    PipelineSigmas.__name__ = PipelineSigmas.__qualname__ = scheduler_class.__name__
    return PipelineSigmas


class HunyuanVideoFamily(ModelFamily):
    name = "HunyuanVideo"
    pipeline_classes = ("HunyuanVideoPipeline",)
    schedulers = ("default", "unipc", "dpm++")
    causal_first_frame = True

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(pipe, manifest)
        from diffusers.pipelines.hunyuan_video.pipeline_hunyuan_video import DEFAULT_PROMPT_TEMPLATE

        self.spatial_compression = pipe.vae_scale_factor_spatial
        self.temporal_compression = pipe.vae_scale_factor_temporal
        self.size_multiple = self.spatial_compression * pipe.transformer.config.patch_size
        self.prompt_template = DEFAULT_PROMPT_TEMPLATE
        crop_start = self.prompt_template["crop_start"]
        self.max_tokens = min(HUNYUAN_MAX_SEQUENCE_LENGTH, pipe.tokenizer.model_max_length - crop_start)
        self.true_cfg_scale = float(self.manifest.get("true_cfg_scale", 1.0))
        # Read once: ModelMixin.dtype walks every parameter, which costs more than a tiny model's step.
        self.transformer_dtype = pipe.transformer.dtype
        self._schedulers: dict[str, Any] = {}

    @property
    def fps(self) -> float:
        return float(self.manifest.get("fps", 24.0))

    def native_size(self) -> tuple[int, int, int]:
        # The folder's studio_model.json says what it was trained at; otherwise the pipeline's own defaults.
        return tuple(self.manifest.get("native_size", (1280, 720, 129)))

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        return (1, self.pipe.vae.config.latent_channels, (frames - 1) // self.temporal_compression + 1,
                height // self.spatial_compression, width // self.spatial_compression)

    # -- text
    @torch.no_grad()
    def encode_prompt(self, text: str) -> Conditioning:
        pipe = self.pipe
        embeds, pooled, mask = pipe.encode_prompt(prompt=text, prompt_template=self.prompt_template,
                                                  device=pipe._execution_device, max_sequence_length=self.max_tokens)
        templated = self.prompt_template["template"].format(text)
        tokens = len(pipe.tokenizer(templated).input_ids) - self.prompt_template["crop_start"]
        dtype = self.transformer_dtype
        return Conditioning(text=text, embeds=embeds.to(dtype), tokens=tokens, max_tokens=self.max_tokens,
                            extras={"attention_mask": mask.to(dtype), "pooled": pooled.to(dtype)})

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
            return with_pipeline_sigmas(type(self.pipe.scheduler)).from_config(config)
        flow = {"prediction_type": "flow_prediction", "use_flow_sigmas": True,
                "flow_shift": config.get("shift") or config.get("flow_shift") or 1.0}
        if name == "unipc":
            return diffusers.UniPCMultistepScheduler(**flow)
        return diffusers.DPMSolverMultistepScheduler(**flow)

    def runs_unconditional(self, scale: float) -> bool:
        # Guidance-distilled: the scale goes into the model; only true CFG needs a second prediction.
        return self.true_cfg_scale > 1.0

    def guide(self, combine: Any, conditional: torch.Tensor, unconditional: torch.Tensor, index: int, total: int,
              t: torch.Tensor) -> torch.Tensor:
        # The Guidance node's scale is the embedded guidance; true CFG combines at the folder's true_cfg_scale.
        combine.guidance_scale = self.true_cfg_scale
        return super().guide(combine, conditional, unconditional, index, total, t)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning, first_frame: Any, *,
                scheduler: Any, guidance_scale: float) -> torch.Tensor:
        dtype = self.transformer_dtype
        guidance = torch.tensor([guidance_scale] * latents.shape[0], dtype=dtype, device=latents.device) * 1000.0
        return self.pipe.transformer(
            hidden_states=latents.to(dtype), timestep=t.expand(latents.shape[0]).to(latents.dtype),
            encoder_hidden_states=conditioning.embeds, encoder_attention_mask=conditioning.extras["attention_mask"],
            pooled_projections=conditioning.extras["pooled"], guidance=guidance, return_dict=False)[0]

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: Any) -> torch.Tensor:
        # Flow matching: x_t = (1 - sigma) x0 + sigma noise and the model predicts v = noise - x0, so
        # x0 = x_t - sigma v; the sigma of the step just taken is sigmas[step_index - 1].
        sigma = scheduler.sigmas[scheduler.step_index - 1].to(latents.device, torch.float32)
        return latents.to(torch.float32) - sigma * prediction.to(torch.float32)

    # -- inpainting
    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: torch.Tensor) -> torch.Tensor:
        # Flow matching: x_t = (1 - sigma) x0 + sigma noise, as every scheduler offered here adds noise.
        sigma = torch.as_tensor(level).to(clean.device, torch.float32)
        return (1 - sigma) * clean + sigma * noise

    # -- pixels
    @torch.no_grad()
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        # As the image-to-video pipeline encodes its image: the distribution's mode, times the scaling factor.
        vae = self.pipe.vae
        pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0).to(torch.float32) / 127.5 - 1.0
        latents = vae.encode(pixels.to(device=vae.device, dtype=vae.dtype)).latent_dist.mode()
        return latents.to(self.pipe._execution_device, torch.float32) * vae.config.scaling_factor

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        vae = self.pipe.vae
        latents = latents.to(vae.device, dtype=vae.dtype) / vae.config.scaling_factor
        vae.enable_tiling() if tiled else vae.disable_tiling()
        video = vae.decode(latents, return_dict=False)[0]
        frames = self.pipe.video_processor.postprocess_video(video, output_type="np")[0]
        return to_uint8(frames)
