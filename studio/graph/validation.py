"""Validation: every problem in a graph at once, each naming the node and the input or parameter."""
from __future__ import annotations

from dataclasses import dataclass

from studio.graph.model import Graph, topological_order
from studio.graph.registry import NodeRegistry


@dataclass(frozen=True)
class Problem:
    node: str
    message: str
    input: str | None = None
    param: str | None = None

    def __str__(self) -> str:
        return f"{where(self.node, self.input, self.param)}: {self.message}"


def where(node: str, input: str | None = None, param: str | None = None) -> str:
    """How every message points at a place in the graph: "node 'sampler' parameter 'steps'"."""
    text = f"node {node!r}"
    if input:
        text += f" input {input!r}"
    if param:
        text += f" parameter {param!r}"
    return text


def validate(graph: Graph, registry: NodeRegistry) -> list[Problem]:
    problems: list[Problem] = []
    for node_id, node in graph.nodes.items():
        spec = registry.get(node.type)
        if spec is None:
            latest = registry.latest_version(node.type.split("@")[0])
            hint = f" (this studio has {latest.type_id})" if latest else ""
            problems.append(Problem(node_id, f"unknown node type {node.type!r}{hint}"))
            continue
        for name, value in node.params.items():
            param = spec.param(name)
            if param is None:
                problems.append(Problem(node_id, f"{spec.title} has no such parameter", param=name))
            elif (reason := param.problem_with(value)) is not None:
                problems.append(Problem(node_id, reason, param=name))
        for name, (source, output) in node.inputs.items():
            declared = spec.input(name)
            if declared is None:
                problems.append(Problem(node_id, f"{spec.title} has no such input", input=name))
                continue
            source_node = graph.nodes.get(source)
            if source_node is None:
                problems.append(Problem(node_id, f"linked to missing node {source!r}", input=name))
                continue
            source_spec = registry.get(source_node.type)
            if source_spec is None:
                continue  # already reported on the source node
            source_output = source_spec.output(output)
            if source_output is None:
                problems.append(Problem(node_id, f"node {source!r} ({source_spec.title}) has no output {output!r}",
                                        input=name))
            elif source_output.type is not declared.type:
                problems.append(Problem(
                    node_id, f"expects {declared.type.value} but {source!r}.{output} is {source_output.type.value}",
                    input=name))
        for declared in spec.inputs:
            if not declared.optional and declared.name not in node.inputs:
                problems.append(Problem(node_id, f"required {declared.type.value} input is not connected",
                                        input=declared.name))
    dependencies = {node_id: [src for src, _ in node.inputs.values()] for node_id, node in graph.nodes.items()}
    _, cyclic = topological_order(dependencies)
    for node_id in cyclic:
        problems.append(Problem(node_id, "is part of a cycle (its inputs lead back to itself)"))
    return problems


def can_connect(graph: Graph, registry: NodeRegistry, source: str, output: str, target: str,
                input_name: str) -> str | None:
    """Why the link source.output -> target.input would be refused, or None if it is fine (used while dragging)."""
    source_spec = registry.get(graph.nodes[source].type)
    target_spec = registry.get(graph.nodes[target].type)
    if source_spec is None or target_spec is None:
        return "unknown node type"
    out, inp = source_spec.output(output), target_spec.input(input_name)
    if out is None or inp is None:
        return "no such port"
    if out.type is not inp.type:
        return f"{inp.type.value} input cannot take {out.type.value}"
    dependencies = {node_id: [src for src, _ in node.inputs.values()] for node_id, node in graph.nodes.items()}
    dependencies[target] = [*dependencies[target], source]
    if target in topological_order(dependencies)[1]:
        return "the link would close a cycle"
    return None
