"""Inpainting behind the Inpaint node: regenerate the masked region of a clip, keep every other pixel as it was.

The source is encoded with the model's VAE and the pixel mask becomes a latent mask through the family's
compression (a latent cell is regenerated when any pixel it decodes to is masked). Sampling starts from the source
noised to the strength's first noise level; after every step the latents outside the latent mask are put back on the
source's trajectory (the source noised to the new level with the same noise), so the model sees the real
surroundings at every step and the kept cells end exactly at the source latents. The decoded clip is then blended
into the source in pixel space with the (feathered) pixel mask: where the mask is 0 the output is the source pixel,
bit for bit.
"""
from __future__ import annotations

import numpy as np
import torch

from studio.engine.context import RunContext
from studio.engine.errors import NodeError
from studio.media.masks import Mask
from studio.media.video_io import Video
from studio.models.sampling import KnownRegion, denoise_steps, plan_steps
from studio.models.values import Conditioning, Guider, LoadedModel


def check_inputs(model: LoadedModel, source: Video, mask: Mask) -> None:
    """Refuse, naming the input at fault, what cannot be inpainted: before anything is encoded."""
    family = model.family
    problem = family.inpaint_problem()
    if problem:
        raise NodeError(f"{model.name} cannot inpaint: {problem}", input="model")
    size_problem = family.size_problem(source.width, source.height, source.num_frames)
    if size_problem:
        raise NodeError(f"the clip is {source.width}x{source.height}, {source.num_frames} frames: {size_problem[1]}",
                        input="source")
    if (mask.width, mask.height) != (source.width, source.height):
        raise NodeError(f"the mask is {mask.width}x{mask.height} but the clip is {source.width}x{source.height}; "
                        "draw the mask on this clip", input="mask")
    if mask.num_frames != source.num_frames:
        raise NodeError(f"the mask has {mask.num_frames} frames but the clip has {source.num_frames}; draw the "
                        "mask on this clip", input="mask")
    if mask.is_empty():
        raise NodeError("the mask covers no pixel: nothing to inpaint", input="mask")


def encoded_source(model: LoadedModel, source: Video) -> torch.Tensor:
    """The source's latents, encoded once per clip: a new prompt, seed or mask on the same clip does not encode it
    again. The executor hands the same (unchanged) frames array along while the source node is cached."""
    memo = model.encoded_source
    if memo is not None and memo[0] is source.frames:
        return memo[1]
    samples = model.family.encode_video(source.frames)
    model.encoded_source = (source.frames, samples)
    return samples


@torch.no_grad()
def inpaint(ctx: RunContext, model: LoadedModel, positive: Conditioning, guider: Guider, source: Video,
            mask: Mask, *, seed: int, steps: int, scheduler_name: str, strength: float,
            tiled: bool = False) -> Video:
    """The source with the masked region regenerated under the prompt; pixels where the mask is 0 are the
    source's exactly."""
    check_inputs(model, source, mask)
    family = model.family
    device = model.pipeline._execution_device
    shape = family.latent_shape(source.width, source.height, source.num_frames)
    scheduler, timesteps = plan_steps(family, scheduler_name, steps, strength, device, param="strength",
                                      latent_shape=shape)
    first = len(scheduler.timesteps) - len(timesteps)
    if hasattr(scheduler, "set_begin_index"):  # the DDIM-style CogVideoX schedulers keep no step index
        scheduler.set_begin_index(first)

    samples = encoded_source(model, source)
    ctx.check_aborted()
    covered = torch.from_numpy(mask.covered())
    latent_mask = family.latent_mask(covered).to(device)
    if latent_mask.shape[2:] != samples.shape[2:]:
        raise RuntimeError(f"latent mask {tuple(latent_mask.shape)} does not fit latents {tuple(samples.shape)}")
    noise = family.initial_noise(tuple(samples.shape), seed, device)
    known = KnownRegion(samples, noise, latent_mask)
    start = family.noised(samples, noise, family.noise_level(scheduler, first))
    if first == 0:
        # Full strength: the region starts from pure noise, as a plain render does (times init_noise_sigma: 1 for
        # flow matching, the first sigma for the sigma-scaled Euler-style schedulers).
        start = latent_mask * (noise * getattr(scheduler, "init_noise_sigma", 1.0)) + (1 - latent_mask) * start
    latents = denoise_steps(ctx, model, positive, guider, start, scheduler, timesteps, None, known=known)

    frames = composite(source, mask, _decode_masked(family, latents, latent_mask, tiled))
    ctx.publish_frames(frames, source.fps)
    return Video(frames=frames, fps=source.fps)


def _decode_masked(family, latents: torch.Tensor, latent_mask: torch.Tensor, tiled: bool) -> np.ndarray:
    """Decoded frames up to the last one the mask reaches. A causal VAE decodes each frame from the latents up to
    its own, so the frames after the mask, which the composite takes from the source anyway, need no decode."""
    if not family.causal_first_frame:
        return family.decode(latents, tiled=tiled)
    reached = latent_mask.amax(dim=(0, 1, 3, 4)).nonzero()
    return family.decode(latents[:, :, :int(reached[-1]) + 1], tiled=tiled)


def composite(source: Video, mask: Mask, decoded: np.ndarray) -> np.ndarray:
    """source * (1 - m) + decoded * m per pixel, rounded; the source's own bytes wherever m is 0 (and on frames
    past the decoded ones)."""
    frames = source.frames.copy()
    for index in range(min(len(decoded), mask.num_frames)):
        weight = mask.values[index]
        if not weight.any():
            continue
        m = weight[:, :, None]
        blended = source.frames[index].astype(np.float32) * (1 - m) + decoded[index].astype(np.float32) * m
        frames[index] = np.where(m > 0, np.clip(np.round(blended), 0, 255), source.frames[index]).astype(np.uint8)
    return frames
