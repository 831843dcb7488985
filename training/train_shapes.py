"""Train the studio's bundled shapes model: a tiny Wan 2.2 TI2V-style text/image-to-video model, from scratch.

    python -m training.train_shapes --out resources/models/shapes --work build/shapes-training

writes a standard diffusers folder (WanPipeline, expand_timesteps=True, safetensors only) plus studio_model.json
({"native_size": [64, 64, 17], "fps": 16}); the studio loads it as the model named "shapes". Re-running the same
command resumes from the newest checkpoint in --work; raising --steps / --vae-steps trains further.

Design
- Data: studio.shapes.clips at 64x64, 17 frames (Wan's VAE takes 1 + 4k frames). Every batch is drawn from
  (seed, stage, step) alone, so a resumed run sees exactly the batches an uninterrupted one would, and no state but
  weights and optimizer moments has to be checkpointed. Held-out triples are never drawn (asserted).
- Stage 1, VAE: AutoencoderKLWan with the Wan 2.1 layout (8x spatial, 4x causal temporal compression) at base_dim 16
  and z_dim 8: 64x64x17 clips become 8x5x8x8 latents. Two phases (training/vae_stage.py says why): 9-frame windows
  under a plain L1 + MSE on the raw decoder output, then whole 17-frame clips under an error averaged over the shape
  and the background separately, with an edge term; a small KL throughout. A detector check on fresh clips
  round-tripped through the VAE is printed at the end of the stage.
- Latent pool: the finished VAE encodes --pool clips once (posterior mode, like the pipelines' image encoding); the
  per-channel mean/std over the pool go into the VAE config (latents_mean / latents_std), so the pipeline's own
  normalisation gives the transformer unit-variance latents. Stage 2 reads the pool instead of running the encoder
  every step (the encoder alone costs more than a transformer step on CPU).
- Text: a frozen random-init 2-layer UMT5 encoder (d_model 64) over a tokenizer whose words are the caption words.
  Random and frozen, because the vocabulary is 16 words and each word's random 64-d embedding is far from the
  others; the trainable text_embedder and cross-attention in the transformer learn to read it, so training the
  encoder would add cost and nothing a 118-caption world needs. The minimum caption-to-caption distance is reported
  ("text separation") to show no two captions collide. Embeddings are computed through WanPipeline.encode_prompt
  at max length 32, exactly as the studio computes them.
- Stage 2, transformer: WanTransformer3DModel, patch (1, 2, 2) (80 tokens per clip), 4 heads x 48, 6 layers. Flow
  matching: x_s = (1 - s) x0 + s noise, target noise - x0, s = shift(u), u ~ U(0, 1), shift 3 (the scheduler's
  flow_shift too), timestep s * 1000. Captions: full, 15% partial (one attribute left out), 10% empty for
  classifier-free guidance. Half of the clips train image-to-video as WanImageToVideoPipeline(expand_timesteps)
  infers: latent frame 0 clean, timestep 0 on its tokens, no loss on it. The exported weights are an EMA (0.999).
- Checkpoints: safetensors weights, AdamW moments as safetensors tensors and its hyper-parameters in JSON (no
  torch.save), every --checkpoint-every steps into WORK/vae and WORK/transformer; the loss log is WORK/loss.csv and
  its plot WORK/loss.png (drawn with OpenCV; matplotlib is not a dependency).
- Size: fp32 weights, about 21 MiB in all (limit 25 MiB), checked and reported at the end.
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from training.common import latest_checkpoint, pick_device, plot_losses
from training.transformer_stage import (FLOW_SHIFT, build_text_encoder, build_transformer, caption_embeddings,
                                        separation, shapes_tokenizer, train_transformer, training_captions)
from training.vae_stage import (CLIP_FRAMES, CLIP_SIZE, build_vae, latent_pool, normalise,
                                reconstruction_check, set_latent_statistics, train_vae)

REPO = Path(__file__).resolve().parent.parent
SIZE_LIMIT_MIB = 25.0
VAE_CHECK_PASS = 0.95  # below this share of clips read back right, the end of stage 1 warns
PRESETS = {
    # The bundled model.
    "shapes": {"vae": {"base_dim": 16, "z_dim": 8, "dim_mult": (1, 2, 3, 3), "num_res_blocks": 1},
               "text": {"d_model": 64, "layers": 2, "heads": 4},
               "transformer": {"heads": 4, "head_dim": 48, "layers": 6, "ffn_dim": 768},
               "vae_batch": 4, "batch": 16, "pool": 8192, "vae_lr": 5e-4, "lr": 3e-4, "vae_warmup": 100,
               "warmup": 200, "vae_check": 48,
               # The transformer's last steps bring the learning rate down to a tenth: a lower final loss in fewer
               # steps.
               "cooldown": 1500},
    # Seconds-long smoke runs (tests): same code path, toy widths.
    "smoke": {"vae": {"base_dim": 8, "z_dim": 4, "dim_mult": (1, 1, 1, 1), "num_res_blocks": 1},
              "text": {"d_model": 16, "layers": 1, "heads": 2},
              "transformer": {"heads": 2, "head_dim": 12, "layers": 1, "ffn_dim": 32},
              "vae_batch": 1, "batch": 2, "pool": 8, "vae_lr": 5e-4, "lr": 3e-4, "vae_warmup": 100,
              "warmup": 200, "vae_check": 2, "cooldown": 0},
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m training.train_shapes", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "shapes",
                        help="model folder to write (default: the bundled resources/models/shapes)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "shapes-training",
                        help="checkpoints, latent pool, loss.csv, loss.png (default: build/shapes-training)")
    # The defaults made the bundled model; its MODEL_CARD.md has their measured time on a 2-core CPU.
    parser.add_argument("--vae-steps", type=int, default=2000, help="stage 1, first phase: total steps")
    parser.add_argument("--vae-refine-steps", type=int, default=600,
                        help="stage 1, second phase (whole clips, shape-balanced loss): total steps")
    parser.add_argument("--steps", type=int, default=9000, help="stage 2 total steps")
    parser.add_argument("--batch", type=int, default=None, help="stage 2 batch (default: the preset's)")
    parser.add_argument("--vae-batch", type=int, default=None, help="stage 1 batch (default: the preset's)")
    parser.add_argument("--pool", type=int, default=None, help="clips in the latent pool (default: the preset's)")
    parser.add_argument("--vae-check", type=int, default=None,
                        help="clips reconstructed and read back by the detector after stage 1 (default: the preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", help="auto (CUDA when available), cpu or cuda")
    parser.add_argument("--checkpoint-every", type=int, default=250)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="shapes")
    return parser.parse_args(argv)


def assemble_pipeline(tokenizer, text_encoder, vae, transformer):
    import diffusers

    # Wan's own scheduler setup (UniPC on flow sigmas), with the shift the transformer was trained for.
    scheduler = diffusers.UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                                  flow_shift=FLOW_SHIFT)
    pipeline = diffusers.WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler,
                                     transformer=transformer, expand_timesteps=True)
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def text_encoder_for(work: Path, tokenizer, seed: int, settings: dict):
    """The frozen random text encoder, made once per work folder and reloaded from it, so resumes use the same."""
    import transformers

    folder = work / "text_encoder"
    if (folder / "config.json").is_file():
        return transformers.UMT5EncoderModel.from_pretrained(folder).eval().requires_grad_(False)
    torch.manual_seed(seed)
    encoder = build_text_encoder(len(tokenizer), **settings)
    encoder.save_pretrained(folder, safe_serialization=True)
    return encoder


def check_vae(vae, *, seed: int, count: int, device: torch.device) -> dict:
    """Print how many fresh 17-frame clips survive the VAE's round trip, before stage 2 spends an hour on it."""
    began = time.perf_counter()
    check = reconstruction_check(vae, seed=seed, count=count, device=device)
    print(f"[vae] reconstruction check: the detector reads {check['right']}/{count} encoded-and-decoded 17-frame "
          f"clips right ({time.perf_counter() - began:.0f} s)", flush=True)
    for miss in check["misses"][:8]:
        print(f"[vae]   {' '.join(miss['clip'])} read back as {miss['read']}", flush=True)
    if check["right"] < VAE_CHECK_PASS * count:
        print(f"WARNING: the VAE loses clips stage 2 will learn from; train it further (--vae-steps) in a fresh "
              f"--work before spending stage 2 on it", flush=True)
    return check


