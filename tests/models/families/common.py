"""What the family tests share: running a snapshot through an executor, and the pipelines' float frames as bytes."""
import numpy as np


def run(executor, snapshot, cancel_after_step=None):
    events = []

    def cancelled():
        return cancel_after_step is not None and sum(e["event"] == "step" for e in events) >= cancel_after_step

    return executor.run(snapshot, events.append, cancelled), events


def render(executor, snapshot):
    status, events = run(executor, snapshot)
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    return events


def to_uint8(frames):
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)
