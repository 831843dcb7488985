"""The Export dialog: the last run's final frames or a step's previews to every format, read back with PyAV; the
run's workflow inside; refused names, existing files and Cancel leave the folder as it was."""
from __future__ import annotations

import json
import threading

import av
import numpy as np
import pytest
from PySide6.QtCore import QUrl
from PySide6.QtGui import QDesktopServices

from studio.graph.workflow import load_workflow
from studio.media import writers
from studio.media.embedded import read_embedded_workflow
from studio.ui.export_dialog import ExportDialog
from studio.ui.export_job import ExportSource
from studio.ui.main_window import MainWindow
from studio.ui.preview_store import FINAL, PreviewStore
from studio.ui.runner import QueuedRun
from tests.helpers import EXAMPLE
from tests.ui.test_main_window import small_workflow

FRAMES, STEPS, PREVIEW_FRAMES = 9, 4, 3
CODECS = {"mp4": "h264", "webm": "vp9", "gif": "gif", "png": "png"}


def final_clip() -> np.ndarray:
    """A soft blob moving right over a gradient, read-only like the frames the engine sends."""
    y, x = np.mgrid[0:40, 0:56].astype(np.float32)
    clip = np.empty((FRAMES, 40, 56, 3), np.uint8)
    for i in range(FRAMES):
        blob = np.exp(-((x - 8 - 4 * i) ** 2 + (y - 20) ** 2) / 40.0)
        clip[i, ..., 0], clip[i, ..., 1], clip[i, ..., 2] = 40 + 200 * blob, y * 4, x * 2
    clip.flags.writeable = False
    return clip


def preview(step: int) -> np.ndarray:
    return np.full((PREVIEW_FRAMES, 20, 28, 3), 40 * step, np.uint8)


def run_events(run_id: str = "r1", final: bool = True) -> list[dict]:
    events = [{"event": "run_started", "run_id": run_id, "nodes": []}]
    events += [{"event": "step", "run_id": run_id, "node": "sampler", "step": step, "total": STEPS,
                "preview": preview(step)} for step in range(1, STEPS + 1)]
    if final:
        events.append({"event": "frames", "run_id": run_id, "node": "decode", "kind": "final",
                       "frames": final_clip(), "fps": 16.0})
    return events + [{"event": "run_finished", "run_id": run_id, "status": "done"}]


def snapshot(seed: int) -> dict:
    data = json.loads(EXAMPLE.read_text())
    data["base_dir"] = str(EXAMPLE.parent)
    data["nodes"]["sampler"]["params"]["seed"] = seed
    return data


def filled_store(final: bool = True) -> PreviewStore:
    store = PreviewStore()
    for event in run_events(final=final):
        store.handle_event(event)
    return store


@pytest.fixture
def make_dialog(qtbot, tmp_path):
    def make(store: PreviewStore | None = None, seed: int = 41, **where) -> ExportDialog:
        dialog = ExportDialog(ExportSource.from_store(store or filled_store(), snapshot(seed)), **where)
        qtbot.addWidget(dialog)
        dialog.folder_edit.setText(str(tmp_path / "renders"))
        dialog.show()
        return dialog

    return make


def choose_format(dialog: ExportDialog, kind: str) -> None:
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(kind))


def export(dialog: ExportDialog, qtbot):
    assert dialog.start_export() is not None, dialog.message_label.text()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    return dialog.last_export


def decoded(path) -> tuple[str, int]:
    """(codec name, frame count) as PyAV reads them; a folder of PNG frames is read frame by frame."""
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    codec, count = "", 0
    for file in files:
        with av.open(str(file)) as container:
            stream = container.streams.video[0]
            codec = stream.codec_context.name
            count += sum(1 for _ in container.decode(stream))
    return codec, count


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("kind", ["mp4", "webm", "gif", "png"])
def test_the_final_frames_export_to_every_format_with_the_runs_workflow_inside(make_dialog, qtbot, tmp_path, kind):
    dialog = make_dialog()
    assert dialog.current_choice().step == FINAL and dialog.fps_spin.value() == 16.0
    choose_format(dialog, kind)
    done = export(dialog, qtbot)
    assert done is not None, dialog.message_label.text()
    assert done.path.parent == tmp_path / "renders" and names(tmp_path / "renders") == [done.path.name]
    assert decoded(done.path) == (CODECS[kind], FRAMES)
    assert read_embedded_workflow(done.path)["nodes"]["sampler"]["params"]["seed"] == 41
    assert load_workflow(done.path).nodes["sampler"].params["seed"] == 41  # what dropping it on the window does
    assert done.signed == (kind != "webm")
    assert "seed41" in done.path.name
    assert dialog.progress_bar.value() == dialog.progress_bar.maximum() == FRAMES
    assert str(done.path) in dialog.result_label.text() and dialog.result_row.isVisible()


