"""Inpainting in the window: draw the region on the viewer, mark its frames on the timeline, see it overlaid while
scrubbing, and send a finished render to the inpainting example."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt

from studio.media.masks import region_mask
from studio.media.video_io import Video, write_video
from studio.ui.inpaint_actions import INPAINT_EXAMPLE
from studio.ui.main_window import MainWindow
from studio.ui.runner import QueuedRun
from tests.helpers import REPO

WIDTH, HEIGHT, FRAMES = 64, 48, 9


def source_clip(folder) -> None:
    frames = np.zeros((FRAMES, HEIGHT, WIDTH, 3), np.uint8)
    for index in range(FRAMES):
        frames[index, 16:32, 4 + 6 * index:16 + 6 * index] = (220, 40, 40)  # a red square moving right
    write_video(Video(frames, 8.0), f"{folder / 'source'}/")  # a folder of PNG frames: exact pixels


@pytest.fixture
def window(qtbot, tmp_path):
    source_clip(tmp_path)
    workflow = json.loads(INPAINT_EXAMPLE.read_text())
    workflow["nodes"]["source"]["params"]["path"] = "source"  # relative: next to the workflow file
    path = tmp_path / "inpaint.json"
    path.write_text(json.dumps(workflow))
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.resize(1500, 920)
    window.show()
    qtbot.waitExposed(window)
    assert window.open_path(path)
    window.timeline.refresh()
    yield window
    window.close()


def tool(window):
    return window.inpaint.mask_tool


def params(window) -> dict:
    return window.graph.nodes["mask"].params


def at(window, fx: float, fy: float) -> QPoint:
    """The viewport position over the point of the frame at fractions (fx, fy)."""
    viewer = window.timeline.viewer
    width, height = viewer.rect_size
    scene = viewer.box.mapViewToScene(QPointF(fx * width, fy * height))
    return viewer.mapFromScene(scene)


def drag(qtbot, window, points) -> None:
    viewport = window.timeline.viewer.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at(window, *points[0]))
    for point in points[1:]:
        qtbot.mouseMove(viewport, at(window, *point))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at(window, *points[-1]))


def overlay_alpha(window):
    window.timeline.refresh()
    image = window.timeline.viewer.overlay.image
    return None if image is None else image[..., 3]


def test_the_mask_tools_show_the_source_clip_to_draw_on_before_any_run(window):
    assert tool(window).isVisibleTo(window) and tool(window).mask_id == "mask"
    assert tool(window).clip.width == WIDTH and tool(window).clip.frames == FRAMES
    assert window.timeline.viewer.frame.shape == (HEIGHT, WIDTH, 3)
    assert window.timeline.frame_count == FRAMES
    assert "source" in window.timeline.viewer.caption.text()


def test_dragging_a_rectangle_on_the_viewer_sets_the_mask_region_and_undo_restores_it(window, qtbot):
    window.editor._select(["mask"])  # the inspector shows the node being drawn
    before = dict(params(window))
    qtbot.mouseClick(tool(window).tool_buttons["rectangle"], Qt.MouseButton.LeftButton)
    assert tool(window).tool == "rectangle"
    drag(qtbot, window, [(0.1, 0.2), (0.3, 0.5), (0.4, 0.6)])
    got = params(window)
    assert got["shape"] == "rectangle"
    tolerance = 0.02  # a screen pixel of the fitted view
    for name, want in (("left", 0.1), ("top", 0.2), ("right", 0.4), ("bottom", 0.6)):
        assert abs(got[name] - want) < tolerance, (name, got[name])
    assert window.inspector.fields["right"].value() == pytest.approx(got["right"], abs=1e-3)
    assert window.undo_stack.undoText().startswith("Draw mask rectangle")
    window.undo_stack.undo()  # one drag, one undo step
    assert params(window) == before
    assert window.inspector.fields["right"].value() == pytest.approx(before["right"])


def test_an_ellipse_drag_sets_the_shape_and_the_overlay_is_the_ellipse(window, qtbot):
    tool(window).set_tool("ellipse")
    drag(qtbot, window, [(0.2, 0.2), (0.8, 0.8)])
    assert params(window)["shape"] == "ellipse"
    alpha = overlay_alpha(window)
    height, width = alpha.shape
    assert alpha[height // 2, width // 2] > 0  # the centre is in
    assert alpha[round(height * 0.22), round(width * 0.22)] == 0  # the box's corner is not


def test_a_brush_stroke_writes_a_png_that_the_mask_node_reads(window, qtbot, tmp_path):
    tool(window).set_tool("brush")
    tool(window).size_box.setValue(8)
    drag(qtbot, window, [(0.1, 0.5), (0.25, 0.5), (0.4, 0.5)])
    painted = params(window)["path"]
    assert painted.startswith("masks/") and painted.endswith(".png")  # next to the workflow, relative to it
    file = tmp_path / painted
    assert file.is_file()
    mask = region_mask(width=WIDTH, height=HEIGHT, frames=FRAMES, painted=file).values
    assert mask[0, 24, 10] == 1.0 and mask[0, 24, 20] == 1.0  # along the stroke
    assert mask[0, 5, 10] == 0.0 and mask[0, 40, 20] == 0.0  # above and below it
    assert mask[0, 5, 50] == 1.0  # the rectangle the stroke was painted over is kept: what was shown
    assert not list(tmp_path.glob("masks/.*"))  # no temporary file left behind

    tool(window).set_tool("eraser")
    drag(qtbot, window, [(0.7, 0.1), (0.7, 0.9)])
    erased = tmp_path / params(window)["path"]
    assert erased != file and file.is_file()  # a new file: the user's earlier mask is never overwritten
    assert region_mask(width=WIDTH, height=HEIGHT, frames=FRAMES, painted=erased).values[0, 24, 45] == 0.0
    window.undo_stack.undo()
    assert tmp_path / params(window)["path"] == file


def test_an_unsaved_workflow_paints_into_the_studio_data_folder(window, qtbot, tmp_path):
    window.graph.source_path = None  # as an example copy
    window.graph.nodes["source"].params["path"] = str(tmp_path / "source")
    tool(window).refresh()
    tool(window).set_tool("brush")
    drag(qtbot, window, [(0.5, 0.5), (0.6, 0.5)])
    painted = params(window)["path"]
    assert painted.startswith(str(tmp_path / "data" / "masks"))  # the test's STUDIO_DATA_DIR


def test_mark_in_and_out_set_the_frame_range_shown_on_the_frame_scrubber(window, qtbot):
    timeline = window.timeline
    timeline.select(frame=2)
    qtbot.mouseClick(tool(window).in_button, Qt.MouseButton.LeftButton)
    timeline.select(frame=6)
    qtbot.mouseClick(tool(window).out_button, Qt.MouseButton.LeftButton)
    assert (params(window)["first_frame"], params(window)["last_frame"]) == (2, 6)
    assert timeline.frame_slider.marks == (pytest.approx(2 / 8), pytest.approx(6 / 8))
    assert tool(window).range_label.text() == f"frames 3–7 of {FRAMES}"
    timeline.select(frame=8)
    timeline.setFocus()
    qtbot.keyClick(timeline, Qt.Key.Key_O)  # the keyboard, as in an editor
    assert params(window)["last_frame"] == -1  # the clip's last frame: "to the end"
    timeline.select(frame=1)
    qtbot.keyClick(timeline, Qt.Key.Key_I)
    assert params(window)["first_frame"] == 1
    window.undo_stack.undo()
    assert params(window)["first_frame"] == 2


def test_the_overlay_shows_the_region_only_on_frames_in_its_range(window, qtbot):
    for name, value in (("first_frame", 2), ("last_frame", 5)):
        window.graph.set_param("mask", name, value)  # as the inspector would
    timeline = window.timeline
    shown = []
    for frame in range(FRAMES):
        timeline.select(frame=frame)
        alpha = overlay_alpha(window)
        shown.append(alpha is not None and alpha.max() > 0)
    assert shown == [False, False, True, True, True, True, False, False, False]
    timeline.select(frame=3)
    alpha = overlay_alpha(window)
    width = alpha.shape[1]
    assert alpha[:, : width // 2 - 1].max() == 0 and alpha[:, width // 2 + 1:].min() > 0  # the right half
    tool(window).overlay_button.setChecked(False)
    assert overlay_alpha(window) is None


def test_the_tools_hide_for_a_workflow_without_a_mask(window):
    window.new_workflow()
    assert not tool(window).isVisibleTo(window)
    assert overlay_alpha(window) is None


def finished_render(window, tmp_path, run_id="r1") -> tuple[QueuedRun, object]:
    """A run that finished and saved a render, as the engine reports it."""
    render = tmp_path / f"render-{run_id}.mp4"
    write_video(Video(np.zeros((4, 32, 32, 3), np.uint8), 8.0), render)
    run = QueuedRun(len(window.runner.runs) + 1, "render", {"nodes": {"save": {"type": "save_video@2"}},
                                                            "base_dir": str(tmp_path)}, "done", "", run_id)
    window.runner.runs.append(run)
    window.runner.event.emit({"event": "node_finished", "run_id": run_id, "node": "save",
                              "info": {"path": str(render), "frames": 4}})
    window.runner.queue_changed.emit()
    return run, render


def test_send_to_inpaint_opens_the_inpainting_example_reading_the_render(window, qtbot, tmp_path):
    actions = window.inpaint
    assert not actions.timeline_button.isEnabled() and not actions.send_action.isEnabled()
    _, render = finished_render(window, tmp_path)
    assert actions.timeline_button.isEnabled() and actions.send_action.isEnabled()
    qtbot.mouseClick(actions.timeline_button, Qt.MouseButton.LeftButton)
    assert window.graph.nodes["source"].params["path"] == str(render)
    assert window.path is None and "inpaint render-r1" in window.windowTitle()  # Save asks where
    assert window.is_dirty  # the sent render is unsaved work
    assert json.loads(INPAINT_EXAMPLE.read_text())["nodes"]["source"]["params"]["path"] != str(render)
    assert tool(window).mask_id == "mask" and tool(window).clip.width == 32  # ready to draw on the render


def test_send_to_inpaint_from_the_runs_panel_sends_the_selected_run(window, qtbot, tmp_path):
    first, first_render = finished_render(window, tmp_path, "r1")
    finished_render(window, tmp_path, "r2")
    panel = window.runs_panel
    panel.list.setCurrentRow(0)
    assert panel.send_button.isEnabled()
    qtbot.mouseClick(panel.send_button, Qt.MouseButton.LeftButton)
    assert window.graph.nodes["source"].params["path"] == str(first_render)
    panel.list.setCurrentRow(0)
    window.inpaint.send_action.trigger()  # Run > Send Render to Inpaint: the selected run too
    assert window.graph.nodes["source"].params["path"] == str(first_render)


def test_send_to_inpaint_keeps_the_open_work_when_the_user_cancels(window, tmp_path, monkeypatch):
    _, render = finished_render(window, tmp_path)
    window.graph.set_param("mask", "left", 0.1)
    monkeypatch.setattr(window, "confirm_discard", lambda: False)
    assert not window.inpaint.send_newest()
    assert window.graph.nodes["source"].params["path"] == "source"


def test_a_failed_run_offers_nothing_to_send(window, tmp_path):
    run, _ = finished_render(window, tmp_path)
    run.status = "failed"
    window.runner.queue_changed.emit()
    assert not window.inpaint.timeline_button.isEnabled()


def test_the_mask_geometry_needs_no_qt_and_the_window_never_imports_torch():
    code = ("import sys; import studio.ui.mask_region; print('PySide6' in sys.modules); "
            "import studio.ui.main_window; print('torch' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=600,
                            env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"})
    assert result.stdout.split() == ["False", "False"], result.stderr


def run_frames(window, frames: int = FRAMES, size: tuple[int, int] = (16, 12), step: int | None = 3) -> None:
    """A run's images in the timeline: a (smaller) step preview, or the final frames (step None)."""
    clip = np.full((frames, size[1], size[0], 3), 90, np.uint8)
    timeline = window.timeline
    timeline.handle_event({"event": "run_started", "run_id": "rx"})
    if step is None:
        timeline.handle_event({"event": "frames", "run_id": "rx", "node": "decode", "kind": "final",
                               "frames": clip, "fps": 8.0})
    else:
        timeline.handle_event({"event": "step", "run_id": "rx", "node": "inpaint", "step": step, "total": 20,
                               "preview": clip})
    timeline.refresh()


