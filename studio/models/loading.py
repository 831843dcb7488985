"""Loading local diffusers folders safely: safetensors only, offline, nothing unpickled, no remote code."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from studio.engine.errors import NodeError
from studio.models.values import LoadedModel

if TYPE_CHECKING:
    import torch

    from studio.models.memory import MemoryOptions

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
# Libraries whose classes a model_index.json may name; anything else would mean custom code.
TRUSTED_LIBRARIES = {"diffusers", "transformers"}
MANIFEST = "studio_model.json"


def check_model_folder(path: Path) -> dict:
    """Return the folder's model_index.json, or raise NodeError(param="path") saying what is wrong with it."""
    if not path.exists():
        raise NodeError(f"model folder not found: {path}", param="path")
    index_file = path / "model_index.json"
    if not index_file.is_file():
        raise NodeError(f"{path} is not a diffusers model folder (no model_index.json)", param="path")
    try:
        index = json.loads(index_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NodeError(f"cannot read {index_file}: {exc}", param="path") from None
    for component, entry in index.items():
        if component.startswith("_") or not isinstance(entry, list) or entry[0] is None:
            continue
        library = entry[0]
        if library not in TRUSTED_LIBRARIES:
            raise NodeError(f"component {component!r} of {path.name} needs code from {library!r}; "
                            "the studio only loads diffusers and transformers classes", param="path")
        folder = path / component
        pickles = sorted(p.name for p in folder.glob("*") if p.suffix in PICKLE_SUFFIXES) if folder.is_dir() else []
        has_safetensors = folder.is_dir() and any(folder.glob("*.safetensors"))
        if pickles and not has_safetensors:
            raise NodeError(
                f"{component}/{pickles[0]} is a pickle weight file, which can run arbitrary code when loaded; "
                "the studio only loads .safetensors weights (convert the model to safetensors first)", param="path")
    return index


def read_manifest(path: Path) -> dict:
    """The studio's notes on a model folder (native size, fps), when it has them."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        return {}
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise NodeError(f"cannot read {manifest}: {exc}", param="path") from None
    return data if isinstance(data, dict) else {}


def resolve_device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise NodeError("device 'cuda' was chosen but no CUDA GPU is available", param="device")
    return choice


def resolve_dtype(choice: str, device: str) -> "torch.dtype":
    import torch

    if choice == "auto":
        return torch.bfloat16 if device == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[choice]


def load_model(path: Path, device_choice: str = "auto", dtype_choice: str = "auto",
               options: "MemoryOptions | None" = None) -> LoadedModel:
    """Load a model folder onto the chosen device with the memory and speed options of Load Model applied."""
    from studio.models.families import family_for
    from studio.models.memory import MemoryOptions, apply_memory_plan, fit_to_pipeline, plan_memory
    from studio.models.step_caches import check_cache_inputs, install_step_cache

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    options = options or MemoryOptions()
    index = check_model_folder(path)
    family_class = family_for(index.get("_class_name", ""))
    if family_class is None:
        raise NodeError(f"{path.name} is a {index.get('_class_name')!r}, which is not a video model family the "
                        "studio knows", param="path")
    device = resolve_device(device_choice)
    dtype = resolve_dtype(dtype_choice, device)
    manifest = read_manifest(path)
    # Everything that can be refused is refused before the weights are read.
    plan = plan_memory(options, path, device, dtype, family_class)
    if plan.step_cache != "off":
        check_cache_inputs(plan.step_cache, family_class.name, manifest)
    import diffusers

    diffusers.utils.logging.disable_progress_bar()  # progress is the node's state, not a bar on the terminal
    try:
        pipeline = diffusers.DiffusionPipeline.from_pretrained(
            path, dtype=dtype, use_safetensors=True, local_files_only=True)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise NodeError(f"cannot load {path}: {exc}", param="path") from None
    pipeline.set_progress_bar_config(disable=True)
    plan = fit_to_pipeline(plan, options, pipeline)
    apply_memory_plan(pipeline, plan, device, dtype, family_class.name)
    family = family_class(pipeline, manifest)
    install_step_cache(family, plan.step_cache)
    return LoadedModel(path=path, name=path.name, family=family, device=device,
                       dtype=str(dtype).removeprefix("torch."))