def refuse_retraining_the_vae_under_stage_2(work: Path, vae_steps: int) -> None:
    checkpoint = latest_checkpoint(work / "transformer")
    if checkpoint is None:
        return
    made_with = json.loads((checkpoint / "state.json").read_text(encoding="utf-8"))["settings"]["vae_step"]
    if vae_steps > made_with:  # more VAE training would change the latents stage 2 has learned
        raise SystemExit(f"stage 2 in {work} was trained on the VAE after {made_with} steps in all: pass --vae-steps"
                         f" and --vae-refine-steps adding up to {made_with} to resume it, or use a fresh --work to "
                         "train the VAE further")


def component_sizes(folder: Path, pipeline) -> dict[str, dict]:
    sizes = {}
    for name in ("text_encoder", "vae", "transformer"):
        files = sum(f.stat().st_size for f in (folder / name).rglob("*") if f.is_file())
        params = sum(p.numel() for p in getattr(pipeline, name).parameters())
        sizes[name] = {"parameters": params, "mib": round(files / 2 ** 20, 2)}
    total = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    sizes["total"] = {"mib": round(total / 2 ** 20, 2)}
    return sizes


def export(pipeline, out: Path) -> dict[str, dict]:
    out.mkdir(parents=True, exist_ok=True)
    pipeline.to("cpu").save_pretrained(out, safe_serialization=True)
    manifest = {"native_size": [CLIP_SIZE, CLIP_SIZE, CLIP_FRAMES], "fps": 16}
    (out / "studio_model.json").write_text(json.dumps(manifest) + "\n", encoding="utf-8")
    sizes = component_sizes(out, pipeline)
    if sizes["total"]["mib"] > SIZE_LIMIT_MIB:
        print(f"WARNING: {out} holds {sizes['total']['mib']} MiB, over the {SIZE_LIMIT_MIB} MiB budget", flush=True)
    return sizes


