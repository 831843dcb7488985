"""From latents to pixels."""
from __future__ import annotations

from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


@node("decode", version=1, title="Decode", category="decode",
      description="Decode the latent clip to frames with the model's VAE.",
      inputs=[Input("model", PortType.MODEL), Input("latent", PortType.LATENT)],
      outputs=[Output("video", PortType.VIDEO)],
      params=[Param("tiling", ParamType.BOOL, False, "Decode in tiles: slower, but long or large clips fit in "
                    "memory.")])
def decode(ctx, model, latent, tiling: bool) -> dict:
    from studio.engine.errors import NodeError
    from studio.media.video_io import Video

    if latent.samples is None:
        raise NodeError("the latent is empty (nothing was sampled into it); connect a Sampler", input="latent")
    frames = model.family.decode(latent.samples, tiled=tiling)
    ctx.publish_frames(frames, model.family.fps)
    return {"video": Video(frames=frames, fps=model.family.fps)}
