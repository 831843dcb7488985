"""Regenerating a region of a clip."""
from __future__ import annotations

from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


@node("inpaint", version=1, title="Inpaint", category="sampling",
      description="Regenerate the masked region of a clip under the prompt; every pixel outside it stays as it was.",
      inputs=[Input("model", PortType.MODEL), Input("source", PortType.VIDEO, "The clip to change."),
              Input("mask", PortType.MASK, "Where and when to regenerate it."),
              Input("positive", PortType.CONDITIONING, "What the region should show."),
              Input("guider", PortType.GUIDER)],
      outputs=[Output("video", PortType.VIDEO, "The clip with the region regenerated.")],
      params=[
          Param("seed", ParamType.INT, 0, "Same seed, same result.", min=0, max=2**64 - 1),
          Param("steps", ParamType.INT, 20, "Denoising steps.", min=1, max=1000),
          Param("scheduler", ParamType.STRING, "default", "default: the model's own.",
                choices=("default", "unipc", "euler", "dpm++")),
          Param("strength", ParamType.FLOAT, 1.0, "1: the region is made anew; below 1 keeps that much of what "
                "was there (its layout and colours).", min=0.0, max=1.0),
          Param("tiling", ParamType.BOOL, False, "Decode in tiles: slower, but long or large clips fit in memory."),
      ])
def inpaint(ctx, model, source, mask, positive, guider, seed: int, steps: int, scheduler: str, strength: float,
            tiling: bool) -> dict:
    from studio.models.inpainting import inpaint as run

    return {"video": run(ctx, model, positive, guider, source, mask, seed=seed, steps=steps,
                         scheduler_name=scheduler, strength=strength, tiled=tiling)}
