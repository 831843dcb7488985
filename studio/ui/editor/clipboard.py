"""Copy and paste as plain workflow JSON: what is copied can be pasted into another document, a text editor, or a
file, and pasting a workflow file's text works too."""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterable

from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry
from studio.graph.workflow import WorkflowError, workflow_from_json
from studio.ui.editor.commands import NodeEntry, unique_node_id


def selection_to_json(graph: Graph, node_ids: Iterable[str]) -> dict[str, Any]:
    """The chosen nodes as a workflow, keeping only the links among them (a pasted copy reads nothing outside)."""
    chosen = [node_id for node_id in graph.nodes if node_id in set(node_ids)]
    nodes: dict[str, NodeEntry] = {}
    for node_id in chosen:
        entry = graph.nodes[node_id].to_json()
        entry["inputs"] = {name: link for name, link in entry["inputs"].items() if link[0] in chosen}
        nodes[node_id] = entry
    data = graph.to_json()
    return {"format": data["format"], "version": data["version"], "nodes": nodes}


def selection_to_text(graph: Graph, node_ids: Iterable[str]) -> str:
    return json.dumps(selection_to_json(graph, node_ids), indent=2, ensure_ascii=False)


def entries_for_paste(graph: Graph, registry: NodeRegistry, text: str,
                      offset: tuple[float, float] | None = None,
                      top_left: tuple[float, float] | None = None) -> dict[str, NodeEntry]:
    """Turn clipboard text into node entries ready for AddNodes: ids renamed to be free in `graph`, links among the
    pasted nodes renamed alike (`prompt` becomes `prompt_2`), links to anything else dropped, positions moved by `offset` or so the group's top-left
    lands on `top_left`. Raises ValueError with a message a status bar can show."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        raise ValueError("the clipboard holds no studio nodes") from None
    try:
        pasted = workflow_from_json(data, origin="the clipboard")
    except WorkflowError as exc:
        raise ValueError(str(exc).splitlines()[0]) from None
    if not pasted.nodes:
        raise ValueError("the clipboard holds no studio nodes")
    unknown = sorted({node.type for node in pasted.nodes.values() if node.type not in registry})
    if unknown:
        raise ValueError(f"cannot paste unknown node type {', '.join(unknown)}")

    taken = set(graph.nodes)
    renamed: dict[str, str] = {}
    for old_id in pasted.nodes:
        # Named after the original (`prompt` -> `prompt_2`), so a copy says what it is a copy of.
        renamed[old_id] = unique_node_id(taken, re.sub(r"_\d+$", "", old_id))
        taken.add(renamed[old_id])

    positions = [(float(n.ui.get("x", 0)), float(n.ui.get("y", 0))) for n in pasted.nodes.values()]
    if top_left is not None:
        dx = top_left[0] - min(x for x, _ in positions)
        dy = top_left[1] - min(y for _, y in positions)
    else:
        dx, dy = offset or (0.0, 0.0)

    entries: dict[str, NodeEntry] = {}
    for old_id, node in pasted.nodes.items():
        ui = copy.deepcopy(node.ui)
        ui["x"] = round(float(ui.get("x", 0)) + dx)
        ui["y"] = round(float(ui.get("y", 0)) + dy)
        entries[renamed[old_id]] = {
            "type": node.type, "params": copy.deepcopy(node.params), "ui": ui,
            "inputs": {name: [renamed[src], out] for name, (src, out) in node.inputs.items() if src in renamed},
        }
    return entries
