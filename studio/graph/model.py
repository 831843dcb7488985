"""The graph model: nodes, their parameters and links. Qt-free; views subscribe to its events."""
from __future__ import annotations

import copy
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

Link = tuple[str, str]  # (source node id, source output name)
Listener = Callable[[str, dict[str, Any]], None]


@dataclass
class NodeInstance:
    id: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Link] = field(default_factory=dict)
    ui: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "params": copy.deepcopy(self.params),
            "inputs": {name: [src, out] for name, (src, out) in self.inputs.items()},
            "ui": copy.deepcopy(self.ui),
        }


class Graph:
    """A workflow being edited or run.

    Every change goes through a method here and is announced to listeners as (event, details), e.g.
    ("node_added", {"node": id}); the window's undo commands call these methods and its scene redraws on the events.
    """

    def __init__(self, source_path: Path | None = None) -> None:
        self.nodes: dict[str, NodeInstance] = {}
        # Top-level fields of the file we do not interpret, kept so saving does not drop them.
        self.extra: dict[str, Any] = {}
        # Where the workflow was loaded from: relative paths in parameters resolve against its folder.
        self.source_path = source_path
        self._listeners: list[Listener] = []

    # -- observing
    def subscribe(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unsubscribe(self, listener: Listener) -> None:
        self._listeners.remove(listener)

    def _emit(self, event: str, **details: Any) -> None:
        for listener in list(self._listeners):
            listener(event, details)

    # -- editing
    def add_node(self, node_id: str, type_id: str, params: dict[str, Any] | None = None,
                 ui: dict[str, Any] | None = None) -> NodeInstance:
        if node_id in self.nodes:
            raise ValueError(f"node id {node_id!r} is already used")
        node = NodeInstance(node_id, type_id, dict(params or {}), {}, dict(ui or {}))
        self.nodes[node_id] = node
        self._emit("node_added", node=node_id)
        return node

    def remove_node(self, node_id: str) -> None:
        for other in self.nodes.values():
            for name, (src, _) in list(other.inputs.items()):
                if src == node_id:
                    self.disconnect(other.id, name)
        del self.nodes[node_id]
        self._emit("node_removed", node=node_id)

    def connect(self, source: str, output: str, target: str, input_name: str) -> None:
        self.nodes[target].inputs[input_name] = (source, output)
        self._emit("link_added", source=source, output=output, target=target, input=input_name)

    def disconnect(self, target: str, input_name: str) -> None:
        source, output = self.nodes[target].inputs.pop(input_name)
        self._emit("link_removed", source=source, output=output, target=target, input=input_name)

    def set_param(self, node_id: str, name: str, value: Any) -> None:
        self.nodes[node_id].params[name] = value
        self._emit("param_changed", node=node_id, param=name, value=value)

    def set_ui(self, node_id: str, **values: Any) -> None:
        self.nodes[node_id].ui.update(values)
        self._emit("ui_changed", node=node_id, values=values)

    # -- reading
    def base_dir(self) -> Path:
        return self.source_path.parent if self.source_path else Path.cwd()

    def to_json(self) -> dict[str, Any]:
        from studio.graph.workflow import FORMAT, VERSION

        data: dict[str, Any] = copy.deepcopy(self.extra)
        data.update({"format": FORMAT, "version": VERSION,
                     "nodes": {node_id: node.to_json() for node_id, node in self.nodes.items()}})
        return data

    def snapshot(self) -> dict[str, Any]:
        """A plain-JSON copy for the engine, with where relative paths resolve from."""
        data = self.to_json()
        data["base_dir"] = str(self.base_dir())
        return data


def topological_order(links: dict[str, list[str]]) -> tuple[list[str], list[str]]:
    """Order node ids so each comes after the nodes it reads from.

    `links` maps a node id to the ids it depends on (ids not in the mapping are ignored). Returns (order, cyclic):
    the ids that could be ordered, and the ids that lie on a cycle (nodes merely downstream of one are in neither).
    """
    waiting = {node: {dep for dep in deps if dep in links} for node, deps in links.items()}
    dependents: dict[str, list[str]] = {node: [] for node in links}
    for node in sorted(waiting):
        for dep in waiting[node]:
            dependents[dep].append(node)
    order: list[str] = []
    ready = deque(sorted(node for node, deps in waiting.items() if not deps))
    while ready:  # Kahn's algorithm: linear in nodes + links, so validating on every edit stays cheap
        node = ready.popleft()
        order.append(node)
        del waiting[node]
        for other in dependents[node]:
            waiting[other].discard(node)
            if not waiting[other]:
                ready.append(other)
    # What is left depends on a cycle; peel off the nodes no leftover node depends on until only cycles remain.
    cyclic = set(waiting)
    while True:
        needed = {dep for node in cyclic for dep in waiting[node]}
        if needed >= cyclic:
            return order, sorted(cyclic)
        cyclic &= needed
