"""Every window test gets its own settings, autosave and cache folders: nothing touches the user's home."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_user_folders(tmp_path, monkeypatch):
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    for name, folder in (("STUDIO_DATA_DIR", "data"), ("STUDIO_CONFIG_DIR", "config")):
        monkeypatch.setenv(name, str(tmp_path / folder))
    QApplication.setOrganizationName("studio")
    QApplication.setApplicationName("studio")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(tmp_path / "config"))
    yield tmp_path
