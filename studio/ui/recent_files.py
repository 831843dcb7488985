"""File > Open Recent: the last workflows opened or saved, newest first, kept in the studio's settings."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 10


class RecentFiles:
    def __init__(self, settings: QSettings, menu: QMenu, open_path: Callable[[Path], object]) -> None:
        self.settings, self.menu, self.open_path = settings, menu, open_path
        self.refresh()

    def remember(self, path: Path) -> None:
        recent = [p for p in self.files() if p != str(path)]
        self.settings.setValue("recent_files", [str(path)] + recent[:MAX_RECENT - 1])
        self.refresh()

    def files(self) -> list[str]:
        value = self.settings.value("recent_files", [])
        return [value] if isinstance(value, str) else list(value or [])

    def refresh(self) -> None:
        self.menu.clear()
        for name in self.files():
            self.menu.addAction(name, lambda n=name: self.open_path(Path(n)))
        self.menu.setEnabled(bool(self.files()))
