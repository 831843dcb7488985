import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

from studio.ui.preview_store import FINAL, PreviewStore
from studio.ui.timeline import TimelineView

FRAMES, SIZE, STEPS = 17, 64, 20


def clip(step: int, frames: int = FRAMES, size: int = SIZE) -> np.ndarray:
    """A bright square moving across the frames, brighter with each step: every (step, frame) differs."""
    out = np.zeros((frames, size, size, 3), np.uint8)
    for f in range(frames):
        x = f * (size - 8) // (frames - 1)
        out[f, 28:36, x:x + 8] = min(255, 40 + 10 * step)
        out[f, 0, 0] = f
    return out


def step_event(step: int, run_id: str = "r1", node: str = "sampler", total: int = STEPS) -> dict:
    return {"event": "step", "run_id": run_id, "node": node, "step": step, "total": total, "preview": clip(step)}


FINAL_CLIP = clip(25, size=128)
FINAL_CLIP.flags.writeable = False  # the engine sends (and replays) decoded frames read-only


def feed_run(view: TimelineView, steps: int = STEPS, finish: bool = True, run_id: str = "r1") -> None:
    view.handle_event({"event": "run_started", "run_id": run_id})
    for step in range(1, steps + 1):
        view.handle_event(step_event(step, run_id))
    if finish:
        view.handle_event({"event": "frames", "run_id": run_id, "node": "decode", "kind": "final",
                           "frames": FINAL_CLIP, "fps": 16.0})
        view.handle_event({"event": "run_finished", "run_id": run_id, "status": "done"})
    view.refresh()


@pytest.fixture
def view(qtbot):
    widget = TimelineView()
    qtbot.addWidget(widget)
    widget.resize(1200, 420)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def shown(view: TimelineView, viewer=None) -> np.ndarray:
    view.refresh()
    return (viewer or view.viewer).image.image


def test_scrubbing_the_step_and_frame_sliders_changes_the_frame_shown(view):
    feed_run(view)
    view.step_slider.setValue(6)  # the 7th step
    view.frame_slider.setValue(3)
    assert (view.current_step, view.current_frame) == (7, 3)
    np.testing.assert_array_equal(shown(view), clip(7)[3])
    view.frame_slider.setValue(12)
    np.testing.assert_array_equal(shown(view), clip(7)[12])
    assert view.step_label.text() == "step 7/20" and view.frame_label.text() == "frame 13/17"


def test_the_keyboard_scrubs_frames_and_steps_and_plays(view, qtbot):
    feed_run(view)
    view.select(5, 4)
    qtbot.keyClick(view, Qt.Key.Key_Right)
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert (view.current_step, view.current_frame) == (6, 5)
    np.testing.assert_array_equal(shown(view), clip(6)[5])
    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_Up)
    qtbot.keyClick(view, Qt.Key.Key_End)
    assert (view.current_step, view.current_frame) == (4, FRAMES - 1)
    qtbot.keyClick(view, Qt.Key.Key_Home)
    assert view.current_frame == 0
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert view.playing
    qtbot.keyClick(view, Qt.Key.Key_Space)
    assert not view.playing


def test_clicking_a_mosaic_cell_selects_that_step_and_frame(view, qtbot):
    feed_run(view)
    qtbot.wait(50)
    overview = view.overview
    for step, frame in ((13, 5), (FINAL, 2), (1, 16)):
        centre = overview.cell_rect(step, frame).center()
        point = overview.mapFromScene(overview.box.mapViewToScene(centre))
        qtbot.mouseClick(overview.viewport(), Qt.MouseButton.LeftButton, pos=point)
        assert (view.current_step, view.current_frame) == (step, frame)
    assert not view.follow_newest  # choosing a step by hand stops following the sampler
    np.testing.assert_array_equal(shown(view), clip(1)[16])


def test_the_mosaic_is_built_one_row_per_new_step(view, monkeypatch):
    import studio.ui.timeline_overview as overview_module

    built = []
    real = overview_module.thumbnail_row
    monkeypatch.setattr(overview_module, "thumbnail_row", lambda clip, *a: built.append(1) or real(clip, *a))
    feed_run(view, steps=5, finish=False)
    assert len(built) == 5
    view.handle_event(step_event(6))
    view.refresh()
    assert len(built) == 6
    view.refresh()
    assert len(built) == 6
    row = view.overview._rows[6].image
    assert row.shape[1] == FRAMES * row.shape[0] and row.max() > 0  # thumbnails of all 17 frames


def test_play_loops_the_frames_of_the_selected_step_at_the_clip_fps(view, qtbot):
    feed_run(view)  # the final clip says 16 fps
    view.select(9, 0)
    start = time.monotonic()
    view.set_playing(True)
    qtbot.waitUntil(lambda: view.current_frame >= 8, timeout=3000)
    elapsed = time.monotonic() - start
    assert 8 / 16 * 0.8 <= elapsed <= 8 / 16 * 4, elapsed  # about half a second (slack for a loaded machine)
    assert view.current_step == 9
    np.testing.assert_array_equal(shown(view), clip(9)[view.current_frame])
    qtbot.waitUntil(lambda: view.current_frame < 4, timeout=3000)  # loops back to the start
    view.set_playing(False)


