"""The steps × frames overview: one thumbnail per (step, frame), the final decoded frames as the last row.

Every step of the run has a fixed row from the start (empty cells until its preview arrives), so rows fill in as the
sampler goes and nothing moves. Scene units are cells (a cell is `aspect` wide and 1 high), so thumbnails can be
rebuilt at whatever pixel size the view shows them without moving anything; each row is its own ImageItem, so a new
step costs one row of thumbnails.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Signal

from studio.ui.preview_store import FINAL, PreviewStore, Step, map_frame
from studio.ui.timeline_viewer import BACKGROUND, PixelImage

EMPTY_CELL = (36, 39, 45)
FINAL_GAP = 0.35  # extra space above the final row, in cells
CURSOR = "#ffb347"
COMPARE_CURSOR = "#4fc3f7"
AXIS_TEXT = "#8b9099"
MARGIN = 0.15  # around the grid, in cells
FIRST_THUMB = 24  # thumbnail height in pixels until the view has settled on a size
MAX_ROW_WIDTH = 4096  # pixels: bounds thumbnail memory for long clips


def thumbnail_row(clip: np.ndarray, count: int, th: int) -> np.ndarray:
    """`count` thumbnails `th` pixels high side by side (frames mapped proportionally when the clip has fewer)."""
    frames, height, width = clip.shape[:3]
    tw = max(1, round(width * th / height))
    if (height, width) == (th, tw):
        small = clip
    else:
        # Resize the frames stacked vertically: with one scale for all, each output row still averages only its
        # own frame, and one call beats one per frame. Exact halvings first: OpenCV's 2x area path is ~5x faster.
        stack = clip.reshape(frames * height, width, 3)
        while height >= 2 * th and width >= 2 * tw and height % 2 == 0 and width % 2 == 0:
            height, width = height // 2, width // 2
            stack = cv2.resize(stack, (width, frames * height), interpolation=cv2.INTER_AREA)
        small = cv2.resize(stack, (tw, frames * th), interpolation=cv2.INTER_AREA).reshape(frames, th, tw, 3)
    if frames != count:
        small = small[[map_frame(col, count, frames) for col in range(count)]]
    return np.ascontiguousarray(small.transpose(1, 0, 2, 3).reshape(th, count * tw, 3))


class StepFrameOverview(pg.GraphicsLayoutWidget):
    """Mosaic of the store's active sampler: rows = steps 1..N then "final", columns = frames."""

    cell_clicked = Signal(object, int)  # (step or FINAL, frame)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setBackground(BACKGROUND)
        self.ci.setContentsMargins(2, 2, 6, 4)
        self.plot = self.addPlot()
        self.plot.hideButtons()
        self.plot.setMenuEnabled(False)
        self.plot.showAxis("bottom", False)
        self.plot.showAxis("top", True)
        self.box = self.plot.getViewBox()
        self.box.setAspectLocked(True)
        self.box.invertY(True)
        for name in ("top", "left"):
            axis = self.plot.getAxis(name)
            axis.setPen(pg.mkPen(None))
            axis.setTextPen(pg.mkPen(AXIS_TEXT))
            axis.setTickPen(pg.mkPen(BACKGROUND))  # pyqtgraph resets tick alpha and draws 0-length ticks as dots
            axis.setStyle(tickLength=0, tickTextOffset=4, hideOverlappingLabels=True)
            axis.setTickFont(QtGui.QFont(self.font().family(), 8))
        self.plot.getAxis("left").setWidth(34)
        self.plot.getAxis("top").setHeight(18)

        self._store: PreviewStore | None = None
        self._layout: tuple | None = None
        self.aspect = 1.0  # cell width / height
        self._total = 0
        self._count = 0
        self._thumb_h = 0  # pixel height the rows are built at
        self._rows: dict[Step, PixelImage] = {}
        self._drawn: dict[Step, int] = {}  # step -> id() of the clip its row shows
        self._empty: dict[int, np.ndarray] = {}
        self._ticks_for: tuple | None = None

        self._grid = QtWidgets.QGraphicsPathItem()
        self._grid.setPen(pg.mkPen(BACKGROUND, width=1, cosmetic=True))  # crisp cell borders at any zoom
        self._grid.setZValue(1)
        self.box.addItem(self._grid, ignoreBounds=True)
        self._row_band = self._rect_item(brush=(255, 255, 255, 16), z=2)
        self._col_band = self._rect_item(brush=(255, 255, 255, 16), z=2)
        self._compare = self._rect_item(pen=pg.mkPen(COMPARE_CURSOR, width=2, cosmetic=True), z=3)
        self._cursor = self._rect_item(pen=pg.mkPen(CURSOR, width=2, cosmetic=True), z=4)
        self._newest = QtWidgets.QGraphicsLineItem()  # underlines the row the sampler has reached
        self._newest.setPen(pg.mkPen((255, 179, 71, 220), width=2, cosmetic=True))
        self._newest.setZValue(2)
        self._newest.hide()
        self.box.addItem(self._newest, ignoreBounds=True)
        self._cursor_at: tuple[Step, int] | None = None
        self._compare_at: tuple[Step, int] | None = None
        self.scene().sigMouseClicked.connect(self._on_click)
        self.placeholder = QtWidgets.QLabel("Every step × every frame appears here while the sampler runs", self)
        self.placeholder.setObjectName("viewerPlaceholder")
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self.placeholder.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._clear_ticks()
        # thumbnails and labels follow the on-screen cell size, re-evaluated once the view settles
        self._settle = QtCore.QTimer(self, singleShot=True, interval=120, timeout=self._view_settled)
        self.box.sigRangeChanged.connect(lambda *_: self._settle.start())
        self.box.sigResized.connect(self._resized)

    def _rect_item(self, pen=None, brush=None, z=0) -> QtWidgets.QGraphicsRectItem:
        item = QtWidgets.QGraphicsRectItem()
        item.setPen(pen if pen is not None else pg.mkPen(None))
        item.setBrush(pg.mkBrush(brush) if brush is not None else pg.mkBrush(None))
        item.setZValue(z)
        item.hide()
        self.box.addItem(item, ignoreBounds=True)
        return item

    # -- geometry (scene units: a cell is `aspect` wide and 1 high)
    def row_of(self, step: Step) -> float:
        """Top of `step`'s row (the final row sits after a small gap)."""
        return self._total + FINAL_GAP if step == FINAL else int(step) - 1

    def cell_rect(self, step: Step, frame: int) -> QtCore.QRectF:
        return QtCore.QRectF(frame * self.aspect, self.row_of(step), self.aspect, 1)

    def cell_at(self, x: float, y: float) -> tuple[Step, int] | None:
        """The (step, frame) under scene point (x, y), or None outside the grid."""
        if self._count == 0 or not 0 <= x < self._count * self.aspect:
            return None
        frame = min(int(x // self.aspect), self._count - 1)
        if FINAL in self._rows and self.row_of(FINAL) - FINAL_GAP / 2 <= y < self.row_of(FINAL) + 1:
            return FINAL, frame
        return (int(y) + 1, frame) if 0 <= y < self._total else None

    @property
    def layout_key(self) -> tuple | None:
        """Changes whenever the grid's shape does."""
        return self._layout

    def grid_rect(self) -> QtCore.QRectF:
        bottom = self.row_of(FINAL) + 1 if FINAL in self._rows else self._total
        return QtCore.QRectF(0, 0, self._count * self.aspect, bottom)

    def cell_pixels(self) -> float:
        """On-screen height of one cell, in device pixels."""
        height = self.box.viewRect().height()
        return self.box.height() / height if height > 0 else 0.0

    # -- content
    def sync(self, store: PreviewStore) -> None:
        """Bring the mosaic up to date with `store`: lays out again only when the grid's shape changed,
        otherwise builds rows only for steps whose preview is new."""
        self._store = store
        steps = store.steps()
        sample = store.frames_at(store.newest_step) if store.newest_step is not None else store.frames_at(FINAL)
        if sample is None:
            self._relayout(None)
            return
        total = max(store.total_steps or 0, max((s for s in steps if s != FINAL), default=0))
        layout = (store.active_node, total, store.frame_count, sample.shape[1:3], store.has_final)
        if layout != self._layout:
            self._relayout(layout)
        for step in [s for s in self._drawn if s not in steps]:  # thinned away
            self._rows[step].setImage(self._empty_row(), autoLevels=False, levels=(0, 255))
            del self._drawn[step]
        for step in steps:
            clip = store.frames_at(step)
            if clip is not None and self._drawn.get(step) != id(clip):
                self._set_row(step, clip)
        newest = store.newest_step
        self._newest.setVisible(store.status == "running" and newest in self._rows)
        if self._newest.isVisible():
            bottom = self.row_of(newest) + 1
            self._newest.setLine(0, bottom, self._count * self.aspect, bottom)
        self._place_cursors()

    def _set_row(self, step: Step, clip: np.ndarray) -> None:
        item = self._rows[step]
        item.setImage(thumbnail_row(clip, self._count, min(self._thumb_h, clip.shape[1])),
                      autoLevels=False, levels=(0, 255))
        item.setRect(QtCore.QRectF(0, self.row_of(step), self._count * self.aspect, 1))
        self._drawn[step] = id(clip)

    def _empty_row(self) -> np.ndarray:
        if self._count not in self._empty:
            self._empty = {self._count: np.full((1, self._count, 3), EMPTY_CELL, np.uint8)}
        return self._empty[self._count]

    def _relayout(self, layout: tuple | None) -> None:
        for item in self._rows.values():
            self.box.removeItem(item)
        self._rows.clear()
        self._drawn.clear()
        self._layout = layout
        self._grid.setPath(QtGui.QPainterPath())
        if layout is None:
            self._count = self._total = 0
            self._cursor_at = self._compare_at = None
            self._newest.hide()
            self._place_cursors()
            self._clear_ticks()
            self.placeholder.show()
            return
        self.placeholder.hide()
        _, total, count, (height, width), has_final = layout
        self._total, self._count, self.aspect = total, count, width / height
        self._thumb_h = min(self._thumb_h or FIRST_THUMB, self._max_thumb())
        for step in [*range(1, total + 1), *([FINAL] if has_final else [])]:
            item = PixelImage(axisOrder="row-major")
            item.setImage(self._empty_row(), autoLevels=False, levels=(0, 255))
            item.setRect(QtCore.QRectF(0, self.row_of(step), count * self.aspect, 1))
            self.box.addItem(item)
            self._rows[step] = item
        self._grid.setPath(self._grid_path())
        self.fit()

    def _grid_path(self) -> QtGui.QPainterPath:
        path, rect = QtGui.QPainterPath(), self.grid_rect()
        for col in range(1, self._count):
            path.moveTo(col * self.aspect, 0)
            path.lineTo(col * self.aspect, rect.bottom())
        for row in range(1, self._total):
            path.moveTo(0, row)
            path.lineTo(rect.right(), row)
        return path

    def fit(self) -> None:
        """Show the whole grid, anchored top-left so the step labels sit next to it."""
        if self._count == 0:
            return
        rect, size = self.grid_rect(), self.box.size()
        if size.width() <= 0 or size.height() <= 0:
            self.box.setRange(rect, padding=0.02)
            return
        span_w, span_h = rect.width() + 2 * MARGIN, rect.height() + 2 * MARGIN
        scale = min(size.width() / span_w, size.height() / span_h)  # pixels per cell unit
        self.box.setRange(QtCore.QRectF(-MARGIN, -MARGIN, size.width() / scale, size.height() / scale), padding=0)
        self._set_ticks(scale)

    def _max_thumb(self) -> int:
        """The clip's own height, or less when a row that high would pass MAX_ROW_WIDTH pixels."""
        height = self._layout[3][0] if self._layout is not None else FIRST_THUMB
        return max(4, min(height, int(MAX_ROW_WIDTH / max(1, self._count * self.aspect))))

    def _resized(self) -> None:
        self.fit()
        self._settle.start()

    def _view_settled(self) -> None:
        """Rebuild thumbnails near their on-screen size (never above the clip's own) and space the labels."""
        pixels = self.cell_pixels()
        if self._count == 0 or pixels <= 0:
            return
        wanted = min(max(4, math.ceil(pixels)), self._max_thumb())
        if abs(wanted - self._thumb_h) > max(2, 0.15 * self._thumb_h) and self._store is not None:
            self._thumb_h = wanted
            for step in list(self._drawn):
                clip = self._store.frames_at(step)
                if clip is not None:
                    self._set_row(step, clip)
        self._set_ticks(pixels)

    def _clear_ticks(self) -> None:
        self._ticks_for = None
        for name in ("left", "top"):
            self.plot.getAxis(name).setTicks([[]])

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        if hasattr(self, "placeholder"):  # pyqtgraph resizes during its own __init__
            self.placeholder.setGeometry(0, 0, self.width(), self.height())

    def _set_ticks(self, pixels: float) -> None:
        """One label every k rows/columns, k chosen so labels do not crowd at the current cell size."""
        key = (self._total, self._count, "final" in self._rows, round(pixels))
        if key == self._ticks_for:
            return
        self._ticks_for = key
        nice = (1, 2, 5, 10, 20, 25, 50, 100)
        row_every = next((k for k in nice if k * pixels >= 15), 100)
        col_every = next((k for k in nice if k * pixels * self.aspect >= 22), 100)
        shown = lambda n, k: n == 1 or (n % k == 0 and n >= 1 + 0.6 * k)  # noqa: E731 (1 never crowds k)
        left = [(self.row_of(s) + 0.5, str(s)) for s in range(1, self._total + 1) if shown(s, row_every)]
        if FINAL in self._rows:
            final_y = self.row_of(FINAL) + 0.5
            left = [(y, text) for y, text in left if (final_y - y) * pixels >= 13]
            left.append((final_y, "final"))
        top = [((f + 0.5) * self.aspect, str(f + 1)) for f in range(self._count) if shown(f + 1, col_every)]
        self.plot.getAxis("left").setTicks([left])
        self.plot.getAxis("top").setTicks([top])

    # -- cursors
    def set_cursor(self, step: Step | None, frame: int) -> None:
        self._cursor_at = None if step is None else (step, frame)
        self._place_cursors()

    def set_compare_cursor(self, step: Step | None, frame: int) -> None:
        self._compare_at = None if step is None else (step, frame)
        self._place_cursors()

    def _place_cursors(self) -> None:
        for item, at in ((self._cursor, self._cursor_at), (self._compare, self._compare_at)):
            visible = at is not None and at[0] in self._rows and 0 <= at[1] < self._count
            item.setVisible(visible)
            if visible:
                item.setRect(self.cell_rect(*at))
        visible = self._cursor.isVisible()
        self._row_band.setVisible(visible)
        self._col_band.setVisible(visible)
        if visible:
            step, frame = self._cursor_at
            grid = self.grid_rect()
            self._row_band.setRect(QtCore.QRectF(grid.left(), self.row_of(step), grid.width(), 1))
            self._col_band.setRect(QtCore.QRectF(frame * self.aspect, grid.top(), self.aspect, grid.height()))

    # -- input
    def _on_click(self, event) -> None:
        if event.button() != QtCore.Qt.MouseButton.LeftButton:
            return
        if event.double():
            self.fit()
            return
        point = self.box.mapSceneToView(event.scenePos())
        cell = self.cell_at(point.x(), point.y())
        if cell is not None:
            event.accept()
            self.cell_clicked.emit(*cell)
