"""Image and video files in and out."""
from __future__ import annotations

from studio.engine.errors import NodeError
from studio.graph.registry import Input, Output, Param, node
from studio.graph.types import ParamType, PortType


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


@node("save_video", version=1, title="Save Video", category="video",
      description="Write the clip as an H.264 mp4, or as PNG frames when the path ends with '/'.",
      inputs=[Input("video", PortType.VIDEO)],
      params=[
          Param("path", ParamType.STRING, "renders/render.mp4", "Output file (.mp4) or folder (ending in '/').",
                path="save"),
          Param("crf", ParamType.INT, 18, "H.264 quality: lower is better and larger (0-51).", min=0, max=51),
          Param("overwrite", ParamType.BOOL, False, "Replace an existing output instead of refusing."),
      ],
      is_output=True)
def save_video(ctx, video, path: str, crf: int, overwrite: bool) -> dict:
    from studio.media.video_io import MediaError, write_video

    # Path() drops a trailing separator, which is what asks for a folder of frames: put it back.
    folder = path.endswith(("/", "\\"))
    target = str(ctx.resolve_path(path)) + ("/" if folder else "")
    try:
        written = write_video(video, target, crf=crf, overwrite=overwrite)
    except MediaError as exc:
        raise NodeError(str(exc), param="path") from None
    ctx.report(path=str(written), frames=video.num_frames)
    return {}
