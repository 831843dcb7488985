"""How the prompt steers the sampler."""
from __future__ import annotations

from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


@node("guidance", version=1, title="Guidance", category="guidance",
      description="Classifier-free guidance (or a diffusers guider) with an optional negative prompt.",
      inputs=[Input("negative", PortType.CONDITIONING, "What to steer away from (default: empty).", optional=True)],
      outputs=[Output("guider", PortType.GUIDER)],
      params=[
          Param("scale", ParamType.FLOAT, 5.0, "Guidance strength; 1 turns guidance off.", min=1.0, max=30.0),
          Param("method", ParamType.STRING, "cfg", "cfg: classifier-free guidance; cfg_zero_star, apg, "
                "tangential_cfg: diffusers' refinements of it.",
                choices=("cfg", "cfg_zero_star", "apg", "tangential_cfg")),
      ])
def guidance(ctx, negative, scale: float, method: str) -> dict:
    from studio.models.values import Guider

    return {"guider": Guider(method=method, scale=scale, negative=negative)}
