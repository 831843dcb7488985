"""Workflow files: plain JSON, read and written without ever running code from them.

    {"format": "studio.workflow", "version": 1,
     "nodes": {NODE_ID: {"type": TYPE_ID, "params": {...}, "inputs": {INPUT: [SOURCE_ID, OUTPUT]}, "ui": {...}}}}
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from studio.graph.model import Graph

FORMAT = "studio.workflow"
VERSION = 2


def _save_video_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Version 2 replaced Save Video's single output path (save_video@1) with a folder, a name template and a format
    (save_video@2). The old path keeps naming the same file: "renders/clip.mp4" -> folder "renders", name "clip"."""
    from studio.media.naming import split_output_path  # standard library only

    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        return data  # malformed: left for workflow_from_json to report
    upgraded = {}
    for node_id, entry in nodes.items():
        params = entry.get("params", {}) if isinstance(entry, dict) else None
        if isinstance(params, dict) and entry.get("type") == "save_video@1":
            params = dict(params)
            path = params.pop("path", "renders/render.mp4")
            if isinstance(path, str) and path:
                folder, name, kind = split_output_path(path)
                params.update(folder=folder, name=name, format=kind if kind in ("mp4", "png") else "mp4")
            entry = {**entry, "type": "save_video@2", "params": params}
        upgraded[node_id] = entry
    return {**data, "nodes": upgraded}


# Upgrades from an older file version to the next one: MIGRATIONS[v] turns version v into v + 1.
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _save_video_v1_to_v2}


class WorkflowError(Exception):
    """The file is not a workflow the studio can read; the message says why, naming the file."""


def load_workflow(path: str | os.PathLike) -> Graph:
    """Read a workflow file, or the workflow embedded in a render (mp4, webm, gif, png, or a folder of PNG frames)."""
    from studio.media.embedded import is_media_path  # standard library only; PyAV is imported for containers only

    path = Path(path)
    if is_media_path(path):
        return _load_render(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WorkflowError(f"workflow file not found: {path}") from None
    except IsADirectoryError:
        raise WorkflowError(f"{path} is a folder, not a workflow file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise WorkflowError(f"cannot read workflow {path}: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WorkflowError(f"{path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    return workflow_from_json(data, source_path=path.resolve(), origin=str(path))


def _load_render(path: Path) -> Graph:
    from studio.media.embedded import EmbeddedWorkflowError, read_embedded_workflow

    try:
        data = read_embedded_workflow(path)
    except FileNotFoundError:
        raise WorkflowError(f"render not found: {path}") from None
    except (OSError, EmbeddedWorkflowError) as exc:
        raise WorkflowError(f"cannot read the workflow in {path}: {exc}") from None
    if data is None:
        raise WorkflowError(f"{path} carries no workflow (renders made by the studio embed the one that made them)")
    return workflow_from_json(data, source_path=path.resolve(), origin=f"the workflow in {path}")


def workflow_from_json(data: Any, source_path: Path | None = None, origin: str = "workflow") -> Graph:
    """Build a Graph from parsed JSON, migrating older versions; every structural problem is reported at once."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise WorkflowError(f"{origin} is not a studio workflow (expected \"format\": \"{FORMAT}\")")
    data = _migrate(data, origin)
    problems: list[str] = []
    nodes = data.get("nodes")
    if not isinstance(nodes, dict):
        raise WorkflowError(f"{origin}: \"nodes\" must be an object mapping node ids to nodes")
    graph = Graph(source_path=source_path)
    for node_id, entry in nodes.items():
        if not isinstance(entry, dict):
            problems.append(f"node {node_id!r}: must be an object")
            continue
        type_id, params = entry.get("type"), entry.get("params", {})
        inputs, ui = entry.get("inputs", {}), entry.get("ui", {})
        node_problems = [f"node {node_id!r}: \"{key}\" must be an object"
                         for key, value in (("params", params), ("inputs", inputs), ("ui", ui))
                         if not isinstance(value, dict)]
        if not isinstance(type_id, str):
            node_problems.insert(0, f"node {node_id!r}: \"type\" must be a string")
        if node_problems:
            problems.extend(node_problems)
            continue
        node = graph.add_node(node_id, type_id, params, ui)
        for input_name, link in inputs.items():
            if not (isinstance(link, list) and len(link) == 2 and all(isinstance(part, str) for part in link)):
                problems.append(f"node {node_id!r} input {input_name!r}: a link must be [SOURCE_NODE_ID, OUTPUT_NAME]")
                continue
            node.inputs[input_name] = (link[0], link[1])
    if problems:
        raise WorkflowError(f"{origin} is malformed:\n" + "\n".join(f"  - {p}" for p in problems))
    graph.extra = {k: v for k, v in data.items() if k not in ("format", "version", "nodes", "base_dir")}
    return graph


def _migrate(data: dict[str, Any], origin: str) -> dict[str, Any]:
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise WorkflowError(f"{origin}: \"version\" must be an integer, got {version!r}")
    if version > VERSION:
        raise WorkflowError(
            f"{origin} was saved by a newer studio (workflow version {version}; this studio reads up to {VERSION}). "
            "Update the studio to open it.")
    while version < VERSION:
        upgrade = MIGRATIONS.get(version)
        if upgrade is None:
            raise WorkflowError(f"{origin}: workflow version {version} is older than any this studio can upgrade "
                                f"(it reads versions {min(MIGRATIONS, default=VERSION)} to {VERSION})")
        data = upgrade(dict(data))
        version += 1
        data["version"] = version
    return data


def save_workflow(graph: Graph, path: str | os.PathLike) -> None:
    """Write atomically: a crash mid-save leaves the previous file intact."""
    path = Path(path)
    text = json.dumps(graph.to_json(), indent=2, ensure_ascii=False) + "\n"
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
