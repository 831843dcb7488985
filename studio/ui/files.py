"""Not losing work: atomic saves that keep the previous version, autosave, and recovery after a crash.

Autosaves live in the user's data folder, one sub-folder per running studio, guarded by a QLockFile. A folder whose
lock is stale (its studio died without cleaning up) holds recoverable work; a clean exit removes its own folder.
"""
from __future__ import annotations

import json
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile, QSaveFile

from studio.graph.model import Graph
from studio.graph.workflow import workflow_from_json

AUTOSAVE_KEY = "studio.autosave"  # top-level field of an autosave file: where the work came from


class SaveError(Exception):
    """A save that did not happen; the file on disk is unchanged."""


def backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".bak")


def write_workflow_file(graph: Graph, path: Path, keep_previous: bool = True) -> None:
    """Write the workflow through QSaveFile (temp file, then rename), keeping the previous version as NAME.bak."""
    text = json.dumps(graph.to_json(), indent=2, ensure_ascii=False) + "\n"
    _write_atomically(path, text.encode("utf-8"), backup=keep_previous)


def _write_atomically(path: Path, data: bytes, backup: bool) -> None:
    if backup and path.is_file():
        # Copy, do not move: if the new write fails, the original is still where the user left it.
        previous = backup_path(path)
        temp = previous.with_name(f".{previous.name}.{uuid.uuid4().hex[:8]}")
        try:
            shutil.copy2(path, temp)
            temp.replace(previous)
        except OSError as exc:
            temp.unlink(missing_ok=True)
            raise SaveError(f"cannot keep the previous version of {path} as {previous.name}: {exc}") from None
    file = QSaveFile(str(path))
    if not file.open(QSaveFile.OpenModeFlag.WriteOnly):
        raise SaveError(f"cannot write {path}: {file.errorString()}")
    if file.write(data) != len(data) or not file.commit():
        file.cancelWriting()
        raise SaveError(f"cannot write {path}: {file.errorString()}")


@dataclass
class Recoverable:
    autosave: Path
    original: Path | None  # the file the work belongs to, or None when it was never saved
    saved_at: float

    def describe(self) -> str:
        name = self.original.name if self.original else "an untitled workflow"
        return f"{name} (autosaved {time.strftime('%Y-%m-%d %H:%M', time.localtime(self.saved_at))})"


class Autosaver:
    """This studio's autosave folder, and the work other (crashed) studios left behind."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.folder = root / f"session-{uuid.uuid4().hex[:12]}"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._lock = QLockFile(str(self.folder / "lock"))
        self._lock.setStaleLockTime(0)  # only a dead owner makes a lock stale, never its age
        self._lock.tryLock(0)

    @property
    def file(self) -> Path:
        return self.folder / "autosave.studio.json"

    def save(self, graph: Graph, original: Path | None) -> None:
        data = graph.to_json()
        data[AUTOSAVE_KEY] = {"original": str(original) if original else None, "saved_at": time.time()}
        _write_atomically(self.file, (json.dumps(data, indent=1) + "\n").encode("utf-8"), backup=False)

    def discard(self) -> None:
        """The open work is saved (or deliberately dropped): nothing to recover."""
        self.file.unlink(missing_ok=True)

    def close(self) -> None:
        """Clean exit: remove this studio's folder."""
        self._lock.unlock()
        shutil.rmtree(self.folder, ignore_errors=True)

    def recoverable(self) -> list[Recoverable]:
        """Autosaves of studios that are no longer running, newest first."""
        found = []
        for folder in sorted(self.root.glob("session-*")):
            if folder == self.folder or not self._owner_is_gone(folder):
                continue
            file = folder / "autosave.studio.json"
            try:
                meta = json.loads(file.read_text(encoding="utf-8"))[AUTOSAVE_KEY]
            except (OSError, ValueError, KeyError, TypeError):
                shutil.rmtree(folder, ignore_errors=True)  # nothing readable to offer
                continue
            original = Path(meta["original"]) if meta.get("original") else None
            found.append(Recoverable(file, original, float(meta.get("saved_at", file.stat().st_mtime))))
        return sorted(found, key=lambda r: r.saved_at, reverse=True)

    @staticmethod
    def _owner_is_gone(folder: Path) -> bool:
        lock = QLockFile(str(folder / "lock"))
        lock.setStaleLockTime(0)
        if lock.tryLock(0):  # succeeds only when no live studio holds it (QLockFile checks the owner's pid)
            lock.unlock()
            return True
        return False

    @staticmethod
    def load(recoverable: Recoverable) -> Graph:
        data = json.loads(recoverable.autosave.read_text(encoding="utf-8"))
        data.pop(AUTOSAVE_KEY, None)
        return workflow_from_json(data, source_path=recoverable.original, origin=str(recoverable.autosave))

    @staticmethod
    def forget(recoverable: Recoverable) -> None:
        shutil.rmtree(recoverable.autosave.parent, ignore_errors=True)
