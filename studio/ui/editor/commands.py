"""Undo commands: the only way the window edits a graph. They call Graph methods and nothing else; views redraw
from the graph's events, so undoing an edit needs no view code at all.

Each undo restores the graph's JSON exactly, key order included (dict order is the order nodes and inputs are
written to the workflow file), so undo never shows up as a diff in a saved file.
"""
from __future__ import annotations

import copy
from typing import Any, Iterable

from PySide6.QtGui import QUndoCommand

from studio.graph.model import Graph

NodeEntry = dict[str, Any]  # one node as in a workflow file: {"type", "params", "inputs", "ui"}


def unique_node_id(taken: Iterable[str], type_id: str) -> str:
    """An id read from the type's name (or any base name): `sampler`, then `sampler_2`, `sampler_3`..."""
    taken = set(taken)
    base = type_id.split("@", 1)[0] or "node"
    if base not in taken:
        return base
    number = 2
    while f"{base}_{number}" in taken:
        number += 1
    return f"{base}_{number}"


def _reorder(mapping: dict, order: list) -> None:
    """Put `mapping`'s keys back in `order`, in place (others keep their relative order after them)."""
    ordered = [(key, mapping.pop(key)) for key in order if key in mapping]
    rest = list(mapping.items())
    mapping.clear()
    mapping.update(ordered)
    mapping.update(rest)


class AddNodes(QUndoCommand):
    """Add nodes given as workflow-file entries; their inputs may name each other or nodes already in the graph."""

    def __init__(self, graph: Graph, entries: dict[str, NodeEntry], text: str = "Add node") -> None:
        super().__init__(text)
        self.graph = graph
        self.entries = copy.deepcopy(entries)

    def redo(self) -> None:
        for node_id, entry in self.entries.items():
            self.graph.add_node(node_id, entry["type"], copy.deepcopy(entry.get("params", {})),
                                copy.deepcopy(entry.get("ui", {})))
        for node_id, entry in self.entries.items():  # links after all nodes exist: entries may link to each other
            for input_name, (source, output) in entry.get("inputs", {}).items():
                self.graph.connect(source, output, node_id, input_name)

    def undo(self) -> None:
        for node_id in reversed(list(self.entries)):
            self.graph.remove_node(node_id)


class RemoveNodes(QUndoCommand):
    """Remove nodes; undo brings back their params, ui, and every link into and out of them."""

    def __init__(self, graph: Graph, node_ids: Iterable[str], text: str = "Delete") -> None:
        super().__init__(text)
        self.graph = graph
        self.node_ids = [node_id for node_id in node_ids if node_id in graph.nodes]
        self._entries: dict[str, NodeEntry] = {}
        self._outgoing: list[tuple[str, str, str, str]] = []  # (target, input, source, output) into survivors
        self._node_order: list[str] = []
        self._input_orders: dict[str, list[str]] = {}

    def redo(self) -> None:
        removed = set(self.node_ids)
        self._node_order = list(self.graph.nodes)
        self._entries = {node_id: self.graph.nodes[node_id].to_json() for node_id in self.node_ids}
        self._outgoing, self._input_orders = [], {}
        for target, node in self.graph.nodes.items():
            if target in removed:
                continue
            links = [(target, name, src, out) for name, (src, out) in node.inputs.items() if src in removed]
            if links:
                self._outgoing.extend(links)
                self._input_orders[target] = list(node.inputs)
        for node_id in self.node_ids:
            self.graph.remove_node(node_id)

    def undo(self) -> None:
        for node_id, entry in self._entries.items():
            self.graph.add_node(node_id, entry["type"], copy.deepcopy(entry["params"]), copy.deepcopy(entry["ui"]))
        for node_id, entry in self._entries.items():
            for input_name, (source, output) in entry["inputs"].items():
                self.graph.connect(source, output, node_id, input_name)
        for target, input_name, source, output in self._outgoing:
            self.graph.connect(source, output, target, input_name)
        _reorder(self.graph.nodes, self._node_order)
        for target, order in self._input_orders.items():
            _reorder(self.graph.nodes[target].inputs, order)


