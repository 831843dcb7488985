"""Helpers shared by tests: the example workflow pointed at a test model."""
from __future__ import annotations

import copy
import json
from pathlib import Path

from studio.media.naming import output_params

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "resources" / "workflows" / "text_to_video.json"


def save_params(out: Path | str) -> dict:
    """Save Video parameters that write exactly `out`: FILE.mp4 / .webm / .gif, or DIR/ for PNG frames."""
    return output_params(str(out))


def example_scale() -> float:
    """The example workflow's guidance scale: what a plain pipeline must be given to match it."""
    return json.loads(EXAMPLE.read_text())["nodes"]["guidance"]["params"]["scale"]


def example_snapshot(model: Path, out: Path | str, **params: dict) -> dict:
    """The example workflow as a snapshot, pointed at `model`, sized small, writing to `out`."""
    data = json.loads(EXAMPLE.read_text())
    data["base_dir"] = str(EXAMPLE.parent)
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["latent"]["params"].update(width=32, height=32, frames=9)
    nodes["sampler"]["params"].update(steps=4)
    nodes["save"]["params"].update(save_params(out))
    for node_id, values in params.items():
        nodes[node_id]["params"].update(values)
    return copy.deepcopy(data)
