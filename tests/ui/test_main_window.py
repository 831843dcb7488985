"""The studio window end to end: real widgets offscreen, the real worker process, a tiny real model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent, QImage

from studio.graph.workflow import load_workflow
from studio.ui.editor.commands import SetParam
from studio.ui.files import backup_path
from studio.ui.main_window import MainWindow
from tests.helpers import EXAMPLE, REPO, save_params


@pytest.fixture
def window(qtbot):
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.open_path(EXAMPLE)
    yield window
    window.close()


def small_workflow(model: Path, out: str, folder: Path, **params) -> Path:
    data = json.loads(EXAMPLE.read_text())
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["latent"]["params"].update(width=32, height=32, frames=9)
    nodes["sampler"]["params"].update(steps=4)
    nodes["save"]["params"].update(save_params(out))
    for node, values in params.items():
        nodes[node]["params"].update(values)
    path = folder / "small.json"
    path.write_text(json.dumps(data))
    return path


def edit(window, node, param, value):
    window.undo_stack.push(SetParam(window.graph, node, param, value))


def test_an_example_opens_as_an_unsaved_copy_and_never_overwrites_the_bundled_file(window):
    assert set(window.graph.nodes) == set(load_workflow(EXAMPLE).nodes)
    assert window.path is None and "example" in window.windowTitle()
    assert len(window.editor.graph_scene.items()) > 0


def test_edits_mark_the_window_dirty_and_undo_makes_it_clean_again(window):
    assert not window.isWindowModified()
    edit(window, "sampler", "seed", 7)
    assert window.isWindowModified() and window.graph.nodes["sampler"].params["seed"] == 7
    window.undo_stack.undo()
    assert not window.isWindowModified() and window.graph.nodes["sampler"].params["seed"] == 0


def test_saving_writes_the_file_keeps_the_previous_version_and_remembers_it(window, tmp_path):
    path = tmp_path / "mine.json"
    edit(window, "sampler", "seed", 1)
    assert window._save_to(path)
    edit(window, "sampler", "seed", 2)
    assert window.save()  # now it has a path: no dialog
    assert not window.isWindowModified() and "mine.json" in window.windowTitle()
    assert load_workflow(path).nodes["sampler"].params["seed"] == 2
    assert load_workflow(backup_path(path)).nodes["sampler"].params["seed"] == 1
    assert window.recent_files()[0] == str(path)


def test_a_file_that_is_not_a_workflow_is_reported_and_the_open_work_is_kept(window, tmp_path):
    bad = tmp_path / "notes.json"
    bad.write_text("{ not json")
    edit(window, "sampler", "seed", 3)
    assert not window.open_path(bad, confirmed=True)
    assert window.graph.nodes["sampler"].params["seed"] == 3
    assert "not valid JSON" in window.log.toPlainText()


def test_dropping_a_workflow_file_on_the_window_opens_it(window, tmp_path):
    data = json.loads(EXAMPLE.read_text())
    data["nodes"]["prompt"]["params"]["text"] = "a cyan triangle moving down"
    dropped = tmp_path / "dropped.json"
    dropped.write_text(json.dumps(data))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(dropped))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window.path == dropped.resolve()
    assert window.graph.nodes["prompt"].params["text"] == "a cyan triangle moving down"


def test_a_run_shows_every_node_done_with_previews_and_the_final_frames(window, qtbot, tiny_model, tmp_path):
    window.open_path(small_workflow(tiny_model, f"{tmp_path}/out/", tmp_path), confirmed=True)
    run = window.run_workflow()
    qtbot.waitUntil(lambda: run.status not in ("queued", "running"), timeout=180_000)
    assert run.status == "done", run.message
    states = {node: shown["state"] for node, shown in window.status.states.items()}
    assert set(states.values()) == {"done"} and set(states) == set(window.graph.nodes)
    assert window.status.states["prompt"]["info"]["tokens"] > 0
    store = window.timeline.store
    qtbot.waitUntil(lambda: store.frames_at(store.steps()[-1]) is not None, timeout=10_000)
    assert len(store.steps()) >= 4
    assert "run done" in window.log.toPlainText()


def test_a_failing_node_is_shown_on_its_card_and_the_next_run_works(window, qtbot, tiny_model, tmp_path):
    window.open_path(small_workflow(tmp_path / "no-such-model", f"{tmp_path}/out/", tmp_path), confirmed=True)
    run = window.run_workflow()
    qtbot.waitUntil(lambda: run.status not in ("queued", "running"), timeout=180_000)
    assert run.status == "failed"
    failed = window.status.states["model"]
    assert failed["state"] == "failed" and "no-such-model" in failed["message"]
    edit(window, "model", "path", str(tiny_model))
    again = window.run_workflow()
    qtbot.waitUntil(lambda: again.status not in ("queued", "running"), timeout=180_000)
    assert again.status == "done", again.message


def test_problems_are_shown_on_the_nodes_without_starting_a_run(window):
    edit(window, "sampler", "steps", 0)
    assert window.run_workflow() is None
    assert window.status.states["sampler"]["state"] == "failed"
    assert "steps" in window.status.states["sampler"]["message"]
    assert window.runner.runs == []


def test_work_left_by_a_crashed_studio_is_recovered_by_the_next_one(qtbot, tmp_path):
    crashed = textwrap.dedent(f"""
        import os
        from PySide6.QtWidgets import QApplication
        from studio.ui.app import make_application
        from studio.ui.editor.commands import SetParam
        from studio.ui.main_window import MainWindow
        app = make_application()
        window = MainWindow(interactive=False)
        window.open_path(__import__("pathlib").Path({str(EXAMPLE)!r}))
        window.undo_stack.push(SetParam(window.graph, "prompt", "text", "a blue square moving left"))
        window.autosave()
        os._exit(1)
    """)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    subprocess.run([sys.executable, "-c", crashed], cwd=REPO, env=env, check=False, timeout=120)
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    found = window.autosaver.recoverable()
    assert len(found) == 1
    window.recover(found[0])
    assert window.graph.nodes["prompt"].params["text"] == "a blue square moving left"
    assert window.isWindowModified()
    window.close()


def test_studio_gui_runs_a_workflow_and_saves_a_screenshot(tiny_model, tmp_path):
    workflow = small_workflow(tiny_model, f"{tmp_path}/out/", tmp_path)
    shot = tmp_path / "window.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "studio.cli", "gui", str(workflow), "--run", "--screenshot",
                           str(shot)], cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 600
    assert len(list((tmp_path / "out").glob("*.png"))) == 9


def test_studio_gui_exits_non_zero_when_the_run_fails(tmp_path):
    workflow = small_workflow(tmp_path / "missing-model", f"{tmp_path}/out/", tmp_path)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "studio.cli", "gui", str(workflow), "--run"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "missing-model" in done.stderr


def test_a_crashed_worker_is_shown_and_the_window_carries_on(window, qtbot, tiny_model, tmp_path):
    import signal

    window.open_path(small_workflow(tiny_model, f"{tmp_path}/out/", tmp_path, sampler={"steps": 300}),
                     confirmed=True)
    run = window.run_workflow()
    qtbot.waitUntil(lambda: window.status.states.get("sampler", {}).get("step", 0) >= 1, timeout=180_000)
    os.kill(window.runner.worker_pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: run.status != "running", timeout=60_000)
    assert run.status == "crashed"
    assert window.status.states["sampler"]["state"] == "failed"
    assert "worker process" in window.log.toPlainText()
    edit(window, "sampler", "steps", 2)
    again = window.run_workflow()
    qtbot.waitUntil(lambda: again.status not in ("queued", "running"), timeout=180_000)
    assert again.status == "done", again.message
