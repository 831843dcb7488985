"""How long model discovery takes on a Hugging Face cache of 50 diffusers pipelines.

Builds a fake hub cache in a temporary folder, laid out as huggingface_hub writes it (models--org--name/ with blobs/,
refs/main and snapshots/<revision>/ whose files link to the blobs): model_index.json, component configs and empty
.safetensors files. Prints the time of the first discovery (reading the family table included) and the median of
the repeats. Target: under 1 s.

    .venv/bin/python benchmarks/discovery_speed.py [--models 50] [--repeats 5]
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

PIPELINES = ("WanPipeline", "WanImageToVideoPipeline", "LTXPipeline", "CogVideoXPipeline",
             "StableVideoDiffusionPipeline", "HunyuanVideoPipeline", "AnimateDiffPipeline", "StableDiffusionPipeline")
COMPONENTS = ("transformer", "vae", "text_encoder", "tokenizer", "scheduler")


def _blob(repo: Path, text: str) -> Path:
    blob = repo / "blobs" / hashlib.sha256(text.encode()).hexdigest()
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_text(text, encoding="utf-8")
    return blob


def _link(snapshot_file: Path, blob: Path) -> None:
    snapshot_file.parent.mkdir(parents=True, exist_ok=True)
    try:
        snapshot_file.symlink_to(os.path.relpath(blob, snapshot_file.parent))
    except OSError:  # no symlinks (Windows without developer mode): huggingface_hub copies instead
        snapshot_file.write_bytes(blob.read_bytes())


def build_hub_cache(root: Path, models: int = 50) -> Path:
    """A hub cache under `root` holding `models` diffusers pipelines (and a non-diffusers repo, which is skipped)."""
    hub = root / "hub"
    for number in range(models):
        repo = hub / f"models--org{number % 7}--video-model-{number}"
        revision = hashlib.sha1(str(number).encode()).hexdigest()
        snapshot = repo / "snapshots" / revision
        pipeline = PIPELINES[number % len(PIPELINES)]
        index = {"_class_name": pipeline, "_diffusers_version": "0.42.1",
                 **{name: ["diffusers", "Component"] for name in COMPONENTS}}
        _link(snapshot / "model_index.json", _blob(repo, json.dumps(index)))
        for component in COMPONENTS:
            _link(snapshot / component / "config.json", _blob(repo, json.dumps({"component": component})))
            _link(snapshot / component / "diffusion_pytorch_model.safetensors", _blob(repo, ""))
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / "main").write_text(revision, encoding="utf-8")
    text_only = hub / "models--org0--a-text-model" / "snapshots" / "0" / "config.json"
    text_only.parent.mkdir(parents=True)
    text_only.write_text("{}", encoding="utf-8")
    return hub


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        os.environ["HF_HUB_CACHE"] = str(build_hub_cache(Path(folder), args.models))
        os.environ.pop("STUDIO_MODELS_DIR", None)
        started, started_cpu = time.perf_counter(), time.process_time()
        from studio.models.discovery import find_models  # the import is part of what the window pays

        entries = find_models()
        first, first_cpu = time.perf_counter() - started, time.process_time() - started_cpu
        times, cpu_times = [], []
        for _ in range(args.repeats):
            started, started_cpu = time.perf_counter(), time.process_time()
            find_models()
            times.append(time.perf_counter() - started)
            cpu_times.append(time.process_time() - started_cpu)
    found = [entry for entry in entries if entry.source == "hugging face cache"]
    with_family = sum(1 for entry in found if entry.family)
    print(f"{len(found)} cached pipelines found ({with_family} with a studio family)")
    # CPU time beside wall time: on a busy machine the wall clock mostly measures waiting for a core.
    print(f"first discovery (import and family table included): {first * 1000:.1f} ms wall, "
          f"{first_cpu * 1000:.1f} ms CPU")
    print(f"repeated discovery: median {statistics.median(times) * 1000:.1f} ms wall, "
          f"{statistics.median(cpu_times) * 1000:.1f} ms CPU, over {args.repeats}")
    print(f"target < 1000 ms: {'met' if max(first, *times) < 1.0 else 'MISSED'}")


if __name__ == "__main__":
    main()
