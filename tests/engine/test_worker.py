"""The engine's worker process with real tiny diffusers models: caching, cancel, failures and crashes."""
import os
import signal

import pytest

from studio.engine.client import EngineClient
from tests.helpers import example_snapshot


def collect(engine, snapshot, on_event=None):
    events = []

    def record(event):
        events.append(event)
        if on_event:
            on_event(event)

    final = engine.run(snapshot, record)
    return final, events


def nodes_with(events, kind):
    return [e["node"] for e in events if e["event"] == kind]


def test_changing_only_the_seed_does_not_reload_the_model_or_reencode_the_prompt(engine, tiny_model, tmp_path):
    first, events = collect(engine, example_snapshot(tiny_model, tmp_path / "a.mp4", sampler={"seed": 1}))
    assert first["status"] == "done", first
    assert nodes_with(events, "node_finished") == ["model", "latent", "negative", "prompt", "guidance", "sampler",
                                                   "decode", "save"]
    pid = engine.worker_pid
    second, events = collect(engine, example_snapshot(tiny_model, tmp_path / "b.mp4", sampler={"seed": 2}))
    assert second["status"] == "done"
    assert nodes_with(events, "node_cached") == ["model", "latent", "negative", "prompt", "guidance"]
    assert nodes_with(events, "node_started") == ["sampler", "decode", "save"]
    assert engine.worker_pid == pid  # the same worker, so the loaded model stayed loaded


def test_every_denoising_step_is_reported(engine, tiny_model, tmp_path):
    _, events = collect(engine, example_snapshot(tiny_model, tmp_path / "a.mp4", sampler={"steps": 5, "seed": 3}))
    assert [(e["step"], e["total"]) for e in events if e["event"] == "step"] == [(i, 5) for i in range(1, 6)]


def test_prompt_nodes_report_their_token_count(engine, tiny_model, tmp_path):
    long_text = " ".join(["red circle"] * 40)
    snapshot = example_snapshot(tiny_model, tmp_path / "a.mp4", prompt={"text": long_text})
    _, events = collect(engine, snapshot)
    info = next(e for e in events if e.get("node") == "prompt" and e["event"] == "node_finished")["info"]
    assert info["tokens"] == 81 and info["max_tokens"] == 64 and info["truncated"] is True
    assert "only the first 64" in info["warnings"][0]


def test_cancel_takes_effect_within_one_step(engine, tiny_model, tmp_path):
    snapshot = example_snapshot(tiny_model, tmp_path / "a.mp4", latent={"width": 96, "height": 96, "frames": 33},
                                sampler={"steps": 200, "seed": 4})
    steps_when_cancelled = []

    def cancel_after_three(event):
        if event["event"] == "step" and event["step"] == 3:
            engine.cancel()
            steps_when_cancelled.append(3)

    final, events = collect(engine, snapshot, cancel_after_three)
    steps = [e["step"] for e in events if e["event"] == "step"]
    assert final["status"] == "cancelled"
    assert max(steps) <= 4, steps
    assert nodes_with(events, "node_cancelled") == ["sampler"]
    after, _ = collect(engine, example_snapshot(tiny_model, tmp_path / "b.mp4"))
    assert after["status"] == "done"


def test_a_failing_node_is_reported_and_the_worker_keeps_serving(engine, tiny_model, tmp_path):
    pid_before = None
    snapshot = example_snapshot(tiny_model, tmp_path / "a.mp4", latent={"width": 40})
    final, events = collect(engine, snapshot)
    failed = next(e for e in events if e["event"] == "node_failed")
    assert final["status"] == "failed" and failed["node"] == "latent" and failed["param"] == "width"
    assert "multiple of 16" in failed["message"]
    pid_before = engine.worker_pid
    final, _ = collect(engine, example_snapshot(tiny_model, tmp_path / "b.mp4"))
    assert final["status"] == "done" and engine.worker_pid == pid_before


def test_a_killed_worker_is_reported_as_a_crash_and_the_next_run_gets_a_fresh_one(tiny_model, tmp_path):
    with EngineClient() as engine:
        snapshot = example_snapshot(tiny_model, tmp_path / "a.mp4", sampler={"steps": 200})
        killed = []

        def kill_during_sampling(event):
            if event["event"] == "step" and not killed:
                killed.append(engine.worker_pid)
                os.kill(engine.worker_pid, signal.SIGKILL)

        final, events = collect(engine, snapshot, kill_during_sampling)
        assert final["status"] == "crashed"
        assert "killed by signal SIGKILL" in final["message"]
        assert [e["node"] for e in events if e["event"] == "node_failed"] == ["sampler"]
        assert any(e["event"] == "worker_crashed" for e in events)
        final, _ = collect(engine, example_snapshot(tiny_model, tmp_path / "b.mp4"))
        assert final["status"] == "done"
        assert engine.worker_pid not in (None, killed[0])


def test_a_worker_that_died_between_runs_is_replaced_for_the_next_run(tiny_model, tmp_path):
    with EngineClient() as engine:
        engine.start()
        dead = engine.worker_pid
        os.kill(dead, signal.SIGTERM)
        engine._process.join(timeout=10)  # dead before the run is sent
        final, _ = collect(engine, example_snapshot(tiny_model, tmp_path / "a.mp4"))
        assert final["status"] == "done"
        assert engine.worker_pid != dead


def test_submitting_while_busy_is_refused(tiny_model, tmp_path):
    with EngineClient() as engine:
        engine.submit(example_snapshot(tiny_model, tmp_path / "a.mp4"))
        with pytest.raises(RuntimeError, match="already in progress"):
            engine.submit(example_snapshot(tiny_model, tmp_path / "b.mp4"))


def test_every_step_brings_a_preview_of_every_frame_and_the_decoded_frames_come_last(engine, tiny_model, tmp_path):
    snapshot = example_snapshot(tiny_model, tmp_path / "a.mp4", sampler={"steps": 3, "seed": 21})
    _, events = collect(engine, snapshot)
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [1, 2, 3]
    for event in steps:
        assert event["preview"].shape == (9, 32, 32, 3) and event["preview"].dtype.name == "uint8"
    assert len({e["preview"].tobytes() for e in steps}) == 3  # each step shows the clip as it is then
    frames = [e for e in events if e["event"] == "frames"]
    assert [(e["node"], e["kind"], e["frames"].shape, e["fps"]) for e in frames] == [
        ("decode", "final", (9, 32, 32, 3), 16.0)]
    assert events.index(frames[0]) < next(i for i, e in enumerate(events)
                                           if e["event"] == "node_finished" and e["node"] == "decode")
    # Only the output path changes: decode is served from the cache, and its frames are sent again.
    _, again = collect(engine, example_snapshot(tiny_model, tmp_path / "b.mp4", sampler={"steps": 3, "seed": 21}))
    assert "decode" in nodes_with(again, "node_cached") and not any(e["event"] == "step" for e in again)
    replayed = [e for e in again if e["event"] == "frames"]
    assert len(replayed) == 1 and (replayed[0]["frames"] == frames[0]["frames"]).all()
