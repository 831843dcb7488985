"""Runs a graph snapshot node by node, reusing cached outputs of nodes whose inputs did not change.

Events (plain dicts; the worker adds "run_id"):
    run_started {nodes: [ids in run order]}          node_started {node}
    node_cached {node, info}                         node_finished {node, seconds, info}
    node_failed {node, message, param?, input?, detail?}   node_cancelled {node}
    step {node, step, total, preview?}               run_finished {status: done|failed|cancelled|crashed, message?,
                                                                   problems?}
    frames {node, kind: "final", frames, fps}
`preview` is the model's current clean-clip estimate of every frame, uint8 (F, H, W, 3), longest side <= 256;
`frames` is a node's decoded clip, uint8 (F, H, W, 3), longest side <= 512. Both are numpy arrays: consumers that
print or serialise events must skip them. A node served from the cache sends its frames events again, before its
node_cached. A snapshot with "previews": false asks for step events without previews.
"""
from __future__ import annotations

import hashlib
import json
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from studio.engine.context import RunContext
from studio.engine.errors import Cancelled, NodeError
from studio.graph.model import topological_order
from studio.graph.registry import NodeRegistry, NodeSpec
from studio.graph.validation import validate
from studio.graph.workflow import WorkflowError, workflow_from_json

Emit = Callable[[dict[str, Any]], None]


@dataclass
class CacheEntry:
    outputs: dict[str, Any]
    info: dict[str, Any]
    published: list[dict[str, Any]] = field(default_factory=list)  # frames events, replayed on a cache hit


class Executor:
    def __init__(self, registry: NodeRegistry) -> None:
        self.registry = registry
        self.cache: dict[str, CacheEntry] = {}

    def run(self, snapshot: dict[str, Any], emit: Emit, is_cancelled: Callable[[], bool]) -> str:
        """Run every node of the snapshot; returns the final status (also sent as run_finished)."""
        try:
            graph = workflow_from_json(snapshot)
        except WorkflowError as exc:
            return self._finish(emit, "failed", str(exc))
        problems = validate(graph, self.registry)
        if problems:
            return self._finish(emit, "failed", f"the workflow has {len(problems)} problem(s)",
                                problems=[str(p) for p in problems])
        order, _ = topological_order({nid: [src for src, _ in n.inputs.values()] for nid, n in graph.nodes.items()})
        base_dir = Path(snapshot.get("base_dir") or Path.cwd())
        previews = bool(snapshot.get("previews", True))
        workflow = graph.to_json()  # shared by every node's context: output nodes embed it, nobody edits it
        emit({"event": "run_started", "nodes": order})
        keys: dict[str, str] = {}
        results: dict[str, dict[str, Any]] = {}
        for node_id in order:
            node, spec = graph.nodes[node_id], self.registry.get(graph.nodes[node_id].type)
            params = {**spec.default_params(), **node.params}
            ctx = RunContext(node_id, base_dir, emit, is_cancelled, previews=previews, workflow=workflow)
            try:
                ctx.check_aborted()
                keys[node_id] = self._cache_key(spec, params, node.inputs, keys, ctx)
                cached = None if spec.is_output else self.cache.get(keys[node_id])
                if cached is not None:
                    results[node_id] = cached.outputs
                    for event in cached.published:  # the window gets the final frames even when nothing re-ran
                        emit({**event, "node": node_id})
                    emit({"event": "node_cached", "node": node_id, "info": cached.info})
                    continue
                emit({"event": "node_started", "node": node_id})
                inputs = {name: results[src][out] for name, (src, out) in node.inputs.items()}
                inputs.update({i.name: None for i in spec.inputs if i.name not in inputs})
                started = time.perf_counter()
                outputs = self._call(spec, ctx, inputs, params)
            except Cancelled:
                emit({"event": "node_cancelled", "node": node_id})
                return self._finish(emit, "cancelled", "cancelled by the user")
            except NodeError as exc:
                message = exc.located(node_id)
                emit({"event": "node_failed", "node": node_id, "message": message, "param": exc.param,
                      "input": exc.input})
                return self._finish(emit, "failed", message)
            except Exception as exc:  # a bug or an unexpected library error: keep serving, show where
                message = f"node {node_id!r} ({spec.title}) failed: {type(exc).__name__}: {exc}"
                emit({"event": "node_failed", "node": node_id, "message": message,
                      "detail": traceback.format_exc()})
                return self._finish(emit, "failed", message)
            results[node_id] = outputs
            self.cache[keys[node_id]] = CacheEntry(outputs, dict(ctx.info), list(ctx.published))
            emit({"event": "node_finished", "node": node_id, "seconds": time.perf_counter() - started,
                  "info": ctx.info})
        # Keep only what this graph uses, so memory does not grow with every edit.
        used = set(keys.values())
        self.cache = {key: entry for key, entry in self.cache.items() if key in used}
        return self._finish(emit, "done")

    @staticmethod
    def _call(spec: NodeSpec, ctx: RunContext, inputs: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
        from studio.models.out_of_memory import free_cached_memory, is_out_of_memory, out_of_memory_error

        out_of_memory = None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                outputs = spec.run(ctx, **inputs, **params)
            except Exception as exc:
                if not is_out_of_memory(exc):
                    raise
                out_of_memory = out_of_memory_error(exc, spec.title, inputs, params)
        if out_of_memory is not None:
            # Raised outside the handler: the failed call's frames (and the tensors they hold) are gone first.
            free_cached_memory()
            raise out_of_memory
        if caught:
            ctx.report(warnings=sorted({str(w.message) for w in caught}))
        missing = [o.name for o in spec.outputs if o.name not in (outputs or {})]
        if missing:
            raise RuntimeError(f"{spec.type_id} returned no value for output(s) {', '.join(missing)}")
        return outputs or {}

    @staticmethod
    def _cache_key(spec: NodeSpec, params: dict[str, Any], inputs: dict[str, tuple[str, str]],
                   keys: dict[str, str], ctx: RunContext) -> str:
        """Type, parameters and the inputs' own keys: a change upstream changes every key below it."""
        salt = spec.cache_salt(ctx, **params) if spec.cache_salt else ""
        material = [spec.type_id, params, {name: [keys[src], out] for name, (src, out) in sorted(inputs.items())},
                    salt]
        return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()

    @staticmethod
    def _finish(emit: Emit, status: str, message: str = "", **extra: Any) -> str:
        emit({"event": "run_finished", "status": status, "message": message, **extra})
        return status
