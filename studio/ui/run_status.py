"""Turns engine events into what the user sees: node card states, the log, and the status bar."""
from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QStatusBar

from studio.graph.model import Graph
from studio.graph.validation import Problem
from studio.ui.run_panels import LogPanel


class RunStatusTracker:
    def __init__(self, editor: Any, inspector: Any, log: LogPanel, status_bar: QStatusBar) -> None:
        self.editor, self.inspector, self.log, self.status_bar = editor, inspector, log, status_bar
        self.graph: Graph | None = None
        self.states: dict[str, dict[str, Any]] = {}  # node id -> the last status shown, for the inspector too

    def set_graph(self, graph: Graph) -> None:
        self.graph = graph
        self.states.clear()
        self.editor.clear_statuses()
        self.inspector.clear_statuses()

    def _show(self, node: str, state: str, **details: Any) -> None:
        if self.graph is None or node not in self.graph.nodes:  # the node was deleted while the run went on
            return
        self.states[node] = {"state": state, **details}
        self.editor.set_node_status(node, state, **details)
        self.inspector.set_node_status(node, state, **details)

    def show_problems(self, problems: list[Problem]) -> None:
        """Validation failed before anything ran: mark each node and list every problem."""
        self.editor.clear_statuses()
        by_node: dict[str, list[str]] = {}
        for problem in problems:
            by_node.setdefault(problem.node, []).append(str(problem))
        for node, messages in by_node.items():
            if node:
                self._show(node, "failed", message="\n".join(messages))
        self.log.add(f"cannot run: {len(problems)} problem(s)\n" + "\n".join(str(p) for p in problems), "error")
        self.status_bar.showMessage(f"cannot run: {problems[0]}", 10000)

    def handle(self, event: dict[str, Any]) -> None:
        kind = event.get("event")
        node = event.get("node", "")
        if kind == "run_started":
            self.editor.clear_statuses()
            self.inspector.clear_statuses()
            self.states.clear()
            for node_id in event.get("nodes", []):
                self._show(node_id, "queued")
            self.log.add(f"run started ({len(event.get('nodes', []))} nodes)")
        elif kind == "node_started":
            self._show(node, "running")
        elif kind == "step":
            self._show(node, "running", step=event["step"], total=event["total"])
            self.status_bar.showMessage(f"{node}: step {event['step']}/{event['total']}")
        elif kind == "node_cached":
            self._show(node, "cached", info=event.get("info") or {})
        elif kind == "node_finished":
            info = event.get("info") or {}
            self._show(node, "done", info=info)
            self.log.add(f"{node}: done in {event.get('seconds', 0):.2f} s{_facts(info)}")
            for warning in info.get("warnings", []):
                self.log.add(f"{node}: {warning}", "warning")
        elif kind == "node_failed":
            self._show(node, "failed", message=event.get("message", "failed"))
            self.log.add(event.get("message", f"{node} failed"), "error")
            if event.get("detail"):
                self.log.add(event["detail"], "error")
        elif kind == "node_cancelled":
            self._show(node, "idle", message="cancelled")
        elif kind == "worker_crashed":
            self.log.add(event.get("message", "the engine's worker process died"), "error")
        elif kind == "run_finished":
            self._finish(event)

    def _finish(self, event: dict[str, Any]) -> None:
        for node_id, shown in list(self.states.items()):
            if shown["state"] in ("queued", "running"):
                self._show(node_id, "idle")
        status, message = event.get("status", "done"), event.get("message", "")
        for problem in event.get("problems") or []:
            self.log.add(problem, "error")
        level = {"done": "good", "cancelled": "warning"}.get(status, "error")
        self.log.add(f"run {status}" + (f": {message}" if message else ""), level)
        self.status_bar.showMessage(f"run {status}" + (f": {message}" if message else ""), 15000)


def _facts(info: dict[str, Any]) -> str:
    if "tokens" in info:
        text = f" ({info['tokens']}/{info.get('max_tokens', '?')} tokens"
        return text + (", TRUNCATED)" if info.get("truncated") else ")")
    return ""