class Connect(QUndoCommand):
    """Link source.output -> target.input, replacing what that input read before (undo puts it back)."""

    def __init__(self, graph: Graph, source: str, output: str, target: str, input_name: str) -> None:
        super().__init__(f"Connect {source}.{output} to {target}.{input_name}")
        self.graph = graph
        self.link = (source, output, target, input_name)
        self._previous: tuple[str, str] | None = None
        self._order: list[str] = []

    def redo(self) -> None:
        source, output, target, input_name = self.link
        inputs = self.graph.nodes[target].inputs
        self._order = list(inputs)
        self._previous = inputs.get(input_name)
        if self._previous is not None:  # disconnect first, so views hear the old link go
            self.graph.disconnect(target, input_name)
        self.graph.connect(source, output, target, input_name)

    def undo(self) -> None:
        _, _, target, input_name = self.link
        self.graph.disconnect(target, input_name)
        if self._previous is not None:
            self.graph.connect(*self._previous, target, input_name)
        _reorder(self.graph.nodes[target].inputs, self._order)


class Disconnect(QUndoCommand):
    def __init__(self, graph: Graph, target: str, input_name: str) -> None:
        super().__init__(f"Disconnect {target}.{input_name}")
        self.graph = graph
        self.target, self.input_name = target, input_name
        self._link: tuple[str, str] | None = None
        self._order: list[str] = []

    def redo(self) -> None:
        inputs = self.graph.nodes[self.target].inputs
        self._order = list(inputs)
        self._link = inputs[self.input_name]
        self.graph.disconnect(self.target, self.input_name)

    def undo(self) -> None:
        assert self._link is not None
        self.graph.connect(*self._link, self.target, self.input_name)
        _reorder(self.graph.nodes[self.target].inputs, self._order)


class SetParam(QUndoCommand):
    """Set one parameter. Consecutive edits of the same parameter in the same editing session merge into one undo
    step (typing a prompt is one step, not one per key); `session` lets the inspector end a session on focus-out.

    `default` is what views should show when undo removes a parameter the node did not store before.
    """

    MERGE_ID = 0x5e7

    def __init__(self, graph: Graph, node_id: str, name: str, value: Any, *, default: Any = None,
                 session: object = None) -> None:
        super().__init__(f"Set {node_id}.{name}")
        self.graph = graph
        self.node_id, self.name, self.session = node_id, name, session
        params = graph.nodes[node_id].params
        self.had_value = name in params
        self.old = copy.deepcopy(params.get(name, default))
        self.new = copy.deepcopy(value)

    def id(self) -> int:
        return self.MERGE_ID

    def mergeWith(self, other: QUndoCommand) -> bool:
        if not (isinstance(other, SetParam) and other.graph is self.graph and other.node_id == self.node_id
                and other.name == self.name and other.session == self.session):
            return False
        self.new = other.new
        # Typing back to where one started leaves nothing to undo.
        self.setObsolete(self.had_value and self.new == self.old)
        return True

    def redo(self) -> None:
        self.graph.set_param(self.node_id, self.name, copy.deepcopy(self.new))

    def undo(self) -> None:
        self.graph.set_param(self.node_id, self.name, copy.deepcopy(self.old))
        if not self.had_value:  # the event above told views the default; now drop the key so the JSON is exact
            self.graph.nodes[self.node_id].params.pop(self.name, None)


class MoveNodes(QUndoCommand):
    """One drag of any number of nodes: {node_id: ((old_x, old_y), (new_x, new_y))}."""

    def __init__(self, graph: Graph, moves: dict[str, tuple[tuple[float, float], tuple[float, float]]],
                 text: str = "Move") -> None:
        super().__init__(text)
        self.graph = graph
        self.moves = dict(moves)
        # Nodes from hand-written files may have no position yet; undo must not invent one in their JSON.
        self._had_position = {node_id: "x" in graph.nodes[node_id].ui and "y" in graph.nodes[node_id].ui
                              for node_id in self.moves}

    def redo(self) -> None:
        for node_id, (_, (x, y)) in self.moves.items():
            self.graph.set_ui(node_id, x=x, y=y)

    def undo(self) -> None:
        for node_id, ((x, y), _) in self.moves.items():
            self.graph.set_ui(node_id, x=x, y=y)
            if not self._had_position[node_id]:
                self.graph.nodes[node_id].ui.pop("x", None)
                self.graph.nodes[node_id].ui.pop("y", None)
