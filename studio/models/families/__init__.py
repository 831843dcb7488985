"""Model families the studio can drive. Adding a family is adding one module here and its name to FAMILY_MODULES."""
from __future__ import annotations

import importlib

from studio.models.families.base import ModelFamily

FAMILY_MODULES = ("wan", "ltx", "hunyuan", "cogvideox", "animatediff", "svd")


def _families() -> tuple[type[ModelFamily], ...]:
    found = []
    for name in FAMILY_MODULES:
        module = importlib.import_module(f"studio.models.families.{name}")
        found += [value for value in vars(module).values() if isinstance(value, type)
                  and issubclass(value, ModelFamily) and value is not ModelFamily and value.__module__ == module.__name__]
    return tuple(found)


FAMILIES: tuple[type[ModelFamily], ...] = _families()


def family_for(pipeline_class: str) -> type[ModelFamily] | None:
    return next((f for f in FAMILIES if pipeline_class in f.pipeline_classes), None)
