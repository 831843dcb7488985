"""One editor widget per parameter, chosen from the parameter's declaration (type, bounds, choices, hints).

Every field offers the same small interface to the inspector: `edited(value)` when the user changes it,
`value()`, and `set_value(value)` that updates the widget silently and leaves the text cursor where it was.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QPalette, QValidator
from PySide6.QtWidgets import (QAbstractSpinBox, QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLineEdit,
                               QPlainTextEdit, QPushButton, QSpinBox, QWidget)

from studio.graph.registry import Param
from studio.graph.types import ParamType
from studio.ui import theme

INT32 = (-(2**31), 2**31 - 1)


class WideIntSpinBox(QAbstractSpinBox):
    """An integer spin box for Python ints of any size: QSpinBox stops at 2**31 - 1, and seeds go to 2**64 - 1."""

    valueChanged = Signal(object)

    def __init__(self, minimum: int, maximum: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._min, self._max, self._value = minimum, maximum, minimum
        self.lineEdit().setText(str(minimum))
        self.lineEdit().textEdited.connect(self._typed)

    def minimum(self) -> int:
        return self._min

    def maximum(self) -> int:
        return self._max

    def value(self) -> int:
        return self._value

    def setValue(self, value: int) -> None:
        value = max(self._min, min(self._max, int(value)))
        if self.lineEdit().text() != str(value):
            self.lineEdit().setText(str(value))
        if value != self._value:
            self._value = value
            self.valueChanged.emit(value)

    def stepBy(self, steps: int) -> None:
        self.setValue(self._value + steps)

    def stepEnabled(self) -> QAbstractSpinBox.StepEnabledFlag:
        flags = QAbstractSpinBox.StepEnabledFlag.StepNone
        if self._value > self._min:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepDownEnabled
        if self._value < self._max:
            flags |= QAbstractSpinBox.StepEnabledFlag.StepUpEnabled
        return flags

    def validate(self, text: str, pos: int) -> tuple[QValidator.State, str, int]:
        if text in ("", "-") and self._min < 0 or text == "":
            return QValidator.State.Intermediate, text, pos
        try:
            number = int(text)
        except ValueError:
            return QValidator.State.Invalid, text, pos
        if self._min <= number <= self._max:
            return QValidator.State.Acceptable, text, pos
        # Too big is invalid (no more digits); too small may still grow into range while typing.
        return (QValidator.State.Invalid if number > self._max and number >= 0 else QValidator.State.Intermediate,
                text, pos)

    def fixup(self, text: str) -> str:
        return str(self._value)

    def _typed(self, text: str) -> None:
        try:
            number = int(text)
        except ValueError:
            return
        if self._min <= number <= self._max and number != self._value:
            self._value = number
            self.valueChanged.emit(number)

    def focusOutEvent(self, event) -> None:
        self.lineEdit().setText(str(self._value))  # leave no half-typed text behind
        super().focusOutEvent(event)


class DecimalSpinBox(QDoubleSpinBox):
    """Shows 0.5 as "0.5", not "0.5000": trailing zeros read as false precision."""

    def textFromValue(self, value: float) -> str:
        text = f"{value:.{self.decimals()}f}".rstrip("0")
        return text + "0" if text.endswith(".") else text


class PromptEdit(QPlainTextEdit):
    """Multi-line text that says when the user leaves it (QPlainTextEdit has no editingFinished)."""

    left = Signal()

    def focusOutEvent(self, event) -> None:
        super().focusOutEvent(event)
        self.left.emit()


class ParamField(QObject):
    """A parameter's editor widget plus the uniform interface the inspector uses."""

    edited = Signal(object)
    finished = Signal()  # the user left the field: the next edit starts a new undo step

    def __init__(self, param: Param, widget: QWidget, getter: Callable[[], Any],
                 setter: Callable[[Any], None]) -> None:
        super().__init__(widget)
        self.param, self.widget = param, widget
        self._get, self._set = getter, setter

    def value(self) -> Any:
        return self._get()

    def set_value(self, value: Any) -> None:
        if value == self._get():
            return  # the echo of the user's own edit: touching the widget now would move the cursor
        blocker = [w for w in [self.widget, *self.widget.findChildren(QWidget)]]
        previous = [w.blockSignals(True) for w in blocker]
        try:
            self._set(value)
        finally:
            for widget, was in zip(blocker, previous):
                widget.blockSignals(was)


