"""One frame, shown big: a pyqtgraph view with an image, an optional translucent mask, a caption and a FINAL badge."""
from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from studio.ui.preview_store import map_frame

BACKGROUND = "#15171a"
OVERLAY_RGB = (255, 70, 110)
OVERLAY_ALPHA = 120  # at mask value 1.0


class PixelImage(pg.ImageItem):
    """An ImageItem that scales up with nearest neighbour (sharp pixels) and down smoothly (no aliasing)."""

    def paint(self, painter, *args):
        scale = abs(painter.worldTransform().m11())
        painter.setRenderHint(QtGui.QPainter.RenderHint.SmoothPixmapTransform, scale < 1.0)
        super().paint(painter, *args)


class FrameViewer(pg.GraphicsView):
    """Shows one (H, W, 3) uint8 frame in a fixed scene rectangle, so clips of different resolutions (previews
    and the larger decoded frames) line up under the same zoom and pan."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, background=BACKGROUND)
        self.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
        self.box = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False, defaultPadding=0.02)
        self.setCentralItem(self.box)
        self.image = PixelImage(axisOrder="row-major")
        self.overlay = PixelImage(axisOrder="row-major")
        self.overlay.setZValue(1)
        self.box.addItem(self.image)
        self.box.addItem(self.overlay)
        self._frame: np.ndarray | None = None
        self._rect_size: tuple[int, int] | None = None
        self._mapping: tuple | None = None  # (image size, rect size) the image item is scaled for
        self._has_overlay = False
        self._fitting = True  # keep the frame fitted across resizes until the user zooms or pans
        self.box.sigRangeChangedManually.connect(self._user_moved)
        self.box.sigResized.connect(self._box_resized)

        self.caption = QtWidgets.QLabel(self)
        self.caption.setObjectName("viewerCaption")
        self.badge = QtWidgets.QLabel("FINAL", self)
        self.badge.setObjectName("finalBadge")
        self.badge.hide()
        self.placeholder = QtWidgets.QLabel("No previews yet — run the graph", self)
        self.placeholder.setObjectName("viewerPlaceholder")
        self.placeholder.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        for label in (self.caption, self.badge, self.placeholder):
            label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)

    # -- content
    @property
    def frame(self) -> np.ndarray | None:
        """The (H, W, 3) array on screen, or None."""
        return self._frame

    @property
    def rect_size(self) -> tuple[int, int] | None:
        """(width, height) of the scene rectangle the frame is stretched over, or None before any frame."""
        return self._rect_size

    def frame_point(self, pos: QtCore.QPointF) -> QtCore.QPointF:
        """A viewport position (a mouse event's) in the frame rectangle's coordinates, zoom and pan undone."""
        return self.box.mapSceneToView(self.mapToScene(pos.toPoint()))

    def show_frame(self, frame: np.ndarray | None, rect_size: tuple[int, int] | None = None) -> None:
        """Show `frame` stretched over a `rect_size` (width, height) scene rectangle (default: its own size)."""
        self._frame = frame
        self.placeholder.setVisible(frame is None)
        if frame is None:
            self.image.clear()
            self.overlay.clear()
            return
        height, width = frame.shape[:2]
        rect_size = rect_size or (width, height)
        # levels=(0, 255) on C-contiguous uint8 is pyqtgraph's no-copy path to a QImage
        self.image.setImage(frame, autoLevels=False, levels=(0, 255))
        if ((width, height), rect_size) != self._mapping:  # e.g. previews and the larger decoded frames alternate
            self._mapping = ((width, height), rect_size)
            self.image.setRect(QtCore.QRectF(0, 0, *rect_size))
        if rect_size != self._rect_size:
            self._rect_size = rect_size
            if self._has_overlay:
                self.overlay.setRect(QtCore.QRectF(0, 0, *rect_size))
            self.fit()  # a clip of another size: start from the whole frame

    def show_overlay(self, rgba: np.ndarray | None) -> None:
        """Draw an (h, w, 4) uint8 RGBA image over the frame's rectangle, or remove it (None)."""
        self._has_overlay = rgba is not None
        if rgba is None:
            self.overlay.clear()
            return
        self.overlay.setImage(rgba, autoLevels=False, levels=(0, 255))
        if self._rect_size is not None:
            self.overlay.setRect(QtCore.QRectF(0, 0, *self._rect_size))

    def set_caption(self, text: str) -> None:
        self.caption.setText(text)
        self.caption.setVisible(bool(text))
        self.caption.adjustSize()

    def set_final(self, final: bool) -> None:
        self.badge.setVisible(final)

    # -- zoom
    def fit(self) -> None:
        """Fit the frame to the view (and follow resizes until the user zooms or pans)."""
        self._fitting = True
        if self._rect_size is not None:
            self.box.setRange(QtCore.QRectF(0, 0, *self._rect_size), padding=0.02)

    def _user_moved(self, *_) -> None:
        self._fitting = False

    def _box_resized(self, *_) -> None:
        if self._fitting:
            self.fit()

    def set_zoom(self, factor: float) -> None:
        """Show `factor` screen pixels per scene pixel (integer factors keep preview pixels square and sharp)."""
        if self._rect_size is None:
            return
        view = self.box.viewRect()
        centre = view.center() if view.width() > 0 else QtCore.QPointF(self._rect_size[0] / 2,
                                                                        self._rect_size[1] / 2)
        size = self.box.size()
        width, height = size.width() / factor, size.height() / factor
        self._fitting = False
        self.box.setRange(QtCore.QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height), padding=0)

    def mouseDoubleClickEvent(self, event: QtGui.QMouseEvent) -> None:
        self.fit()
        event.accept()

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        if not hasattr(self, "badge"):  # pyqtgraph resizes during its own __init__
            return
        self.caption.move(8, 6)
        self.badge.adjustSize()
        self.badge.move(self.width() - self.badge.width() - 8, 6)
        self.placeholder.setGeometry(0, 0, self.width(), self.height())


