"""The window's link to the engine: a queue of runs, sent one at a time to the worker process.

A plain thread owns the EngineClient (it is not thread-safe) and does everything with it: submit, cancel, poll.
The GUI thread only posts commands to that thread and receives events through a queued Qt signal, so nothing the
worker does (a slow step, a crash) can block or kill the window.
"""
from __future__ import annotations

import itertools
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from PySide6.QtCore import QObject, Signal

from studio.engine.client import EngineClient


@dataclass
class QueuedRun:
    number: int
    label: str
    snapshot: dict[str, Any] = field(repr=False)
    status: str = "queued"  # queued | running | done | failed | cancelled | crashed
    message: str = ""
    run_id: str | None = None


class EngineRunner(QObject):
    event = Signal(object)  # every engine event (a dict), delivered in the GUI thread
    queue_changed = Signal()  # `runs` changed: a run was added, started, finished or removed
    run_finished = Signal(object)  # the QueuedRun that just ended

    def __init__(self, client_factory: Callable[[], EngineClient] = EngineClient, parent: QObject | None = None):
        super().__init__(parent)
        self.runs: list[QueuedRun] = []
        self._numbers = itertools.count(1)
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._client_factory = client_factory
        self._thread = threading.Thread(target=self._serve, name="studio-engine-runner", daemon=True)
        self._started = False
        self._client: EngineClient | None = None
        # Delivered here in the GUI thread (queued connection), where `runs` is safe to touch.
        self._internal.connect(self._on_internal)

    _internal = Signal(object)

    # -- commands (GUI thread)
    def enqueue(self, snapshot: dict[str, Any], label: str) -> QueuedRun:
        run = QueuedRun(next(self._numbers), label, snapshot)
        self.runs.append(run)
        self.queue_changed.emit()
        self._start_thread()
        self._commands.put(("submit", run))
        return run

    @property
    def current(self) -> QueuedRun | None:
        return next((run for run in self.runs if run.status == "running"), None)

    @property
    def pending(self) -> list[QueuedRun]:
        return [run for run in self.runs if run.status == "queued"]

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id while one runs (for diagnostics and tests)."""
        return self._client.worker_pid if self._client is not None else None

    def cancel_current(self) -> None:
        self._commands.put(("cancel", None))

    def remove_queued(self, run: QueuedRun) -> None:
        """Take a run that has not started out of the queue."""
        if run.status == "queued":
            run.status, run.message = "cancelled", "removed from the queue"
            self.queue_changed.emit()

    def clear_finished(self) -> None:
        self.runs = [run for run in self.runs if run.status in ("queued", "running")]
        self.queue_changed.emit()

    def shutdown(self) -> None:
        """Stop the worker (at once when it is busy) and the thread; the window calls this on close."""
        if self._started:
            self._commands.put(("stop", None))
            self._thread.join(timeout=10)

    # -- the engine thread
    def _start_thread(self) -> None:
        if not self._started:
            self._started = True
            self._thread.start()

    def _serve(self) -> None:
        client = self._client = self._client_factory()
        waiting: list[QueuedRun] = []
        running: QueuedRun | None = None
        try:
            while True:
                try:
                    while True:
                        command, argument = self._commands.get_nowait()
                        if command == "stop":
                            return
                        if command == "submit":
                            waiting.append(argument)
                        elif command == "cancel":
                            client.cancel()
                except queue.Empty:
                    pass
                if running is None:
                    waiting = [run for run in waiting if run.status == "queued"]  # skip removed ones
                    if waiting:
                        running = waiting.pop(0)
                        self._internal.emit(("started", running, None))
                        try:
                            running.run_id = client.submit(running.snapshot)
                        except Exception as exc:  # the worker could not start: say so, keep serving the queue
                            failed = {"event": "run_finished", "status": "crashed",
                                      "message": f"the engine's worker process could not start: {exc}"}
                            self.event.emit(failed)
                            self._internal.emit(("finished", running, failed))
                            running = None
                            continue
                event = client.next_event(timeout=0.05)
                if event is None:
                    continue
                self.event.emit(event)
                if (running is not None and event.get("event") == "run_finished"
                        and event.get("run_id") == running.run_id):
                    self._internal.emit(("finished", running, event))
                    running = None
        finally:
            client.close()

    def _on_internal(self, message: tuple[str, QueuedRun, dict | None]) -> None:
        kind, run, event = message
        if kind == "started":
            run.status = "running"
        else:
            run.status, run.message = event["status"], event.get("message", "")
            self.run_finished.emit(run)
        self.queue_changed.emit()
