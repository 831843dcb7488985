"""The timeline: every frame of every denoising step of the last run, scrubbable, playable and comparable.

Events only update the PreviewStore (cheap, any thread); a ~30 Hz timer pulls from it and repaints only when the
store's version or the selection changed, so a fast sampler never queues paints. A tick does O(1) work unless the
store changed; a new preview costs one row of thumbnails.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets
from PySide6.QtCore import Qt, Signal

from studio.ui.preview_store import FINAL, PreviewStore, Step, map_frame
from studio.ui.timeline_controls import STYLE, run_state_text, slider, thinned_text, tool_button
from studio.ui.timeline_overview import StepFrameOverview
from studio.ui.timeline_viewer import FrameViewer, MaskOverlay

PAINT_HZ = 30
ZOOMS = (("Fit", 0), ("1×", 1), ("2×", 2), ("4×", 4), ("8×", 8))


class TimelineView(QtWidgets.QWidget):
    """Steps × frames of the last run. Feed it engine events with `handle_event`; it repaints on its own timer."""

    selection_changed = Signal(object, int)  # (step: int or FINAL, frame: 0-based)
    export_requested = Signal()  # the Export… button: the window opens the Export dialog
    exportable_changed = Signal(bool)  # whether the store holds anything to export

    def __init__(self, store: PreviewStore | None = None, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("timeline")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, True)
        self.setStyleSheet(STYLE)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.store = store if store is not None else PreviewStore()
        self._steps: list[Step] = []
        self._index: dict[Step, int] = {}  # position in _steps, so a paint never searches the list
        self._step: Step | None = None
        self._frame = 0
        self._compare_step: Step | None = None
        self._follow = True
        self._emitted: tuple[Step | None, int] | None = None
        self._overlay = MaskOverlay()
        self._backdrop: np.ndarray | None = None  # a clip to show while the store holds no images (the source)
        self._backdrop_first = False  # show the backdrop even over the run's images
        self._seen_version = -1
        self._seen_generation = 0
        self._dirty = True
        self._rect_size: tuple[int, int] | None = None
        self._exportable = False
        self._build()
        self._paint_timer = QtCore.QTimer(self, interval=1000 // PAINT_HZ, timeout=self.refresh)
        self._paint_timer.start()
        self._play_timer = QtCore.QTimer(self, timeout=self._advance)
        self._play_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.refresh()

    # -- widgets
    def _build(self) -> None:
        self.state_label = QtWidgets.QLabel(objectName="runState")
        self.thinned_label = QtWidgets.QLabel(objectName="thinned")
        self.zoom_button = tool_button("Fit ▾", "Zoom of the viewer (integer zooms keep preview pixels sharp; "
                                       "double-click the viewer to fit)", False)
        self.zoom_button.setPopupMode(QtWidgets.QToolButton.ToolButtonPopupMode.InstantPopup)
        zoom_menu = QtWidgets.QMenu(self.zoom_button)
        for name, factor in ZOOMS:
            zoom_menu.addAction(name).setData(factor)
        zoom_menu.triggered.connect(self._zoom_chosen)
        self.zoom_button.setMenu(zoom_menu)
        self.follow_button = tool_button("Follow newest", "Jump to each new step as it arrives", True)
        self.follow_button.setChecked(True)
        self.follow_button.toggled.connect(self._follow_toggled)
        self.compare_button = tool_button("Compare", "Show a second step side by side", True)
        self.compare_button.toggled.connect(self.set_compare)
        self.export_button = tool_button("Export…", "Export the final frames or a step's previews (Ctrl+E)", False)
        self.export_button.setEnabled(False)
        self.export_button.clicked.connect(self.export_requested)
        self.top_bar = top = QtWidgets.QHBoxLayout()
        top.setContentsMargins(6, 4, 6, 0)
        for widget in (self.state_label, self.thinned_label):
            top.addWidget(widget)
        top.addStretch(1)
        for widget in (self.zoom_button, self.follow_button, self.compare_button, self.export_button):
            top.addWidget(widget)

        self.viewer = FrameViewer()
        self.compare_viewer = FrameViewer()
        self.compare_viewer.caption.setObjectName("compareCaption")  # cyan, like its cursor in the overview
        self.compare_viewer.box.setXLink(self.viewer.box)  # one zoom and pan for both
        self.compare_viewer.box.setYLink(self.viewer.box)
        self.compare_slider = slider("compareSlider")
        self.compare_slider.valueChanged.connect(self._compare_slider_moved)
        self.compare_label = QtWidgets.QLabel(objectName="compareLabel")
        compare_bar = QtWidgets.QHBoxLayout()
        compare_bar.addWidget(self.compare_slider, 1)
        compare_bar.addWidget(self.compare_label)
        self.compare_panel = QtWidgets.QWidget()
        compare_column = QtWidgets.QVBoxLayout(self.compare_panel)
        compare_column.setContentsMargins(0, 0, 0, 0)
        compare_column.addWidget(self.compare_viewer, 1)
        compare_column.addLayout(compare_bar)
        self.compare_panel.hide()
        viewers = QtWidgets.QWidget()
        viewer_row = QtWidgets.QHBoxLayout(viewers)
        viewer_row.setContentsMargins(0, 0, 0, 0)
        viewer_row.setSpacing(4)
        viewer_row.addWidget(self.viewer, 1)
        viewer_row.addWidget(self.compare_panel, 1)

        self.overview = StepFrameOverview()
        self.overview.cell_clicked.connect(self._cell_clicked)
        self.splitter = QtWidgets.QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(viewers)
        self.splitter.addWidget(self.overview)
        self.splitter.setChildrenCollapsible(False)
        self._splitter_touched = False  # once the user drags it, the split is theirs
        self.splitter.splitterMoved.connect(self._splitter_moved)
        self._balanced_for: tuple | None = None

        self.play_button = tool_button("▶", "Play the frames of this step (Space)", False)
        self.play_button.setObjectName("playButton")
        self.play_button.clicked.connect(self.toggle_playing)
        self.step_slider = slider("stepSlider")
        self.step_slider.valueChanged.connect(self._step_slider_moved)
        self.step_slider.setToolTip("Denoising step · Up/Down · Ctrl+Home: first step · Ctrl+End: follow newest")
        self.step_label = QtWidgets.QLabel(objectName="scrubLabel")
        self.frame_slider = slider("frameSlider")
        self.frame_slider.valueChanged.connect(self._frame_slider_moved)
        self.frame_slider.setToolTip("Frame · Left/Right · Home/End: first/last frame · Space: play")
        self.frame_label = QtWidgets.QLabel(objectName="scrubLabel")
        self.fps_label = QtWidgets.QLabel()
        bottom = QtWidgets.QHBoxLayout()
        bottom.setContentsMargins(6, 0, 6, 4)
        bottom.addWidget(self.play_button)
        bottom.addWidget(self.step_slider, 2)
        bottom.addWidget(self.step_label)
        bottom.addSpacing(10)
        bottom.addWidget(self.frame_slider, 3)
        bottom.addWidget(self.frame_label)
        bottom.addWidget(self.fps_label)

        column = QtWidgets.QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(4)
        column.addLayout(top)
        self._tool_rows = 1  # where add_tool_row inserts: under the top bar
        column.addWidget(self.splitter, 1)
        column.addLayout(bottom)
        for view in (self.viewer, self.compare_viewer, self.overview):
            view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            view.viewport().installEventFilter(self)  # a click anywhere gives the keys to the timeline

    def eventFilter(self, watched: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if event.type() == QtCore.QEvent.Type.MouseButtonPress:
            self.setFocus(Qt.FocusReason.MouseFocusReason)
        return False

    # -- public API
    def handle_event(self, event: dict[str, Any]) -> bool:
        """Pass one engine event to the store; the view catches up on its next paint tick."""
        return self.store.handle_event(event)

    @property
    def current_step(self) -> Step | None:
        return self._step

    @property
    def current_frame(self) -> int:
        return self._frame

    @property
    def frame_count(self) -> int:
        """Frames on the frame scrubber: the store's, or the backdrop's while the store holds no images."""
        return len(self._backdrop) if self.showing_backdrop else self.store.frame_count

    @property
    def showing_backdrop(self) -> bool:
        return self._backdrop is not None and (self._backdrop_first or not self.store.has_images)

    def add_tool_row(self, widget: QtWidgets.QWidget) -> None:
        """Put a row of tools (for example the mask tools) under the top bar."""
        self.layout().insertWidget(self._tool_rows, widget)
        self._tool_rows += 1

    def set_backdrop(self, frames: np.ndarray | None, first: bool | None = None) -> None:
        """A (F, H, W, 3) uint8 clip (the source to draw a mask on) shown in the viewer while there are no
        previews, or instead of them when `first` (None keeps the choice); the compare viewer still shows steps."""
        first = self._backdrop_first if first is None else first
        if frames is self._backdrop and first == self._backdrop_first:
            return
        self._backdrop, self._backdrop_first = frames, first
        self._seen_version = -1  # the scrubber's length and the viewer's rectangle may change
        self._dirty = True

    def set_frame_range(self, first: int | None, last: int | None, frames: int) -> None:
        """Mark clip frames first..last (of `frames`) on the frame scrubber; None clears the marks."""
        span = max(frames - 1, 1)
        self.frame_slider.set_marks(None if first is None else first / span, None if last is None else last / span)

    @property
    def compare_step(self) -> Step | None:
        return self._compare_step if self.compare_panel.isVisibleTo(self) else None

    @property
    def follow_newest(self) -> bool:
        return self._follow

    @property
    def playing(self) -> bool:
        return self._play_timer.isActive()

    def select(self, step: Step | None = None, frame: int | None = None) -> None:
        """Show `step` (snapped to the nearest step with a preview) and `frame` (clamped); None keeps either.
        Choosing a step stops following the newest one."""
        if step is not None:
            self.set_follow_newest(False)
            self._step = self._snap(step)
        if frame is not None:
            self._frame = min(max(int(frame), 0), max(self.frame_count - 1, 0))
        self._selection_touched()

    def set_follow_newest(self, follow: bool) -> None:
        self.follow_button.setChecked(follow)

    def set_compare(self, enabled: bool) -> None:
        """Show a second viewer beside the first, on its own step, at the same frame, zoom and pan."""
        if self.compare_button.isChecked() != enabled:
            self.compare_button.setChecked(enabled)  # comes back here through toggled
            return
        self.compare_panel.setVisible(enabled)
        self._balance(force=True)
        if enabled and self._compare_step not in self._steps and self._steps:
            self._compare_step = self._steps[0] if self._step != self._steps[0] else self._steps[-1]
        self._selection_touched()

    def set_compare_step(self, step: Step) -> None:
        self._compare_step = self._snap(step)
        self._selection_touched()

    def set_playing(self, playing: bool) -> None:
        """Loop the frames of the shown step at the clip's fps."""
        if playing and self.frame_count > 1:
            self._play_timer.start(max(1, round(1000 / self.store.fps)))
        else:
            self._play_timer.stop()
        self.play_button.setText("❚❚" if self.playing else "▶")

    def toggle_playing(self) -> None:
        self.set_playing(not self.playing)

    def set_overlay(self, mask: np.ndarray | None, frames: np.ndarray | None = None) -> None:
        """Draw a translucent mask over the viewers: (F, H, W) or (H, W), bool or float in [0, 1], stretched over
        the image; frames are matched proportionally when F differs from the clip's. `frames`, one bool per clip
        frame (matched the same way), limits it to the frames that are True. None removes it."""
        self._overlay.set(mask, frames)
        self._dirty = True

    def refresh(self) -> None:
        """Catch up with the store and repaint if anything changed (the paint timer calls this ~30 times a second)."""
        version = self.store.version
        if version != self._seen_version:
            self._seen_version = version
            self._sync_with_store()
            self._dirty = True
        if self._dirty:
            self._dirty = False
            self._paint()

    # -- catching up with the store
    def _sync_with_store(self) -> None:
        store = self.store
        self._steps = store.steps()
        self._index = {step: i for i, step in enumerate(self._steps)}
        if store.generation != self._seen_generation:  # a new run's first image: start following it
            self._seen_generation = store.generation
            self.set_follow_newest(True)
        newest = store.frames_at(store.newest_step) if store.newest_step is not None else store.frames_at(FINAL)
        if self.showing_backdrop:
            newest = self._backdrop
        self._rect_size = None if newest is None else (newest.shape[2], newest.shape[1])
        if self._follow and self._steps:
            self._step = self._steps[-1]
        self._step = self._snap(self._step)
        if self._compare_step is not None:
            self._compare_step = self._snap(self._compare_step)
        self._frame = min(self._frame, max(self.frame_count - 1, 0))
        if self.playing:
            self._play_timer.setInterval(max(1, round(1000 / store.fps)))
        self.overview.sync(store)
        if store.has_images != self._exportable:
            self._exportable = store.has_images
            self.export_button.setEnabled(self._exportable)
            self.exportable_changed.emit(self._exportable)
        self._balance()
        self._update_state_label()
        self._selection_touched()

    def _snap(self, step: Step | None) -> Step | None:
        """`step` if it has a preview, else the nearest one that does (FINAL counts as after the last step)."""
        if not self._steps:
            return None
        if step in self._index:
            return step
        if step is None or step == FINAL:
            return self._steps[-1]
        numbers = [s for s in self._steps if s != FINAL]
        return min(numbers, key=lambda s: (abs(s - int(step)), s)) if numbers else self._steps[-1]

    def _update_state_label(self) -> None:
        text, state = run_state_text(self.store)
        self.state_label.setText(text)
        if self.state_label.property("state") != state:  # the stylesheet colours it by state; re-polish is slow
            self.state_label.setProperty("state", state)
            self.state_label.style().unpolish(self.state_label)
            self.state_label.style().polish(self.state_label)
        self.thinned_label.setText(thinned_text(self.store))
        self.fps_label.setText(f"{self.store.fps:g} fps")

    # -- painting (O(1): one frame lookup per viewer)
    def _paint(self) -> None:
        count, steps = self.frame_count, self._steps
        self._set_slider(self.step_slider, len(steps) - 1, self._index.get(self._step, 0))
        self._set_slider(self.frame_slider, count - 1, self._frame)
        self.step_label.setText(self._step_text(self._step))
        self.frame_label.setText(f"frame {self._frame + 1}/{count}" if count else "frame –")
        self._show(self.viewer, self._step, self.showing_backdrop)
        self.overview.set_cursor(self._step, self._store_frame())
        comparing = self.compare_panel.isVisibleTo(self)
        if comparing:
            self._set_slider(self.compare_slider, len(steps) - 1, self._index.get(self._compare_step, 0))
            self.compare_label.setText(self._step_text(self._compare_step))
            self._show(self.compare_viewer, self._compare_step)
        self.overview.set_compare_cursor(self._compare_step if comparing else None, self._store_frame())
        self._paint_overlay()

    def _show(self, viewer: FrameViewer, step: Step | None, backdrop: bool = False) -> None:
        if backdrop:
            step, frame = None, self._backdrop[min(self._frame, len(self._backdrop) - 1)]
        else:
            frame = None if step is None else self.store.frame(step, self._store_frame())
        viewer.show_frame(frame, self._rect_size)
        viewer.set_final(step == FINAL and frame is not None)
        count = self.frame_count
        name = "source" if backdrop else self._step_text(step)
        viewer.set_caption("" if frame is None else f"{name} · frame {self._frame + 1}/{count}")

    def _store_frame(self) -> int:
        """The shown frame as a frame of the store's clip (they differ while the backdrop sets the count)."""
        if not self.showing_backdrop:
            return self._frame
        return map_frame(self._frame, self.frame_count, self.store.frame_count)

    def _step_text(self, step: Step | None) -> str:
        if step is None:
            return "step –"
        if step == FINAL:
            return "final"
        return f"step {step}/{self.store.total_steps or '?'}"

    def _paint_overlay(self) -> None:
        self._overlay.paint((self.viewer, self.compare_viewer), self._frame, self.frame_count)

    @staticmethod
    def _set_slider(slider: QtWidgets.QSlider, maximum: int, value: int) -> None:
        blocked = slider.blockSignals(True)  # programmatic moves are not the user touching the scrubber
        slider.setRange(0, max(maximum, 0))
        slider.setValue(value)
        slider.setEnabled(maximum > 0)
        slider.blockSignals(blocked)

    def _selection_touched(self) -> None:
        self._dirty = True
        selection = (self._step, self._frame)
        if self._step is not None and selection != self._emitted:
            self._emitted = selection
            self.selection_changed.emit(*selection)

    # -- user input
    def _step_by(self, delta: int) -> None:
        if self._steps:
            index = self._index.get(self._step, len(self._steps) - 1)
            self.select(self._steps[min(max(index + delta, 0), len(self._steps) - 1)])

    def _step_slider_moved(self, value: int) -> None:
        if 0 <= value < len(self._steps):
            self.select(self._steps[value])

    def _compare_slider_moved(self, value: int) -> None:
        if 0 <= value < len(self._steps):
            self.set_compare_step(self._steps[value])

    def _frame_slider_moved(self, value: int) -> None:
        self.select(frame=value)

    def _cell_clicked(self, step: Step, frame: int) -> None:
        if self.showing_backdrop:  # the cell's frame is one of the run's clip
            frame = map_frame(frame, self.store.frame_count, self.frame_count)
        self.select(step, frame)

    def _follow_toggled(self, follow: bool) -> None:
        self._follow = follow
        if follow and self._steps:
            self._step = self._steps[-1]
            self._selection_touched()

    def _splitter_moved(self, *_) -> None:
        self._splitter_touched = True

    def _balance(self, force: bool = False) -> None:
        """Split the width between the viewer(s) and the overview by what each can use at this height."""
        key = (self.overview.layout_key, self._rect_size, self.compare_panel.isVisibleTo(self), self.splitter.size())
        if self._splitter_touched or (key == self._balanced_for and not force):
            return
        self._balanced_for = key
        width, height = self.splitter.width(), max(self.splitter.height(), 1)
        grid = self.overview.grid_rect()
        want_grid = (grid.width() / grid.height() * (height - 24) + 44) if grid.height() > 0 else width / 2
        cap = 0.4 if self.compare_panel.isVisibleTo(self) else 0.6
        grid_width = round(min(want_grid, width * cap))  # the viewer takes the slack: it can zoom into it
        self.splitter.setSizes([width - grid_width, grid_width])

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        self._balance()

    def _zoom_chosen(self, action: QtGui.QAction) -> None:
        factor = action.data()
        self.zoom_button.setText(f"{action.text()} ▾")
        self.viewer.fit() if factor == 0 else self.viewer.set_zoom(factor)

    def _advance(self) -> None:
        count = self.frame_count
        if count:
            self._frame = (self._frame + 1) % count
            self._selection_touched()
            self.refresh()  # paint now so playback keeps the fps even between paint ticks

    def keyPressEvent(self, event: QtGui.QKeyEvent) -> None:
        key, count = event.key(), self.frame_count
        ctrl = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        if key in (Qt.Key.Key_Left, Qt.Key.Key_Right):
            self.select(frame=self._frame + (1 if key == Qt.Key.Key_Right else -1))
        elif key in (Qt.Key.Key_Up, Qt.Key.Key_Down):
            self._step_by(1 if key == Qt.Key.Key_Down else -1)  # later steps are lower rows in the overview
        elif key == Qt.Key.Key_Space:
            self.toggle_playing()
        elif key == Qt.Key.Key_Home:
            self.select(self._steps[0]) if ctrl and self._steps else self.select(frame=0)
        elif key == Qt.Key.Key_End:
            self.set_follow_newest(True) if ctrl else self.select(frame=count - 1)
        else:
            super().keyPressEvent(event)
            return
        event.accept()
