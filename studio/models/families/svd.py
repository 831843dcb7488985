"""Stable Video Diffusion: image-to-video only. A spatio-temporal UNet conditioned on the CLIP image embedding of the
first frame and on its VAE latents (noise-augmented) concatenated channel-wise to every frame, with added time ids
(fps, motion bucket, augmentation strength) and an EDM-style Euler scheduler.

Each step mirrors diffusers' StableVideoDiffusionPipeline operation for operation, including its use of the seed
(the augmentation noise is drawn before the latents' noise) and guidance that rises linearly over the frames, so
the studio's frames equal the plain pipeline's (tests/models/families/test_svd.py). A prompt cannot steer it.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from studio.engine.errors import NodeError
from studio.models.families.animatediff import clean_estimate, noise_space
from studio.models.families.base import ModelFamily, encode_frames_one_by_one, to_uint8
from studio.models.values import Conditioning

# StableVideoDiffusionPipeline's defaults; a folder's studio_model.json may set any of them.
DEFAULTS = {"fps": 7, "motion_bucket_id": 127, "noise_aug_strength": 0.02, "min_guidance_scale": 1.0}
# Tiled decoding decodes this many frames per call (the pipeline's decode_chunk_size): less memory, the temporal
# decoder then sees shorter windows.
TILED_DECODE_FRAMES = 8


@dataclass
class StartImage:
    """What Image Conditioning hands the sampler: the image's CLIP embedding, its pixels at the clip's size and the
    added time ids. Its VAE latents depend on the run's seed (noise augmentation), so they are encoded per run."""

    embeds: torch.Tensor
    pixels: torch.Tensor
    time_ids: torch.Tensor
    # (the augmentation noise, the latents encoded with it): the last run's, reused while its noise is.
    encoded: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)


