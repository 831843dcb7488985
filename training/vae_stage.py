"""Stage 1: a small causal video autoencoder (diffusers' AutoencoderKLWan) trained on procedural shape clips.

Also the bridge to stage 2: the latent pool (clips encoded once by the finished VAE) and the per-channel latent
statistics the pipeline normalises with.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from studio.shapes.clips import training_examples
from studio.shapes.vocabulary import COLOURS, DIRECTIONS, HELD_OUT, SHAPES
from training.common import step_rng, torch_generator, train_loop

CLIP_FRAMES = 17  # what the model is trained and rendered at (Wan's VAE needs 1 + 4k frames)
CLIP_SIZE = 64
# The VAE trains on 9-frame windows of 17-frame clips: the first-frame chunk plus two cached 4-frame chunks is every
# case the causal encoder/decoder meets, at about half the cost of whole clips (motion speed stays that of 17 frames).
VAE_WINDOW_FRAMES = 9
KL_WEIGHT = 1e-5  # per latent element against per-pixel L1 + MSE: keeps the posterior smooth, not a prior match
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


def vae_loss(vae, pixels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
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
    return (recon - pixels).abs().mean() + (recon - pixels).pow(2).mean() + KL_WEIGHT * kl


def train_vae(vae, *, work: Path, seed: int, steps: int, batch: int, lr: float, warmup: int, checkpoint_every: int,
              device: torch.device, settings: dict) -> dict:
    vae.to(device).train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=lr, weight_decay=0.0)

    def loss_at(step: int) -> torch.Tensor:
        pixels = vae_windows(seed, step, batch).to(device)
        return vae_loss(vae, pixels, torch_generator(step_rng(seed, "vae-noise", step)))

    summary = train_loop(stage="vae", folder=work / "vae", modules={"vae": vae}, trained=vae, optimizer=optimizer,
                         loss_at=loss_at, steps=steps, lr=lr, warmup=warmup, checkpoint_every=checkpoint_every,
                         log_path=work / "loss.csv", settings=settings)
    vae.eval().requires_grad_(False)
    return summary


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
