"""What flows along MODEL, CONDITIONING, GUIDER and LATENT links inside the worker."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from studio.models.families.base import ModelFamily


@dataclass
class LoadedModel:
    path: Path
    name: str
    family: "ModelFamily"
    device: str
    dtype: str
    # The step-preview projection (studio.models.previews), fitted or read from disk on first use.
    latent_projection: Any = field(default=None, repr=False, compare=False)
    # The last clip Inpaint encoded, as (its frames array, its latents): re-running with a new prompt or seed on the
    # same clip does not encode it again (studio.models.inpainting).
    encoded_source: Any = field(default=None, repr=False, compare=False)

    @property
    def pipeline(self) -> Any:
        return self.family.pipe


@dataclass
class Conditioning:
    """A prompt encoded by the model's own text encoder, with what the user needs to know about its length."""

    text: str
    embeds: "torch.Tensor | None"
    tokens: int
    max_tokens: int
    # What else the family's model takes with the embeddings (attention masks, pooled embeddings), by name.
    extras: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def truncated(self) -> bool:
        return self.tokens > self.max_tokens

    def report(self) -> dict[str, Any]:
        return {"tokens": self.tokens, "max_tokens": self.max_tokens, "truncated": self.truncated}


@dataclass
class Guider:
    """How conditional and unconditional predictions combine; `negative` None means the empty prompt."""

    method: str
    scale: float
    negative: Conditioning | None = None


@dataclass
class Latent:
    """A clip in the model's latent space, normalised as the transformer sees it.

    `samples` is None for an empty latent (the sampler starts from pure noise, exactly as the plain pipeline does).
    `first_frame`, when set, holds the encoded image the clip must start from.
    """

    width: int
    height: int
    frames: int
    samples: "torch.Tensor | None" = None
    first_frame: "torch.Tensor | None" = field(default=None, repr=False)
