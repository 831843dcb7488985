"""From latents to pixels."""
from __future__ import annotations

import warnings

from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType

RETRIED_TILED = "ran out of GPU memory decoding the whole clip at once, so decoded it in tiles instead"


@node("decode", version=1, title="Decode", category="decode",
      description="Decode the latent clip to frames with the model's VAE.",
      inputs=[Input("model", PortType.MODEL), Input("latent", PortType.LATENT)],
      outputs=[Output("video", PortType.VIDEO)],
      params=[Param("tiling", ParamType.BOOL, False, "Decode in tiles: slower, but long or large clips fit in "
                    "memory (also on when Load Model's vae_tiling is; retried tiled by itself when memory runs "
                    "out).")])
def decode(ctx, model, latent, tiling: bool) -> dict:
    from studio.engine.errors import NodeError
    from studio.media.video_io import Video
    from studio.models.memory import applied_plan
    from studio.models.out_of_memory import free_cached_memory, is_out_of_memory

    if latent.samples is None:
        raise NodeError("the latent is empty (nothing was sampled into it); connect a Sampler", input="latent")
    plan = applied_plan(model)
    tiled = tiling or bool(plan and plan.vae_tiling)
    can_tile = hasattr(getattr(model.pipeline, "vae", None), "use_tiling")
    frames = None
    try:
        frames = model.family.decode(latent.samples, tiled=tiled)
    except Exception as exc:
        if tiled or not can_tile or not is_out_of_memory(exc):
            raise
    if frames is None:  # out of memory untiled: outside the handler, so the failed decode's tensors are freed
        free_cached_memory()
        frames = model.family.decode(latent.samples, tiled=True)
        warnings.warn(RETRIED_TILED)
        ctx.report(decoded="in tiles")
    ctx.publish_frames(frames, model.family.fps)
    return {"video": Video(frames=frames, fps=model.family.fps)}
