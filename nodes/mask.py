"""Masks: the region of a clip to regenerate."""
from __future__ import annotations

from studio.engine.errors import NodeError
from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


def _painted_fingerprint(ctx, path: str, **_: object) -> str:
    # A repainted mask under the same name must be read again; no painted mask, nothing to watch.
    from nodes.video import _file_fingerprint

    return _file_fingerprint(ctx, path) if path else ""


@node("mask", version=1, title="Mask", category="mask",
      description="A region of the clip over a range of frames: a rectangle or ellipse, or a painted mask.",
      # The clip sets the mask's size and frame count, so the mask always fits the clip it is drawn on.
      inputs=[Input("video", PortType.VIDEO, "The clip the mask is drawn on (its size and frame count).")],
      outputs=[Output("mask", PortType.MASK)],
      params=[
          Param("shape", ParamType.STRING, "rectangle", "The region's shape: the rectangle, or the ellipse "
                "inscribed in it.", choices=("rectangle", "ellipse")),
          Param("left", ParamType.FLOAT, 0.25, "Left edge, as a fraction of the width (0: the left side).",
                min=0.0, max=1.0),
          Param("top", ParamType.FLOAT, 0.25, "Top edge, as a fraction of the height (0: the top).",
                min=0.0, max=1.0),
          Param("right", ParamType.FLOAT, 0.75, "Right edge, as a fraction of the width (1: the right side).",
                min=0.0, max=1.0),
          Param("bottom", ParamType.FLOAT, 0.75, "Bottom edge, as a fraction of the height (1: the bottom).",
                min=0.0, max=1.0),
          Param("first_frame", ParamType.INT, 0, "First frame of the range (0-based; negative counts from the "
                "end)."),
          Param("last_frame", ParamType.INT, -1, "Last frame of the range, included (-1: the clip's last)."),
          Param("feather", ParamType.FLOAT, 0.0, "Soften the edge over this many pixels, inside the region "
                "(pixels outside it are never touched).", min=0.0, max=1024.0),
          Param("path", ParamType.STRING, "", "Optional painted mask used instead of the shape: a PNG (white "
                "regenerates) for every frame, or a folder of one PNG per frame.", path="file"),
      ],
      cache_salt=_painted_fingerprint)
def mask(ctx, video, shape: str, left: float, top: float, right: float, bottom: float, first_frame: int,
         last_frame: int, feather: float, path: str) -> dict:
    from studio.media.masks import MaskError, region_mask

    try:
        made = region_mask(width=video.width, height=video.height, frames=video.num_frames, shape=shape,
                           left=left, top=top, right=right, bottom=bottom, first_frame=first_frame,
                           last_frame=last_frame, feather=feather,
                           painted=ctx.resolve_path(path) if path else None)
    except MaskError as exc:
        raise NodeError(exc.message, param=exc.param) from None
    covered = made.covered()
    frames = covered.any(axis=(1, 2)).nonzero()[0]
    ctx.report(frames=f"{frames[0]}..{frames[-1]}", coverage=round(float(covered.mean()), 4))
    return {"mask": made}
