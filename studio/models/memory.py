"""Memory and speed options of Load Model: offload, fp8 weight storage, VAE tiling/slicing and diffusers' step caches.

`plan_memory` turns the node's choices into what is applied ("auto" decided from the GPU's memory and the size of
the folder's weights, read from safetensors headers without loading them); `apply_memory_plan` applies it after
from_pretrained and refuses, naming the parameter, what the device or the family cannot take.
"""
from __future__ import annotations

import json
import struct
import weakref
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from studio.engine.errors import NodeError

OFFLOAD_CHOICES = ("auto", "none", "model", "group")
SWITCH_CHOICES = ("auto", "off", "on")
# Step caches the studio can switch on, by parameter value: diffusers' name for each.
STEP_CACHES = {"first_block": "First-Block Cache", "pyramid_attention": "Pyramid Attention Broadcast",
               "faster_cache": "FasterCache", "taylorseer": "TaylorSeer", "magcache": "MagCache"}
STEP_CACHE_CHOICES = ("off", *STEP_CACHES)
GIB = 2**30
# Activations of a video transformer step and a VAE decode need room beside the weights.
HEADROOM_FRACTION = 0.25
# Below this much GPU memory, auto decodes in tiles: a full-size video decode alone can take tens of GiB.
TILED_DECODE_BELOW = 24 * GIB
SAFETENSORS_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                     "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}


@dataclass(frozen=True)
class MemoryOptions:
    """Load Model's memory and speed parameters, as the user set them."""

    offload: str = "auto"
    fp8_storage: str = "auto"
    vae_tiling: str = "auto"
    vae_slicing: bool = False
    step_cache: str = "off"


@dataclass(frozen=True)
class MemoryPlan:
    """What is applied to a loaded model, every "auto" decided."""

    offload: str  # "none", "model" or "group"
    fp8_storage: bool
    vae_tiling: bool
    vae_slicing: bool
    step_cache: str
    gpu_bytes: int | None = None

    def report(self) -> dict[str, Any]:
        """What the node card shows: the offload mode, and every other option that is on."""
        facts: dict[str, Any] = {"offload": self.offload}
        facts.update({key: "on" for key in ("fp8_storage", "vae_tiling", "vae_slicing") if getattr(self, key)})
        if self.step_cache != "off":
            facts["step_cache"] = self.step_cache
        if self.gpu_bytes:
            facts["gpu_memory_gib"] = round(self.gpu_bytes / GIB, 1)
        return facts


def component_parameters(folder: Path) -> dict[str, int]:
    """Parameter count of each component folder's safetensors weights, read from the file headers only."""
    counts: dict[str, int] = {}
    for weights in folder.glob("*/*.safetensors"):
        try:
            with weights.open("rb") as file:
                header = json.loads(file.read(struct.unpack("<Q", file.read(8))[0]))
        except (OSError, ValueError, struct.error):
            continue
        for name, entry in header.items():
            if name != "__metadata__" and isinstance(entry, dict):
                size = 1
                for extent in entry.get("shape", ()):
                    size *= extent
                counts[weights.parent.name] = counts.get(weights.parent.name, 0) + size
    return counts


def decide(options: MemoryOptions, device: str, gpu_bytes: int | None, parameters: dict[str, int],
           bytes_per_weight: int, denoiser: str) -> MemoryPlan:
    """Every "auto" decided: on a GPU, offload when the weights do not fit beside room for activations (model
    offload when the denoiser alone fits, else group offload), fp8 storage when the denoiser alone would not fit,
    tiled decoding on GPUs under 24 GiB; on the CPU, none of them."""
    on_gpu = device == "cuda" and bool(gpu_bytes)
    room = (gpu_bytes or 0) * (1 - HEADROOM_FRACTION)
    weights = {name: count * bytes_per_weight for name, count in parameters.items()}
    denoiser_bytes = weights.get(denoiser, 0)
    fp8 = options.fp8_storage == "on" or (options.fp8_storage == "auto" and on_gpu and denoiser_bytes > room)
    if fp8 and denoiser in parameters:
        weights[denoiser] = parameters[denoiser]  # one byte a weight
    offload = options.offload
    if offload == "auto":
        if not on_gpu or sum(weights.values()) <= room:
            offload = "none"
        else:
            offload = "model" if max(weights.values(), default=0) <= room else "group"
    tiling = options.vae_tiling == "on" or (options.vae_tiling == "auto" and on_gpu
                                            and gpu_bytes < TILED_DECODE_BELOW)
    return MemoryPlan(offload, fp8, tiling, options.vae_slicing, options.step_cache, gpu_bytes if on_gpu else None)


