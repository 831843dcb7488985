"""The scene mirrors one Graph: it builds items from the graph, redraws only what each graph event touches, and turns
mouse gestures (connecting, moving) into undo commands. It never edits the graph directly."""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QGraphicsScene, QGraphicsSceneMouseEvent

from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry
from studio.graph.validation import can_connect
from studio.ui.editor.commands import Connect, MoveNodes
from studio.ui.editor.edges import DragEdge, EdgeItem
from studio.ui.editor.card_text import NodeStatus
from studio.ui.editor.items import NodeItem, PortItem

SCENE_EXTENT = 200_000.0  # a fixed, generous rect: computing it from the items would cost on every change


class GraphScene(QGraphicsScene):
    status_message = Signal(str)

    def __init__(self, registry: NodeRegistry, undo_stack: QUndoStack, parent=None) -> None:
        super().__init__(parent)
        self.registry, self.undo_stack = registry, undo_stack
        self.graph: Graph | None = None
        self.node_items: dict[str, NodeItem] = {}
        self.edge_items: dict[tuple[str, str], EdgeItem] = {}
        self.statuses: dict[str, NodeStatus] = {}
        self._drag: DragEdge | None = None
        self._hovered_port: PortItem | None = None
        self._press_positions: dict[str, QPointF] = {}
        self.setSceneRect(QRectF(-SCENE_EXTENT / 2, -SCENE_EXTENT / 2, SCENE_EXTENT, SCENE_EXTENT))

    # -- mirroring the graph
    def set_graph(self, graph: Graph | None) -> None:
        if self.graph is not None:
            self.graph.unsubscribe(self._on_graph_event)
        self.cancel_connection()
        self.clear()
        self.node_items.clear()
        self.edge_items.clear()
        self.statuses.clear()
        self.graph = graph
        if graph is None:
            return
        for node_id in graph.nodes:
            self._add_node_item(node_id)
        for node_id, node in graph.nodes.items():
            for input_name in node.inputs:
                self._add_edge_item(node_id, input_name)
        graph.subscribe(self._on_graph_event)

    def _on_graph_event(self, event: str, details: dict[str, Any]) -> None:
        if event == "node_added":
            self._add_node_item(details["node"])
        elif event == "node_removed":
            item = self.node_items.pop(details["node"], None)
            if item is not None:
                for edge in list(item.edges):  # the graph announced its links' removal already; this is a guard
                    self._remove_edge_item(edge.key)
                self.removeItem(item)
        elif event == "link_added":
            self._add_edge_item(details["target"], details["input"])
        elif event == "link_removed":
            self._remove_edge_item((details["target"], details["input"]))
        elif event == "param_changed":
            if (item := self.node_items.get(details["node"])) is not None:
                item.refresh()
        elif event == "ui_changed":
            item, ui = self.node_items.get(details["node"]), details["values"]
            if item is not None and ("x" in ui or "y" in ui):
                node_ui = self.graph.nodes[item.node_id].ui
                item.setPos(float(node_ui.get("x", 0)), float(node_ui.get("y", 0)))

    def _add_node_item(self, node_id: str) -> NodeItem:
        node = self.graph.nodes[node_id]
        spec = self.registry.get(node.type)
        # An unknown type has no declared outputs: show the ones other nodes read, so their links still draw.
        extra = () if spec else tuple(dict.fromkeys(
            out for other in self.graph.nodes.values() for src, out in other.inputs.values() if src == node_id))
        item = NodeItem(node, spec, extra)
        if node_id in self.statuses:
            item.set_status(self.statuses[node_id])
        self.node_items[node_id] = item
        self.addItem(item)
        return item

    def _add_edge_item(self, target: str, input_name: str) -> None:
        self._remove_edge_item((target, input_name))
        source, output = self.graph.nodes[target].inputs[input_name]
        source_item, target_item = self.node_items.get(source), self.node_items.get(target)
        if source_item is None or target_item is None:
            return  # a link to a missing node: validation reports it; there is nothing to draw it to
        out_port, in_port = source_item.outputs.get(output), target_item.inputs.get(input_name)
        if out_port is None or in_port is None:
            return
        edge = EdgeItem(out_port, in_port)
        self.edge_items[edge.key] = edge
        self.addItem(edge)

    def _remove_edge_item(self, key: tuple[str, str]) -> None:
        edge = self.edge_items.pop(key, None)
        if edge is not None:
            edge.detach()
            self.removeItem(edge)

    # -- run states
    def set_node_status(self, node_id: str, status: NodeStatus) -> None:
        self.statuses[node_id] = status
        if (item := self.node_items.get(node_id)) is not None:
            item.set_status(status)

    def clear_statuses(self) -> None:
        self.statuses.clear()
        for item in self.node_items.values():
            item.set_status(NodeStatus())

    # -- connecting by dragging from a port
    def begin_connection(self, port: PortItem) -> None:
        self.cancel_connection()
        self._drag = DragEdge(port)
        self.addItem(self._drag)
        # Nodes a link from/to `port` would loop through: upstream of an output, downstream of an input. One walk
        # here instead of one validation per port keeps starting a drag instant on large graphs.
        looping = self._reachable(port.node.node_id, upstream=not port.is_input)
        for item in self.node_items.values():
            for other in (*item.inputs.values(), *item.outputs.values()):
                # Only ports that would take the link stay lit; the pressed port stays lit as the anchor.
                fits = (self._is_counterpart(other, port) and other.port_type is not None
                        and other.port_type is port.port_type and item.node_id not in looping)
                other.set_dimmed(other is not port and not fits)

    def _reachable(self, node_id: str, upstream: bool) -> set[str]:
        """`node_id` and every node it reads from (upstream) or that reads from it (downstream)."""
        if upstream:
            edges = {n: [src for src, _ in node.inputs.values()] for n, node in self.graph.nodes.items()}
        else:
            edges = {n: [] for n in self.graph.nodes}
            for target, node in self.graph.nodes.items():
                for source, _ in node.inputs.values():
                    edges.setdefault(source, []).append(target)
        seen, todo = {node_id}, [node_id]
        while todo:
            for other in edges.get(todo.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        return seen

    def update_connection(self, scene_pos: QPointF) -> None:
        if self._drag is None:
            return
        self._drag.move_to(scene_pos)
        port = self.port_at(scene_pos)
        target = port if port is not None and not port.dimmed and self._is_counterpart(port) else None
        if target is not self._hovered_port:
            if self._hovered_port is not None:
                self._hovered_port.set_highlighted(False)
            if target is not None:
                target.set_highlighted(True)
            self._hovered_port = target

    def finish_connection(self, scene_pos: QPointF) -> None:
        """Connect to the port under `scene_pos`; refuse with a message; do nothing on empty canvas."""
        if self._drag is None:
            return
        start = self._drag.port
        port = self.port_at(scene_pos)
        self.cancel_connection()
        if port is None or not self._is_counterpart(port, start):
            return
        problem = self._refusal(start, port)
        output_port, input_port = (port, start) if start.is_input else (start, port)
        source, target = output_port.node.node_id, input_port.node.node_id
        if problem is not None:
            self.status_message.emit(f"Cannot connect {source}.{output_port.name} to {target}.{input_port.name}: "
                                     f"{problem}")
            return
        if self.graph.nodes[target].inputs.get(input_port.name) == (source, output_port.name):
            return  # already linked exactly so: no empty undo step
        self.undo_stack.push(Connect(self.graph, source, output_port.name, target, input_port.name))

    def cancel_connection(self) -> None:
        if self._drag is None:
            return
        self.removeItem(self._drag)
        self._drag = None
        if self._hovered_port is not None:
            self._hovered_port.set_highlighted(False)
            self._hovered_port = None
        for item in self.node_items.values():
            for port in (*item.inputs.values(), *item.outputs.values()):
                port.set_dimmed(False)

    def is_connecting(self) -> bool:
        return self._drag is not None

    def _is_counterpart(self, port: PortItem, start: PortItem | None = None) -> bool:
        start = start or (self._drag.port if self._drag else None)
        return start is not None and port.is_input != start.is_input and port.node is not start.node

    def _refusal(self, start: PortItem, other: PortItem) -> str | None:
        """Why start and other cannot be linked, or None: the graph core's answer, the one the user reads."""
        output_port, input_port = (other, start) if start.is_input else (start, other)
        return can_connect(self.graph, self.registry, output_port.node.node_id, output_port.name,
                           input_port.node.node_id, input_port.name)

    def port_at(self, scene_pos: QPointF) -> PortItem | None:
        """The port under the cursor, forgiving a few pixels around the dot."""
        area = QRectF(scene_pos.x() - 6, scene_pos.y() - 6, 12, 12)
        ports = [item for item in self.items(area) if isinstance(item, PortItem)]
        if not ports:
            return None
        return min(ports, key=lambda port: (port.scenePos() - scene_pos).manhattanLength())

    # -- moving: one undo step per drag, for every node that moved
    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        if self._drag is not None and event.button() != Qt.MouseButton.LeftButton:
            self.cancel_connection()  # a right click aborts a connection drag
            event.accept()
            return
        super().mousePressEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and isinstance(self.mouseGrabberItem(), NodeItem):
            self._press_positions = {item.node_id: item.pos() for item in self.selected_node_items()}
            # Moving items reshuffle a BSP index on every step; without an index a drag costs nothing extra.
            self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)

    def mouseReleaseEvent(self, event: QGraphicsSceneMouseEvent) -> None:
        super().mouseReleaseEvent(event)
        if not self._press_positions:
            return
        pressed, self._press_positions = self._press_positions, {}
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.BspTreeIndex)
        moves = {}
        for node_id, before in pressed.items():
            item = self.node_items.get(node_id)
            if item is None or item.pos() == before:
                continue
            after = (round(item.pos().x()), round(item.pos().y()))
            item.setPos(*after)
            moves[node_id] = ((before.x(), before.y()), after)
        if moves:
            self._push_move(moves)

    def _push_move(self, moves: dict) -> None:
        ui = {node_id: self.graph.nodes[node_id].ui for node_id in moves}
        # Record the graph's positions as they were (ints from the file stay ints), not the float item positions.
        exact = {node_id: ((ui[node_id].get("x", before[0]), ui[node_id].get("y", before[1])), after)
                 for node_id, (before, after) in moves.items()}
        text = "Move node" if len(moves) == 1 else f"Move {len(moves)} nodes"
        self.undo_stack.push(MoveNodes(self.graph, exact, text))

    def selected_node_items(self) -> list[NodeItem]:
        return [item for item in self.selectedItems() if isinstance(item, NodeItem)]

    def selected_edge_items(self) -> list[EdgeItem]:
        return [item for item in self.selectedItems() if isinstance(item, EdgeItem)]
