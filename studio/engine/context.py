"""The object a node's run function receives: where it is, how to report, and whether to stop."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from studio.engine.errors import Cancelled


class RunContext:
    def __init__(self, node_id: str, base_dir: Path, emit: Callable[[dict[str, Any]], None],
                 is_cancelled: Callable[[], bool]) -> None:
        self.node_id = node_id
        self.base_dir = base_dir
        self.info: dict[str, Any] = {}
        self._emit = emit
        self._is_cancelled = is_cancelled

    def check_aborted(self) -> None:
        """Raise Cancelled if the user asked to stop; call it at least once per denoising step."""
        if self._is_cancelled():
            raise Cancelled()

    def set_progress(self, step: int, total: int, **extra: Any) -> None:
        """Report step `step` of `total` done; `extra` may carry a preview (a small uint8 array)."""
        self._emit({"event": "step", "node": self.node_id, "step": step, "total": total, **extra})

    def report(self, **info: Any) -> None:
        """Facts the user should see on the node card (token counts, warnings); sent with node_finished."""
        self.info.update(info)

    def resolve_path(self, value: str) -> Path:
        """A path parameter: `~` expanded, relative paths taken from the workflow file's folder."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path)
