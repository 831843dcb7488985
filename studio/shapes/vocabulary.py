"""Attribute vocabulary, captions and the held-out combinations of the shapes world."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Iterable, Optional

from studio.paths import BUNDLED_MODELS

COLOURS = ("red", "yellow", "green", "cyan", "blue", "magenta")
SHAPES = ("circle", "square", "triangle")
DIRECTIONS = ("left", "right", "up", "down")

# Pure hues, so colour is recoverable from hue alone (60 degrees apart).
COLOUR_RGB = {
    "red": (255, 0, 0),
    "yellow": (255, 255, 0),
    "green": (0, 255, 0),
    "cyan": (0, 255, 255),
    "blue": (0, 0, 255),
    "magenta": (255, 0, 255),
}
COLOUR_HUE_DEG = {name: 60.0 * i for i, name in enumerate(COLOURS)}

# Direction -> unit step in image coordinates (y grows downward, so "up" is -y).
DIRECTION_STEP = {"left": (-1, 0), "right": (1, 0), "up": (0, -1), "down": (0, 1)}

ATTRIBUTES = ("colour", "shape", "direction")

Triple = tuple[str, str, str]

# No two held-out triples share a (colour, shape), (colour, direction) or
# (shape, direction) pair, so every pair of a held-out triple is still seen in
# training with the other attribute varied: the test of composition is fair.
HELD_OUT: tuple[Triple, ...] = (
    ("red", "circle", "left"),
    ("yellow", "circle", "right"),
    ("green", "circle", "up"),
    ("cyan", "square", "right"),
    ("blue", "square", "up"),
    ("magenta", "square", "down"),
    ("red", "triangle", "up"),
    ("yellow", "triangle", "down"),
    ("green", "triangle", "left"),
)

ALL_TRIPLES: tuple[Triple, ...] = tuple(itertools.product(COLOURS, SHAPES, DIRECTIONS))
TRAINING_TRIPLES: tuple[Triple, ...] = tuple(t for t in ALL_TRIPLES if t not in HELD_OUT)

HELDOUT_PATH = BUNDLED_MODELS / "shapes" / "heldout.json"


def _check(value: Optional[str], allowed: tuple[str, ...], what: str) -> None:
    if value is not None and value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {allowed}")


def caption(colour: Optional[str] = None, shape: Optional[str] = None,
            direction: Optional[str] = None) -> str:
    """'a red circle moving left'; None attributes are omitted (shape falls back to 'shape')."""
    _check(colour, COLOURS, "colour")
    _check(shape, SHAPES, "shape")
    _check(direction, DIRECTIONS, "direction")
    words = ["a"]
    if colour is not None:
        words.append(colour)
    words.append(shape if shape is not None else "shape")
    if direction is not None:
        words += ["moving", direction]
    return " ".join(words)


def _validate_triples(triples: Iterable[Iterable[str]]) -> tuple[Triple, ...]:
    out = []
    for item in triples:
        colour, shape, direction = item
        _check(colour, COLOURS, "colour")
        _check(shape, SHAPES, "shape")
        _check(direction, DIRECTIONS, "direction")
        out.append((colour, shape, direction))
    return tuple(out)


def load_heldout(path: str | Path = HELDOUT_PATH) -> tuple[Triple, ...]:
    """Read a JSON list of [colour, shape, direction] triples."""
    with open(path, encoding="utf-8") as fh:
        return _validate_triples(json.load(fh))


def save_heldout(path: str | Path = HELDOUT_PATH,
                 triples: Iterable[Iterable[str]] = HELD_OUT) -> None:
    """Write triples as JSON, one triple per line so diffs stay readable."""
    rows = [json.dumps(list(t)) for t in _validate_triples(triples)]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[\n  " + ",\n  ".join(rows) + "\n]\n", encoding="utf-8")