def test_a_steps_previews_export_as_a_clip_of_that_step(make_dialog, qtbot):
    dialog = make_dialog()
    labels = [dialog.source_combo.itemText(i) for i in range(dialog.source_combo.count())]
    assert labels[0].startswith("Final frames") and labels[1:] == [
        f"Step {step} previews (3 frames, 28×20)" for step in range(1, STEPS + 1)]
    dialog.source_combo.setCurrentIndex(2)
    assert dialog.fps_spin.value() == 4.0  # 3 preview frames last as long as the 9 decoded ones
    choose_format(dialog, "png")
    done = export(dialog, qtbot)
    frames = sorted(done.path.iterdir())
    assert len(frames) == PREVIEW_FRAMES
    with av.open(str(frames[0])) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(first, preview(2)[0])
    assert read_embedded_workflow(done.path)["nodes"]["sampler"]["params"]["seed"] == 41


def test_without_final_frames_the_step_shown_in_the_timeline_is_the_default(make_dialog):
    assert make_dialog(filled_store(final=False), step=3).current_choice().step == 3
    assert make_dialog(filled_store(final=False)).current_choice().step == STEPS
    assert make_dialog(filled_store(final=True), step=3).current_choice().step == FINAL


@pytest.mark.parametrize("template", ["../outside-{counter}", "/tmp/outside", "{nope}"])
def test_a_refused_name_is_shown_on_the_name_field_writes_nothing_and_the_dialog_stays_usable(
        make_dialog, qtbot, tmp_path, template):
    dialog = make_dialog()
    dialog.name_edit.setText(template)
    assert dialog.start_export() is None
    assert dialog.message_label.isVisible() and dialog.message_label.text().startswith("Name: ")
    assert dialog.name_edit.property("invalid") is True
    assert not (tmp_path / "renders").exists() and not (tmp_path / "outside-0001.mp4").exists()
    dialog.name_edit.setText("fixed")
    assert export(dialog, qtbot).path.name == "fixed.mp4"
    assert not dialog.message_label.isVisible() and dialog.name_edit.property("invalid") is False