def train(args: argparse.Namespace) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything is built from configs; nothing may be fetched
    import diffusers
    import transformers

    for library in (diffusers, transformers):
        library.utils.logging.disable_progress_bar()  # per-file save/load bars would bury the loss lines
    began = time.perf_counter()
    preset = PRESETS[args.preset]
    device = pick_device(args.device)
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    vae_batch, batch = args.vae_batch or preset["vae_batch"], args.batch or preset["batch"]
    pool_size = args.pool or preset["pool"]
    print(f"training on {device}; work folder {work}", flush=True)
    refuse_retraining_the_vae_under_stage_2(work, args.vae_steps + args.vae_refine_steps)

    torch.manual_seed(args.seed)
    vae = build_vae(**preset["vae"])
    vae_settings = {"preset": args.preset, "seed": args.seed, "batch": vae_batch, "lr": preset["vae_lr"]}
    vae_summary = train_vae(vae, work=work, seed=args.seed, steps=args.vae_steps,
                            refine_steps=args.vae_refine_steps, batch=vae_batch,
                            lr=preset["vae_lr"], warmup=preset["vae_warmup"], checkpoint_every=args.checkpoint_every,
                            device=device, settings=vae_settings)
    vae_summary["check"] = check_vae(vae, seed=args.seed, count=args.vae_check or preset["vae_check"], device=device)

    pool_began = time.perf_counter()
    latents, attrs = latent_pool(vae, path=work / "latent_pool.safetensors", seed=args.seed, count=pool_size,
                                 vae_step=vae_summary["end_step"], device=device)
    pool_seconds = time.perf_counter() - pool_began
    mean, std = set_latent_statistics(vae, latents)

    tokenizer = shapes_tokenizer()
    text_encoder = text_encoder_for(work, tokenizer, args.seed, preset["text"]).to(device)
    torch.manual_seed(args.seed + 1)
    transformer = build_transformer(z_dim=vae.config.z_dim, text_dim=text_encoder.config.d_model,
                                    **preset["transformer"])
    pipeline = assemble_pipeline(tokenizer, text_encoder, vae, transformer)
    embeddings = caption_embeddings(pipeline, training_captions(), device)
    settings = {"preset": args.preset, "seed": args.seed, "batch": batch, "lr": preset["lr"],
                "vae_step": vae_summary["end_step"], "pool": pool_size}
    transformer_summary, ema = train_transformer(
        transformer, latents=normalise(vae, latents), attrs=attrs, embeddings=embeddings, work=work, seed=args.seed,
        steps=args.steps, batch=batch, lr=preset["lr"], warmup=preset["warmup"],
        checkpoint_every=args.checkpoint_every, device=device, settings=settings, cooldown=preset["cooldown"])

    pipeline.register_modules(transformer=ema)  # the averaged weights are the ones shipped
    sizes = export(pipeline, args.out)
    plot = plot_losses(work / "loss.csv", work / "loss.png")
    summary = {"device": str(device), "vae": vae_summary, "pool": {"clips": pool_size,
               "seconds": round(pool_seconds, 2), "latents_mean": mean, "latents_std": std},
               "text_separation": round(separation(embeddings), 4), "transformer": transformer_summary,
               "sizes": sizes, "out": str(args.out), "loss_plot": str(plot) if plot else None,
               "elapsed_seconds": round(time.perf_counter() - began, 2)}
    (work / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> dict:
    summary = train(parse_args(argv))
    print(json.dumps(summary, indent=1), flush=True)
    print(f"wrote {summary['out']} in {summary['elapsed_seconds']:.1f} s", flush=True)
    return summary


if __name__ == "__main__":
    main()
