"""Image and video files in and out."""
from __future__ import annotations

import copy
from pathlib import Path

from studio.engine.errors import NodeError
from studio.graph.registry import Input, Output, Param, catalogue, node
from studio.graph.types import ParamType, PortType
from studio.media.embedded import fill_params_as_used
from studio.media.naming import DEFAULT_TEMPLATE


def _file_fingerprint(ctx, path: str, **_: object) -> str:
    # The same path with new content must be read again.
    target = ctx.resolve_path(path)
    try:
        stat = target.stat()
    except OSError:
        return f"{target}:missing"
    newest = max((p.stat().st_mtime_ns for p in target.iterdir()), default=0) if target.is_dir() else 0
    return f"{target}:{stat.st_size}:{stat.st_mtime_ns}:{newest}"


def _read(ctx, path: str, what: str, read):
    """Read a media file named by the `path` parameter; file problems become errors on that parameter."""
    from studio.media.video_io import MediaError

    if not path:
        raise NodeError(f"no {what} chosen", param="path")
    try:
        return read(ctx.resolve_path(path))
    except MediaError as exc:
        raise NodeError(str(exc), param="path") from None


@node("load_image", version=1, title="Load Image", category="image",
      description="Read a PNG, JPEG or WebP image.",
      outputs=[Output("image", PortType.IMAGE)],
      params=[Param("path", ParamType.STRING, "", "The image file.", path="file")],
      cache_salt=_file_fingerprint)
def load_image(ctx, path: str) -> dict:
    from studio.media.video_io import read_image

    return {"image": _read(ctx, path, "image file", read_image)}


@node("load_video", version=1, title="Load Video", category="video",
      description="Read an mp4, webm or gif clip, or a folder of PNG frames.",
      outputs=[Output("video", PortType.VIDEO)],
      params=[Param("path", ParamType.STRING, "", "The video file or frames folder.", path="file")],
      cache_salt=_file_fingerprint)
def load_video(ctx, path: str) -> dict:
    from studio.media.video_io import read_video

    return {"video": _read(ctx, path, "video file", read_video)}


@node("save_video", version=2, title="Save Video", category="video",
      description="Export the clip as H.264 mp4, VP9 webm, animated GIF or PNG frames, with the workflow inside.",
      inputs=[Input("video", PortType.VIDEO)],
      params=[
          Param("folder", ParamType.STRING, "renders", "Output folder (relative to the workflow's folder).",
                path="folder"),
          Param("name", ParamType.STRING, DEFAULT_TEMPLATE, "File name: {date}, {time}, {seed} and {counter} are "
                "filled in; the counter moves on past existing files, so nothing is overwritten."),
          Param("format", ParamType.STRING, "mp4", "mp4 (H.264), webm (VP9), gif, or png (a folder of frames).",
                choices=("mp4", "webm", "gif", "png")),
          Param("fps", ParamType.FLOAT, 0.0, "Frames per second; 0 keeps the clip's own.", min=0.0, max=240.0),
          Param("crf", ParamType.INT, 18, "Quality for mp4 (0-51) and webm (0-63): lower is better and larger.",
                min=0, max=63),
          Param("upscale", ParamType.INT, 1, "Enlarge each frame this many times (Lanczos), so small renders are "
                "watchable.", min=1, max=4),
          Param("provenance", ParamType.BOOL, True, "Sign mp4, gif and png with a C2PA manifest marking the clip "
                "as AI-generated (a local key; webm carries only the workflow)."),
          Param("overwrite", ParamType.BOOL, False, "Replace a file of the same name instead of numbering the new "
                "one (names without {counter} only)."),
      ],
      is_output=True)
def save_video(ctx, video, folder: str, name: str, format: str, fps: float, crf: int, upscale: int,
               provenance: bool, overwrite: bool) -> dict:
    import warnings

    from studio.media.export import ExportError, export_clip

    if not folder:
        raise NodeError("no output folder chosen", param="folder")
    target = ctx.resolve_path(folder)
    workflow = _workflow_as_run(ctx, target) if ctx.workflow is not None else None
    try:
        export = export_clip(video, target, name, format, fps=fps, crf=crf, upscale=upscale, workflow=workflow,
                             seed=_upstream_values(ctx, "seed") if workflow else "",
                             model=_model_names(ctx) if workflow else None, provenance=provenance,
                             overwrite=overwrite)
    except ExportError as exc:
        raise NodeError(str(exc), param=exc.param or "folder") from None
    for warning in export.warnings:  # the executor gathers warnings onto the node card
        warnings.warn(warning, stacklevel=2)
    ctx.report(path=str(export.path), frames=video.num_frames, signed=export.signed)
    return {}


def _upstream(ctx) -> list[tuple[str, dict, dict]]:
    """(node id, entry, parameters with defaults) of every node this one reads from, directly or not, by id."""
    nodes, seen, todo = ctx.workflow.get("nodes", {}), set(), [ctx.node_id]
    while todo:
        entry = nodes.get(todo.pop(), {})
        for source, _ in entry.get("inputs", {}).values():
            if source not in seen and source in nodes:
                seen.add(source)
                todo.append(source)
    registry = catalogue()
    found = []
    for node_id in sorted(seen):
        spec = registry.get(nodes[node_id].get("type", ""))
        defaults = spec.default_params() if spec else {}
        found.append((node_id, nodes[node_id], {**defaults, **nodes[node_id].get("params", {})}))
    return found


def _upstream_values(ctx, param: str) -> str:
    """The values of `param` on upstream nodes (the sampler's seed), joined by '-'."""
    return "-".join(str(params[param]) for _, _, params in _upstream(ctx) if param in params)


def _model_names(ctx) -> str | None:
    """The models the clip was made with: the name of each upstream Load Model's folder."""
    names = [Path(str(params.get("path", ""))).name or str(params.get("path"))
             for _, entry, params in _upstream(ctx) if entry.get("type", "").startswith("load_model@")]
    return ", ".join(names) or None


def _workflow_as_run(ctx, folder: Path) -> dict:
    """The workflow to embed: every parameter's value as used (defaults filled in), and relative paths that named
    files made absolute, so the render re-renders from wherever it is opened. Its own output never overwrites."""
    workflow = copy.deepcopy(ctx.workflow)
    workflow.pop("previews", None)
    fill_params_as_used(workflow, catalogue(), ctx.base_dir)
    workflow["nodes"][ctx.node_id]["params"].update(folder=str(folder), overwrite=False)
    return workflow
