import subprocess
import sys

import numpy as np

from studio.ui.preview_store import FINAL, PreviewStore, map_frame

FRAMES, SIZE, STEPS = 17, 16, 20


def clip(step: int, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """A bright square moving across the frames, brighter with each step, so every (step, frame) differs."""
    out = np.zeros((frames, size, size, 3), np.uint8)
    for f in range(frames):
        x = f * (size - 4) // max(frames - 1, 1)
        out[f, 6:10, x:x + 4] = min(255, 20 + 5 * step)
        out[f, 0, 0] = f  # frames differ even when the square does not move
    return out


def step_event(step: int, node: str = "sampler", run_id: str = "r1", total: int = STEPS, **extra) -> dict:
    return {"event": "step", "run_id": run_id, "node": node, "step": step, "total": total, "preview": clip(step),
            **extra}


def final_event(run_id: str = "r1", frames: int = FRAMES) -> dict:
    return {"event": "frames", "run_id": run_id, "node": "decode", "kind": "final",
            "frames": clip(99, frames, 32), "fps": 12.0}


def full_run(store: PreviewStore, run_id: str = "r1", steps: int = STEPS) -> None:
    store.handle_event({"event": "run_started", "run_id": run_id})
    for step in range(1, steps + 1):
        store.handle_event(step_event(step, run_id=run_id, total=steps))
    store.handle_event(final_event(run_id))
    store.handle_event({"event": "run_finished", "run_id": run_id, "status": "done"})


def test_the_store_keeps_every_step_and_the_final_clip():
    store = PreviewStore()
    full_run(store)
    assert store.steps() == [*range(1, STEPS + 1), FINAL]
    assert store.total_steps == STEPS and store.newest_step == STEPS and store.frame_count == FRAMES
    for step in (1, 7, STEPS):
        np.testing.assert_array_equal(store.frames_at(step), clip(step))
    np.testing.assert_array_equal(store.frames_at(FINAL), clip(99, FRAMES, 32))
    assert store.fps == 12.0 and store.status == "done" and store.thinned == 0


def test_previews_stay_browsable_after_the_run_finishes_and_until_the_next_runs_first_preview():
    store = PreviewStore()
    full_run(store, "r1")
    store.handle_event({"event": "run_started", "run_id": "r2"})
    assert store.status == "running" and store.stale
    assert store.steps() == [*range(1, STEPS + 1), FINAL]  # r1 is still there to browse
    store.handle_event({"event": "step", "run_id": "r2", "node": "sampler", "step": 1, "total": 4})  # no preview
    assert store.steps()[-1] == FINAL
    store.handle_event(step_event(1, run_id="r2", total=4))
    assert store.steps() == [1] and not store.stale and not store.has_final and store.total_steps == 4


def test_a_step_without_a_preview_records_progress_but_no_image():
    store = PreviewStore()
    store.handle_event(step_event(1))
    version = store.version
    assert store.handle_event({"event": "step", "node": "sampler", "step": 2, "total": STEPS})
    assert store.version > version and store.progress == (2, STEPS)
    assert store.steps() == [1] and store.frames_at(2) is None


def test_malformed_previews_and_unknown_events_change_nothing():
    store = PreviewStore()
    store.handle_event(step_event(1))
    version = store.version
    assert not store.handle_event({"event": "node_started", "node": "sampler"})
    assert not store.handle_event({"event": "frames", "node": "d", "kind": "final", "frames": np.zeros((4, 4))})
    assert not store.handle_event({"event": "step", "node": "sampler"})  # no step number
    store.handle_event(step_event(2, preview=np.zeros((3, 8, 8, 3), np.float32)))  # wrong dtype: progress only
    assert store.steps() == [1] and store.version >= version


def test_thinning_to_the_memory_budget_keeps_the_first_the_newest_and_the_final_and_stays_even():
    per_step = clip(1).nbytes
    store = PreviewStore(budget_bytes=per_step * 8)
    full_run(store, steps=40)
    steps = store.steps()
    assert steps[0] == 1 and steps[-2] == 40 and steps[-1] == FINAL
    assert store.nbytes <= store.budget_bytes
    assert store.thinned == 40 - (len(steps) - 1)
    gaps = np.diff([s for s in steps if s != FINAL])
    assert gaps.max() <= 2 * gaps.min() + 2, steps  # evenly spread, not all from one end


def test_lowering_the_budget_later_thins_what_is_stored():
    store = PreviewStore()
    full_run(store)
    store.budget_bytes = clip(1).nbytes * 5
    assert store.thinned > 0 and {1, STEPS, FINAL} <= set(store.steps())


def test_the_most_recent_sampler_is_the_one_shown():
    store = PreviewStore()
    for step in (1, 2, 3):
        store.handle_event(step_event(step, node="base"))
    store.handle_event(step_event(1, node="refiner", total=5))
    assert store.active_node == "refiner" and store.steps() == [1] and store.total_steps == 5
    assert store.steps("base") == [1, 2, 3]
    np.testing.assert_array_equal(store.frames_at(2, node="base"), clip(2))


def test_late_events_of_a_previous_run_are_ignored():
    store = PreviewStore()
    full_run(store, "r1")
    store.handle_event({"event": "run_started", "run_id": "r2"})
    store.handle_event(step_event(1, run_id="r2"))
    assert not store.handle_event(step_event(5, run_id="r1"))
    assert store.steps() == [1]


def test_shorter_clips_are_mapped_proportionally_onto_the_timeline():
    store = PreviewStore()
    store.handle_event({"event": "step", "node": "s", "step": 1, "total": 1, "preview": clip(1, frames=5)})
    store.handle_event(final_event(frames=17))
    assert store.frame_count == 17
    np.testing.assert_array_equal(store.frame(1, 16), clip(1, frames=5)[4])
    np.testing.assert_array_equal(store.frame(1, 8), clip(1, frames=5)[2])
    assert [map_frame(f, 17, 5) for f in (0, 4, 8, 12, 16)] == [0, 1, 2, 3, 4]


def test_the_store_imports_without_qt():
    code = "import sys, studio.ui.preview_store; sys.exit('PySide6' in sys.modules or 'torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0


def test_a_sampler_served_from_the_cache_keeps_its_previews_for_the_new_run():
    store = PreviewStore()
    full_run(store, "r1")
    store.handle_event({"event": "run_started", "run_id": "r2"})
    store.handle_event({"event": "node_cached", "run_id": "r2", "node": "sampler", "info": {}})
    assert not store.stale and store.steps() == list(range(1, STEPS + 1))  # the old final is not this run's
    replayed = final_event("r2")
    replayed["frames"].flags.writeable = False  # the executor replays the cached, read-only array
    store.handle_event(replayed)
    assert store.steps() == [*range(1, STEPS + 1), FINAL]
    store.handle_event({"event": "run_started", "run_id": "r3"})
    store.handle_event({"event": "node_cached", "run_id": "r3", "node": "other_sampler"})
    store.handle_event(step_event(1, run_id="r3"))
    assert store.steps() == [1]
