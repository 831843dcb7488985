"""The object a node's run function receives: where it is, how to report, and whether to stop."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from studio.engine.errors import Cancelled


# Final frames sent to the window are at most this long on their longest side: the timeline shows them small.
FRAMES_MAX_SIDE = 512


class RunContext:
    def __init__(self, node_id: str, base_dir: Path, emit: Callable[[dict[str, Any]], None],
                 is_cancelled: Callable[[], bool], previews: bool = True,
                 workflow: dict[str, Any] | None = None) -> None:
        self.node_id = node_id
        self.base_dir = base_dir
        # The workflow being run (plain JSON, as migrated, without base_dir): what an output node embeds in its file.
        self.workflow = workflow
        self.info: dict[str, Any] = {}
        # Whether step events should carry previews; they never change what a node computes.
        self.previews = previews
        # Events that belong to the node's result (frames): the executor replays them when it serves the cache.
        self.published: list[dict[str, Any]] = []
        self._emit = emit
        self._is_cancelled = is_cancelled

    def check_aborted(self) -> None:
        """Raise Cancelled if the user asked to stop; call it at least once per denoising step."""
        if self._is_cancelled():
            raise Cancelled()

    def set_progress(self, step: int, total: int, **extra: Any) -> None:
        """Report step `step` of `total` done; `extra` may carry a preview (uint8 (F, H, W, 3), every frame)."""
        self._emit({"event": "step", "node": self.node_id, "step": step, "total": total, **extra})

    def publish_frames(self, frames: Any, fps: float, kind: str = "final") -> None:
        """Send decoded (F, H, W, 3) uint8 frames to the timeline, shrunk to FRAMES_MAX_SIDE on the longest side."""
        from studio.media.video_io import shrink_frames

        small = shrink_frames(frames, FRAMES_MAX_SIDE)
        small.flags.writeable = False  # the same array is replayed from the cache: nobody may paint on it
        event = {"event": "frames", "node": self.node_id, "kind": kind, "frames": small, "fps": float(fps)}
        self.published.append(event)
        self._emit(event)

    def report(self, **info: Any) -> None:
        """Facts the user should see on the node card (token counts, warnings); sent with node_finished."""
        self.info.update(info)

    def resolve_path(self, value: str) -> Path:
        """A path parameter: `~` expanded, relative paths taken from the workflow file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)
