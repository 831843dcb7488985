"""Text and image conditioning."""
from __future__ import annotations

from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


def _encode(ctx, model, text: str) -> dict:
    conditioning = model.family.encode_prompt(text)
    ctx.report(**conditioning.report())
    if conditioning.truncated:
        ctx.report(warnings=[f"the prompt has {conditioning.tokens} tokens; the model reads only the first "
                             f"{conditioning.max_tokens}, the rest is invisible to it"])
    return {"conditioning": conditioning}


PROMPT_DECLARATION = dict(
    version=1, category="conditioning",
    inputs=[Input("model", PortType.MODEL)],
    outputs=[Output("conditioning", PortType.CONDITIONING)],
)


@node("prompt", title="Prompt", description="What the clip should show, encoded by the model's text encoder.",
      params=[Param("text", ParamType.STRING, "", "The prompt.", multiline=True)], **PROMPT_DECLARATION)
def prompt(ctx, model, text: str) -> dict:
    return _encode(ctx, model, text)


@node("negative_prompt", title="Negative Prompt", description="What the clip should avoid; feeds Guidance.",
      params=[Param("text", ParamType.STRING, "", "What to steer away from.", multiline=True)],
      **PROMPT_DECLARATION)
def negative_prompt(ctx, model, text: str) -> dict:
    return _encode(ctx, model, text)


@node("image_conditioning", version=1, title="Image Conditioning", category="conditioning",
      description="Make the clip start from an image (first-frame image-to-video).",
      inputs=[Input("model", PortType.MODEL), Input("latent", PortType.LATENT), Input("image", PortType.IMAGE)],
      outputs=[Output("latent", PortType.LATENT)])
def image_conditioning(ctx, model, latent, image) -> dict:
    from dataclasses import replace

    if not model.family.supports_first_frame:
        from studio.engine.errors import NodeError

        raise NodeError(f"{model.name} ({model.family.name}) cannot start from a given first frame", input="image")
    first = model.family.encode_first_frame(image, latent.width, latent.height, latent.frames)
    return {"latent": replace(latent, first_frame=first)}
