"""Latent clips: empty ones to sample into, and encoded ones for video-to-video."""
from __future__ import annotations

from studio.engine.errors import NodeError
from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


@node("empty_latent_video", version=1, title="Empty Latent Video", category="latent",
      description="The size of the clip to generate; 0 means the model's native size.",
      inputs=[Input("model", PortType.MODEL)],
      outputs=[Output("latent", PortType.LATENT)],
      params=[
          Param("width", ParamType.INT, 0, "Width in pixels (0: native).", min=0, max=8192),
          Param("height", ParamType.INT, 0, "Height in pixels (0: native).", min=0, max=8192),
          Param("frames", ParamType.INT, 0, "Number of frames (0: native).", min=0, max=4097),
      ])
def empty_latent_video(ctx, model, width: int, height: int, frames: int) -> dict:
    from studio.models.values import Latent

    native_w, native_h, native_f = model.family.native_size()
    width, height, frames = width or native_w, height or native_h, frames or native_f
    problem = model.family.size_problem(width, height, frames)
    if problem:
        raise NodeError(problem[1], param=problem[0])
    # Nothing is allocated here: the sampler draws the noise, exactly as the plain pipeline does.
    return {"latent": Latent(width, height, frames)}


@node("encode_video", version=1, title="Encode Video", category="latent",
      description="Encode a clip with the model's VAE, to re-denoise it (video-to-video) at a denoise below 1.",
      inputs=[Input("model", PortType.MODEL), Input("video", PortType.VIDEO)],
      outputs=[Output("latent", PortType.LATENT)])
def encode_video(ctx, model, video) -> dict:
    from studio.models.values import Latent

    problem = model.family.size_problem(video.width, video.height, video.num_frames)
    if problem:
        raise NodeError(f"the clip is {video.width}x{video.height}, {video.num_frames} frames: {problem[1]}",
                        input="video")
    samples = model.family.encode_video(video.frames)
    return {"latent": Latent(video.width, video.height, video.num_frames, samples=samples)}
