"""The engine as the window and the CLI see it: a worker process to send runs to and read events from.

This module imports neither torch nor diffusers, so the UI process starts fast and survives whatever the worker does.
A worker that dies (segfault, os._exit, CUDA fatal error) is reported as a crashed run; the next run starts a new one.
"""
from __future__ import annotations

import multiprocessing
import signal
import uuid
from collections import deque
from typing import Any, Callable

from studio.engine import worker

Event = dict[str, Any]


class EngineClient:
    def __init__(self) -> None:
        self._mp = multiprocessing.get_context("spawn")
        self._cancel = self._mp.Event()
        self._process: Any = None
        self._conn: Any = None
        self._run_id: str | None = None
        self._running_node: str | None = None
        self._synthetic: deque[Event] = deque()

    # -- lifecycle
    @property
    def worker_pid(self) -> int | None:
        return self._process.pid if self._process is not None and self._process.is_alive() else None

    def start(self) -> None:
        """Start the worker now (it also starts on the first submit)."""
        if self._process is not None:
            if self._process.is_alive():
                return
            self._discard_worker()
        parent_conn, child_conn = self._mp.Pipe()
        self._process = self._mp.Process(target=worker.serve, args=(child_conn, self._cancel), daemon=True,
                                         name="studio-worker")
        self._process.start()
        child_conn.close()  # so the parent sees EOF when the worker dies
        self._conn = parent_conn

    def close(self) -> None:
        """Stop the worker: politely when idle, at once when it is in the middle of a run."""
        if self._process is None:
            return
        try:
            self._conn.send({"op": "shutdown"})
        except (AttributeError, OSError, ValueError):  # no pipe: the worker never got going
            pass
        self._process.join(timeout=0 if self.busy else 5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        if self._conn is not None:
            self._conn.close()
        self._process = self._conn = None
        self._run_id = self._running_node = None

    def __enter__(self) -> "EngineClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs
    @property
    def busy(self) -> bool:
        return self._run_id is not None

    def submit(self, snapshot: dict[str, Any]) -> str:
        """Send a graph snapshot (plain JSON) to the worker; returns the run id its events carry."""
        if self.busy:
            raise RuntimeError("a run is already in progress; queue runs and submit the next when it finishes")
        self.start()
        self._cancel.clear()
        request = {"op": "run", "run_id": uuid.uuid4().hex, "graph": snapshot}
        try:
            self._conn.send(request)
        except (OSError, ValueError):  # it died since the last run: nothing was lost, start a fresh one
            self._discard_worker()
            self.start()
            self._conn.send(request)
        self._run_id, self._running_node = request["run_id"], None
        return self._run_id

    def cancel(self) -> None:
        """Ask the running graph to stop; the sampler notices within one denoising step."""
        if self.busy:
            self._cancel.set()

    def next_event(self, timeout: float | None = 0.0) -> Event | None:
        """The next event, waiting up to `timeout` seconds (None: until one arrives); None if there is none."""
        if self._synthetic:
            return self._synthetic.popleft()
        if self._conn is None:
            return None
        try:
            if not self._conn.poll(timeout):
                if self._process.is_alive():
                    return None
                raise EOFError
            event = self._conn.recv()
        except (EOFError, OSError):
            self._worker_died()
            return self._synthetic.popleft() if self._synthetic else None
        kind = event.get("event")
        if kind == "node_started":
            self._running_node = event["node"]
        elif kind == "run_finished" and event.get("run_id") == self._run_id:
            self._run_id = self._running_node = None
        return event

    def run(self, snapshot: dict[str, Any], on_event: Callable[[Event], None] | None = None) -> Event:
        """Submit and wait for the run to finish, passing each event to `on_event`; returns run_finished."""
        run_id = self.submit(snapshot)
        while True:
            event = self.next_event(timeout=0.2)
            if event is None:
                continue
            if on_event is not None:
                on_event(event)
            if event.get("event") == "run_finished" and event.get("run_id") == run_id:
                return event

    def _discard_worker(self) -> None:
        self._process.join(timeout=5)
        self._conn.close()
        self._process = self._conn = None

    def _worker_died(self) -> None:
        self._process.join(timeout=5)
        code = self._process.exitcode
        if code is not None and code < 0:
            try:
                how = f"was killed by signal {signal.Signals(-code).name}"
            except ValueError:
                how = f"was killed by signal {-code}"
        else:
            how = f"exited unexpectedly with code {code}"
        message = f"the engine's worker process {how}; the next run starts a fresh one"
        self._discard_worker()
        self._synthetic.append({"event": "worker_crashed", "exitcode": code, "message": message,
                                "run_id": self._run_id})
        if self._run_id is not None:
            if self._running_node is not None:
                self._synthetic.append({"event": "node_failed", "node": self._running_node, "message": message,
                                        "run_id": self._run_id})
            self._synthetic.append({"event": "run_finished", "status": "crashed", "message": message,
                                    "run_id": self._run_id})
        self._run_id = self._running_node = None
