"""Inpainting in the window: the mask tools on the timeline, and "Send to inpaint", which opens the inpainting
example with a finished render as its source clip, so the user draws the region to redo and runs it.

Which file a run rendered comes from the engine's own events: a Save Video node reports the `path` it wrote when
it finishes (or when the cache serves it), and RenderLedger remembers it per run.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction

from studio.graph.workflow import WorkflowError, load_workflow
from studio.paths import WORKFLOWS
from studio.ui.mask_region import base_type
from studio.ui.mask_tool import MaskTool
from studio.ui.runner import EngineRunner, QueuedRun
from studio.ui.timeline_controls import tool_button

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow

INPAINT_EXAMPLE = WORKFLOWS / "inpaint_region.json"
SAVING_TYPES = ("save_video",)


class RenderLedger(QObject):
    """The file each run saved (its Save Video node's output), by run."""

    changed = Signal()

    def __init__(self, runner: EngineRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self._saved: dict[str, Path] = {}  # run_id -> the file (or PNG folder) it wrote last
        runner.event.connect(self._on_event)

    def _on_event(self, event: dict[str, Any]) -> None:
        if event.get("event") not in ("node_finished", "node_cached"):
            return
        path, run_id = (event.get("info") or {}).get("path"), event.get("run_id")
        run = next((r for r in self.runner.runs if run_id is not None and r.run_id == run_id), None)
        if not path or run is None:
            return
        node = run.snapshot.get("nodes", {}).get(event.get("node"), {})
        if base_type(str(node.get("type", ""))) not in SAVING_TYPES:
            return
        saved = Path(path).expanduser()
        if not saved.is_absolute():
            saved = Path(run.snapshot.get("base_dir", ".")) / saved
        self._saved[run_id] = saved
        self.changed.emit()

    def saved_path(self, run: QueuedRun | None) -> Path | None:
        """The render a finished run saved, if it did and the file is still there."""
        if run is None or run.status != "done" or run.run_id not in self._saved:
            return None
        path = self._saved[run.run_id]
        return path if path.exists() else None

    def newest(self) -> Path | None:
        """The newest finished run's render that still exists."""
        for run in reversed(self.runner.runs):
            if (path := self.saved_path(run)) is not None:
                return path
        return None


class InpaintActions(QObject):
    """Wires inpainting into a MainWindow: the mask tool row, "Send to inpaint" on the timeline, in the Runs
    panel and in the Run menu."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.ledger = RenderLedger(window.runner, self)
        self.mask_tool = MaskTool(window.timeline, window.registry, window.undo_stack)
        window.timeline.add_tool_row(self.mask_tool)
        self.mask_tool.status_message.connect(window.statusBar().showMessage)
        window.editor.selection_changed.connect(self.mask_tool.set_selection)
        window.graph_replaced.connect(self.mask_tool.set_graph)
        self.mask_tool.set_graph(window.graph)

        tip = "Open the inpainting example with the newest finished render as its source clip"
        self.send_action = QAction("Send Render to &Inpaint", self)
        self.send_action.setStatusTip(tip)
        self.send_action.triggered.connect(self.send_chosen)
        window.run_menu.addSeparator()
        window.run_menu.addAction(self.send_action)
        self.timeline_button = tool_button("Send to inpaint", tip, False)
        self.timeline_button.clicked.connect(self.send_newest)
        timeline = window.timeline
        timeline.top_bar.insertWidget(timeline.top_bar.indexOf(timeline.export_button), self.timeline_button)
        panel = window.runs_panel
        panel.can_send = lambda run: self.ledger.saved_path(run) is not None
        panel.send_requested.connect(self.send_run)
        self.ledger.changed.connect(panel.refresh)
        self.ledger.changed.connect(self._update)
        window.runner.queue_changed.connect(self._update)
        self._update()

    def _update(self) -> None:
        available = self.ledger.newest() is not None
        self.send_action.setEnabled(available)
        self.timeline_button.setEnabled(available)

    def send_newest(self) -> bool:
        path = self.ledger.newest()
        return path is not None and self.send(path)

    def send_chosen(self) -> bool:
        """The run selected in the Runs panel when it has a render, else the newest render."""
        chosen = self.ledger.saved_path(self.window.runs_panel.selected_run())
        return self.send(chosen) if chosen is not None else self.send_newest()

    def send_run(self, run: QueuedRun) -> bool:
        path = self.ledger.saved_path(run)
        return path is not None and self.send(path)

    def send(self, render: Path) -> bool:
        """Open the inpainting example (asking to save unsaved work first) reading `render` as its source clip.
        False when the user kept the open work or the example cannot be read."""
        window = self.window
        if not window.confirm_discard():
            return False
        try:
            graph = load_workflow(INPAINT_EXAMPLE)
        except WorkflowError as exc:
            window.log.add(f"cannot open the inpainting example: {exc}", "error")
            return False
        graph.source_path = None  # an untitled copy: the bundled example is never overwritten
        for node in graph.nodes.values():
            if base_type(node.type) == "inpaint" and "source" in node.inputs:
                graph.nodes[node.inputs["source"][0]].params["path"] = str(render.resolve())
        window.show_graph(graph, template_name=f"inpaint {render.stem}", unsaved=True)
        window.docks["Timeline"].raise_()
        window.log.add(f"sent {render} to inpaint: draw the region on the viewer, then run")
        return True
