"""The timeline's controls: their look (a scoped dark stylesheet) and what the run-state line says."""
from __future__ import annotations

from PySide6 import QtGui, QtWidgets
from PySide6.QtCore import QPointF, QRectF, Qt

from studio.ui.preview_store import PreviewStore

STATE_TEXT = {"done": "✓ done", "failed": "✕ failed", "cancelled": "■ cancelled", "crashed": "✕ worker crashed"}

STYLE = """
#timeline { background: #1b1d21; }
#timeline QLabel { color: #c3c7ce; }
#timeline QLabel#runState { font-weight: 600; padding: 0 4px; }
#timeline QLabel#runState[state="running"] { color: #ffb347; }
#timeline QLabel#runState[state="done"] { color: #7bd88f; }
#timeline QLabel#runState[state="failed"], #timeline QLabel#runState[state="crashed"] { color: #ff6b6b; }
#timeline QLabel#runState[state="cancelled"] { color: #a0a4ab; }
#timeline QLabel#thinned { color: #d9a441; }
#timeline QLabel#scrubLabel { color: #e6e8eb; font-family: monospace; min-width: 86px; }
#timeline QLabel#compareLabel { color: #4fc3f7; font-family: monospace; }
#timeline QLabel#viewerCaption { color: #e6e8eb; background: rgba(15, 16, 19, 170); padding: 2px 6px;
    border-radius: 3px; font-family: monospace; font-size: 11px; }
#timeline QLabel#viewerCaption { border-left: 2px solid #ffb347; }
#timeline QLabel#compareCaption { color: #e6e8eb; background: rgba(15, 16, 19, 170); padding: 2px 6px;
    border-radius: 3px; font-family: monospace; font-size: 11px; border-left: 2px solid #4fc3f7; }
#timeline QLabel#finalBadge { color: #15171a; background: #7bd88f; padding: 2px 7px; border-radius: 3px;
    font-weight: 700; font-size: 10px; letter-spacing: 1px; }
#timeline QLabel#viewerPlaceholder { color: #5c626b; }
#timeline QToolButton { color: #d5d8dd; background: #2a2d33; border: 1px solid #383c44;
    border-radius: 4px; padding: 3px 9px; }
#timeline QToolButton::menu-indicator { image: none; width: 0; }
#timeline QMenu { color: #d5d8dd; background: #2a2d33; border: 1px solid #383c44; }
#timeline QMenu::item:selected { background: #3d3424; }
#timeline QToolButton:hover { background: #33373e; }
#timeline QToolButton:checked { background: #3d3424; border-color: #ffb347; color: #ffcf8a; }
#timeline QToolButton:disabled { color: #5c626b; background: #23262b; border-color: #2e3238; }
#timeline QToolButton#playButton { min-width: 22px; font-size: 13px; }
#timeline QSlider::groove:horizontal { height: 4px; background: #33373e; border-radius: 2px; }
#timeline QSlider::sub-page:horizontal { background: #8a6a3a; border-radius: 2px; }
#timeline QSlider::handle:horizontal { background: #ffb347; width: 12px; margin: -5px 0; border-radius: 6px; }
#timeline QSlider::handle:horizontal:disabled { background: #4a4e56; }
#timeline QSlider::sub-page:horizontal:disabled { background: #33373e; }
#timeline QSlider#compareSlider::sub-page:horizontal { background: #2f6680; }
#timeline QSlider#compareSlider::handle:horizontal { background: #4fc3f7; }
#timeline QSplitter::handle { background: #1b1d21; }
#timeline QLabel#maskLabel { color: #ff8fa8; font-weight: 600; padding-right: 4px; }
#timeline QLabel#maskRange { color: #c3c7ce; font-family: monospace; }
#timeline QSpinBox { color: #d5d8dd; background: #2a2d33; border: 1px solid #383c44; border-radius: 4px;
    padding: 1px 4px; }
#timeline QSpinBox:disabled { color: #5c626b; background: #23262b; }
"""


def run_state_text(store: PreviewStore) -> tuple[str, str]:
    """(text, state) for the run-state line: "● running · step 7/20", "✓ done", "■ cancelled at step 3/20"..."""
    status = store.status
    if status == "running":
        if store.stale:
            text = "● starting · showing the previous run"
        elif store.progress:
            text = "● running · step {}/{}".format(*store.progress)
        else:
            text = "● running"
        if len(store.nodes) > 1 and store.active_node:
            text += f" · {store.active_node}"  # several samplers: say whose previews these are
    elif status == "idle":
        text = "No run yet"
    else:
        text = STATE_TEXT.get(status, status)
        if status == "cancelled" and store.progress:
            text += " at step {}/{}".format(*store.progress)
        if store.message:
            text += f": {store.message}"
    return text, status


def thinned_text(store: PreviewStore) -> str:
    if not store.thinned:
        return ""
    return f"memory budget: {store.thinned} of {store.total_steps} steps dropped"


def tool_button(text: str, tip: str, checkable: bool) -> QtWidgets.QToolButton:
    button = QtWidgets.QToolButton(text=text, toolTip=tip, checkable=checkable)
    button.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    return button


class MarkedSlider(QtWidgets.QSlider):
    """A scrubber that can show a marked range (a mask's first..last frame) as a band along its groove."""

    MARK_COLOUR = QtGui.QColor(255, 70, 110)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._marks: tuple[float | None, float | None] = (None, None)

    @property
    def marks(self) -> tuple[float | None, float | None]:
        return self._marks

    def set_marks(self, start: float | None, end: float | None) -> None:
        """Mark start..end, fractions of the scrubber's span (either may be None: unmarked)."""
        if (start, end) != self._marks:
            self._marks = (start, end)
            self.update()

    def paintEvent(self, event: QtGui.QPaintEvent) -> None:
        super().paintEvent(event)
        start, end = self._marks
        if start is None and end is None:
            return
        option = QtWidgets.QStyleOptionSlider()
        self.initStyleOption(option)
        handle = self.style().subControlRect(QtWidgets.QStyle.ComplexControl.CC_Slider, option,
                                             QtWidgets.QStyle.SubControl.SC_SliderHandle, self)
        # The handle's centre travels from half a handle in from each end: the marks follow the same span.
        left, span = handle.width() / 2, max(self.width() - handle.width(), 1)
        x0 = left + span * (0.0 if start is None else start)
        x1 = left + span * (1.0 if end is None else end)
        painter = QtGui.QPainter(self)
        colour = QtGui.QColor(self.MARK_COLOUR)
        colour.setAlpha(150)
        mid = self.height() / 2
        painter.fillRect(QRectF(x0, mid + 4, max(x1 - x0, 2.0), 3), colour)
        painter.setPen(QtGui.QPen(self.MARK_COLOUR, 2))
        for x, present in ((x0, start is not None), (x1, end is not None)):
            if present:  # an in or out point: a tick like an editor's I/O marks
                painter.drawLine(QPointF(x, mid - 7), QPointF(x, mid + 7))
        painter.end()


def slider(name: str) -> QtWidgets.QSlider:
    widget = MarkedSlider(Qt.Orientation.Horizontal, objectName=name)
    widget.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrow keys belong to the timeline
    return widget
