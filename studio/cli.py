"""`studio render | validate | models`: the studio without a window.

User mistakes end with one clear line naming the node, parameter or file and a non-zero exit, never a traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from studio.graph.model import Graph
from studio.graph.registry import catalogue
from studio.graph.types import ParamType
from studio.graph.validation import validate
from studio.graph.workflow import WorkflowError, load_workflow
from studio.media.naming import split_output_path

OUTPUT_KINDS = "an .mp4 (H.264), .webm (VP9) or .gif file, or a folder ending in '/' (PNG frames 00000.png...)"
FILE_KINDS = ("mp4", "webm", "gif")


class UsageError(Exception):
    """A mistake in the command line or the workflow; printed as one line."""


def parse_value(text: str, kind: ParamType) -> Any:
    if kind is ParamType.INT:
        return int(text)
    if kind is ParamType.FLOAT:
        return float(text)
    if kind is ParamType.BOOL:
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
            raise ValueError(text)
        return lowered in ("true", "1", "yes", "on")
    return text


def apply_overrides(graph: Graph, assignments: list[str]) -> None:
    registry = catalogue()
    for assignment in assignments:
        target, sep, text = assignment.partition("=")
        node_id, dot, param_name = target.partition(".")
        if not sep or not dot:
            raise UsageError(f"--set {assignment!r}: expected NODE_ID.PARAM=VALUE")
        node = graph.nodes.get(node_id)
        if node is None:
            raise UsageError(f"--set {assignment!r}: the workflow has no node {node_id!r} "
                             f"(nodes: {', '.join(graph.nodes)})")
        spec = registry.get(node.type)
        param = spec.param(param_name) if spec else None
        if param is None:
            names = ", ".join(p.name for p in spec.params) if spec else "unknown node type"
            raise UsageError(f"--set {assignment!r}: node {node_id!r} has no parameter {param_name!r} ({names})")
        try:
            value = parse_value(text, param.type)
        except ValueError:
            raise UsageError(f"--set {assignment!r}: node {node_id!r} parameter {param_name!r} expects "
                             f"{param.type.value.lower()}, got {text!r}") from None
        graph.set_param(node_id, param_name, value)


def direct_output(graph: Graph, out: str, overwrite: bool) -> str:
    """Point the workflow's Save Video node at `out`; returns the absolute output path."""
    saves = [node_id for node_id, node in graph.nodes.items() if node.type.startswith("save_video@")]
    if not saves:
        raise UsageError("--out: the workflow has no Save Video node to write it")
    if len(saves) > 1:
        raise UsageError(f"--out: the workflow has several Save Video nodes ({', '.join(saves)}); "
                         "set each one's folder and name with --set NODE_ID.folder=... --set NODE_ID.name=...")
    as_folder = out.endswith(("/", os.sep))
    if not as_folder and Path(out).suffix.lower().lstrip(".") not in FILE_KINDS:
        raise UsageError(f"--out {out!r}: the output must be {OUTPUT_KINDS}")
    target = Path(out).expanduser().resolve()
    if target.exists() and not overwrite and (not target.is_dir() or any(target.iterdir())):
        raise UsageError(f"--out {out!r} already exists; pass --overwrite to replace it")
    resolved = str(target) + ("/" if as_folder else "")
    folder, name, kind = split_output_path(resolved)
    for param, value in (("folder", folder), ("name", name), ("format", kind), ("overwrite", overwrite)):
        graph.set_param(saves[0], param, value)
    return resolved


