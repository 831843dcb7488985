"""Model families the studio can drive. Adding a family is adding one module and one line here."""
from __future__ import annotations

from studio.models.families.base import ModelFamily
from studio.models.families.wan import WanFamily

FAMILIES: tuple[type[ModelFamily], ...] = (WanFamily,)


def family_for(pipeline_class: str) -> type[ModelFamily] | None:
    return next((f for f in FAMILIES if pipeline_class in f.pipeline_classes), None)
