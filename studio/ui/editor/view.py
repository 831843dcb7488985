"""GraphEditor: the node editor widget. Zoom, pan, select, keyboard and clipboard; the scene does the mirroring."""
from __future__ import annotations

import math

from PySide6.QtCore import QMimeData, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QCursor, QKeySequence, QPainter, QPen, QUndoStack
from PySide6.QtWidgets import QApplication, QGraphicsView, QMenu, QWidget

from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry
from studio.ui import theme
from studio.ui.editor.clipboard import entries_for_paste, selection_to_text
from studio.ui.editor.commands import AddNodes, Disconnect, RemoveNodes, unique_node_id
from studio.ui.editor.card_text import NodeStatus
from studio.ui.editor.items import HEADER, WIDTH
from studio.ui.editor.scene import GraphScene
from studio.ui.editor.search import NODE_TYPE_MIME, NodeSearchPopup

GRID = 20.0
MAJOR_EVERY = 5
MIN_SCALE, MAX_SCALE = 0.1, 2.5
PASTE_OFFSET = 40.0


class GraphEditor(QGraphicsView):
    """Edits one Graph at a time through the window's undo stack.

    Signals: `selection_changed(list[str])` with the selected node ids; `status_message(str)` with hints such as why
    a connection was refused. Actions (for the window's menus): copy_action, paste_action, duplicate_action,
    delete_action, select_all_action, frame_all_action; their shortcuts work while the editor has focus.
    """

    selection_changed = Signal(list)
    status_message = Signal(str)

    def __init__(self, registry: NodeRegistry, undo_stack: QUndoStack, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry, self.undo_stack = registry, undo_stack
        self.graph_scene = GraphScene(registry, undo_stack, self)
        self.setScene(self.graph_scene)
        self.graph_scene.status_message.connect(self.status_message)
        self.graph_scene.selectionChanged.connect(self._emit_selection)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)
        self.setOptimizationFlag(QGraphicsView.OptimizationFlag.DontSavePainterState)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QGraphicsView.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._pan_from: QPoint | None = None
        # Framed by frame_all and not navigated since: resizes (the window laying out, docks moving) re-frame, so
        # a document opened before the window has its final size is still framed when it appears.
        self._keep_framed = False
        self._space_down = False
        self._search = NodeSearchPopup(registry, self)
        self._search.chosen.connect(self._add_from_search)
        self._search_pos = QPointF()
        self.copy_action = self._action("Copy", QKeySequence.StandardKey.Copy, self.copy)
        self.paste_action = self._action("Paste", QKeySequence.StandardKey.Paste, self.paste)
        self.duplicate_action = self._action("Duplicate", "Ctrl+D", self.duplicate)
        self.delete_action = self._action("Delete", [QKeySequence.StandardKey.Delete, "Backspace"],
                                          self.delete_selected)
        self.select_all_action = self._action("Select All", QKeySequence.StandardKey.SelectAll, self.select_all)
        self.frame_all_action = self._action("Frame All", "F", self.frame_selection_or_all)
        self.add_node_action = self._action("Add Node…", "Shift+A", lambda: self.open_search())

    def _action(self, text: str, shortcut, slot) -> QAction:
        action = QAction(text, self)
        shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
        # Only while the editor has focus: Delete in the inspector's text box must not delete nodes.
        action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        action.triggered.connect(slot)
        self.addAction(action)
        return action

    # -- public API
    @property
    def graph(self) -> Graph | None:
        return self.graph_scene.graph

    def set_graph(self, graph: Graph | None) -> None:
        """Show another document. The undo stack belongs to the window, which clears it when switching."""
        self.graph_scene.set_graph(graph)
        self.frame_all()
        self._emit_selection()

    def set_node_status(self, node_id: str, state: str, *, step: int | None = None, total: int | None = None,
                        message: str | None = None, info: dict | None = None) -> None:
        if state not in theme.STATES:
            raise ValueError(f"unknown node state {state!r}; expected one of {', '.join(theme.STATES)}")
        self.graph_scene.set_node_status(node_id, NodeStatus(state, step, total, message, dict(info or {})))

    def clear_statuses(self) -> None:
        self.graph_scene.clear_statuses()

    def frame_all(self) -> None:
        self._frame([item.sceneBoundingRect() for item in self.graph_scene.node_items.values()])
        self._keep_framed = True

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self._keep_framed:
            self.frame_all()

    def frame_selection_or_all(self) -> None:
        selected = self.graph_scene.selected_node_items()
        if selected:
            self._frame([item.sceneBoundingRect() for item in selected])
            self._keep_framed = False
        else:
            self.frame_all()

    def add_node_at(self, type_id: str, scene_pos: QPointF) -> str:
        """Add a node of `type_id` with its default parameters, its title under `scene_pos`; returns its id."""
        spec = self.registry.get(type_id)
        if spec is None:
            raise KeyError(f"unknown node type {type_id!r}")
        if self.graph is None:
            raise RuntimeError("no graph to add to")
        node_id = unique_node_id(self.graph.nodes, type_id)
        ui = {"x": round(scene_pos.x() - WIDTH / 2), "y": round(scene_pos.y() - HEADER / 2)}
        self.undo_stack.push(AddNodes(self.graph, {node_id: {"type": type_id, "params": spec.default_params(),
                                                             "inputs": {}, "ui": ui}}, f"Add {spec.title}"))
        self._select([node_id])
        return node_id

    def edit_actions(self) -> list[QAction]:
        """The actions for the window's Edit menu, in menu order."""
        return [self.copy_action, self.paste_action, self.duplicate_action, self.delete_action,
                self.select_all_action]

    def add_node_at_centre(self, type_id: str) -> str:
        """Add a node where the user is looking: under the cursor if it is over the editor, else mid-view
        (for the palette's add_requested)."""
        cursor = self.viewport().mapFromGlobal(QCursor.pos())
        if not self.viewport().rect().contains(cursor):
            cursor = self.viewport().rect().center()
        return self.add_node_at(type_id, self.mapToScene(cursor))

    def selected_node_ids(self) -> list[str]:
        selected = {item.node_id for item in self.graph_scene.selected_node_items()}
        return [node_id for node_id in self.graph_scene.node_items if node_id in selected]

    def open_search(self, scene_pos: QPointF | None = None) -> None:
        """The add-node popup; the chosen node lands at `scene_pos` (default: under the cursor or mid-view)."""
        if self.graph is None:
            return
        cursor = self.viewport().mapFromGlobal(QCursor.pos())
        if not self.viewport().rect().contains(cursor):
            cursor = self.viewport().rect().center()
        self._search_pos = scene_pos if scene_pos is not None else self.mapToScene(cursor)
        self._search.open_at(self.viewport().mapToGlobal(self.mapFromScene(self._search_pos)))

    # -- edits
    def delete_selected(self) -> None:
        if self.graph is None:
            return
        node_ids = self.selected_node_ids()
        edges = [edge.key for edge in self.graph_scene.selected_edge_items() if edge.key[0] not in node_ids]
        if not node_ids and not edges:
            return
        self.undo_stack.beginMacro("Delete")
        for target, input_name in edges:
            self.undo_stack.push(Disconnect(self.graph, target, input_name))
        if node_ids:
            self.undo_stack.push(RemoveNodes(self.graph, node_ids))
        self.undo_stack.endMacro()

    def copy(self) -> None:
        node_ids = self.selected_node_ids()
        if self.graph is None or not node_ids:
            return
        mime = QMimeData()
        mime.setText(selection_to_text(self.graph, node_ids))  # plain JSON: pastes into a text editor as-is
        QApplication.clipboard().setMimeData(mime)

    def paste(self) -> None:
        """Paste the clipboard's nodes with fresh ids; at the cursor when it is over the editor."""
        cursor = self.viewport().mapFromGlobal(QCursor.pos())
        at = self.mapToScene(cursor) if self.viewport().rect().contains(cursor) else None
        self._paste_text(QApplication.clipboard().text(), at)

    def duplicate(self) -> None:
        node_ids = self.selected_node_ids()
        if self.graph is not None and node_ids:
            self._paste_text(selection_to_text(self.graph, node_ids), None, "Duplicate")

    def select_all(self) -> None:
        for item in self.graph_scene.node_items.values():
            item.setSelected(True)

    def _paste_text(self, text: str, at: QPointF | None, label: str = "Paste") -> None:
        if self.graph is None:
            return
        try:
            entries = entries_for_paste(self.graph, self.registry, text, offset=(PASTE_OFFSET, PASTE_OFFSET),
                                        top_left=(at.x(), at.y()) if at is not None else None)
        except ValueError as exc:
            self.status_message.emit(f"Cannot paste: {exc}")
            return
        self.undo_stack.push(AddNodes(self.graph, entries, label))
        self._select(list(entries))

    def _select(self, node_ids: list[str]) -> None:
        self.graph_scene.clearSelection()
        for node_id in node_ids:
            if (item := self.graph_scene.node_items.get(node_id)) is not None:
                item.setSelected(True)

    def _add_from_search(self, type_id: str) -> None:
        self.add_node_at(type_id, self._search_pos)
        self.setFocus()

    def _emit_selection(self) -> None:
        self.selection_changed.emit(self.selected_node_ids())

    def _frame(self, rects: list[QRectF]) -> None:
        if not rects:
            return
        bounds = rects[0]
        for rect in rects[1:]:
            bounds = bounds.united(rect)
        self.fitInView(bounds.adjusted(-60, -60, 60, 60), Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.0:  # framing one small node should not blow it up
            self._set_scale(1.0)
            self.centerOn(bounds.center())
        elif self.transform().m11() < MIN_SCALE:
            self._set_scale(MIN_SCALE)
            self.centerOn(bounds.center())

    def _set_scale(self, scale: float) -> None:
        factor = scale / self.transform().m11()
        self.scale(factor, factor)

    # -- background: a dot-free grid, minor lines dropped when zoomed out (they would merge into a grey wash)
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        painter.fillRect(rect, theme.CANVAS)
        scale = self.transform().m11()
        step = GRID if scale * GRID >= 8 else GRID * MAJOR_EVERY
        left, top = math.floor(rect.left() / step) * step, math.floor(rect.top() / step) * step
        minor, major = [], []
        x = left
        while x < rect.right():
            (major if round(x / GRID) % MAJOR_EVERY == 0 else minor).append((QPointF(x, rect.top()),
                                                                            QPointF(x, rect.bottom())))
            x += step
        y = top
        while y < rect.bottom():
            (major if round(y / GRID) % MAJOR_EVERY == 0 else minor).append((QPointF(rect.left(), y),
                                                                            QPointF(rect.right(), y)))
            y += step
        for lines, colour in ((minor, theme.GRID_MINOR), (major, theme.GRID_MAJOR)):
            painter.setPen(QPen(colour, 0))  # cosmetic: one pixel at any zoom
            for start, end in lines:
                painter.drawLine(start, end)

    # -- mouse: wheel zooms around the cursor; middle button or space+left pans
    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y() or event.pixelDelta().y()
        if not delta:
            return
        self._keep_framed = False
        scale = self.transform().m11()
        target = min(MAX_SCALE, max(MIN_SCALE, scale * math.pow(1.0015, delta)))
        self.scale(target / scale, target / scale)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.MiddleButton or (
                self._space_down and event.button() == Qt.MouseButton.LeftButton):
            self._pan_from = event.position().toPoint()
            self._keep_framed = False
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            now = event.position().toPoint()
            delta, self._pan_from = now - self._pan_from, now
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self._pan_from is not None and event.button() in (Qt.MouseButton.MiddleButton, Qt.MouseButton.LeftButton):
            self._pan_from = None
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor if self._space_down else Qt.CursorShape.ArrowCursor)
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.itemAt(event.position().toPoint()) is None and event.button() == Qt.MouseButton.LeftButton:
            self.open_search(self.mapToScene(event.position().toPoint()))
            return
        super().mouseDoubleClickEvent(event)

    def contextMenuEvent(self, event) -> None:
        scene_pos = self.mapToScene(event.pos())
        menu = QMenu(self)
        menu.addAction("Add Node…", lambda: self.open_search(scene_pos))
        if self.selected_node_ids() or self.graph_scene.selected_edge_items():
            menu.addSeparator()
            for action in (self.copy_action, self.duplicate_action, self.delete_action):
                menu.addAction(action)
        menu.addAction(self.paste_action)
        menu.addSeparator()
        menu.addAction(self.frame_all_action)
        menu.exec(event.globalPos())

    # -- keyboard: Tab opens the search (QWidget would move focus instead), space holds the pan mode
    def event(self, event) -> bool:
        if event.type() == event.Type.KeyPress and event.key() == Qt.Key.Key_Tab and not event.modifiers():
            self.open_search()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.graph_scene.is_connecting():
            self.graph_scene.cancel_connection()
            return
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.setDragMode(QGraphicsView.DragMode.NoDrag)
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.setDragMode(QGraphicsView.DragMode.RubberBandDrag)
            self.viewport().setCursor(Qt.CursorShape.ArrowCursor)
            return
        super().keyReleaseEvent(event)

    # -- drops from the node palette
    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(NODE_TYPE_MIME) and self.graph is not None:
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(NODE_TYPE_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if not event.mimeData().hasFormat(NODE_TYPE_MIME) or self.graph is None:
            super().dropEvent(event)
            return
        type_id = bytes(event.mimeData().data(NODE_TYPE_MIME)).decode("utf-8")
        if type_id in self.registry:
            self.add_node_at(type_id, self.mapToScene(event.position().toPoint()))
            event.acceptProposedAction()
            self.setFocus()
