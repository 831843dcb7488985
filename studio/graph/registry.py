"""Node declarations and the registry that holds them.

A node type is declared once, in nodes/, with the `node` decorator: a stable versioned id, typed inputs and outputs,
parameters with defaults and bounds, a one-line description and the function that runs it. Everything a UI needs to
draw a node card comes from this declaration; the run function is only called in the engine's worker process and
imports torch lazily, so importing the catalogue stays cheap and torch-free.
"""
from __future__ import annotations

import importlib
import math
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Callable

from studio.graph.types import ParamType, PortType


@dataclass(frozen=True)
class Input:
    name: str
    type: PortType
    description: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Output:
    name: str
    type: PortType
    description: str = ""


@dataclass(frozen=True)
class Param:
    name: str
    type: ParamType
    default: Any
    description: str = ""
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    # UI hints only: a multi-line text box, or a file/folder chooser.
    multiline: bool = False
    path: str | None = None  # "file", "folder", "save" or None

    def problem_with(self, value: Any) -> str | None:
        """Why `value` is not acceptable for this parameter, or None when it is."""
        if not self.type.accepts(value):
            return f"expects {self.type.value.lower()}, got {type(value).__name__} {value!r}"
        if self.type is ParamType.FLOAT and not math.isfinite(value):
            return f"must be a finite number, got {value!r}"
        if self.choices and value not in self.choices:
            return f"must be one of {', '.join(map(repr, self.choices))}, got {value!r}"
        if self.min is not None and value < self.min:
            return f"must be at least {_fmt(self.min)}, got {value!r}"
        if self.max is not None and value > self.max:
            return f"must be at most {_fmt(self.max)}, got {value!r}"
        return None


def _fmt(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else str(bound)


@dataclass(frozen=True)
class NodeSpec:
    """Everything known about a node type without running it."""

    name: str  # stable, e.g. "sampler"
    version: int
    title: str
    category: str
    description: str
    inputs: tuple[Input, ...]
    outputs: tuple[Output, ...]
    params: tuple[Param, ...]
    run: Callable[..., dict[str, Any]] = field(compare=False, repr=False)
    # Output nodes write files: they always run, and are what a render is for.
    is_output: bool = False
    # cache_salt(ctx, **params) -> text mixed into the cache key, e.g. a file's size and mtime, so edits are seen.
    cache_salt: Callable[..., str] | None = field(default=None, compare=False, repr=False)

    @property
    def type_id(self) -> str:
        return f"{self.name}@{self.version}"

    def input(self, name: str) -> Input | None:
        return next((i for i in self.inputs if i.name == name), None)

    def output(self, name: str) -> Output | None:
        return next((o for o in self.outputs if o.name == name), None)

    def param(self, name: str) -> Param | None:
        return next((p for p in self.params if p.name == name), None)

    def default_params(self) -> dict[str, Any]:
        return {p.name: p.default for p in self.params}


class NodeRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, NodeSpec] = {}

    def add(self, spec: NodeSpec) -> NodeSpec:
        if spec.type_id in self._specs:
            raise ValueError(f"node type {spec.type_id} is declared twice")
        for param in spec.params:
            problem = param.problem_with(param.default)
            if problem:
                raise ValueError(f"node type {spec.type_id}: default of {param.name!r} {problem}")
        self._specs[spec.type_id] = spec
        return spec

    def get(self, type_id: str) -> NodeSpec | None:
        return self._specs.get(type_id)

    def __contains__(self, type_id: str) -> bool:
        return type_id in self._specs

    def specs(self) -> list[NodeSpec]:
        return sorted(self._specs.values(), key=lambda s: (s.category, s.title))

    def latest_version(self, name: str) -> NodeSpec | None:
        candidates = [s for s in self._specs.values() if s.name == name]
        return max(candidates, key=lambda s: s.version, default=None)


_catalogue: NodeRegistry | None = None
_pending: list[NodeSpec] = []


def node(
    name: str,
    *,
    version: int,
    title: str,
    category: str,
    description: str,
    inputs: list[Input] | tuple[Input, ...] = (),
    outputs: list[Output] | tuple[Output, ...] = (),
    params: list[Param] | tuple[Param, ...] = (),
    is_output: bool = False,
    cache_salt: Callable[..., str] | None = None,
) -> Callable[[Callable[..., dict[str, Any]]], Callable[..., dict[str, Any]]]:
    """Declare a node type. The decorated function is called as run(ctx, **inputs, **params) -> {output: value}."""

    def register(run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        spec = NodeSpec(
            name=name, version=version, title=title, category=category, description=description,
            inputs=tuple(inputs), outputs=tuple(outputs), params=tuple(params), run=run,
            is_output=is_output, cache_salt=cache_salt,
        )
        _pending.append(spec)
        if _catalogue is not None:
            _catalogue.add(spec)
        run.spec = spec  # type: ignore[attr-defined]
        return run

    return register


def catalogue() -> NodeRegistry:
    """The registry of every node in the `nodes` package (imported once, on first use)."""
    global _catalogue
    if _catalogue is None:
        import nodes

        for module in pkgutil.iter_modules(nodes.__path__):
            importlib.import_module(f"nodes.{module.name}")
        registry = NodeRegistry()
        for spec in _pending:
            registry.add(spec)
        _catalogue = registry
    return _catalogue
