"""GPU out-of-memory: recognised in any node, reported on that node with the options that would help, and cleaned
up so the worker serves the next run. Torch-free at import: the executor imports it."""
from __future__ import annotations

import gc
import sys
from typing import Any

from studio.engine.errors import NodeError

# Messages of allocator failures that reach us as plain RuntimeErrors (cuDNN/cuBLAS workspaces, MPS).
OUT_OF_MEMORY_TEXT = ("out of memory", "CUDNN_STATUS_ALLOC_FAILED", "CUBLAS_STATUS_ALLOC_FAILED")


def is_out_of_memory(exc: BaseException) -> bool:
    """Whether `exc` means the accelerator ran out of memory (torch.OutOfMemoryError or an allocator failure)."""
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(exc, getattr(torch, "OutOfMemoryError", ())):
        return True
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in OUT_OF_MEMORY_TEXT)


def free_cached_memory() -> None:
    """Drop unreachable tensors and hand the CUDA allocator's cached blocks back, so the next run starts clean."""
    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _model_in(inputs: dict[str, Any]) -> Any:
    return next((value for value in inputs.values() if hasattr(value, "family") and hasattr(value, "pipeline")),
                None)


def remedies(inputs: dict[str, Any], params: dict[str, Any]) -> list[str]:
    """What would lower this node's memory, skipping options the model already uses."""
    from studio.models.memory import applied_plan

    model = _model_in(inputs)
    plan = applied_plan(model) if model is not None else None
    if plan is None and "offload" in params:  # Load Model itself: its own parameters say what it asked for
        asked = {"offload": params.get("offload"), "fp8": params.get("fp8_storage"),
                 "tiling": params.get("vae_tiling")}
    else:
        asked = {"offload": plan.offload if plan else None, "fp8": "on" if plan and plan.fp8_storage else None,
                 "tiling": "on" if plan and plan.vae_tiling else None}
    helps = []
    if asked["offload"] not in ("model", "group"):
        helps.append("Load Model offload 'model' (one model on the GPU at a time)")
    if asked["offload"] != "group":
        helps.append("Load Model offload 'group' (transformer blocks moved to the GPU as they run; least memory)")
    if asked["fp8"] != "on":
        helps.append("Load Model fp8_storage 'on' (transformer weights stored in fp8)")
    if asked["tiling"] != "on":
        helps.append("Load Model vae_tiling 'on' (decode in tiles)")
    helps.append("a smaller width/height or fewer frames on Empty Latent Video")
    return helps


def out_of_memory_error(exc: BaseException, title: str, inputs: dict[str, Any], params: dict[str, Any]) -> NodeError:
    """The NodeError a node's out-of-memory failure becomes: what ran out, and what would help."""
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return NodeError(f"{title} ran out of GPU memory ({first_line[:200]}). What would help: "
                     + "; ".join(remedies(inputs, params)))
