"""What step previews cost: render time with and without them, the one-off fit, and a preview at full Wan size.

Three figures, from the least to the most robust against a busy machine:
  1. denoise+decode through the real worker process with previews on and off (runs interleaved, each with its own
     seed so the sampler never comes from the cache); target ratio <= 1.05.
  2. inside the same in-process renders, the time spent making previews (clean estimate + projection) as a share
     of the sampler's own time: what 1. measures, without the noise of two separate runs.
  3. one preview at Wan 2.1's native 832x480x81: projection time, and the time to cross a process pipe.

    .venv/bin/python benchmarks/preview_overhead.py [--steps 20] [--repeats 5] [--size 64 --frames 17]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

from studio.media.naming import output_params
from studio.paths import WORKFLOWS


def snapshot(model: Path, out: Path, args: argparse.Namespace, seed: int, previews: bool) -> dict:
    data = json.loads((WORKFLOWS / "text_to_video.json").read_text())
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["latent"]["params"].update(width=args.size, height=args.size, frames=args.frames)
    nodes["guidance"]["params"]["scale"] = 5.0
    nodes["sampler"]["params"].update(seed=seed, steps=args.steps)
    nodes["save"]["params"].update(output_params(f"{out}/"), overwrite=True)
    data["previews"] = previews
    return data


def median_ms(work, repeats: int = 20) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _drain(conn) -> None:
    while conn.recv() is not None:
        conn.send(True)


def pipe_ms(payload, repeats: int = 5) -> float:
    """Median time for `payload` to reach another process through a Pipe, as step events do."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    reader = context.Process(target=_drain, args=(theirs,), daemon=True)
    reader.start()

    def send() -> None:
        ours.send(payload)
        ours.recv()

    send()  # the reader has started
    result = median_ms(send, repeats)
    ours.send(None)
    reader.join()
    return result


class Timed:
    """Wraps a method on its class and adds up the seconds spent in it."""

    def __init__(self, owner: type, name: str) -> None:
        self.owner, self.name, self.seconds = owner, name, 0.0
        self.original = getattr(owner, name)
        timed = self

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return timed.original(*args, **kwargs)
            finally:
                timed.seconds += time.perf_counter() - started

        setattr(owner, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--frames", type=int, default=17)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="studio-bench-"))
    os.environ["STUDIO_CACHE_DIR"] = str(work / "cache")  # a cold cache: the fit below is a real first fit
    import diffusers

    from studio.engine.client import EngineClient
    from studio.engine.executor import Executor
    from studio.graph.registry import catalogue
    from studio.models.families.wan import WanFamily
    from studio.models.loading import load_model
    from studio.models.previews import LatentProjection, cache_file, fit_latent_projection, save_projection
    from studio.models.tiny import save_tiny_wan

    diffusers.utils.logging.disable_progress_bar()
    # Big enough that a step costs real work on a CPU, small enough to run in a few minutes.
    model = save_tiny_wan(work / "model", layers=4, heads=4, head_dim=16, width=args.size, height=args.size,
                          frames=args.frames)
    loaded = load_model(model, "cpu", "float32")
    started = time.perf_counter()
    fitted = fit_latent_projection(loaded.family)
    fit_seconds = time.perf_counter() - started
    save_projection(fitted, cache_file(loaded))  # renders below read it from the disk cache

    # 1. Through the worker.
    with_times, without_times, sizes = [], [], []
    with EngineClient() as engine:
        engine.run(snapshot(model, work / "warmup", args, seed=999, previews=True))  # load, encode prompts
        for repeat in range(args.repeats + 1):
            for previews in (True, False):
                seconds = {}

                def record(event: dict) -> None:
                    if event.get("event") == "node_finished":
                        seconds[event["node"]] = event["seconds"]
                    if event.get("event") == "step" and "preview" in event:
                        sizes.append(event["preview"].nbytes)

                seed = 2 * repeat + int(previews)
                final = engine.run(snapshot(model, work / f"out{seed}", args, seed, previews), record)
                assert final["status"] == "done", final
                if repeat:  # the first pair warms caches and allocators
                    (with_times if previews else without_times).append(seconds["sampler"] + seconds["decode"])

    # 2. In process, the previews' share of the very same sampler runs.
    executor = Executor(catalogue())
    executor.run(snapshot(model, work / "warm", args, 998, True), lambda event: None, lambda: False)
    project, clean = Timed(LatentProjection, "project"), Timed(WanFamily, "predicted_clean")
    sampler_seconds = []

    def sampler_time(event: dict) -> None:
        if event.get("event") == "node_finished" and event["node"] == "sampler":
            sampler_seconds.append(event["seconds"])

    for repeat in range(args.repeats):
        executor.run(snapshot(model, work / f"in{repeat}", args, 100 + repeat, True), sampler_time, lambda: False)
    share = (project.seconds + clean.seconds) / sum(sampler_seconds)
    per_step_ms = (project.seconds + clean.seconds) / (args.repeats * args.steps) * 1000

    # 3. Wan 2.1 at its native 832x480x81: 16 channels, 21x60x104 latents -> an 81x120x208 preview.
    wan = LatentProjection(rest=torch.randn(17, 4 * 64 * 3) * 0.1, first=torch.randn(17, 64 * 3) * 0.1, spatial=8,
                           temporal=4)
    wan_latents = torch.randn(1, 16, 21, 60, 104)
    wan_preview = wan.project(wan_latents)
    wan_ms = median_ms(lambda: wan.project(wan_latents), repeats=5)
    wan_pipe_ms = pipe_ms({"event": "step", "node": "sampler", "step": 1, "total": 20, "preview": wan_preview})

    on, off = statistics.median(with_times), statistics.median(without_times)
    print(f"model: tiny Wan (4 layers, 4x16 heads), {args.size}x{args.size}x{args.frames} frames, {args.steps} steps, "
          f"CFG 5, {torch.get_num_threads()} threads")
    print(f"fit (once per model, then cached on disk): {fit_seconds:.2f} s, mean abs error {fitted.error:.1f}/255")
    print(f"1. through the worker       {'previews off':>14}{'previews on':>14}")
    print(f"   denoise+decode (median s){off:14.3f}{on:14.3f}   ratio on/off {on / off:.3f} (target <= 1.05)")
    print(f"2. previews' share of the same sampler runs: {share:.2%} ({per_step_ms:.2f} ms a step, "
          f"{max(sizes) / 1024:.0f} KiB a preview)")
    print(f"3. one preview at Wan 832x480x81 (81x120x208, {wan_preview.nbytes / 2**20:.1f} MiB): {wan_ms:.1f} ms to "
          f"project on this CPU, {wan_pipe_ms:.1f} ms across a pipe")


if __name__ == "__main__":
    main()
