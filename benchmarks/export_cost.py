"""What exporting costs next to rendering: each format, with and without C2PA signing, as a share of the render.

Renders the text-to-video example (17 frames, the size the bundled model makes) with the bundled shapes model when it
is trained, else with a tiny random-init Wan of the same shape; then times export_clip on the decoded frames (median
of repeats) for every format, at x1 and x4 upscale. Target: exporting a 16-frame clip costs < 10% of its render.

    .venv/bin/python benchmarks/export_cost.py [--steps 20] [--repeats 5] [--size 64 --frames 17]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.export import export_clip
from studio.media.naming import output_params
from studio.media.video_io import Video, read_video
from studio.paths import BUNDLED_MODELS, WORKFLOWS

FORMATS = ("mp4", "webm", "gif", "png")


def snapshot(model: str, out: Path, args: argparse.Namespace, seed: int) -> dict:
    data = json.loads((WORKFLOWS / "text_to_video.json").read_text())
    data.update(base_dir=str(WORKFLOWS), previews=False)
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = model
    nodes["latent"]["params"].update(width=args.size, height=args.size, frames=args.frames)
    nodes["sampler"]["params"].update(seed=seed, steps=args.steps)
    nodes["save"]["params"].update(output_params(f"{out}/"), overwrite=True, provenance=False)
    return data


def render_seconds(executor: Executor, model: str, out: Path, args: argparse.Namespace, seed: int) -> float:
    seconds: dict[str, float] = {}

    def record(event: dict) -> None:
        if event.get("event") == "node_finished":
            seconds[event["node"]] = event["seconds"]
        if event.get("event") == "run_finished" and event["status"] != "done":
            raise SystemExit(f"render failed: {event.get('message')}")

    executor.run(snapshot(model, out, args, seed), record, lambda: False)
    return seconds["sampler"] + seconds["decode"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="studio-export-bench-"))
    os.environ.setdefault("STUDIO_CONFIG_DIR", str(work / "config"))  # a throwaway signing key, not the user's
    if (BUNDLED_MODELS / "shapes" / "model_index.json").exists():
        model, label = "shapes", "bundled shapes model"
    else:
        from studio.models.tiny import save_tiny_wan

        model = str(save_tiny_wan(work / "model", layers=4, heads=4, head_dim=16, width=args.size, height=args.size,
                                  frames=args.frames))
        label = "tiny random-init Wan (4 layers, 4x16 heads; the bundled model is not trained yet)"

    executor = Executor(catalogue())
    render_seconds(executor, model, work / "warmup", args, seed=999)  # load the model, encode the prompts
    renders = [render_seconds(executor, model, work / f"render{seed}", args, seed) for seed in range(3)]
    render = statistics.median(renders)
    frames = read_video(work / "render0").frames
    video = Video(frames[:16], 16.0)  # the target speaks of a 16-frame clip

    rows = []
    for upscale in (1, 4):
        for kind in FORMATS:
            timings = {}
            for sign in (False, True):
                samples = []
                for repeat in range(args.repeats + 1):
                    started = time.perf_counter()
                    export = export_clip(video, work / "exports", f"{kind}-x{upscale}-{sign}-{{counter}}", kind,
                                         upscale=upscale, provenance=sign, model="bench",
                                         workflow=snapshot(model, work, args, 0))
                    if repeat:  # the first one warms codecs (and makes the signing key)
                        samples.append(time.perf_counter() - started)
                timings[sign] = statistics.median(samples)
            rows.append((kind, upscale, timings[False], timings[True], export.signed))

    print(f"model: {label}; {args.size}x{args.size}, {args.frames} frames rendered, {args.steps} steps, "
          f"{torch.get_num_threads()} threads")
    print(f"render (sampler + decode, median of {len(renders)}): {render:.2f} s; exports of its first 16 frames "
          f"(median of {args.repeats}):")
    print(f"{'format':8}{'upscale':>8}{'export ms':>11}{'% render':>10}{'+C2PA ms':>11}{'% render':>10}  signed")
    for kind, upscale, plain, signed, was_signed in rows:
        print(f"{kind:8}{'x' + str(upscale):>8}{plain * 1000:11.1f}{plain / render:10.2%}{signed * 1000:11.1f}"
              f"{signed / render:10.2%}  {'yes' if was_signed else 'no (format cannot carry C2PA)'}")
    worst = max(signed for _, upscale, _, signed, _ in rows if upscale == 1) / render
    print(f"worst share at x1, with C2PA: {worst:.2%}  (target < 10%)")


if __name__ == "__main__":
    main()
