"""The window's run queue drives the real worker process; the GUI thread never waits on it."""
from __future__ import annotations

import os
import signal

from studio.ui.runner import EngineRunner
from tests.helpers import example_snapshot


def finished_runs(runner):
    return [run for run in runner.runs if run.status not in ("queued", "running")]


def test_queued_runs_go_one_after_another_and_each_reports_its_outcome(qtbot, tiny_model, tmp_path):
    runner = EngineRunner()
    events = []
    runner.event.connect(events.append)
    try:
        first = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/a/"), "first")
        second = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/b/", sampler={"seed": 5}), "second")
        assert [run.status for run in runner.runs] == ["queued", "queued"]
        qtbot.waitUntil(lambda: len(finished_runs(runner)) == 2, timeout=120_000)
        assert (first.status, second.status) == ("done", "done")
        starts = [i for i, e in enumerate(events) if e["event"] == "run_started"]
        ends = [i for i, e in enumerate(events) if e["event"] == "run_finished"]
        assert starts[0] < ends[0] < starts[1] < ends[1]  # never two at once
        assert sorted(p.name for p in (tmp_path / "b").iterdir())[:1] == ["00000.png"]
    finally:
        runner.shutdown()


def test_a_queued_run_can_be_removed_before_it_starts(qtbot, tiny_model, tmp_path):
    runner = EngineRunner()
    try:
        runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/a/", sampler={"steps": 8}), "long")
        removed = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/b/"), "removed")
        runner.remove_queued(removed)
        qtbot.waitUntil(lambda: runner.runs[0].status == "done", timeout=120_000)
        qtbot.wait(300)
        assert removed.status == "cancelled"
        assert not (tmp_path / "b").exists()
    finally:
        runner.shutdown()


def test_cancel_stops_the_running_workflow_and_the_next_one_runs(qtbot, tiny_model, tmp_path):
    runner = EngineRunner()
    steps = []
    runner.event.connect(lambda e: steps.append(e) if e["event"] == "step" else None)
    try:
        long = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/a/", sampler={"steps": 200}), "long")
        qtbot.waitUntil(lambda: len(steps) >= 1, timeout=120_000)
        runner.cancel_current()
        qtbot.waitUntil(lambda: long.status != "running", timeout=60_000)
        assert long.status == "cancelled"
        after = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/b/"), "after")
        qtbot.waitUntil(lambda: after.status not in ("queued", "running"), timeout=120_000)
        assert after.status == "done"
    finally:
        runner.shutdown()


def test_a_crashed_worker_is_reported_and_the_next_run_works(qtbot, tiny_model, tmp_path):
    runner = EngineRunner()
    events = []
    runner.event.connect(events.append)
    try:
        doomed = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/a/", sampler={"steps": 200}), "doomed")
        qtbot.waitUntil(lambda: any(e["event"] == "step" for e in events), timeout=120_000)
        os.kill(runner.worker_pid, signal.SIGKILL)
        qtbot.waitUntil(lambda: doomed.status != "running", timeout=60_000)
        assert doomed.status == "crashed"
        assert any(e["event"] == "worker_crashed" for e in events)
        assert any(e["event"] == "node_failed" and e["node"] == "sampler" for e in events)
        again = runner.enqueue(example_snapshot(tiny_model, f"{tmp_path}/b/"), "again")
        qtbot.waitUntil(lambda: again.status not in ("queued", "running"), timeout=120_000)
        assert again.status == "done"
    finally:
        runner.shutdown()
