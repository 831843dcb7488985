"""Stage 1: a small causal video autoencoder (diffusers' AutoencoderKLWan) trained on procedural shape clips.

Also the bridge to stage 2: the latent pool (clips encoded once by the finished VAE) and the per-channel latent
statistics the pipeline normalises with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from studio.shapes.clips import training_examples
from studio.shapes.vocabulary import COLOURS, DIRECTIONS, HELD_OUT, SHAPES
from training.common import step_rng, torch_generator, train_loop

CLIP_FRAMES = 17  # what the model is trained and rendered at (Wan's VAE needs 1 + 4k frames)
CLIP_SIZE = 64
# Stage 1 has two phases.
# "vae": 9-frame windows of 17-frame clips (the first-frame chunk plus two cached 4-frame chunks, at half the cost of
# whole clips) under a plain per-pixel L1 + MSE. Cheap and fast to get the autoencoder working at all; a balanced
# loss from scratch learned nothing detectable in the same time. But the shape covers ~5% of a frame, so under a
# plain mean losing it costs about what the background's noise does: this phase alone dropped red after frame 0,
# turned triangles into squares and let the later chunks drift in colour (17/24 clips read back right).
VAE_WINDOW_FRAMES = 9
KL_WEIGHT = 1e-5  # per latent element against the per-pixel reconstruction error: keeps the posterior smooth
# "vae-refine": whole 17-frame clips, as the studio encodes and decodes them, with the error averaged over the
# shape's pixels (lit in the target, grown by SHAPE_MARGIN_PX so its edge and any blur or smear around it count) and
# over the background separately, the two averages weighing the same, plus an edge term on spatial gradients that
# keeps corners sharp (what tells a triangle from a square at 8x compression).
SHAPE_LIT = -0.9  # a target pixel whose brightest channel is above this (~13/255) is the shape's
SHAPE_MARGIN_PX = 2
EDGE_WEIGHT = 1.0
REFINE_COOLDOWN = 200  # the refine phase's last steps bring the learning rate down to a tenth: sharper shapes
# Recorded in the checkpoints' settings: a work folder trained with another recipe is not resumed with this one.
REFINE_RECIPE = "whole 17-frame clips; L1+MSE+edge averaged over shape and background separately; KL 1e-5"
POOL_ENCODE_BATCH = 8


def build_vae(*, base_dim: int, z_dim: int, dim_mult: tuple[int, ...], num_res_blocks: int):
    import diffusers

    # Three spatial and two temporal downsamples: 8x spatial, 4x temporal compression, as every Wan 2.1 VAE.
    return diffusers.AutoencoderKLWan(base_dim=base_dim, z_dim=z_dim, dim_mult=list(dim_mult),
                                      num_res_blocks=num_res_blocks, temperal_downsample=[False, True, True],
                                      latents_mean=[0.0] * z_dim, latents_std=[1.0] * z_dim)


def clips_to_pixels(clips: np.ndarray) -> torch.Tensor:
    """(B, F, H, W, 3) uint8 RGB -> (B, 3, F, H, W) float in [-1, 1], as the studio's encode_video does."""
    return torch.from_numpy(clips).permute(0, 4, 1, 2, 3).to(torch.float32) / 127.5 - 1.0


def clip_batch(seed: int, stage: str, step: int, count: int) -> tuple[np.ndarray, list[tuple[str, str, str]]]:
    """`count` 17-frame clips and their (colour, shape, direction), determined by (seed, stage, step)."""
    rng = step_rng(seed, stage, step)
    examples = list(training_examples(int(rng.integers(2 ** 32)), count, CLIP_SIZE, CLIP_SIZE, CLIP_FRAMES))
    assert not any(attrs in HELD_OUT for _, _, attrs in examples)  # the held-out test stays unseen
    return np.stack([clip for clip, _, _ in examples]), [attrs for _, _, attrs in examples]


def vae_windows(seed: int, step: int, batch: int) -> torch.Tensor:
    clips, _ = clip_batch(seed, "vae", step, batch)
    starts = step_rng(seed, "vae-window", step).integers(0, CLIP_FRAMES - VAE_WINDOW_FRAMES + 1, size=batch)
    return clips_to_pixels(np.stack([clip[s:s + VAE_WINDOW_FRAMES] for clip, s in zip(clips, starts)]))


def whole_clips(seed: int, step: int, batch: int) -> torch.Tensor:
    return clips_to_pixels(clip_batch(seed, "vae-refine", step, batch)[0])