def _keep_cursor(line: QLineEdit, text: str) -> None:
    position = line.cursorPosition()
    line.setText(text)
    line.setCursorPosition(min(position, len(text)))


def _step_for(param: Param) -> float:
    if param.min is not None and param.max is not None and param.max > param.min:
        return 10 ** math.floor(math.log10((param.max - param.min) / 100))
    return 0.1


def make_field(param: Param, value: Any, browse: Callable[[Param, str], str | None] | None = None) -> ParamField:
    """The editor for `param` showing `value`. `browse(param, current)` picks a path for path parameters."""
    if param.choices:
        combo = QComboBox()
        combo.addItems(list(param.choices))
        if value not in param.choices:
            combo.addItem(str(value))  # keep an invalid value visible (validation names it) rather than hide it
        combo.setCurrentText(str(value))
        field = ParamField(param, combo, combo.currentText, combo.setCurrentText)
        combo.activated.connect(lambda _: field.edited.emit(combo.currentText()))
    elif param.type is ParamType.BOOL:
        box = QCheckBox()
        palette = box.palette()
        # Fusion outlines the box in the window colour darkened, which vanishes on a dark theme; lighten its input.
        palette.setColor(QPalette.ColorRole.Window, theme.TEXT_FAINT.lighter(115))
        box.setPalette(palette)
        box.setChecked(bool(value))
        field = ParamField(param, box, box.isChecked, lambda v: box.setChecked(bool(v)))
        box.toggled.connect(lambda checked: field.edited.emit(checked))
    elif param.type is ParamType.INT:
        low = int(param.min) if param.min is not None else INT32[0]
        high = int(param.max) if param.max is not None else INT32[1]
        spin = QSpinBox() if INT32[0] <= low and high <= INT32[1] else WideIntSpinBox(low, high)
        if isinstance(spin, QSpinBox):
            spin.setRange(low, high)
        spin.setValue(value)
        spin.setKeyboardTracking(True)
        field = ParamField(param, spin, spin.value, spin.setValue)
        spin.valueChanged.connect(lambda number: field.edited.emit(number))
        spin.editingFinished.connect(field.finished)
    elif param.type is ParamType.FLOAT:
        spin = DecimalSpinBox()
        spin.setDecimals(4)
        spin.setRange(param.min if param.min is not None else -1e9, param.max if param.max is not None else 1e9)
        spin.setSingleStep(_step_for(param))
        spin.setValue(float(value))
        field = ParamField(param, spin, spin.value, lambda v: spin.setValue(float(v)))
        spin.valueChanged.connect(lambda number: field.edited.emit(number))
        spin.editingFinished.connect(field.finished)
    elif param.multiline:
        text = PromptEdit()
        text.setPlainText(str(value))
        text.setTabChangesFocus(True)
        text.setFixedHeight(96)

        def set_text(new: Any) -> None:
            cursor = text.textCursor()
            position = cursor.position()
            text.setPlainText(str(new))
            cursor = text.textCursor()
            cursor.setPosition(min(position, len(str(new))))
            text.setTextCursor(cursor)

        field = ParamField(param, text, text.toPlainText, set_text)
        text.textChanged.connect(lambda: field.edited.emit(text.toPlainText()))
        text.left.connect(field.finished)
    else:
        line = QLineEdit(str(value))
        container: QWidget = line
        if param.path and browse is not None:
            container = QWidget()
            row = QHBoxLayout(container)
            row.setContentsMargins(0, 0, 0, 0)
            row.setSpacing(4)
            button = QPushButton("Browse…")
            button.setToolTip(f"Choose a {'folder' if param.path == 'folder' else 'file'}")
            row.addWidget(line, 1)
            row.addWidget(button)
        field = ParamField(param, container, line.text, lambda v: _keep_cursor(line, str(v)))
        field.line_edit = line
        line.textEdited.connect(lambda text: field.edited.emit(text))
        line.editingFinished.connect(field.finished)
        if container is not line:
            def pick() -> None:
                chosen = browse(param, line.text())
                if chosen is not None and chosen != line.text():
                    line.setText(chosen)
                    field.finished.emit()
                    field.edited.emit(chosen)
                    field.finished.emit()
            button.clicked.connect(pick)
    if param.description:
        field.widget.setToolTip(param.description)
    field.widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    return field