def plan_memory(options: MemoryOptions, folder: Path, device: str, dtype: Any, family: type) -> MemoryPlan:
    """Check the choices against the device and the family (before any weight is read), then decide the autos."""
    import torch

    if options.offload in ("model", "group") and device != "cuda":
        raise NodeError(f"offload {options.offload!r} moves weights between the CPU and a CUDA GPU, but the model "
                        f"runs on {device}; choose offload 'none' or 'auto'", param="offload")
    if options.step_cache != "off" and options.step_cache not in family.step_caches:
        offered = ", ".join(repr(name) for name in family.step_caches) or "none"
        raise NodeError(f"{family.name} models cannot take step cache {options.step_cache!r} "
                        f"({STEP_CACHES.get(options.step_cache, 'unknown')}); they offer: {offered}",
                        param="step_cache")
    gpu_bytes = torch.cuda.get_device_properties(0).total_memory if device == "cuda" else None
    denoiser = "transformer" if (folder / "transformer").is_dir() else "unet"
    return decide(options, device, gpu_bytes, component_parameters(folder), dtype.itemsize, denoiser)


def denoiser_of(pipeline: Any) -> Any:
    return getattr(pipeline, "transformer", None) or getattr(pipeline, "unet", None)


def fit_to_pipeline(plan: MemoryPlan, options: MemoryOptions, pipeline: Any) -> MemoryPlan:
    """An "auto" that chose something this pipeline's VAE or denoiser cannot do falls back to off; an explicit "on"
    is left for apply_memory_plan to refuse."""
    vae = getattr(pipeline, "vae", None)
    changes: dict[str, Any] = {}
    if plan.vae_tiling and options.vae_tiling == "auto" and not hasattr(vae, "use_tiling"):
        changes["vae_tiling"] = False
    if plan.fp8_storage and options.fp8_storage == "auto" and \
            not hasattr(denoiser_of(pipeline), "enable_layerwise_casting"):
        changes["fp8_storage"] = False
    return replace(plan, **changes) if changes else plan


_plans: "weakref.WeakKeyDictionary[Any, MemoryPlan]" = weakref.WeakKeyDictionary()


def applied_plan(model: Any) -> MemoryPlan | None:
    """The plan a LoadedModel was loaded with (None for a model loaded some other way)."""
    return _plans.get(model.pipeline)


def apply_memory_plan(pipeline: Any, plan: MemoryPlan, device: str, dtype: Any, family_name: str) -> None:
    """Apply fp8 storage, tiling/slicing and offload (or plain placement on `device`) to a freshly loaded pipeline."""
    import torch

    vae, denoiser = getattr(pipeline, "vae", None), denoiser_of(pipeline)
    for wanted, attribute, param in ((plan.vae_tiling, "use_tiling", "vae_tiling"),
                                     (plan.vae_slicing, "use_slicing", "vae_slicing")):
        if wanted and not hasattr(vae, attribute):
            raise NodeError(f"{family_name} models' VAE ({type(vae).__name__}) cannot decode in "
                            f"{'tiles' if param == 'vae_tiling' else 'slices'}; set {param} off", param=param)
    if plan.fp8_storage:
        if not hasattr(denoiser, "enable_layerwise_casting"):
            raise NodeError(f"{family_name} models' {type(denoiser).__name__} cannot store its weights in fp8",
                            param="fp8_storage")
        # Stored in fp8, each layer cast to the load dtype as it runs (diffusers skips norms and embeddings).
        denoiser.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if plan.vae_tiling:
        vae.enable_tiling()
    if plan.vae_slicing:
        vae.enable_slicing()
    if plan.offload == "model":
        pipeline.enable_model_cpu_offload(device=device)
    elif plan.offload == "group":
        pipeline.enable_group_offload(onload_device=torch.device(device), offload_device=torch.device("cpu"),
                                      offload_type="leaf_level", use_stream=True)
    else:
        pipeline.to(device)
    _plans[pipeline] = plan
