"""Denoising."""
from __future__ import annotations

from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


@node("sampler", version=1, title="Sampler", category="sampling",
      description="Denoise the latent clip step by step under the prompt and guidance.",
      inputs=[Input("model", PortType.MODEL), Input("positive", PortType.CONDITIONING),
              Input("guider", PortType.GUIDER), Input("latent", PortType.LATENT)],
      outputs=[Output("latent", PortType.LATENT)],
      params=[
          Param("seed", ParamType.INT, 0, "Same seed, same clip (as the plain pipeline's CPU generator).",
                min=0, max=2**64 - 1),
          Param("steps", ParamType.INT, 20, "Denoising steps.", min=1, max=1000),
          Param("scheduler", ParamType.STRING, "default", "default: the model's own.",
                choices=("default", "unipc", "euler", "dpm++")),
          Param("denoise", ParamType.FLOAT, 1.0, "1: from pure noise; below 1 keeps that much of the input "
                "clip's structure (video-to-video).", min=0.0, max=1.0),
      ])
def sampler(ctx, model, positive, guider, latent, seed: int, steps: int, scheduler: str, denoise: float) -> dict:
    from studio.models.sampling import sample

    return {"latent": sample(ctx, model, positive, guider, latent, seed=seed, steps=steps,
                             scheduler_name=scheduler, denoise=denoise)}