class MaskOverlay:
    """A mask drawn over viewers frame by frame: (F, H, W) or (H, W) weights, optionally limited to the frames
    where `frames` (one bool per clip frame) is True; both matched to the timeline's frames proportionally."""

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None
        self.frames: np.ndarray | None = None
        self._key: tuple | None = None  # what the viewers show now: redrawn only when it changes

    def set(self, mask: np.ndarray | None, frames: np.ndarray | None = None) -> None:
        self.mask = None if mask is None else np.asarray(mask)
        self.frames = None if frames is None else np.asarray(frames, bool)
        self._key = ("changed",)

    def paint(self, viewers: tuple[FrameViewer, ...], frame: int, count: int) -> None:
        """Show the overlay for timeline frame `frame` of `count` on `viewers` (the first one's frame decides)."""
        mask, shown_on = self.mask, self.frames
        if shown_on is not None and len(shown_on) and not shown_on[map_frame(frame, count, len(shown_on))]:
            mask = None  # outside the mask's frame range
        if mask is None or viewers[0].frame is None:  # an empty viewer cleared its overlay: redraw it later
            key = None
        else:
            key = (id(mask), map_frame(frame, count, len(mask)) if mask.ndim == 3 else None)
        if key != self._key:
            self._key = key
            rgba = None if key is None else mask_rgba(mask if key[1] is None else mask[key[1]])
            for viewer in viewers:
                viewer.show_overlay(rgba)


def mask_rgba(mask: np.ndarray) -> np.ndarray:
    """An (H, W) bool or [0, 1] float mask as a translucent RGBA overlay (C-contiguous uint8)."""
    alpha = np.clip(np.asarray(mask, dtype=np.float32), 0.0, 1.0) * OVERLAY_ALPHA
    rgba = np.empty((*alpha.shape, 4), np.uint8)
    rgba[..., :3] = OVERLAY_RGB
    rgba[..., 3] = alpha.astype(np.uint8)
    return rgba
