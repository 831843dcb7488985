"""Port types: what may flow along a link, and what a parameter may hold."""
from __future__ import annotations

from enum import Enum


class PortType(str, Enum):
    """Values that travel between nodes. A link is valid only between equal types."""

    MODEL = "MODEL"
    CONDITIONING = "CONDITIONING"
    GUIDER = "GUIDER"
    LATENT = "LATENT"
    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    MASK = "MASK"

    def __str__(self) -> str:
        return self.value


class ParamType(str, Enum):
    """Plain values a node is configured with, edited in the inspector and stored in the workflow file."""

    INT = "INT"
    FLOAT = "FLOAT"
    STRING = "STRING"
    BOOL = "BOOL"

    def __str__(self) -> str:
        return self.value

    def accepts(self, value: object) -> bool:
        """Whether `value`, as read from JSON, has this type (bool is not an int; an int is a valid float)."""
        if self is ParamType.BOOL:
            return isinstance(value, bool)
        if self is ParamType.INT:
            return isinstance(value, int) and not isinstance(value, bool)
        if self is ParamType.FLOAT:
            return isinstance(value, (int, float)) and not isinstance(value, bool)
        return isinstance(value, str)
