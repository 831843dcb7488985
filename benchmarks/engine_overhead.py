"""Studio render vs the plain diffusers pipeline call: same model, seed and settings, in one run.

Prints the denoise+decode time of each (median over repeats, runs interleaved so machine drift hits both), their
ratio, and the largest frame difference. Target: ratio <= 1.03, frames equal within 1/255.

    .venv/bin/python benchmarks/engine_overhead.py [--steps 20] [--repeats 5] [--size 64 --frames 17]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from studio.engine.client import EngineClient
from studio.media.naming import output_params
from studio.media.video_io import read_video
from studio.models.tiny import save_tiny_wan
from studio.paths import WORKFLOWS

PROMPT, NEGATIVE, SCALE = "a red circle moving right", "blue", 5.0


def studio_snapshot(model: Path, out: Path, args: argparse.Namespace, seed: int) -> dict:
    data = json.loads((WORKFLOWS / "text_to_video.json").read_text())
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["prompt"]["params"]["text"], nodes["negative"]["params"]["text"] = PROMPT, NEGATIVE
    nodes["latent"]["params"].update(width=args.size, height=args.size, frames=args.frames)
    nodes["guidance"]["params"]["scale"] = SCALE
    nodes["sampler"]["params"].update(seed=seed, steps=args.steps)
    nodes["save"]["params"].update(output_params(f"{out}/"), overwrite=True)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    args = parser.parse_args()
    import diffusers

    diffusers.utils.logging.disable_progress_bar()
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    # Big enough that a step costs real work on a CPU, small enough to run in a minute.
    model = save_tiny_wan(work / "model", layers=4, heads=4, head_dim=16, width=args.size, height=args.size,
                          frames=args.frames)
    pipe = diffusers.DiffusionPipeline.from_pretrained(model)
    pipe.set_progress_bar_config(disable=True)
    embeds, negative = pipe.encode_prompt(PROMPT, NEGATIVE, max_sequence_length=64)

    plain_times, studio_times, differences = [], [], []
    with EngineClient() as engine:
        engine.run(studio_snapshot(model, work / "warmup", args, seed=999))  # load the model, encode the prompts
        for seed in range(args.repeats + 1):
            started = time.perf_counter()
            reference = pipe(prompt_embeds=embeds, negative_prompt_embeds=negative, height=args.size,
                             width=args.size, num_frames=args.frames, num_inference_steps=args.steps,
                             guidance_scale=SCALE, generator=torch.Generator("cpu").manual_seed(seed),
                             output_type="np").frames[0]
            plain_seconds = time.perf_counter() - started
            node_seconds = {}

            def record(event: dict) -> None:
                if event.get("event") == "node_finished":
                    node_seconds[event["node"]] = event["seconds"]

            final = engine.run(studio_snapshot(model, work / f"out{seed}", args, seed=seed), record)
            assert final["status"] == "done", final
            frames = read_video(work / f"out{seed}").frames
            reference = (np.clip(reference, 0, 1) * 255).round().astype(np.uint8)
            differences.append(int(np.abs(frames.astype(int) - reference.astype(int)).max()))
            if seed == 0:
                continue  # first pair warms caches and allocators
            plain_times.append(plain_seconds)
            studio_times.append(node_seconds["sampler"] + node_seconds["decode"])

    plain, ours = statistics.median(plain_times), statistics.median(studio_times)
    print(f"model: tiny Wan (4 layers, 4x16 heads), {args.size}x{args.size}x{args.frames} frames, "
          f"{args.steps} steps, CFG {SCALE}, {torch.get_num_threads()} threads")
    print(f"{'':28}{'plain pipeline':>16}{'studio':>12}")
    print(f"{'denoise+decode (median s)':28}{plain:16.3f}{ours:12.3f}")
    print(f"time ratio studio/plain: {ours / plain:.3f}  (target <= 1.03)")
    print(f"max frame difference: {max(differences)}/255  (target <= 1)")


if __name__ == "__main__":
    main()