def test_a_folder_that_cannot_be_written_is_shown_on_the_folder_field(make_dialog, qtbot, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    blocker = work / "a-file"
    blocker.write_text("not a folder")
    dialog = make_dialog()
    for folder in (blocker, blocker / "inside"):
        dialog.folder_edit.setText(str(folder))
        assert export(dialog, qtbot) is None
        assert dialog.message_label.text().startswith("Folder: "), dialog.message_label.text()
        assert "Traceback" not in dialog.message_label.text() and dialog.folder_edit.property("invalid") is True
        assert dialog.export_button.isEnabled() and dialog.fields.isEnabled()
    dialog.folder_edit.setText("  ")
    assert dialog.start_export() is None and dialog.message_label.text() == "Folder: choose a folder to export into"
    assert names(work) == ["a-file"] and blocker.read_text() == "not a folder"


def test_an_existing_file_is_never_overwritten_the_name_moves_on(make_dialog, qtbot, tmp_path):
    (tmp_path / "renders").mkdir()
    (tmp_path / "renders" / "clip.gif").write_bytes(b"earlier")
    dialog = make_dialog()
    choose_format(dialog, "gif")
    dialog.name_edit.setText("clip")
    assert export(dialog, qtbot).path.name == "clip-2.gif"
    dialog.name_edit.setText("take-{counter}")
    assert [export(dialog, qtbot).path.name for _ in range(2)] == ["take-0001.gif", "take-0002.gif"]
    assert (tmp_path / "renders" / "clip.gif").read_bytes() == b"earlier"


@pytest.mark.parametrize("kind", ["mp4", "png"])
def test_cancel_stops_the_export_and_leaves_no_file(make_dialog, qtbot, tmp_path, monkeypatch, kind):
    release, real = threading.Event(), writers.upscale_frame

    def slow_upscale(frame, factor):  # holds the export at its third frame until the test has pressed Cancel
        if slow_upscale.calls == 2:
            release.wait(30)
        slow_upscale.calls += 1
        return real(frame, factor)

    slow_upscale.calls = 0
    monkeypatch.setattr(writers, "upscale_frame", slow_upscale)
    dialog = make_dialog()
    choose_format(dialog, kind)
    job = dialog.start_export()
    qtbot.waitUntil(lambda: dialog.progress_bar.value() >= 2, timeout=30_000)
    assert not dialog.fields.isEnabled() and not dialog.export_button.isEnabled()
    dialog.cancel_button.click()
    release.set()
    qtbot.waitUntil(lambda: dialog.job is None, timeout=30_000)
    assert not job.is_running() and dialog.last_export is None
    assert "cancelled" in dialog.message_label.text() and "nothing was written" in dialog.message_label.text()
    assert names(tmp_path / "renders") == []  # not even a hidden temporary file
    assert dialog.export_button.isEnabled() and dialog.fields.isEnabled()


def test_quality_applies_to_mp4_and_webm_and_provenance_is_offered_where_it_can_be_embedded(make_dialog):
    dialog = make_dialog()
    for kind, crf, provenance, top in (("mp4", True, True, 51), ("webm", True, False, 63), ("gif", False, True, 0),
                                       ("png", False, True, 0)):
        choose_format(dialog, kind)
        assert dialog.crf_spin.isEnabled() == crf and dialog.provenance_check.isEnabled() == provenance
        if crf:
            assert dialog.crf_spin.maximum() == top


def test_upscale_enlarges_the_exported_frames(make_dialog, qtbot):
    dialog = make_dialog()
    choose_format(dialog, "webm")
    dialog.upscale_combo.setCurrentIndex(dialog.upscale_combo.findData(2))
    with av.open(str(export(dialog, qtbot).path)) as container:
        frame = next(container.decode(video=0))
    assert (frame.width, frame.height) == (112, 80)


def test_open_containing_folder_opens_the_folder_and_the_folder_is_remembered(make_dialog, qtbot, tmp_path,
                                                                            monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url) or True))
    dialog = make_dialog()
    choose_format(dialog, "gif")
    export(dialog, qtbot)
    dialog.open_folder_button.click()
    assert opened == [QUrl.fromLocalFile(str(tmp_path / "renders"))]
    again = ExportDialog(ExportSource.from_store(filled_store(), snapshot(41)))
    qtbot.addWidget(again)
    assert again.folder_edit.text() == str(tmp_path / "renders") and again.format == "gif"


# ---------------------------------------------------------------- in the window


@pytest.fixture
def window(qtbot):
    window = MainWindow(interactive=False)
    qtbot.addWidget(window)
    window.open_path(EXAMPLE)
    yield window
    window.close()


def test_export_is_offered_once_a_run_has_made_frames_and_embeds_that_runs_workflow(window, qtbot, tmp_path):
    assert not window.export_action.isEnabled() and not window.timeline.export_button.isEnabled()
    assert window.open_export_dialog() is None
    assert window.export_action.shortcut().toString() == "Ctrl+E"
    # What the runner does for a run: the run in its list, its events through the window.
    window.runner.runs.append(QueuedRun(1, "example", snapshot(77), status="running", run_id="r1"))
    for event in run_events("r1"):
        window._engine_event(event)
    window.timeline.refresh()
    assert window.export_action.isEnabled() and window.timeline.export_button.isEnabled()
    window.graph.nodes["sampler"].params["seed"] = 5  # edited after the run: the export is still the run's
    window.timeline.export_button.click()
    dialog = window.export_window
    assert dialog is not None and dialog.isVisible() and dialog.current_choice().step == FINAL
    dialog.folder_edit.setText(str(tmp_path))
    done = export(dialog, qtbot)
    assert load_workflow(done.path).nodes["sampler"].params["seed"] == 77
    assert window.open_export_dialog() is dialog  # one dialog at a time


def test_a_real_run_exports_its_final_frames_with_its_workflow(window, qtbot, tiny_model, tmp_path):
    window.open_path(small_workflow(tiny_model, f"{tmp_path}/out/", tmp_path, sampler={"seed": 123}),
                     confirmed=True)
    run = window.run_workflow()
    qtbot.waitUntil(lambda: run.status not in ("queued", "running"), timeout=180_000)
    assert run.status == "done", run.message
    qtbot.waitUntil(lambda: window.export_action.isEnabled(), timeout=10_000)
    window.export_action.trigger()
    dialog = window.export_window
    dialog.folder_edit.setText(str(tmp_path / "exports"))
    done = export(dialog, qtbot)
    assert decoded(done.path) == ("h264", 9)
    graph = load_workflow(done.path)
    assert graph.nodes["sampler"].params["seed"] == 123
    assert graph.nodes["model"].params["path"] == str(tiny_model)
