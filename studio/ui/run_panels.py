"""The run queue and the log: what the engine is doing, what it did, and why something failed."""
from __future__ import annotations

import html
import time

from typing import Callable

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QHBoxLayout, QListWidget, QListWidgetItem, QPlainTextEdit, QPushButton, QVBoxLayout,
                               QWidget)

from studio.ui.runner import EngineRunner, QueuedRun

STATUS_COLOURS = {"queued": "#9aa4b1", "running": "#4aa3ff", "done": "#5cc98a", "failed": "#ff6b6b",
                  "cancelled": "#d9a84e", "crashed": "#ff6b6b"}


class RunsPanel(QWidget):
    """Every run of this session, newest last: queued, running, and how each one ended."""

    send_requested = Signal(object)  # "Send to inpaint" on the selected run (a QueuedRun)

    def __init__(self, runner: EngineRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.list = QListWidget()
        self.cancel_button = QPushButton("Cancel run")
        self.cancel_button.setToolTip("Stop the running workflow after the current step")
        self.remove_button = QPushButton("Remove from queue")
        self.clear_button = QPushButton("Clear finished")
        self.send_button = QPushButton("Send to inpaint")
        self.send_button.setToolTip("Open the inpainting example with the selected run's render as its source")
        self.can_send: Callable[[QueuedRun], bool] = lambda run: False  # whether a run has a render to send
        buttons = QHBoxLayout()
        for button in (self.cancel_button, self.remove_button, self.clear_button, self.send_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self.cancel_button.clicked.connect(runner.cancel_current)
        self.remove_button.clicked.connect(self._remove_selected)
        self.clear_button.clicked.connect(runner.clear_finished)
        self.send_button.clicked.connect(self._send_selected)
        self.list.currentRowChanged.connect(lambda _row: self._update_buttons())
        runner.queue_changed.connect(self.refresh)
        self.refresh()

    def refresh(self) -> None:
        selected = self._selected()
        self.list.clear()
        for run in self.runner.runs:
            text = f"#{run.number}  {run.label}  —  {run.status}"
            if run.message and run.status not in ("done", "running"):
                text += f": {run.message}"
            item = QListWidgetItem(text)
            item.setData(Qt.ItemDataRole.UserRole, run.number)
            item.setForeground(QColor(STATUS_COLOURS.get(run.status, "#dddddd")))
            item.setToolTip(run.message or run.status)
            self.list.addItem(item)
            if selected is not None and run.number == selected.number:
                self.list.setCurrentItem(item)
        self._update_buttons()

    def selected_run(self) -> QueuedRun | None:
        return self._selected()

    def _send_selected(self) -> None:
        run = self._selected()
        if run is not None and self.can_send(run):
            self.send_requested.emit(run)

    def _selected(self) -> QueuedRun | None:
        item = self.list.currentItem()
        if item is None:
            return None
        number = item.data(Qt.ItemDataRole.UserRole)
        return next((run for run in self.runner.runs if run.number == number), None)

    def _remove_selected(self) -> None:
        run = self._selected()
        if run is not None:
            self.runner.remove_queued(run)

    def _update_buttons(self) -> None:
        selected = self._selected()
        self.cancel_button.setEnabled(self.runner.current is not None)
        self.remove_button.setEnabled(selected is not None and selected.status == "queued")
        self.clear_button.setEnabled(any(run.status not in ("queued", "running") for run in self.runner.runs))
        self.send_button.setEnabled(selected is not None and self.can_send(selected))


class LogPanel(QPlainTextEdit):
    """A timestamped record of runs and node results; failures in red with their full message."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setReadOnly(True)
        self.setMaximumBlockCount(5000)
        self.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)

    def add(self, text: str, level: str = "info") -> None:
        colour = {"info": "#c8ccd4", "good": "#5cc98a", "warning": "#e5c07b", "error": "#ff6b6b"}[level]
        stamp = time.strftime("%H:%M:%S")
        body = html.escape(text).replace("\n", "<br>")
        self.appendHtml(f'<span style="color:#6b7280">{stamp}</span> <span style="color:{colour}">{body}</span>')

    def plain_lines(self) -> list[str]:
        return self.toPlainText().splitlines()