def test_compare_shows_a_second_step_at_the_same_frame(view):
    feed_run(view)
    view.select(18, 6)
    view.set_compare(True)
    view.set_compare_step(3)
    assert view.compare_panel.isVisible() and view.compare_step == 3
    np.testing.assert_array_equal(shown(view), clip(18)[6])
    np.testing.assert_array_equal(shown(view, view.compare_viewer), clip(3)[6])
    view.frame_slider.setValue(10)
    np.testing.assert_array_equal(shown(view, view.compare_viewer), clip(3)[10])
    view.compare_slider.setValue(view.compare_slider.maximum())  # its own selector reaches the final frames
    assert view.compare_step == FINAL
    np.testing.assert_array_equal(shown(view, view.compare_viewer), FINAL_CLIP[10])
    zoom_4 = next(a for a in view.zoom_button.menu().actions() if a.text() == "4×")
    zoom_4.trigger()
    width = view.viewer.box.viewRect().width()
    assert width == pytest.approx(view.viewer.box.width() / 4, rel=0.05)  # 4 screen pixels per preview pixel
    assert view.compare_viewer.box.viewRect().width() == pytest.approx(width, rel=0.05)  # one zoom for both


def test_follow_newest_tracks_the_sampler_until_the_user_scrubs(view):
    feed_run(view, steps=4, finish=False)
    assert view.follow_newest and view.current_step == 4
    view.handle_event(step_event(5))
    np.testing.assert_array_equal(shown(view), clip(5)[0])
    view.step_slider.setValue(1)
    assert not view.follow_newest and view.current_step == 2
    view.handle_event(step_event(6))
    np.testing.assert_array_equal(shown(view), clip(2)[0])
    view.set_follow_newest(True)
    assert view.current_step == 6


def test_the_final_frames_show_at_the_end_with_a_final_badge(view):
    feed_run(view)
    assert view.current_step == FINAL  # followed to the end
    np.testing.assert_array_equal(shown(view), FINAL_CLIP[0])
    assert view.viewer.badge.isVisible() and view.step_label.text() == "final"
    assert "done" in view.state_label.text()
    view.select(3)
    view.refresh()
    assert not view.viewer.badge.isVisible()


def test_previews_remain_browsable_after_the_run_and_clear_on_the_next_runs_first_preview(view):
    feed_run(view)
    view.handle_event({"event": "run_started", "run_id": "r2"})
    view.select(11, 2)
    np.testing.assert_array_equal(shown(view), clip(11)[2])
    assert "previous run" in view.state_label.text()
    view.handle_event({"event": "step", "run_id": "r2", "node": "sampler", "step": 1, "total": 8,
                       "preview": clip(1)[:, ::-1].copy()})
    np.testing.assert_array_equal(shown(view), clip(1)[2, ::-1])
    assert view.current_step == 1 and view.follow_newest and view.step_label.text() == "step 1/8"


def test_a_step_without_a_preview_updates_progress_only(view):
    feed_run(view, steps=3, finish=False)
    view.handle_event({"event": "step", "run_id": "r1", "node": "sampler", "step": 4, "total": STEPS})
    np.testing.assert_array_equal(shown(view), clip(3)[0])
    assert view.current_step == 3 and "step 4/20" in view.state_label.text()


def test_a_paint_tick_with_nothing_new_paints_nothing(view, monkeypatch):
    feed_run(view)
    calls = []
    monkeypatch.setattr(view.viewer, "show_frame", lambda *a: calls.append(a))
    view.refresh()
    view.refresh()
    assert calls == []
    view.select(frame=5)
    view.refresh()
    assert len(calls) == 1


def test_selection_changed_reports_step_and_frame(view, qtbot):
    feed_run(view)
    with qtbot.waitSignal(view.selection_changed) as signal:
        view.select(4, 9)
    assert signal.args == [4, 9]


def test_the_overlay_draws_the_mask_over_the_current_frame(view):
    feed_run(view)
    view.select(5, 2)
    mask = np.zeros((FRAMES, 8, 8), bool)
    mask[2, :4] = True
    mask[3, 4:] = True
    view.set_overlay(mask)
    view.refresh()
    alpha = view.viewer.overlay.image[..., 3]
    assert alpha[:4].min() > 0 and alpha[4:].max() == 0
    assert view.viewer.overlay.mapRectToParent(view.viewer.overlay.boundingRect()).width() == SIZE
    view.select(frame=3)
    view.refresh()
    assert view.viewer.overlay.image[..., 3][:4].max() == 0
    view.set_overlay(None)
    view.refresh()
    assert view.viewer.overlay.image is None


def test_thinned_steps_are_said_and_skipped(qtbot):
    view = TimelineView(PreviewStore(budget_bytes=clip(1).nbytes * 6 + FINAL_CLIP.nbytes))
    qtbot.addWidget(view)
    feed_run(view)
    assert "dropped" in view.thinned_label.text()
    kept = view.store.steps()
    view.select(kept[2] + 1)  # a dropped step snaps to the nearest kept one
    assert view.current_step in kept


def test_an_empty_timeline_says_there_is_nothing_yet_and_ignores_keys(view, qtbot):
    view.refresh()
    assert view.current_step is None and view.viewer.placeholder.isVisible()
    for key in (Qt.Key.Key_Right, Qt.Key.Key_Down, Qt.Key.Key_Space, Qt.Key.Key_End):
        qtbot.keyClick(view, key)
    assert view.current_step is None and not view.playing and view.state_label.text() == "No run yet"


def test_the_state_line_follows_the_run_to_its_end(view):
    feed_run(view, steps=3, finish=False)
    assert view.state_label.text() == "● running · step 3/20"
    view.handle_event({"event": "run_finished", "run_id": "r1", "status": "failed", "message": "out of memory"})
    view.refresh()
    assert view.state_label.text() == "✕ failed: out of memory" and view.state_label.property("state") == "failed"
    np.testing.assert_array_equal(shown(view), clip(3)[0])  # what was made stays browsable
