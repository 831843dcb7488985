"""The studio window: node editor in the centre, palette, inspector, timeline, runs and log around it.

The window owns one open workflow (a Graph), its undo stack, and the engine runner. Edits reach the graph only
through undo commands (studio/ui/editor/commands.py); the editor and inspector redraw from the graph's events;
engine events arrive as signals and only update views.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence, QUndoStack
from PySide6.QtWidgets import QDockWidget, QFileDialog, QMainWindow, QMessageBox, QWidget

from studio import __version__
from studio.graph.model import Graph
from studio.graph.registry import NodeRegistry, catalogue
from studio.graph.validation import validate
from studio.graph.workflow import WorkflowError, load_workflow
from studio.media.embedded import is_media_path
from studio.paths import WORKFLOWS, user_data_dir
from studio.ui.editor import GraphEditor
from studio.ui.export_dialog import ExportDialog
from studio.ui.export_job import ExportSource
from studio.ui.files import Autosaver, SaveError, write_workflow_file
from studio.ui.inpaint_actions import InpaintActions
from studio.ui.inspector import Inspector
from studio.ui.palette import NodePalette
from studio.ui.recent_files import RecentFiles
from studio.ui.run_panels import LogPanel, RunsPanel
from studio.ui.run_status import RunStatusTracker
from studio.ui.runner import EngineRunner, QueuedRun
from studio.ui.timeline import TimelineView

AUTOSAVE_INTERVAL_MS = 60_000
IDLE_AUTOSAVE_MS = 5_000  # after the last edit
FILE_FILTER = "Studio workflows (*.json);;All files (*)"
OPEN_FILTER = "Workflows and renders (*.json *.mp4 *.webm *.gif *.png);;Studio workflows (*.json);;All files (*)"


class MainWindow(QMainWindow):
    graph_replaced = Signal(object)  # another workflow (a Graph) is now the open one

    def __init__(self, registry: NodeRegistry | None = None, runner: EngineRunner | None = None,
                 interactive: bool = True) -> None:
        super().__init__()
        self.registry = registry or catalogue()
        self.interactive = interactive  # False under `studio gui --run/--screenshot`: no dialogs may block
        self.settings = QSettings()
        self.undo_stack = QUndoStack(self)
        self.graph = Graph()
        self.path: Path | None = None
        self.template_name: str | None = None  # an example opened as an untitled copy
        self.autosaver = Autosaver(user_data_dir() / "autosave")
        self.frames_snapshot: dict[str, Any] | None = None  # what the run that made the timeline's frames ran
        self.export_window: ExportDialog | None = None

        self.editor = GraphEditor(self.registry, self.undo_stack)
        self.setCentralWidget(self.editor)
        self.palette_panel = NodePalette(self.registry)
        self.inspector = Inspector(self.registry, self.undo_stack)
        self.timeline = TimelineView()
        self.runner = runner or EngineRunner(parent=self)
        self.runs_panel = RunsPanel(self.runner)
        self.log = LogPanel()
        self.docks: dict[str, QDockWidget] = {}
        self._add_dock("Nodes", self.palette_panel, Qt.DockWidgetArea.LeftDockWidgetArea)
        self._add_dock("Inspector", self.inspector, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("Timeline", self.timeline, Qt.DockWidgetArea.BottomDockWidgetArea)
        self._add_dock("Runs", self.runs_panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._add_dock("Log", self.log, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(self.docks["Runs"], self.docks["Log"])
        self.docks["Runs"].raise_()
        self.status = RunStatusTracker(self.editor, self.inspector, self.log, self.statusBar())

        self._build_actions()
        self._build_menus()
        self._connect()
        self.inpaint = InpaintActions(self)  # mask tools on the timeline, "Send to inpaint"
        self.setAcceptDrops(True)
        self.resize(1500, 920)
        self._default_layout()
        self._restore_settings()
        self._set_graph(Graph(), None)

        self.autosave_timer = QTimer(self, interval=AUTOSAVE_INTERVAL_MS, timeout=self.autosave)
        self.autosave_timer.start()
        self.idle_timer = QTimer(self, singleShot=True, interval=IDLE_AUTOSAVE_MS, timeout=self.autosave)

    # -- construction
    def _add_dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> None:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock-{title.lower()}")  # saveState needs names
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        self.docks[title] = dock

    def _default_layout(self) -> None:
        """The first-start layout (a saved one replaces it): the graph gets the most room."""
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        self.resizeDocks([self.docks["Nodes"], self.docks["Inspector"]], [230, 360], horizontal)
        self.resizeDocks([self.docks["Timeline"]], [330], vertical)
        self.resizeDocks([self.docks["Inspector"], self.docks["Runs"]], [420, 200], vertical)

    def _action(self, text: str, slot: Any, shortcut: Any = None, tip: str = "") -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip)
        action.setToolTip(tip or text.replace("&", "").replace("…", ""))
        action.triggered.connect(slot)
        return action

    def _build_actions(self) -> None:
        keys = QKeySequence.StandardKey
        self.new_action = self._action("&New", self.new_workflow, keys.New, "Start an empty workflow")
        self.open_action = self._action("&Open…", self.open_dialog, keys.Open, "Open a workflow file")
        self.save_action = self._action("&Save", self.save, keys.Save, "Save the workflow")
        self.save_as_action = self._action("Save &As…", self.save_as, keys.SaveAs, "Save under a new name")
        self.quit_action = self._action("&Quit", self.close, keys.Quit)
        self.undo_action = self.undo_stack.createUndoAction(self, "&Undo")
        self.undo_action.setShortcut(keys.Undo)
        self.redo_action = self.undo_stack.createRedoAction(self, "&Redo")
        self.redo_action.setShortcut(keys.Redo)
        self.run_action = self._action("&Run", self.run_workflow, "Ctrl+Return",
                                       "Run the workflow (queued if a run is in progress)")
        self.cancel_action = self._action("&Cancel Run", self.runner.cancel_current, "Ctrl+.",
                                          "Stop the running workflow after the current step")
        self.frame_action = self._action("&Frame All", self.editor.frame_all, None, "Show every node (F)")
        self.export_action = self._action("&Export…", self.open_export_dialog, "Ctrl+E",
                                          "Export the last run's final frames or a step's previews as a video")
        self.export_action.setEnabled(False)  # until a run has made frames

    def _build_menus(self) -> None:
        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        for action in (self.new_action, self.open_action):
            file_menu.addAction(action)
        self.recent = RecentFiles(self.settings, file_menu.addMenu("Open &Recent"), self.open_path)
        self.examples_menu = file_menu.addMenu("Open &Example")
        for example in sorted(WORKFLOWS.glob("*.json")):
            self.examples_menu.addAction(example.stem.replace("_", " "), lambda e=example: self.open_example(e))
        file_menu.addSeparator()
        for action in (self.save_action, self.save_as_action):
            file_menu.addAction(action)
        file_menu.addSeparator()
        file_menu.addAction(self.export_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        edit_menu = menu.addMenu("&Edit")
        edit_menu.addAction(self.undo_action)
        edit_menu.addAction(self.redo_action)
        edit_menu.addSeparator()
        for action in self.editor.edit_actions():
            edit_menu.addAction(action)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.frame_action)
        view_menu.addSeparator()
        for dock in self.docks.values():
            view_menu.addAction(dock.toggleViewAction())
        self.run_menu = run_menu = menu.addMenu("&Run")
        run_menu.addAction(self.run_action)
        run_menu.addAction(self.cancel_action)
        help_menu = menu.addMenu("&Help")
        help_menu.addAction("&About the Studio", self._about)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("toolbar-main")
        toolbar.setMovable(False)
        for action in (self.open_action, self.save_action, None, self.undo_action, self.redo_action, None,
                       self.run_action, self.cancel_action, None, self.frame_action):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)

    def _connect(self) -> None:
        self.editor.selection_changed.connect(self._selection_changed)
        # Bound methods, not lambdas: Qt drops them with the window, so nothing fires into a half-destroyed one.
        self.editor.status_message.connect(self._show_hint)
        self.palette_panel.add_requested.connect(self.editor.add_node_at_centre)
        self.undo_stack.cleanChanged.connect(self._update_title)
        self.undo_stack.indexChanged.connect(self._edited)
        self.runner.event.connect(self._engine_event)
        self.runner.queue_changed.connect(self._update_run_actions)
        self.timeline.export_requested.connect(self.open_export_dialog)
        self.timeline.exportable_changed.connect(self.export_action.setEnabled)
        self._update_run_actions()

    # -- the open workflow
    def _set_graph(self, graph: Graph, path: Path | None, template_name: str | None = None) -> None:
        self.graph, self.path, self.template_name = graph, path, template_name
        self.undo_stack.clear()
        self.editor.set_graph(graph)
        self.inspector.set_graph(graph)
        self.inspector.show_node(None)
        self.status.set_graph(graph)
        self.editor.frame_all()
        self._update_title()
        self.graph_replaced.emit(graph)

    def show_graph(self, graph: Graph, template_name: str, unsaved: bool = False) -> None:
        """Open `graph` as an untitled workflow named `template_name`; `unsaved` marks it as work to save.
        The caller asks about the open work first (confirm_discard)."""
        self._set_graph(graph, None, template_name=template_name)
        self.autosaver.discard()
        if unsaved:
            self.undo_stack.resetClean()
            self._update_title()

    @property
    def is_dirty(self) -> bool:
        return not self.undo_stack.isClean()

    def display_name(self) -> str:
        if self.path is not None:
            return self.path.name
        return f"{self.template_name} (example, unsaved)" if self.template_name else "Untitled"

    def _show_hint(self, text: str) -> None:
        self.statusBar().showMessage(text, 5000)

    def _update_title(self, *_: object) -> None:
        self.setWindowModified(self.is_dirty)
        self.setWindowTitle(f"{self.display_name()}[*] — Studio")

    def _edited(self, *_: object) -> None:
        if self.is_dirty:
            self.idle_timer.start()  # restarted by every edit: saves once the user pauses

    def new_workflow(self) -> None:
        if self.confirm_discard():
            self._set_graph(Graph(), None)
            self.autosaver.discard()

    def open_dialog(self) -> None:
        if not self.confirm_discard():
            return
        start = str(self.path.parent if self.path else Path.home())
        name, _ = QFileDialog.getOpenFileName(self, "Open workflow", start, OPEN_FILTER)
        if name:
            self.open_path(Path(name), confirmed=True)

    def open_path(self, path: Path, confirmed: bool = False) -> bool:
        """Open a workflow file; a file that is not one is reported and the open workflow is kept."""
        if not confirmed and not self.confirm_discard():
            return False
        try:
            graph = load_workflow(path)
        except WorkflowError as exc:
            self._error("Cannot open workflow", str(exc))
            return False
        if path.resolve().parent == WORKFLOWS.resolve():  # the bundled examples are templates, never overwritten
            graph.source_path = None
            self._set_graph(graph, None, template_name=path.stem.replace("_", " "))
        elif is_media_path(path):  # a render's workflow opens as an unsaved copy: Save never writes into the render
            self._set_graph(graph, None, template_name=path.stem)
        else:
            self._set_graph(graph, path.resolve())
            self.recent.remember(path.resolve())
        self.log.add(f"opened {path}")
        self.autosaver.discard()
        return True

    def open_example(self, path: Path) -> None:
        self.open_path(path)

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        return self._save_to(self.path)

    def save_as(self) -> bool:
        start = str(self.path or Path.home() / f"{(self.template_name or 'workflow').replace(' ', '_')}.json")
        name, _ = QFileDialog.getSaveFileName(self, "Save workflow as", start, FILE_FILTER)
        if not name:
            return False
        return self._save_to(Path(name).resolve())

    def _save_to(self, path: Path) -> bool:
        try:
            write_workflow_file(self.graph, path)
        except SaveError as exc:
            self._error("Cannot save workflow", str(exc))
            return False
        if self.path != path:
            self.graph.source_path = path  # relative paths in params now resolve from the new folder
        self.path, self.template_name = path, None
        self.undo_stack.setClean()
        self.autosaver.discard()
        self.recent.remember(path)
        self._update_title()
        self.statusBar().showMessage(f"saved {path}", 4000)
        return True

    def confirm_discard(self) -> bool:
        """True when the open work may be replaced: it is saved, the user saved it now, or chose to discard it."""
        if not self.is_dirty or not self.interactive:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.display_name()} first?",
            QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Save)
        if answer == QMessageBox.StandardButton.Save:
            return self.save()
        return answer == QMessageBox.StandardButton.Discard

    def autosave(self) -> None:
        if self.is_dirty:
            try:
                self.autosaver.save(self.graph, self.path)
            except (SaveError, OSError) as exc:
                self.log.add(f"autosave failed: {exc}", "warning")

    def offer_recovery(self) -> None:
        """After a crash: offer the newest autosave another (dead) studio left behind."""
        found = self.autosaver.recoverable()
        if not found:
            return
        newest = found[0]
        answer = QMessageBox.question(
            self, "Recover unsaved work",
            f"The studio closed without saving {newest.describe()}.\nRecover it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.Yes)
        if answer == QMessageBox.StandardButton.Yes:
            self.recover(newest)
        elif answer == QMessageBox.StandardButton.Discard:
            self.autosaver.forget(newest)

    def recover(self, recoverable) -> None:
        try:
            graph = self.autosaver.load(recoverable)
        except (OSError, ValueError, WorkflowError) as exc:
            self._error("Cannot recover", str(exc))
            return
        self._set_graph(graph, recoverable.original)
        self.undo_stack.resetClean()  # recovered work is unsaved work
        self._update_title()
        self.autosaver.forget(recoverable)
        self.autosave()
        self.log.add(f"recovered {recoverable.describe()}", "good")

    def recent_files(self) -> list[str]:
        return self.recent.files()

    # -- running
    def run_workflow(self) -> QueuedRun | None:
        """Queue a run of the workflow as it is now; problems are shown on the nodes instead."""
        problems = validate(self.graph, self.registry)
        if problems:
            self.status.show_problems(problems)
            return None
        busy = self.runner.current is not None or bool(self.runner.pending)
        run = self.runner.enqueue(self.graph.snapshot(), self.display_name())
        if busy:
            self.statusBar().showMessage(f"run #{run.number} queued", 4000)
        return run

    def _engine_event(self, event: dict[str, Any]) -> None:
        self.status.handle(event)
        if self.timeline.handle_event(event) and event.get("event") in ("step", "frames", "node_cached"):
            self._note_frames_run(event.get("run_id"))

    def _note_frames_run(self, run_id: str | None) -> None:
        """Remember the snapshot of the run whose images the timeline now shows: exports embed it."""
        store = self.timeline.store
        if store.stale or not store.has_images:  # still the previous run's images
            return
        run = next((r for r in self.runner.runs if run_id is not None and r.run_id == run_id), self.runner.current)
        if run is not None:
            self.frames_snapshot = run.snapshot

    # -- exporting
    def open_export_dialog(self) -> ExportDialog | None:
        """Open the Export dialog on what the timeline holds now (None when it holds nothing)."""
        if self.export_window is not None and self.export_window.isVisible():
            self.export_window.raise_()
            self.export_window.activateWindow()
            return self.export_window
        store = self.timeline.store
        if not store.has_images:
            return None
        if self.export_window is not None:
            self.export_window.deleteLater()
        source = ExportSource.from_store(store, self.frames_snapshot, self.registry)
        self.export_window = ExportDialog(source, self, step=self.timeline.current_step, node=store.active_node)
        self.export_window.setWindowModality(Qt.WindowModality.WindowModal)
        self.export_window.show()
        return self.export_window

    def _update_run_actions(self) -> None:
        self.cancel_action.setEnabled(self.runner.current is not None)

    # -- selection, drops, about
    def _selection_changed(self, node_ids: list[str]) -> None:
        self.inspector.show_node(node_ids[0] if len(node_ids) == 1 else None)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        files = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if files:
            event.acceptProposedAction()
            self.open_path(files[0])

    def _about(self) -> None:
        QMessageBox.about(self, "About the Studio",
                          f"Studio {__version__}\nVideo-diffusion workflows as node graphs.\n"
                          "Runs locally with torch and diffusers.")

    def _error(self, title: str, message: str) -> None:
        self.log.add(message, "error")
        if self.interactive:
            QMessageBox.warning(self, title, message)
        else:
            self.statusBar().showMessage(message, 10000)

    # -- settings and closing
    def _restore_settings(self) -> None:
        geometry, state = self.settings.value("window/geometry"), self.settings.value("window/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.confirm_discard():
            event.ignore()
            return
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/state", self.saveState())
        self.autosave_timer.stop()
        self.idle_timer.stop()
        self.runner.shutdown()
        if self.export_window is not None:
            self.export_window.stop()
        self.autosaver.close()
        event.accept()
