"""Loading models."""
from __future__ import annotations

from studio.graph.registry import Output, Param, node
from studio.graph.types import ParamType, PortType
from studio.models.discovery import resolve_model

# Kept in step with studio.models.memory (which imports torch lazily; the catalogue must stay torch-free).
OFFLOAD_CHOICES = ("auto", "none", "model", "group")
SWITCH_CHOICES = ("auto", "off", "on")
STEP_CACHE_CHOICES = ("off", "first_block", "pyramid_attention", "faster_cache", "taylorseer", "magcache")


def _model_fingerprint(ctx, path: str, **_: object) -> str:
    # A model re-saved in place must be reloaded, not served from the cache.
    folder = resolve_model(path, ctx.base_dir)
    index = folder / "model_index.json"
    return f"{folder.resolve()}:{index.stat().st_mtime_ns if index.exists() else 'missing'}"


@node("load_model", version=1, title="Load Model", category="model",
      description="Load a local diffusers model folder (safetensors weights only).",
      outputs=[Output("model", PortType.MODEL)],
      params=[
          Param("path", ParamType.STRING, "shapes", "A model folder, or the name of a model `studio models` lists.",
                path="folder"),
          Param("device", ParamType.STRING, "auto", "Where to run; auto picks CUDA when present.",
                choices=("auto", "cpu", "cuda")),
          Param("dtype", ParamType.STRING, "auto", "Weight precision; auto: bfloat16 on a GPU that has it, else "
                "float32.", choices=("auto", "float32", "bfloat16", "float16")),
          Param("offload", ParamType.STRING, "auto", "Keep weights on the CPU until needed (CUDA only): model = one "
                "model on the GPU at a time, group = layers as they run (least memory, slowest); auto: only when "
                "the weights do not fit the GPU.", choices=OFFLOAD_CHOICES),
          Param("fp8_storage", ParamType.STRING, "auto", "Store the transformer's weights in fp8 and compute in "
                "dtype: about half the memory, slightly lower quality; auto: only when it alone would not fit the "
                "GPU.", choices=SWITCH_CHOICES),
          Param("vae_tiling", ParamType.STRING, "auto", "Decode in overlapping tiles: less memory for large frames; "
                "auto: on GPUs under 24 GiB.", choices=SWITCH_CHOICES),
          Param("vae_slicing", ParamType.BOOL, False, "Decode a batch one clip at a time (the studio decodes one "
                "clip, so this rarely saves memory)."),
          Param("step_cache", ParamType.STRING, "off", "Reuse transformer results between steps (diffusers' "
                "First-Block Cache, PAB, FasterCache, TaylorSeer, MagCache): faster, slightly different frames.",
                choices=STEP_CACHE_CHOICES),
      ],
      cache_salt=_model_fingerprint)
def load_model(ctx, path: str, device: str, dtype: str, offload: str = "auto", fp8_storage: str = "auto",
               vae_tiling: str = "auto", vae_slicing: bool = False, step_cache: str = "off") -> dict:
    from studio.engine.errors import NodeError
    from studio.models.loading import load_model as load
    from studio.models.memory import MemoryOptions, applied_plan

    folder = resolve_model(path, ctx.base_dir)
    if not folder.exists() and "/" not in path and "\\" not in path:
        # A bare name that is neither a folder nor a listed model: say both, and where to look.
        raise NodeError(f"no model named {path!r} (`studio models` lists the ones found) and no folder {folder}",
                        param="path")
    options = MemoryOptions(offload=offload, fp8_storage=fp8_storage, vae_tiling=vae_tiling,
                            vae_slicing=vae_slicing, step_cache=step_cache)
    model = load(folder, device, dtype, options)
    ctx.report(**applied_plan(model).report())
    return {"model": model}
