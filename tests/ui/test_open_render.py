"""A render is a workflow in the window too: File > Open and drag and drop accept it, as an unsaved copy."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from studio.media.export import export_clip
from studio.media.video_io import Video
from studio.ui.main_window import MainWindow
from tests.helpers import EXAMPLE


@pytest.fixture
def window(qtbot):
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    yield window
    window.close()


def render(tmp_path, kind: str, seed: int):
    workflow = json.loads(EXAMPLE.read_text())
    workflow["nodes"]["sampler"]["params"]["seed"] = seed
    clip = Video(np.zeros((2, 16, 16, 3), np.uint8), 16.0)
    return export_clip(clip, tmp_path, f"render-{seed}", kind, workflow=workflow).path


@pytest.mark.parametrize("kind", ["mp4", "png"])
def test_opening_a_render_gives_its_workflow_as_an_unsaved_copy(window, tmp_path, kind):
    path = render(tmp_path, kind, seed=31)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert window.open_path(path)
    assert window.graph.nodes["sampler"].params["seed"] == 31
    assert window.path is None and "render-31" in window.windowTitle()  # Save asks where: never into the render
    assert sorted(p.name for p in tmp_path.rglob("*")) == before


def test_dropping_a_render_on_the_window_opens_its_workflow(window, tmp_path):
    path = render(tmp_path, "gif", seed=32)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    window.dropEvent(QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                Qt.KeyboardModifier.NoModifier))
    assert window.graph.nodes["sampler"].params["seed"] == 32 and window.path is None


def test_a_media_file_without_a_workflow_is_refused_and_the_open_work_kept(window, tmp_path):
    window.open_path(EXAMPLE)
    plain = export_clip(Video(np.zeros((2, 16, 16, 3), np.uint8), 16.0), tmp_path, "plain", "webm").path
    assert not window.open_path(plain)
    assert set(window.graph.nodes) >= {"sampler", "save"}
