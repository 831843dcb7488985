"""What inpainting costs next to a plain text-to-video render of the same clip, with the same steps, in one run.

Three figures per repeat (runs interleaved, each with its own seed so nothing comes from the cache):
  plain     the text_to_video example: sampler + decode
  inpaint   the inpaint_region example on that clip, right half, first time on this clip: the source is encoded
  re-run    the same inpaint again with a new seed (what iterating on a prompt or seed costs): the encoded source
            is reused
Target: inpaint / plain <= 1.0. Uses the bundled shapes model when resources/models/shapes holds one, else a tiny
random-init Wan model (noise frames, the real code path). Step previews are on in every run, as in the window.

    .venv/bin/python benchmarks/inpaint_cost.py [--steps 20] [--repeats 3] [--size 64 --frames 17]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.naming import output_params
from studio.paths import BUNDLED_MODELS, WORKFLOWS

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # building the tiny model: no bars in the figures
PLAIN, INPAINT = "a red circle moving right", "a blue circle moving right"


def workflow(name: str, model: Path, out: Path, steps: int, seed: int) -> dict:
    data = json.loads((WORKFLOWS / name).read_text())
    data["base_dir"] = str(WORKFLOWS)
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["save"]["params"].update(output_params(f"{out}/"), overwrite=True)
    nodes["inpaint" if "inpaint" in nodes else "sampler"]["params"].update(seed=seed, steps=steps)
    return data


def plain_snapshot(model: Path, out: Path, args: argparse.Namespace, seed: int) -> dict:
    data = workflow("text_to_video.json", model, out, args.steps, seed)
    data["nodes"]["prompt"]["params"]["text"] = PLAIN
    data["nodes"]["latent"]["params"].update(width=args.size, height=args.size, frames=args.frames)
    return data


def inpaint_snapshot(model: Path, source: Path, out: Path, args: argparse.Namespace, seed: int) -> dict:
    data = workflow("inpaint_region.json", model, out, args.steps, seed)
    data["nodes"]["source"]["params"]["path"] = str(source)
    data["nodes"]["prompt"]["params"]["text"] = INPAINT
    return data


def timed(executor: Executor, snapshot: dict, nodes: tuple[str, ...]) -> tuple[float, float]:
    """(wall, CPU) seconds the given nodes ran; model loading, prompts and the export are the same either way and
    left out. CPU seconds (every thread of this process) hold up better than wall time on a busy machine."""
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    def record(event: dict) -> None:
        if event.get("event") == "node_started":
            cpu[event["node"]] = time.process_time()
        elif event.get("event") == "node_finished":
            wall[event["node"]] = event["seconds"]
            cpu[event["node"]] = time.process_time() - cpu[event["node"]]

    status = executor.run(snapshot, record, lambda: False)
    assert status == "done", status
    return sum(wall.get(node, 0.0) for node in nodes), sum(cpu.get(node, 0.0) for node in nodes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    args = parser.parse_args()
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    bundled = BUNDLED_MODELS / "shapes"
    if (bundled / "model_index.json").exists():
        model, described = bundled, "bundled shapes model"
    else:
        from studio.models.tiny import save_tiny_wan

        model = save_tiny_wan(work / "model", layers=4, heads=4, head_dim=16, width=args.size, height=args.size,
                              frames=args.frames)
        described = "tiny random-init Wan (4 layers, 4x16 heads)"
    executor = Executor(catalogue())
    # Warm up: load the model, fit the preview projection, encode the prompts; its render is the source clip.
    timed(executor, plain_snapshot(model, work / "source", args, seed=999), ())
    timed(executor, inpaint_snapshot(model, work / "source", work / "warm", args, seed=999), ())
    plain, first, rerun = [], [], []
    for repeat in range(args.repeats):
        plain.append(timed(executor, plain_snapshot(model, work / f"plain{repeat}", args, seed=repeat),
                           ("sampler", "decode")))
        # A fresh copy of the clip is a new source: read and encoded again, as the first inpaint of a clip is.
        source = shutil.copytree(work / "source", work / f"source{repeat}")
        first.append(timed(executor, inpaint_snapshot(model, source, work / f"first{repeat}", args, seed=repeat),
                           ("mask", "inpaint")))
        rerun.append(timed(executor, inpaint_snapshot(model, source, work / f"rerun{repeat}", args,
                                                      seed=100 + repeat), ("mask", "inpaint")))
    shutil.rmtree(work, ignore_errors=True)

    print(f"model: {described}, {args.size}x{args.size}x{args.frames} frames, {args.steps} steps, CFG 5, "
          f"previews on, {torch.get_num_threads()} threads, median of {args.repeats}")
    print(f"{'':34}{'wall s':>10}{'/ plain':>10}{'CPU s':>10}{'/ plain':>10}")
    p_wall, p_cpu = (statistics.median(run[i] for run in plain) for i in (0, 1))
    for label, runs in (("plain render (sampler + decode)", plain), ("inpaint, first on this clip", first),
                        ("inpaint, re-run (source encoded)", rerun)):
        w, c = (statistics.median(run[i] for run in runs) for i in (0, 1))
        print(f"{label:34}{w:10.3f}{w / p_wall:10.3f}{c:10.3f}{c / p_cpu:10.3f}")
    print("target: inpaint / plain <= 1.0")


if __name__ == "__main__":
    main()
