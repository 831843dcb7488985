"""The inspector: the selected node's title, type and description, and one editor per parameter generated from the
node's declaration. Edits go through SetParam commands on the window's undo stack; undo and redo flow back in from
the graph's events."""
from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import (QFileDialog, QFormLayout, QFrame, QLabel, QScrollArea, QSizePolicy, QVBoxLayout,
                               QWidget)

from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry, Param
from studio.ui import theme
from studio.ui.editor.commands import SetParam
from studio.ui.editor.card_text import NodeStatus, info_lines
from studio.ui.param_fields import ParamField, make_field


class Inspector(QWidget):
    def __init__(self, registry: NodeRegistry, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry, self.undo_stack = registry, undo_stack
        self.graph: Graph | None = None
        self.node_id: str | None = None
        self.fields: dict[str, ParamField] = {}
        self._statuses: dict[str, NodeStatus] = {}
        self._sessions: dict[str, int] = {}  # per param: bumped when the user leaves a field, ending a merged step

        self.title = QLabel(objectName="inspectorTitle")
        self.type_label = QLabel(objectName="inspectorType")
        self.type_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.description = QLabel(objectName="inspectorDescription", wordWrap=True)
        self.status = QLabel(wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.placeholder = QLabel("Select a node to edit its parameters.", alignment=Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setStyleSheet(f"color: {theme.TEXT_FAINT.name()};")
        self.form_host = QWidget()
        self.form = QFormLayout(self.form_host)
        self.form.setContentsMargins(0, 4, 0, 4)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

        body = QWidget()
        column = QVBoxLayout(body)
        column.setContentsMargins(12, 10, 12, 10)
        column.setSpacing(6)
        for widget in (self.title, self.type_label, self.description, _separator(), self.form_host, self.status):
            column.addWidget(widget)
        column.addStretch(1)
        self.scroll = QScrollArea(widgetResizable=True)
        self.scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        layout.addWidget(self.scroll)
        self.setMinimumWidth(260)
        self.show_node(None)

    # -- public API
    def set_graph(self, graph: Graph | None) -> None:
        if self.graph is not None:
            self.graph.unsubscribe(self._on_graph_event)
        self.graph = graph
        self._statuses.clear()
        if graph is not None:
            graph.subscribe(self._on_graph_event)
        self.show_node(None)

    def show_node(self, node_id: str | None) -> None:
        """Show `node_id`'s parameters (None, or a node not in the graph, shows the empty state)."""
        if self.graph is None or node_id not in self.graph.nodes:
            node_id = None
        self.node_id = node_id
        self._clear_form()
        self.placeholder.setVisible(node_id is None)
        self.scroll.setVisible(node_id is not None)
        if node_id is None:
            return
        node = self.graph.nodes[node_id]
        spec = self.registry.get(node.type)
        self.title.setText(spec.title if spec else node.type)
        self.type_label.setText(f"{node_id}  ·  {node.type}")
        self.description.setText(spec.description if spec else
                                 "This studio does not know this node type; its parameters are kept as they are.")
        for param in spec.params if spec else ():
            field = make_field(param, node.params.get(param.name, param.default), self._browse)
            field.edited.connect(lambda value, name=param.name: self._edit(name, value))
            field.finished.connect(lambda name=param.name: self._end_session(name))
            label = QLabel(param.name)
            label.setToolTip(param.description)
            self.form.addRow(label, field.widget)
            self.fields[param.name] = field
        self._show_status()

    def set_node_status(self, node_id: str, state: str, *, step: int | None = None, total: int | None = None,
                        message: str | None = None, info: dict | None = None) -> None:
        self._statuses[node_id] = NodeStatus(state, step, total, message, dict(info or {}))
        if node_id == self.node_id:
            self._show_status()

    def clear_statuses(self) -> None:
        self._statuses.clear()
        self._show_status()

    # -- edits out, changes in
    def _edit(self, name: str, value: Any) -> None:
        if self.graph is None or self.node_id is None:
            return
        spec = self.registry.get(self.graph.nodes[self.node_id].type)
        param = spec.param(name) if spec else None
        session = (self.node_id, name, self._sessions.get(name, 0))
        self.undo_stack.push(SetParam(self.graph, self.node_id, name, value,
                                      default=param.default if param else None, session=session))
        if param is not None and (param.choices or param.type.value == "BOOL" or param.path):
            self._end_session(name)  # a click is a whole edit; only typing and spinning merge

    def _end_session(self, name: str) -> None:
        self._sessions[name] = self._sessions.get(name, 0) + 1

    def _on_graph_event(self, event: str, details: dict[str, Any]) -> None:
        if self.node_id is None:
            return
        if event == "node_removed" and details["node"] == self.node_id:
            self.show_node(None)
        elif event == "param_changed" and details["node"] == self.node_id:
            field = self.fields.get(details["param"])
            if field is not None:
                field.set_value(self.graph.nodes[self.node_id].params.get(details["param"], field.param.default))

    # -- pieces
    def _clear_form(self) -> None:
        self.fields.clear()
        while self.form.rowCount():
            self.form.removeRow(0)

    def _show_status(self) -> None:
        status = self._statuses.get(self.node_id) if self.node_id else None
        if status is None or (status.state == "idle" and not status.message and not status.info):
            self.status.hide()
            return
        colour = theme.STATE_COLOURS.get(status.state, theme.TEXT_DIM).name()
        parts = [f"<b style='color:{colour}'>{html.escape(status.state.upper())}</b>"]
        if status.state == "running" and status.total:
            parts[0] += f" &nbsp;step {status.step or 0} of {status.total}"
        if status.message:
            error = theme.ERROR.name() if status.state == "failed" else theme.TEXT_DIM.name()
            parts.append(f"<span style='color:{error}'>{html.escape(status.message)}</span>")
        for text, warning in info_lines(status.info):
            tint = theme.WARNING.name() if warning else theme.TEXT_DIM.name()
            parts.append(f"<span style='color:{tint}'>{html.escape(text)}</span>")
        self.status.setText("<br>".join(parts))
        self.status.show()

    def _browse(self, param: Param, current: str) -> str | None:
        base = self.graph.base_dir() if self.graph is not None else Path.cwd()
        start = str((base / current) if current else base)
        if param.path == "folder":
            chosen = QFileDialog.getExistingDirectory(self, f"Choose {param.name}", start)
        elif param.path == "save":
            chosen, _ = QFileDialog.getSaveFileName(self, f"Choose {param.name}", start)
        else:
            chosen, _ = QFileDialog.getOpenFileName(self, f"Choose {param.name}", start)
        if not chosen:
            return None
        # Paths inside the workflow's folder stay relative, so the workflow can move with its files.
        relative = os.path.relpath(chosen, base)
        return chosen if relative.startswith("..") else Path(relative).as_posix()


def _separator() -> QFrame:
    line = QFrame()
    line.setFrameShape(QFrame.Shape.HLine)
    line.setStyleSheet(f"color: {theme.CARD_HEADER.name()};")
    line.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
    return line
