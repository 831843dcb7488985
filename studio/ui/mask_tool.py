"""The mask tools on the timeline's viewer: draw the region to inpaint (rectangle, ellipse, brush, eraser), mark
its frame range at the current frame (I / O), and see it over the frames it covers while scrubbing.

The tools edit the Mask node the user selected (or the workflow's only one) through undo commands, so the
inspector follows and Ctrl+Z undoes a stroke; the overlay is redrawn from the node's parameters on every change.
A brush stroke writes a new painted PNG (studio/ui/mask_region.py) and points the node's `path` at it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QUndoStack

from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry
from studio.media.masks import MaskError, frame_range, shape_region
from studio.paths import user_data_dir
from studio.ui.editor.commands import SetParam
from studio.ui.mask_region import (ClipReader, SourceClip, mask_node_ids, mask_params, overlay_size, paint_canvas,
                                   paint_line, painted_mask_folder, param_path, region_overlay, shrink,
                                   source_clip_path, target_mask, write_painted)
from studio.ui.preview_store import map_frame
from studio.ui.timeline import TimelineView
from studio.ui.timeline_controls import tool_button

TOOLS = (("rectangle", "▭ Rect", "Drag a rectangle over the region to regenerate"),
         ("ellipse", "◯ Ellipse", "Drag the box of an ellipse over the region to regenerate"),
         ("brush", "✎ Brush", "Paint the region to regenerate (B)"),
         ("eraser", "⌫ Eraser", "Erase from the region"))
SHAPES = ("rectangle", "ellipse")
OUTLINE = QtGui.QColor(255, 255, 255, 220)


class MaskTool(QtWidgets.QWidget):
    """A row of mask tools for a TimelineView; the window feeds it the graph (`set_graph`) and the node selection
    (`set_selection`). Hidden while the workflow has no Mask node."""

    status_message = Signal(str)

    def __init__(self, timeline: TimelineView, registry: NodeRegistry, undo_stack: QUndoStack,
                 data_dir: Path | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("maskTools")
        self.timeline, self.registry, self.undo_stack = timeline, registry, undo_stack
        self.data_dir = data_dir  # painted masks of unsaved workflows; None: the studio's data folder
        self.graph: Graph | None = None
        self.mask_id: str | None = None
        self.clip: SourceClip | None = None
        self.tool: str | None = None
        self._selected: list[str] = []
        self._reader = ClipReader()
        self._shown_on: np.ndarray | None = None  # the frames the region covers, kept while a drag redraws it
        self._drag: dict[str, Any] | None = None
        self._build()
        self._viewport = viewport = timeline.viewer.viewport()
        viewport.installEventFilter(self)
        viewport.setMouseTracking(True)  # the brush's outline follows the pointer
        self.outline = QtWidgets.QGraphicsPathItem()
        pen = QtGui.QPen(OUTLINE, 1.5, Qt.PenStyle.DashLine)
        pen.setCosmetic(True)  # the same width at any zoom
        self.outline.setPen(pen)
        self.outline.setZValue(2)
        self.outline.hide()
        timeline.viewer.box.addItem(self.outline, ignoreBounds=True)
        for key, slot in (("I", self.mark_in), ("O", self.mark_out), ("B", lambda: self.set_tool("brush")),
                          ("Escape", lambda: self.set_tool(None))):
            QtGui.QShortcut(QtGui.QKeySequence(key), timeline, slot,
                            context=Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.hide()

    def _build(self) -> None:
        self.target_label = QtWidgets.QLabel(objectName="maskLabel")
        self.tool_buttons: dict[str, QtWidgets.QToolButton] = {}
        for name, text, tip in TOOLS:
            button = tool_button(text, tip, True)
            button.toggled.connect(lambda checked, name=name: self._tool_toggled(name, checked))
            self.tool_buttons[name] = button
        self.size_box = QtWidgets.QSpinBox(minimum=1, maximum=1024, value=32, suffix=" px")
        self.size_box.setToolTip("Brush and eraser diameter, in pixels of the source clip")
        self.size_box.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.size_box.setMaximumWidth(80)
        self.size_box.valueChanged.connect(lambda _: self._hide_brush_outline())
        self.clear_button = tool_button("Clear", "Empty the region (then paint it from nothing)", False)
        self.clear_button.clicked.connect(self.clear)
        self.overlay_button = tool_button("Overlay", "Show the mask over the frames it covers", True)
        self.overlay_button.setChecked(True)
        self.overlay_button.toggled.connect(lambda _: self.refresh())
        self.source_button = tool_button("Source", "Show the source clip in the viewer instead of the run's frames "
                                         "(Compare still shows a step beside it)", True)
        self.source_button.toggled.connect(lambda on: self.timeline.set_backdrop(self.timeline_backdrop(), on))
        self.in_button = tool_button("⇤ In", "Start the mask's frame range at the current frame (I)", False)
        self.in_button.clicked.connect(self.mark_in)
        self.out_button = tool_button("Out ⇥", "End the mask's frame range at the current frame (O)", False)
        self.out_button.clicked.connect(self.mark_out)
        self.range_label = QtWidgets.QLabel(objectName="maskRange")
        row = QtWidgets.QHBoxLayout(self)
        row.setContentsMargins(6, 0, 6, 0)
        row.addWidget(self.target_label)
        for button in self.tool_buttons.values():
            row.addWidget(button)
        row.addWidget(self.size_box)
        row.addWidget(self.clear_button)
        row.addSpacing(12)
        for widget in (self.in_button, self.out_button, self.range_label):
            row.addWidget(widget)
        row.addStretch(1)
        row.addWidget(self.source_button)
        row.addWidget(self.overlay_button)
        self._editing = [*self.tool_buttons.values(), self.size_box, self.clear_button, self.in_button,
                         self.out_button, self.overlay_button]

    # -- what is edited
    def set_graph(self, graph: Graph | None) -> None:
        if self.graph is not None:
            self.graph.unsubscribe(self._on_graph_event)
        self.graph, self._selected, self._drag = graph, [], None
        if graph is not None:
            graph.subscribe(self._on_graph_event)
        self.refresh()

    def set_selection(self, node_ids: list[str]) -> None:
        self._selected = list(node_ids)
        self.refresh()

    def _on_graph_event(self, event: str, details: dict[str, Any]) -> None:
        if self._drag is not None or event == "ui_changed":  # mid-stroke the stroke's own preview stays on screen
            return
        if event == "param_changed" and self.mask_id in self.graph.nodes:
            link = self.graph.nodes[self.mask_id].inputs.get("video")
            if details["node"] not in (self.mask_id, link[0] if link else None):
                return  # a prompt or a seed: nothing the mask shows
        self.refresh()

    def refresh(self) -> None:
        """Follow the graph: which Mask node is edited, its source clip, its overlay and frame range."""
        graph = self.graph
        masks = mask_node_ids(graph) if graph is not None else []
        self.setVisible(bool(masks))
        self.mask_id = target_mask(graph, self._selected) if masks else None
        for widget in self._editing:
            widget.setEnabled(self.mask_id is not None)
        if self.mask_id is None:
            self.clip = None
            self.target_label.setText("Mask: select a Mask node" if masks else "")
            self.range_label.setText("")
            self.timeline.set_overlay(None)
            self.timeline.set_frame_range(None, None, 1)
            self.source_button.setChecked(False)
            self.source_button.setEnabled(False)
            self.timeline.set_backdrop(None)
            self.set_tool(None)
            return
        self.clip = self._reader.read(source_clip_path(graph, self.mask_id))
        self.source_button.setEnabled(self.clip is not None)
        self.timeline.set_backdrop(self.timeline_backdrop(), self.source_button.isChecked())
        self.target_label.setText(f"Mask: {self.mask_id}")
        self._show_region()

    def timeline_backdrop(self) -> np.ndarray | None:
        return self.clip.backdrop if self.clip is not None else None

    def geometry(self) -> tuple[int, int, int]:
        """(width, height, frames) of the clip the mask is drawn on: the source clip's, else what the viewer shows."""
        if self.clip is not None:
            return self.clip.width, self.clip.height, self.clip.frames
        width, height = self.timeline.viewer.rect_size or (320, 180)
        return width, height, max(self.timeline.frame_count, 1)

    def params(self) -> dict[str, Any]:
        assert self.graph is not None and self.mask_id is not None
        return mask_params(self.graph, self.registry, self.mask_id)

    def _show_region(self) -> None:
        params = self.params()
        width, height, frames = self.geometry()
        problem = ""
        try:
            weights, self._shown_on = region_overlay(self.graph, params, width, height, frames)
        except MaskError as exc:
            weights, problem = None, f"{exc.param}: {exc.message}"
        self.timeline.set_overlay(weights if self.overlay_button.isChecked() else None, self._shown_on)
        try:
            first, last = frame_range(int(params["first_frame"]), int(params["last_frame"]), frames)
        except MaskError:
            self.timeline.set_frame_range(None, None, frames)
            self.range_label.setText("frames: invalid range")
        else:
            self.timeline.set_frame_range(first, last, frames)
            self.range_label.setText(f"frames {first + 1}–{last + 1} of {frames}")
        self.range_label.setToolTip(problem)
        self.target_label.setToolTip(problem or f"The tools edit the Mask node '{self.mask_id}'")

    # -- commands
    def set_tool(self, name: str | None) -> None:
        """Pick a drawing tool (None: the viewer pans and zooms again)."""
        if name is not None and self.mask_id is None:
            name = None
        self.tool = name
        for tool, button in self.tool_buttons.items():
            blocked = button.blockSignals(True)
            button.setChecked(tool == name)
            button.blockSignals(blocked)
        viewport = self.timeline.viewer.viewport()
        viewport.setCursor(Qt.CursorShape.CrossCursor) if name else viewport.unsetCursor()
        self._drag = None
        self.outline.hide()

    def _tool_toggled(self, name: str, checked: bool) -> None:
        if checked:
            self.set_tool(name)
        elif self.tool == name:
            self.set_tool(None)

    def mark_in(self) -> None:
        self._mark(first=True)

    def mark_out(self) -> None:
        self._mark(first=False)

    def _mark(self, first: bool) -> None:
        if self.mask_id is None:
            return
        if not self.timeline.frame_count:
            self.status_message.emit("No frames to mark yet: run the workflow or load its source clip")
            return
        params = self.params()
        _, _, frames = self.geometry()
        index = map_frame(self.timeline.current_frame, self.timeline.frame_count, frames)
        try:
            start, end = frame_range(int(params["first_frame"]), int(params["last_frame"]), frames)
        except MaskError:
            start, end = 0, frames - 1
        if first:
            start, end = index, max(end, index)  # an in point after the out point moves the out point along
        else:
            start, end = min(start, index), index
        # The clip's last frame stays -1, so the range keeps reaching the end if the clip gets longer.
        self._set_params({"first_frame": start, "last_frame": -1 if end == frames - 1 else end},
                         f"Mark mask {'in' if first else 'out'} at frame {index + 1}")

    def clear(self) -> None:
        """Empty the region: a black painted mask, to paint from nothing."""
        if self.mask_id is None:
            return
        if self.clip is None:
            self.status_message.emit(self._no_clip_reason())
            return
        self._commit_canvas(np.zeros((self.clip.height, self.clip.width), np.uint8), "Clear mask")

    def _set_params(self, values: dict[str, Any], text: str) -> None:
        """Set several of the Mask node's parameters as one undo step."""
        assert self.graph is not None and self.mask_id is not None
        current = self.params()
        changed = {name: value for name, value in values.items() if current.get(name) != value}
        if not changed:
            return
        spec = self.registry.get(self.graph.nodes[self.mask_id].type)
        session = object()  # never merged with an inspector edit of the same parameter
        self.undo_stack.beginMacro(text)
        for name, value in changed.items():
            param = spec.param(name) if spec else None
            self.undo_stack.push(SetParam(self.graph, self.mask_id, name, value,
                                          default=param.default if param else None, session=session))
        self.undo_stack.endMacro()

    def _commit_canvas(self, canvas: np.ndarray, text: str) -> None:
        assert self.graph is not None and self.mask_id is not None
        stem = f"{self.graph.source_path.stem if self.graph.source_path else 'untitled'}-{self.mask_id}"
        folder = painted_mask_folder(self.graph, self.data_dir or user_data_dir())
        try:
            written = write_painted(canvas, folder, stem)
        except OSError as exc:
            self.status_message.emit(f"Cannot save the painted mask in {folder}: {exc}")
            self.refresh()
            return
        self._set_params({"path": param_path(self.graph, written)}, text)
        self.status_message.emit(f"painted mask saved as {written}")

    def _no_clip_reason(self) -> str:
        detail = f" ({self._reader.error})" if self._reader.error else ""
        return ("The brush paints at the source clip's size: feed the Mask node from a Load Video node with a "
                f"readable clip{detail}")

    # -- the mouse on the viewer
    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if self.tool is None or self.mask_id is None or watched is not self._viewport:
            return False
        kind = event.type()
        left = getattr(event, "button", lambda: None)() == Qt.MouseButton.LeftButton
        if kind in (QtCore.QEvent.Type.MouseButtonPress, QtCore.QEvent.Type.MouseButtonDblClick) and left:
            self.timeline.setFocus(Qt.FocusReason.MouseFocusReason)  # I and O work right after drawing
            self._press(event.position())
            return True
        if kind == QtCore.QEvent.Type.MouseMove:
            if self._drag is not None:
                self._move(event.position())
                return True
            self._hover(event.position())
        elif kind == QtCore.QEvent.Type.MouseButtonRelease and left and self._drag is not None:
            self._move(event.position())
            self._release()
            return True
        elif kind == QtCore.QEvent.Type.Leave and self._drag is None:
            self.outline.hide()
        return False

    def _fraction(self, pos: QtCore.QPointF) -> tuple[float, float] | None:
        rect = self.timeline.viewer.rect_size
        if rect is None:
            return None
        point = self.timeline.viewer.frame_point(pos)
        return point.x() / rect[0], point.y() / rect[1]

    def _press(self, pos: QtCore.QPointF) -> None:
        at = self._fraction(pos)
        if at is None:
            self.status_message.emit("Nothing to draw on yet: load the source clip or run the workflow")
            return
        if self.tool in SHAPES:
            self._drag = {"start": at, "end": at}
            self._draw_shape()
            return
        if self.clip is None:
            self.status_message.emit(self._no_clip_reason())
            return
        try:
            canvas = paint_canvas(self.graph, self.params(), self.clip)
        except MaskError as exc:
            self.status_message.emit(f"Cannot paint: {exc.message}")
            return
        self._drag = {"canvas": canvas, "last": self._pixel(at)}
        self._paint_to(at)

    def _move(self, pos: QtCore.QPointF) -> None:
        at = self._fraction(pos)
        if at is None or self._drag is None:
            return
        if self.tool in SHAPES:
            self._drag["end"] = at
            self._draw_shape()
        else:
            self._paint_to(at)
            self._show_brush(at)

    def _release(self) -> None:
        drag, self._drag = self._drag, None
        if drag is None:
            return
        if self.tool in SHAPES:
            self.outline.hide()
            self._commit_shape(drag["start"], drag["end"])
        else:
            self._commit_canvas(drag["canvas"], f"Paint mask ({self.tool})")

    def _box(self, start: tuple[float, float], end: tuple[float, float]) -> tuple[float, float, float, float]:
        clamp = lambda v: min(max(v, 0.0), 1.0)  # noqa: E731
        left, right = sorted((clamp(start[0]), clamp(end[0])))
        top, bottom = sorted((clamp(start[1]), clamp(end[1])))
        return left, top, right, bottom

    def _draw_shape(self) -> None:
        """The dragged shape: a dashed outline, and the overlay as the node will see it."""
        left, top, right, bottom = self._box(self._drag["start"], self._drag["end"])
        width, height = self.timeline.viewer.rect_size
        path = QtGui.QPainterPath()
        box = QtCore.QRectF(left * width, top * height, (right - left) * width, (bottom - top) * height)
        path.addEllipse(box) if self.tool == "ellipse" else path.addRect(box)
        self.outline.setPath(path)
        self.outline.show()
        clip_width, clip_height, _ = self.geometry()
        try:
            region = shape_region(self.tool, left, top, right, bottom, *overlay_size(clip_width, clip_height))
        except MaskError:
            return
        self.timeline.set_overlay(region if self.overlay_button.isChecked() else None, self._shown_on)

    def _commit_shape(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        left, top, right, bottom = self._box(start, end)
        width, height, _ = self.geometry()
        if (right - left) * width < 1 or (bottom - top) * height < 1:  # a click, not a drag
            self.status_message.emit(f"Drag to draw the {self.tool}")
            self.refresh()
            return
        values: dict[str, Any] = {"shape": self.tool, "left": round(left, 5), "top": round(top, 5),
                                  "right": round(right, 5), "bottom": round(bottom, 5)}
        if self.params().get("path"):
            values["path"] = ""  # a drawn shape replaces the painted mask (its file stays where it is)
        self._set_params(values, f"Draw mask {self.tool}")

    def _pixel(self, at: tuple[float, float]) -> tuple[float, float]:
        assert self.clip is not None
        return at[0] * self.clip.width - 0.5, at[1] * self.clip.height - 0.5  # pixel centres are at .0

    def _paint_to(self, at: tuple[float, float]) -> None:
        drag, clip = self._drag, self.clip
        point = self._pixel(at)
        paint_line(drag["canvas"], drag["last"], point, self.size_box.value(), 0 if self.tool == "eraser" else 255)
        drag["last"] = point
        weights = shrink(drag["canvas"].astype(np.float32) / 255.0, overlay_size(clip.width, clip.height))
        self.timeline.set_overlay(weights if self.overlay_button.isChecked() else None, self._shown_on)

    def _hover(self, pos: QtCore.QPointF) -> None:
        at = self._fraction(pos)
        if at is not None and self.tool in ("brush", "eraser") and self.clip is not None:
            self._show_brush(at)

    def _show_brush(self, at: tuple[float, float]) -> None:
        """A circle the size of the brush under the pointer."""
        width, height = self.timeline.viewer.rect_size
        rx = self.size_box.value() / 2 * width / self.clip.width
        ry = self.size_box.value() / 2 * height / self.clip.height
        path = QtGui.QPainterPath()
        path.addEllipse(QtCore.QPointF(at[0] * width, at[1] * height), rx, ry)
        self.outline.setPath(path)
        self.outline.show()

    def _hide_brush_outline(self) -> None:
        if self._drag is None:
            self.outline.hide()
