"""Loading models."""
from __future__ import annotations

from studio.graph.registry import Output, Param, node
from studio.graph.types import ParamType, PortType
from studio.models.discovery import resolve_model


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
      ],
      cache_salt=_model_fingerprint)
def load_model(ctx, path: str, device: str, dtype: str) -> dict:
    from studio.engine.errors import NodeError
    from studio.models.loading import load_model as load

    folder = resolve_model(path, ctx.base_dir)
    if not folder.exists() and "/" not in path and "\\" not in path:
        # A bare name that is neither a folder nor a listed model: say both, and where to look.
        raise NodeError(f"no model named {path!r} (`studio models` lists the ones found) and no folder {folder}",
                        param="path")
    return {"model": load(folder, device, dtype)}
