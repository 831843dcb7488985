"""Saving never loses work: atomic writes keep the previous version, and a crashed studio's work is recoverable."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from studio.graph.model import Graph
from studio.graph.workflow import load_workflow
from studio.ui.files import Autosaver, SaveError, backup_path, write_workflow_file
from tests.helpers import EXAMPLE


def test_saving_over_a_workflow_keeps_the_previous_version(tmp_path):
    path = tmp_path / "flow.json"
    graph = load_workflow(EXAMPLE)
    write_workflow_file(graph, path)
    graph.set_param("sampler", "seed", 42)
    write_workflow_file(graph, path)
    assert load_workflow(path).nodes["sampler"].params["seed"] == 42
    assert load_workflow(backup_path(path)).nodes["sampler"].params["seed"] == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.json", "flow.json.bak"]  # no temp files left


def test_a_save_that_cannot_keep_the_previous_version_changes_nothing(tmp_path):
    path = tmp_path / "flow.json"
    write_workflow_file(load_workflow(EXAMPLE), path)
    before = path.read_bytes()
    (backup_path(path) / "occupied").mkdir(parents=True)  # a folder where the backup must go: it cannot be replaced
    with pytest.raises(SaveError, match="previous version"):
        write_workflow_file(Graph(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.json", "flow.json.bak"]


def test_a_save_into_a_missing_folder_is_refused_with_the_path(tmp_path):
    with pytest.raises(SaveError, match="missing"):
        write_workflow_file(Graph(), tmp_path / "missing" / "flow.json")


def test_work_of_a_studio_that_died_is_offered_for_recovery(tmp_path):
    root = tmp_path / "autosave"
    original = tmp_path / "mine.json"
    crashed = textwrap.dedent(f"""
        import os
        from studio.graph.workflow import load_workflow
        from studio.ui.files import Autosaver
        graph = load_workflow({str(EXAMPLE)!r})
        graph.set_param("prompt", "text", "a green square moving up")
        Autosaver(__import__("pathlib").Path({str(root)!r})).save(graph, __import__("pathlib").Path({str(original)!r}))
        os._exit(9)  # no clean-up, like a crash
    """)
    subprocess.run([sys.executable, "-c", crashed], check=False, cwd=EXAMPLE.parents[2])
    mine = Autosaver(root)
    found = mine.recoverable()
    assert [r.original for r in found] == [original]
    graph = Autosaver.load(found[0])
    assert graph.nodes["prompt"].params["text"] == "a green square moving up"
    assert "studio.autosave" not in graph.to_json()  # the bookkeeping does not leak into the user's file
    Autosaver.forget(found[0])
    assert mine.recoverable() == []


def test_a_running_studio_autosave_is_not_offered_and_a_clean_exit_leaves_nothing(tmp_path):
    root = tmp_path / "autosave"
    first, second = Autosaver(root), Autosaver(root)
    first.save(load_workflow(EXAMPLE), None)
    assert second.recoverable() == []  # the first studio is alive
    first.close()
    assert second.recoverable() == []
    second.close()
    assert list(root.iterdir()) == []