class Progress:
    """One updating line on a terminal; plain lines otherwise (logs, CI)."""

    def __init__(self, stream: Any = sys.stderr) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.node = ""

    def __call__(self, event: dict[str, Any]) -> None:
        # Only counts and names are printed: step previews and frames events carry numpy arrays, never shown here.
        kind = event.get("event")
        if kind == "node_started":
            self.node = event["node"]
            self._line(f"{self.node} ...")
        elif kind == "step" and self.tty:
            done, total = event["step"], event["total"]
            bar = "#" * (24 * done // total) + "-" * (24 - 24 * done // total)
            self._line(f"{event['node']} [{bar}] step {done}/{total}")
        elif kind == "node_finished":
            info = event.get("info") or {}
            extra = f", {info['tokens']}/{info['max_tokens']} tokens" if "tokens" in info else ""
            self._line(f"{event['node']} done in {event['seconds']:.2f}s{extra}", end=True)
            for warning in info.get("warnings", []):
                self._line(f"  warning: {warning}", end=True)
        elif kind == "node_cached":
            self._line(f"{event['node']} cached", end=True)

    def _line(self, text: str, end: bool = False) -> None:
        if self.tty:
            self.stream.write("\r\033[K" + text + ("\n" if end else ""))
        elif end:
            self.stream.write(text + "\n")
        self.stream.flush()


def command_render(args: argparse.Namespace) -> int:
    from studio.engine.client import EngineClient

    graph = load_workflow(args.workflow)
    apply_overrides(graph, args.set or [])
    if args.out:
        direct_output(graph, args.out, args.overwrite)
    problems = validate(graph, catalogue())
    if problems:
        print_problems(args.workflow, problems)
        return 1
    progress = Progress()
    outputs: list[str] = []

    def on_event(event: dict[str, Any]) -> None:
        progress(event)
        if event.get("event") == "node_finished" and "path" in (event.get("info") or {}):
            outputs.append(event["info"]["path"])
        if event.get("event") == "node_failed" and args.verbose and event.get("detail"):
            sys.stderr.write(event["detail"])

    with EngineClient() as engine:
        try:
            result = engine.run(graph.snapshot(), on_event)
        except KeyboardInterrupt:
            engine.cancel()
            sys.stderr.write("\ncancelling (Ctrl-C again to stop at once)...\n")
            try:
                while (event := engine.next_event(timeout=0.5)) is None or event.get("event") != "run_finished":
                    pass
            except KeyboardInterrupt:
                pass  # leaving the `with` stops the worker
            sys.stderr.write("studio render: cancelled\n")
            return 130
    if result["status"] != "done":
        sys.stderr.write(f"studio render: {result['message']}\n")
        for problem in result.get("problems", []):
            sys.stderr.write(f"  - {problem}\n")
        return 1
    for path in outputs:
        print(f"wrote {path}")
    return 0


def print_problems(workflow: str, problems: list) -> None:
    sys.stderr.write(f"{workflow}: {len(problems)} problem(s)\n")
    for problem in problems:
        sys.stderr.write(f"  - {problem}\n")


def command_validate(args: argparse.Namespace) -> int:
    graph = load_workflow(args.workflow)
    problems = validate(graph, catalogue())
    if problems:
        print_problems(args.workflow, problems)
        return 1
    print(f"{args.workflow}: valid ({len(graph.nodes)} nodes)")
    return 0


def command_models(args: argparse.Namespace) -> int:
    from studio.models.discovery import find_models, hf_hub_cache, user_models_dir

    models = find_models()
    if not models:
        print("no models found")
    else:
        print(f"{'name':32} {'family':12} {'pipeline':28} {'source':20} path")
    for entry in models:
        family = entry.family or "unsupported"  # a diffusers pipeline, but not a video family the studio drives
        print(f"{entry.name:32} {family:12} {entry.pipeline_class:28} {entry.source:20} {entry.path}")
    print(f"\nsearched: bundled models, $STUDIO_MODELS_DIR ({user_models_dir() or 'not set'}), "
          f"Hugging Face cache ({hf_hub_cache()})")
    return 0


def command_gui(args: argparse.Namespace) -> int:
    from studio.ui.app import run_gui

    return run_gui(args.workflow, run=args.run, screenshot=args.screenshot)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Video-diffusion workflows as node graphs.")
    commands = parser.add_subparsers(dest="command", required=True)
    render = commands.add_parser("render", help="run a workflow and write its output")
    render.add_argument("workflow", help="a workflow .json, or a render that embeds one (mp4, webm, gif, png, "
                        "or a folder of PNG frames)")
    render.add_argument("--out", help=f"where to write: {OUTPUT_KINDS}")
    render.add_argument("--set", action="append", metavar="NODE_ID.PARAM=VALUE", help="override a parameter")
    render.add_argument("--overwrite", action="store_true", help="replace an existing output")
    render.add_argument("--verbose", action="store_true", help="show tracebacks of unexpected node errors")
    render.set_defaults(handler=command_render)
    check = commands.add_parser("validate", help="list every problem in a workflow")
    check.add_argument("workflow", help="a workflow .json, or a render that embeds one")
    check.set_defaults(handler=command_validate)
    models = commands.add_parser("models", help="list the models the studio can find")
    models.set_defaults(handler=command_models)
    gui = commands.add_parser("gui", help="open the studio window")
    gui.add_argument("workflow", nargs="?", help="workflow to open (default: the text-to-video example)")
    gui.add_argument("--run", action="store_true", help="run the workflow, then exit (0 when the run is done)")
    gui.add_argument("--screenshot", metavar="PNG", help="save a picture of the whole window, then exit")
    gui.set_defaults(handler=command_gui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, WorkflowError) as exc:
        sys.stderr.write(f"studio {args.command}: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