class StableVideoDiffusionFamily(ModelFamily):
    name = "Stable Video Diffusion"
    pipeline_classes = ("StableVideoDiffusionPipeline",)
    temporal_compression = 1  # the encoder is the image VAE's; only the decoder looks across frames
    supports_first_frame = True

    def __init__(self, pipe: Any, manifest: dict[str, Any] | None = None) -> None:
        super().__init__(pipe, manifest)
        self.spatial_compression = pipe.vae_scale_factor
        self.size_multiple = self.spatial_compression
        self.settings = {key: self.manifest.get(key, value) for key, value in DEFAULTS.items()}
        self.unet_dtype = pipe.unet.dtype  # read once: ModelMixin.dtype walks every parameter
        self._scheduler: Any = None
        self._augmentation_noise: torch.Tensor | None = None  # drawn with the run's latents, from the same seed

    @property
    def fps(self) -> float:
        return float(self.settings["fps"])

    def native_size(self) -> tuple[int, int, int]:
        return tuple(self.manifest.get("native_size", (1024, 576, self.pipe.unet.config.num_frames)))

    def latent_shape(self, width: int, height: int, frames: int) -> tuple[int, ...]:
        return (1, self.pipe.unet.config.in_channels // 2, frames, height // self.spatial_compression,
                width // self.spatial_compression)

    # -- text: none; the image is the conditioning
    def encode_prompt(self, text: str) -> Conditioning:
        return Conditioning(text=text, embeds=None, tokens=0, max_tokens=0)

    @torch.no_grad()
    def encode_first_frame(self, image: np.ndarray, width: int, height: int, frames: int) -> StartImage:
        import PIL.Image

        pipe, device = self.pipe, self.pipe._execution_device
        picture = PIL.Image.fromarray(image)
        embeds = pipe._encode_image(picture, device, 1, False)
        pixels = pipe.video_processor.preprocess(picture, height=height, width=width).to(device)
        # The pipeline conditions on fps - 1.
        time_ids = pipe._get_add_time_ids(self.settings["fps"] - 1, self.settings["motion_bucket_id"],
                                          self.settings["noise_aug_strength"], embeds.dtype, 1, 1, False)
        return StartImage(embeds=embeds, pixels=pixels, time_ids=time_ids.to(device))

    # -- sampling
    def make_scheduler(self, name: str) -> Any:
        if self._scheduler is None:  # reused like the pipeline's own: set_timesteps() resets it per run
            self._scheduler = type(self.pipe.scheduler).from_config(self.pipe.scheduler.config)
        return self._scheduler

    def initial_noise(self, shape: tuple[int, ...], seed: int, device: Any) -> torch.Tensor:
        from diffusers.utils.torch_utils import randn_tensor

        # As the pipeline: one generator draws the image's augmentation noise, then the latents' (B, F, C, h, w).
        generator = torch.Generator("cpu").manual_seed(seed)
        batch, channels, frames, height, width = shape
        s = self.spatial_compression
        self._augmentation_noise = randn_tensor((batch, 3, height * s, width * s), generator=generator,
                                                device=device, dtype=torch.float32)
        noise = randn_tensor((batch, frames, channels, height, width), generator=generator, device=device,
                             dtype=torch.float32)
        return noise.permute(0, 2, 1, 3, 4)

    def _image_latents(self, start: StartImage) -> torch.Tensor:
        """The start image, noise-augmented with this run's noise, through the VAE encoder (not scaled, as the
        pipeline)."""
        noise = self._augmentation_noise
        if noise is None or noise.shape[-2:] != start.pixels.shape[-2:]:
            raise RuntimeError("the start image's size does not match the clip's: initial_noise was not drawn")
        if start.encoded is None or start.encoded[0] is not noise:
            vae = self.pipe.vae
            augmented = start.pixels + self.settings["noise_aug_strength"] * noise
            latents = vae.encode(augmented.to(vae.device, vae.dtype)).latent_dist.mode().to(start.embeds.dtype)
            start.encoded = (noise, latents)
        return start.encoded[1]

    def _unet(self, latents: torch.Tensor, t: torch.Tensor, start: StartImage, scheduler: Any,
              unconditional: bool) -> torch.Tensor:
        frames = latents.shape[2]
        model_input = scheduler.scale_model_input(latents.permute(0, 2, 1, 3, 4), t)  # the pipeline's (B, F, C, h, w)
        image_latents = self._image_latents(start).unsqueeze(1).repeat(1, frames, 1, 1, 1)
        embeds = start.embeds
        if unconditional:  # the pipeline's unconditional half: zero image embedding, zero image latents
            image_latents, embeds = torch.zeros_like(image_latents), torch.zeros_like(embeds)
        model_input = torch.cat([model_input, image_latents], dim=2).to(self.unet_dtype)
        prediction = self.pipe.unet(model_input, t, encoder_hidden_states=embeds, added_time_ids=start.time_ids,
                                    return_dict=False)[0]
        return prediction.permute(0, 2, 1, 3, 4)

    def predict(self, latents: torch.Tensor, t: torch.Tensor, conditioning: Conditioning, first_frame: Any, *,
                scheduler: Any, guidance_scale: float) -> torch.Tensor:
        if first_frame is None:
            raise NodeError(f"{self.name} makes a clip from an image, not from text: connect Load Image -> Image "
                            "Conditioning, and the conditioned latent to the sampler", input="latent")
        return self._unet(latents, t, first_frame, scheduler, unconditional=False)

    def predict_unconditional(self, latents: torch.Tensor, t: torch.Tensor, negative: Conditioning,
                              first_frame: Any, *, scheduler: Any, guidance_scale: float) -> torch.Tensor:
        return self._unet(latents, t, first_frame, scheduler, unconditional=True)

    def frame_scales(self, max_scale: float, frames: int, device: Any) -> torch.Tensor:
        """The pipeline's guidance: from min_guidance_scale on the first frame to the Guidance node's scale on the
        last, linearly."""
        return torch.linspace(float(self.settings["min_guidance_scale"]), max_scale, frames).to(device)

    def guide(self, combine: Any, conditional: torch.Tensor, unconditional: torch.Tensor, index: int, total: int,
              t: torch.Tensor) -> torch.Tensor:
        frames = conditional.shape[2]
        scales = self.frame_scales(combine.guidance_scale, frames, conditional.device).to(conditional.dtype)
        if type(combine).__name__ == "ClassifierFreeGuidance":
            # The pipeline's own formula (a frame at scale 1 is then uncond + (cond - uncond), as it computes it).
            return unconditional + scales.view(1, 1, frames, 1, 1) * (conditional - unconditional)
        # Other guiders: one copy per frame at that frame's scale, each seeing the frame as an image.
        copies = getattr(combine, "studio_frame_guiders", None)
        if copies is None or len(copies) != frames:
            copies = [copy.deepcopy(combine) for _ in range(frames)]
            for guider, scale in zip(copies, scales.tolist()):
                guider.guidance_scale = scale
            combine.studio_frame_guiders = copies
        parts = []
        for f, guider in enumerate(copies):
            guider.set_state(index, total, t)
            parts.append(guider.forward(conditional[:, :, f], unconditional[:, :, f]).pred)
        return torch.stack(parts, dim=2)

    def predicted_clean(self, latents: torch.Tensor, prediction: torch.Tensor, scheduler: Any,
                        first_frame: Any) -> torch.Tensor:
        return clean_estimate(scheduler, None, latents, prediction)

    # -- inpainting
    def inpaint_problem(self) -> str | None:
        return (f"{self.name} models make a clip from a start image, and the Inpaint node has no image to give "
                "them; inpaint with a text-to-video model")

    def noise_level(self, scheduler: Any, index: int) -> tuple[Any, Any]:
        alpha, sigma, _ = noise_space(scheduler, index)
        return alpha, sigma

    def noised(self, clean: torch.Tensor, noise: torch.Tensor, level: tuple[Any, Any]) -> torch.Tensor:
        alpha, sigma = level
        if float(sigma) == 0.0:
            return clean
        return torch.as_tensor(alpha).to(clean) * clean + torch.as_tensor(sigma).to(clean) * noise

    # -- pixels
    def encode_video(self, frames: np.ndarray) -> torch.Tensor:
        return encode_frames_one_by_one(self.pipe, frames, TILED_DECODE_FRAMES)

    @torch.no_grad()
    def decode(self, latents: torch.Tensor, tiled: bool) -> np.ndarray:
        # StableVideoDiffusionPipeline.decode_latents; untiled, every frame in one call (its default chunk).
        vae = self.pipe.vae
        frames = latents.shape[2]
        batch = 1 / vae.config.scaling_factor * latents.permute(0, 2, 1, 3, 4).flatten(0, 1).to(vae.device, vae.dtype)
        chunk = TILED_DECODE_FRAMES if tiled else frames
        video = torch.cat([vae.decode(batch[i:i + chunk], num_frames=len(batch[i:i + chunk])).sample
                           for i in range(0, frames, chunk)])
        video = video.reshape(-1, frames, *video.shape[1:]).permute(0, 2, 1, 3, 4).float()
        return to_uint8(self.pipe.video_processor.postprocess_video(video, output_type="np")[0])
