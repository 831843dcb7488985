"""The worker process: owns torch, the loaded models and the cache, and serves runs until told to stop.

Protocol over a multiprocessing Connection (between our own two processes, never from files):
    client -> worker: {"op": "run", "run_id", "graph"} | {"op": "ping"} | {"op": "shutdown"}
    worker -> client: executor events with "run_id" added; {"event": "pong", "pid"} for a ping
Cancellation is a shared Event, read between steps while the worker is busy.
"""
from __future__ import annotations

import logging
import os
import signal
import traceback
from typing import Any


def _quiet_libraries() -> None:
    # The worker runs offline, and its progress is reported as events, not library progress bars on stderr.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    logging.getLogger("diffusers").setLevel(logging.ERROR)
    logging.getLogger("transformers").setLevel(logging.ERROR)


def serve(conn: Any, cancel_event: Any) -> None:
    # Ctrl-C in a terminal reaches the whole process group; the client turns it into a cancel instead.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _quiet_libraries()
    from studio.engine.executor import Executor
    from studio.graph.registry import catalogue

    executor = Executor(catalogue())
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the client went away
        op = request.get("op")
        if op == "shutdown":
            return
        if op == "ping":
            conn.send({"event": "pong", "pid": os.getpid()})
        elif op == "run":
            run_id = request["run_id"]

            def emit(event: dict[str, Any], run_id: str = run_id) -> None:
                conn.send({**event, "run_id": run_id})

            try:
                executor.run(request["graph"], emit, cancel_event.is_set)
            except Exception as exc:  # the executor itself failed: report, keep serving
                emit({"event": "run_finished", "status": "failed", "message": f"engine error: {exc}",
                      "detail": traceback.format_exc()})
