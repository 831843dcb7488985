"""Wan 2.1 image-to-video conditioning, as diffusers' WanImageToVideoPipeline builds it (without expand_timesteps).

The transformer takes, besides the noisy latents, temporal_compression mask channels (1 on the given first frame, 0
after) and the VAE latents of a "condition video" (the image, then black frames), concatenated channel-wise; and,
when its config has an `image_dim`, the CLIP vision encoder's hidden states of the image, which it cross-attends to.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch


@dataclass
class WanImageCondition:
    """What a Wan 2.1 image-to-video transformer takes with the latents at every step (the same for the
    conditional and the unconditional prediction)."""

    # (1, temporal_compression + z_dim, F, h, w): the first-frame mask, then the encoded condition video.
    channels: torch.Tensor
    # (1, tokens, image_dim) CLIP hidden states of the image, or None when the transformer has no image_dim.
    image_embeds: torch.Tensor | None


def image_channels(pipe: Any) -> int:
    """How many channels the transformer takes besides the latents (0 for text-to-video and Wan 2.2 TI2V)."""
    return pipe.transformer.config.in_channels - pipe.vae.config.z_dim


def first_frame_mask(frames: int, temporal: int, height: int, width: int) -> torch.Tensor:
    """(1, temporal, latent frames, height, width): 1 where the pixel frame the channel stands for is the given
    image, 0 elsewhere; the first latent frame holds the first pixel frame `temporal` times over."""
    mask = torch.ones(1, 1, frames, height, width)
    mask[:, :, 1:] = 0
    first = torch.repeat_interleave(mask[:, :, 0:1], dim=2, repeats=temporal)
    mask = torch.concat([first, mask[:, :, 1:]], dim=2)
    return mask.view(1, -1, temporal, height, width).transpose(1, 2)


@torch.no_grad()
def encode_image_condition(pipe: Any, image: np.ndarray, width: int, height: int, frames: int,
                           encode: Callable[[torch.Tensor], torch.Tensor],
                           transformer_dtype: torch.dtype) -> WanImageCondition:
    """The pipeline's `condition` and `image_embeds` for `image` starting a clip of this size; `encode` is the
    family's VAE encode (mode, normalised with the VAE's latents_mean / latents_std)."""
    import PIL.Image

    picture = PIL.Image.fromarray(image)
    device = pipe._execution_device
    embeds = None
    if pipe.transformer.config.image_dim is not None:
        embeds = pipe.encode_image(picture, device).to(transformer_dtype)
    pixels = pipe.video_processor.preprocess(picture, height=height, width=width).to(device, dtype=torch.float32)
    pixels = pixels.unsqueeze(2)
    video = torch.cat([pixels, pixels.new_zeros(pixels.shape[0], pixels.shape[1], frames - 1, height, width)], dim=2)
    latents = encode(video)
    temporal = pipe.vae_scale_factor_temporal
    mask = first_frame_mask(frames, temporal, latents.shape[3], latents.shape[4]).to(latents.device)
    return WanImageCondition(torch.concat([mask, latents], dim=1), embeds)