def test_the_overlay_follows_the_previews_of_a_run_and_their_frames(window):
    window.graph.set_param("mask", "first_frame", 2)
    window.graph.set_param("mask", "last_frame", 5)
    run_frames(window, frames=3)  # previews with fewer frames than the clip: matched proportionally
    timeline = window.timeline
    assert timeline.viewer.frame.shape == (12, 16, 3) and timeline.frame_count == 3
    shown = []
    for frame in range(3):  # the clip's frames 0, 4 and 8
        timeline.select(frame=frame)
        alpha = overlay_alpha(window)
        shown.append(alpha is not None and alpha.max() > 0)
    assert shown == [False, True, False]
    timeline.select(frame=1)
    timeline.refresh()
    overlay = timeline.viewer.overlay
    assert overlay.mapRectToParent(overlay.boundingRect()).width() == 16  # stretched over the preview


def test_source_shows_the_source_clip_over_the_runs_frames_for_drawing(window, qtbot):
    run_frames(window, step=None, size=(32, 24))
    timeline = window.timeline
    assert timeline.viewer.frame.shape == (24, 32, 3)
    qtbot.mouseClick(tool(window).source_button, Qt.MouseButton.LeftButton)
    timeline.refresh()
    assert timeline.viewer.frame.shape == (HEIGHT, WIDTH, 3) and "source" in timeline.viewer.caption.text()
    timeline.set_compare(True)
    timeline.refresh()
    assert timeline.compare_viewer.frame.shape == (24, 32, 3)  # A/B: the run's frames beside the source
    qtbot.mouseClick(tool(window).source_button, Qt.MouseButton.LeftButton)
    timeline.refresh()
    assert timeline.viewer.frame.shape == (24, 32, 3)
