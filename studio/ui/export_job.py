"""What the Export dialog exports, and the job that writes it off the GUI thread.

`ExportSource` captures, when the dialog opens, the clips the timeline holds (the final decoded frames and each
step's previews) together with the workflow of the run that made them, so a run started meanwhile changes nothing
the dialog is about to write. `ExportJob` calls `export_clip` in a QThread and reports progress, the result or a
one-line error; `cancel()` stops it at the next frame and nothing is left behind.
"""
from __future__ import annotations

import copy
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import QCoreApplication, QObject, QThread, Signal, Slot

from studio.graph.registry import NodeRegistry, catalogue
from studio.graph.workflow import WorkflowError, workflow_from_json
from studio.media.embedded import fill_params_as_used
from studio.media.export import Export, ExportError, export_clip
from studio.media.video_io import Video
from studio.ui.preview_store import FINAL, PreviewStore, Step


@dataclass(frozen=True)
class ClipChoice:
    """One thing the dialog can export: the final frames, or one sampler step's previews."""

    label: str
    step: Step
    node: str | None
    frames: np.ndarray = field(repr=False)
    fps: float


@dataclass
class ExportSource:
    choices: list[ClipChoice]
    workflow: dict[str, Any] | None = None  # the run's workflow as it ran, embedded in every export
    seed: str = ""  # for {seed} in names: the seeds of the run, joined by '-'
    model: str | None = None  # for the C2PA manifest

    @classmethod
    def from_store(cls, store: PreviewStore, snapshot: dict[str, Any] | None = None,
                   registry: NodeRegistry | None = None) -> ExportSource:
        """The clips `store` holds now, and the workflow of `snapshot` (the run that made them)."""
        choices: list[ClipChoice] = []
        final = store.frames_at(FINAL)
        if final is not None:
            choices.append(ClipChoice(f"Final frames ({_describe(final)})", FINAL, None, final, store.fps))
        nodes = store.nodes
        for node in nodes:
            for step in store.steps(node):
                clip = store.frames_at(step, node)
                if step == FINAL or clip is None:
                    continue
                where = f"{node} · " if len(nodes) > 1 else ""
                choices.append(ClipChoice(f"{where}Step {step} previews ({_describe(clip)})", step, node, clip,
                                          _preview_fps(store, final, clip)))
        workflow = workflow_as_run(snapshot, registry) if snapshot is not None else None
        return cls(choices, workflow, *_seed_and_model(workflow, registry))

    def default_index(self, step: Step | None = None, node: str | None = None) -> int:
        """The final frames when there are some, else the step shown in the timeline (`step`), else the newest."""
        if not self.choices:
            return -1
        if self.choices[0].step == FINAL:
            return 0
        for index, choice in enumerate(self.choices):
            if choice.step == step and (node is None or choice.node == node):
                return index
        return len(self.choices) - 1


def _describe(clip: np.ndarray) -> str:
    return f"{len(clip)} frame{'s' if len(clip) != 1 else ''}, {clip.shape[2]}×{clip.shape[1]}"


def _preview_fps(store: PreviewStore, final: np.ndarray | None, clip: np.ndarray) -> float:
    # Previews of latent frames are fewer than the decoded frames: slow them down so the clip lasts as long.
    count = len(final) if final is not None else store.frame_count
    if count <= len(clip) or len(clip) <= 1:
        return store.fps
    return max(1.0, round(store.fps * (len(clip) - 1) / (count - 1), 2))


def workflow_as_run(snapshot: dict[str, Any], registry: NodeRegistry | None = None) -> dict[str, Any] | None:
    """The workflow to embed, as Save Video embeds it: migrated, every parameter's value as used (defaults filled
    in), relative paths that name files made absolute (so the render re-renders from wherever it is opened), and
    outputs that never overwrite. None when the snapshot is not a workflow."""
    try:
        workflow = workflow_from_json(copy.deepcopy(snapshot)).to_json()
    except WorkflowError:
        return None
    workflow.pop("previews", None)
    fill_params_as_used(workflow, registry or catalogue(), Path(snapshot.get("base_dir") or Path.cwd()))
    for entry in workflow.get("nodes", {}).values():
        params = entry.get("params", {})
        if "overwrite" in params:
            params["overwrite"] = False
    return workflow


def _seed_and_model(workflow: dict[str, Any] | None, registry: NodeRegistry | None) -> tuple[str, str | None]:
    if workflow is None:
        return "", None
    nodes = sorted(workflow.get("nodes", {}).items())
    seeds = [str(entry["params"]["seed"]) for _, entry in nodes if "seed" in entry.get("params", {})]
    models = [Path(str(entry["params"].get("path", ""))).name or str(entry["params"].get("path"))
              for _, entry in nodes if str(entry.get("type", "")).startswith("load_model@")]
    return "-".join(seeds), ", ".join(models) or None


# ---------------------------------------------------------------- the job


@dataclass(frozen=True)
class ExportRequest:
    """Everything one export needs; `export_clip`'s arguments."""

    video: Video
    folder: Path
    name: str
    format: str
    fps: float = 0
    crf: int = 18
    upscale: int = 1
    provenance: bool = True
    workflow: dict[str, Any] | None = None
    seed: str = ""
    model: str | None = None


class ExportCancelled(Exception):
    """Raised from the progress callback to stop an export; export_clip then removes what it wrote."""


class ExportJob(QObject):
    """Runs one export in its own QThread. Connect the signals (to bound slots of GUI objects), then `start()`."""

    progress = Signal(int, int)  # (frames done, frames in all)
    succeeded = Signal(object)  # the Export
    failed = Signal(str, object)  # (message, the setting at fault or None)
    cancelled = Signal()
    done = Signal()  # after any of the three above, once the thread has finished

    def __init__(self, request: ExportRequest) -> None:
        super().__init__()
        self.request = request
        self._cancel = threading.Event()
        self._thread = QThread()
        self._thread.setObjectName("studio-export")
        self.moveToThread(self._thread)
        self._thread.started.connect(self._run)
        self._thread.finished.connect(self.done)

    def start(self) -> None:
        self._thread.start()

    def cancel(self) -> None:
        """Stop at the next frame (or before the file is put in place); nothing is left behind. Any thread."""
        self._cancel.set()

    def is_running(self) -> bool:
        return self._thread.isRunning()

    def wait(self, milliseconds: int = 30_000) -> bool:
        return self._thread.wait(milliseconds)

    def _report(self, done: int, total: int) -> None:
        if self._cancel.is_set():
            raise ExportCancelled
        self.progress.emit(done, total)

    @Slot()
    def _run(self) -> None:
        request = self.request
        try:
            if self._cancel.is_set():
                raise ExportCancelled
            export: Export = export_clip(
                request.video, request.folder, request.name, request.format, fps=request.fps, crf=request.crf,
                upscale=request.upscale, workflow=request.workflow, seed=request.seed, model=request.model,
                provenance=request.provenance, progress=self._report)
        except ExportCancelled:
            self.cancelled.emit()
        except ExportError as exc:
            self.failed.emit(str(exc), exc.param)
        except Exception as exc:  # a bug or an unexpected library error: say it in one line, keep the window
            self.failed.emit(f"the export failed: {type(exc).__name__}: {exc}", None)
        else:
            self.succeeded.emit(export)
        finally:
            application = QCoreApplication.instance()
            if application is not None:  # back to the GUI thread, so the window may delete it once the thread ends
                self.moveToThread(application.thread())
            self._thread.quit()