def shape_mask(pixels: torch.Tensor) -> torch.Tensor:
    """(B, 3, F, H, W) in [-1, 1] -> (B, 1, F, H, W) 0/1: the lit pixels of each frame, grown by SHAPE_MARGIN_PX."""
    lit = (pixels.amax(1, keepdim=True) > SHAPE_LIT).to(pixels.dtype)
    size = 2 * SHAPE_MARGIN_PX + 1
    return F.max_pool3d(lit, (1, size, size), stride=1, padding=(0, SHAPE_MARGIN_PX, SHAPE_MARGIN_PX))


def plain_error(recon: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    difference = recon - pixels
    return difference.abs().mean() + difference.pow(2).mean()


def spatial_gradients(pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Horizontal and vertical differences of (B, C, F, H, W), zero-padded back to H x W."""
    dx = F.pad(pixels[..., :, 1:] - pixels[..., :, :-1], (0, 1))
    dy = F.pad(pixels[..., 1:, :] - pixels[..., :-1, :], (0, 0, 0, 1))
    return dx, dy


def reconstruction_error(recon: torch.Tensor, pixels: torch.Tensor) -> torch.Tensor:
    """(L1 + MSE + EDGE_WEIGHT x gradient L1) per pixel, averaged over the shape and over the background, the two
    averages weighing the same.

    The same as weighting shape pixels 1 + alpha against background 1 with alpha = (background / shape pixels) - 1
    (about 8 here), so a reconstruction that loses the shape pays for it as much as one that is wrong everywhere.
    """
    difference = recon - pixels
    error = difference.abs() + difference.pow(2)
    (rx, ry), (tx, ty) = spatial_gradients(recon), spatial_gradients(pixels)
    error = (error + EDGE_WEIGHT * ((rx - tx).abs() + (ry - ty).abs())).mean(1, keepdim=True)
    mask = shape_mask(pixels)
    shape = (error * mask).sum() / mask.sum().clamp_min(1.0)
    background = (error * (1.0 - mask)).sum() / (1.0 - mask).sum().clamp_min(1.0)
    return 0.5 * (shape + background)


def vae_loss(vae, pixels: torch.Tensor, generator: torch.Generator, error) -> torch.Tensor:
    posterior = vae.encode(pixels).latent_dist
    latents = posterior.sample(generator=generator)  # sampled, so the decoder learns to tolerate small latent errors
    # The decoder's raw output, before decode()'s clamp to [-1, 1]: a clamped pixel would pass no gradient back.
    raw: list[torch.Tensor] = []
    hook = vae.decoder.register_forward_hook(lambda module, args, output: raw.append(output))
    try:
        vae.decode(latents)
    finally:
        hook.remove()
    recon = torch.cat(raw, dim=2)
    kl = 0.5 * (posterior.mean ** 2 + posterior.var - 1.0 - posterior.logvar).mean()
    return error(recon, pixels) + KL_WEIGHT * kl


def train_vae(vae, *, work: Path, seed: int, steps: int, refine_steps: int, batch: int, lr: float, warmup: int,
              checkpoint_every: int, device: torch.device, settings: dict) -> dict:
    """Phase "vae" for `steps`, then phase "vae-refine" for `refine_steps` with a fresh optimizer (see the top)."""
    vae.to(device).train()
    phases = {}
    for stage, phase_steps, batches, error, cooldown, phase_settings in (
            ("vae", steps, vae_windows, plain_error, 0, settings),
            ("vae-refine", refine_steps, whole_clips, reconstruction_error, REFINE_COOLDOWN,
             {**settings, "recipe": REFINE_RECIPE, "after_vae_steps": steps})):
        optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)

        def loss_at(step: int, batches=batches, error=error, stage=stage) -> torch.Tensor:
            pixels = batches(seed, step, batch).to(device)
            return vae_loss(vae, pixels, torch_generator(step_rng(seed, f"{stage}-noise", step)), error)

        phases[stage] = train_loop(stage=stage, folder=work / stage, modules={"vae": vae}, trained=vae,
                                   optimizer=optimizer, loss_at=loss_at, steps=phase_steps, lr=lr, warmup=warmup,
                                   checkpoint_every=checkpoint_every, log_path=work / "loss.csv",
                                   settings=phase_settings, cooldown=min(cooldown, phase_steps // 2))
    vae.eval().requires_grad_(False)
    return {**phases["vae"], "refine": phases["vae-refine"],
            "end_step": phases["vae"]["end_step"] + phases["vae-refine"]["end_step"]}


def reconstruction_check(vae, *, seed: int, count: int, device: torch.device) -> dict:
    """How many of `count` fresh training-distribution clips (no held-out triple) the detector still reads right
    after a 17-frame encode (posterior mode) and decode, the round trip every studio render ends with."""
    from studio.shapes.detector import detect_clip

    clips, attrs = clip_batch(seed, "vae-check", 0, count)
    misses = []
    for start in range(0, count, POOL_ENCODE_BATCH):
        with torch.no_grad():
            latents = vae.encode(clips_to_pixels(clips[start:start + POOL_ENCODE_BATCH]).to(device)).latent_dist
            decoded = vae.decode(latents.mode()).sample.float().cpu()
        frames = ((decoded.permute(0, 2, 3, 4, 1).numpy() + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)
        for clip_frames, truth in zip(frames, attrs[start:start + POOL_ENCODE_BATCH]):
            read = detect_clip(clip_frames).attrs
            if read != truth:
                misses.append({"clip": list(truth), "read": list(read)})
    return {"clips": count, "right": count - len(misses), "misses": misses}


# -- the latent pool
def encode_clips(vae, clips: np.ndarray, device: torch.device) -> torch.Tensor:
    """Un-normalised latents (posterior mode, as the pipelines encode a conditioning image) of uint8 clips."""
    with torch.no_grad():
        return vae.encode(clips_to_pixels(clips).to(device)).latent_dist.mode().float().cpu()


def attrs_to_ids(attrs: list[tuple[str, str, str]]) -> torch.Tensor:
    return torch.tensor([[COLOURS.index(c), SHAPES.index(s), DIRECTIONS.index(d)] for c, s, d in attrs])


def ids_to_attrs(ids: torch.Tensor) -> list[tuple[str, str, str]]:
    return [(COLOURS[c], SHAPES[s], DIRECTIONS[d]) for c, s, d in ids.tolist()]


def latent_pool(vae, *, path: Path, seed: int, count: int, vae_step: int, device: torch.device,
                ) -> tuple[torch.Tensor, list[tuple[str, str, str]]]:
    """Clips encoded once by the finished VAE (stage 2 reads these instead of running the encoder every step).

    Cached at `path` with the VAE step it was made with; rebuilt when the count or the VAE differ.
    """
    if path.exists():
        pool = load_file(str(path))
        made_with = pool["vae_step"].item(), pool["latents"].shape[0]
        if made_with == (vae_step, count):
            return pool["latents"], ids_to_attrs(pool["attrs"])
        print(f"latent pool {path} was made with (vae step, count) {made_with}; rebuilding", flush=True)
    latents, ids = [], []
    for index, start in enumerate(range(0, count, POOL_ENCODE_BATCH)):
        clips, attrs = clip_batch(seed, "pool", index, min(POOL_ENCODE_BATCH, count - start))
        latents.append(encode_clips(vae, clips, device))
        ids.append(attrs_to_ids(attrs))
        if index % 50 == 0:
            print(f"[pool] encoded {start + len(clips)}/{count} clips", flush=True)
    pool = {"latents": torch.cat(latents), "attrs": torch.cat(ids), "vae_step": torch.tensor(vae_step)}
    partial = path.with_suffix(".partial")
    save_file(pool, str(partial))
    partial.replace(path)
    return pool["latents"], ids_to_attrs(pool["attrs"])


def set_latent_statistics(vae, latents: torch.Tensor) -> tuple[list[float], list[float]]:
    """Per-channel mean/std over the pool, stored in the VAE config: the pipelines normalise latents with them."""
    channels = latents.transpose(0, 1).reshape(latents.shape[1], -1)
    mean = [round(float(v), 6) for v in channels.mean(1)]
    std = [round(float(v), 6) for v in channels.std(1).clamp_min(1e-4)]
    vae.register_to_config(latents_mean=mean, latents_std=std)
    return mean, std


def normalise(vae, latents: torch.Tensor) -> torch.Tensor:
    """(latents - mean) / std, exactly as WanPipeline / the studio's Wan family does before the transformer."""
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape)
    inverse_std = 1.0 / torch.tensor(vae.config.latents_std).view(shape)
    return (latents - mean) * inverse_std
