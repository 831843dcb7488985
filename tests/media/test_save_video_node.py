"""The Save Video node in the real executor: what it embeds, where it writes, and how it reports mistakes.

Load Video feeds it, so these run without torch or a model; tests/test_cli.py covers real renders.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.graph.workflow import load_workflow
from studio.media.embedded import read_embedded_workflow
from studio.media.video_io import Video, read_video, write_video


def copy_workflow(tmp_path, **save_params) -> dict:
    write_video(Video(np.random.default_rng(3).integers(0, 256, (5, 16, 24, 3), dtype=np.uint8), 12.0),
                tmp_path / "source.mp4")
    return {"format": "studio.workflow", "version": 2, "base_dir": str(tmp_path), "previews": False, "nodes": {
        "source": {"type": "load_video@1", "params": {"path": "source.mp4"}, "inputs": {}, "ui": {}},
        "save": {"type": "save_video@2", "params": {"name": "copy-{counter}", **save_params},
                 "inputs": {"video": ["source", "video"]}, "ui": {"x": 10}},
    }}


def run(snapshot: dict) -> tuple[str, list[dict]]:
    events: list[dict] = []
    status = Executor(catalogue()).run(snapshot, events.append, lambda: False)
    return status, events


def finished(events, node="save") -> dict:
    return next(e for e in events if e["event"] == "node_finished" and e["node"] == node)["info"]


def test_the_node_embeds_the_workflow_as_run_and_reports_the_path(tmp_path):
    status, events = run(copy_workflow(tmp_path, format="gif", overwrite=True))
    assert status == "done"
    info = finished(events)
    path = tmp_path / "renders" / "copy-0001.gif"  # the default folder, relative to the workflow's folder
    assert info["path"] == str(path) and info["frames"] == 5 and info["signed"] is True
    embedded = read_embedded_workflow(path)
    assert "previews" not in embedded and "base_dir" not in embedded and embedded["version"] == 2
    # Every value as used: defaults filled in, the relative file made absolute, and its own output never overwriting.
    assert embedded["nodes"]["source"]["params"] == {"path": str(tmp_path / "source.mp4")}
    assert embedded["nodes"]["save"]["params"] == {
        "folder": str(tmp_path / "renders"), "name": "copy-{counter}", "format": "gif", "fps": 0.0, "crf": 18,
        "upscale": 1, "provenance": True, "overwrite": False}
    assert embedded["nodes"]["save"]["ui"] == {"x": 10}


def test_re_running_a_render_gives_the_same_frames_in_a_new_file(tmp_path):
    _, events = run(copy_workflow(tmp_path, format="png"))
    first = finished(events)["path"]
    graph = load_workflow(first)  # the render itself is the workflow
    status, events = run(graph.snapshot())
    assert status == "done"
    second = finished(events)["path"]
    assert second.endswith("copy-0002")
    np.testing.assert_array_equal(read_video(first).frames, read_video(second).frames)


def test_fps_and_upscale_are_applied(tmp_path):
    _, events = run(copy_workflow(tmp_path, format="mp4", fps=24.0, upscale=2, provenance=False))
    info = finished(events)
    video = read_video(info["path"])
    assert (video.num_frames, video.height, video.width, video.fps) == (5, 32, 48, 24.0)
    assert info["signed"] is False
    assert json.loads(json.dumps(read_embedded_workflow(info["path"])))["nodes"]["save"]["params"]["upscale"] == 2


@pytest.mark.parametrize("params, param, fragment", [
    ({"name": "../../etc/{counter}"}, "name", "must stay inside the output folder"),
    ({"name": "{take}"}, "name", "unknown token {take}"),
    ({"folder": "source.mp4"}, "folder", "it is a file, not a folder"),
    ({"folder": ""}, "folder", "no output folder chosen"),
    ({"format": "mp4", "crf": 60}, "crf", "0 to 51"),
])
def test_mistakes_name_the_node_and_parameter(tmp_path, params, param, fragment):
    status, events = run(copy_workflow(tmp_path, **params))
    failed = next(e for e in events if e["event"] == "node_failed")
    assert status == "failed" and failed["param"] == param
    assert failed["message"].startswith(f"node 'save' parameter '{param}': ") and fragment in failed["message"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.mp4"]


def test_an_old_save_video_node_is_migrated_to_the_same_output(tmp_path):
    snapshot = copy_workflow(tmp_path)
    snapshot["version"] = 1
    snapshot["nodes"]["save"] = {"type": "save_video@1", "params": {"path": "out/clip.mp4", "overwrite": False},
                                 "inputs": {"video": ["source", "video"]}, "ui": {}}
    status, events = run(snapshot)
    assert status == "done" and finished(events)["path"] == str(tmp_path / "out" / "clip.mp4")


def test_a_signing_failure_is_a_warning_on_the_node_and_the_render_is_kept(tmp_path, monkeypatch):
    from studio.media import provenance

    folder = tmp_path / "config" / "c2pa"
    folder.mkdir(parents=True)
    (folder / provenance.KEY_FILE).write_text("not a key")
    (folder / provenance.CHAIN_FILE).write_text("not a certificate")
    monkeypatch.setenv("STUDIO_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setattr(provenance, "_contexts", {})
    status, events = run(copy_workflow(tmp_path, format="mp4"))
    info = finished(events)
    assert status == "done" and info["signed"] is False and read_video(info["path"]).num_frames == 5
    assert len(info["warnings"]) == 1 and "the export has no C2PA manifest" in info["warnings"][0]


def test_a_real_render_is_named_with_the_samplers_seed_and_signed_with_the_model(engine, tiny_model, tmp_path):
    import c2pa

    from tests.helpers import example_snapshot

    snapshot = example_snapshot(tiny_model, tmp_path / "unused.mp4", sampler={"seed": 5},
                                save={"name": "take-s{seed}-{counter}"})
    events: list[dict] = []
    assert engine.run(snapshot, events.append)["status"] == "done"
    path = tmp_path / "take-s5-0001.mp4"
    assert finished(events)["path"] == str(path)
    with open(path, "rb") as stream:
        manifest = c2pa.Reader("video/mp4", stream).get_active_manifest()
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    assert actions[0]["parameters"]["model"] == "tiny-ti2v"
