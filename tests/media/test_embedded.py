"""The workflow inside every export: written per format, read back equal, and accepted wherever a workflow is."""
from __future__ import annotations

import json
import subprocess
import sys

import av
import cv2
import numpy as np
import pytest

from studio.graph.workflow import WorkflowError, load_workflow
from studio.media.embedded import (EmbeddedWorkflowError, gif_comments, png_texts, read_embedded_workflow,
                                   workflow_text)
from studio.media.export import export_clip
from studio.media.video_io import Video, write_video
from tests.helpers import EXAMPLE, REPO


def workflow(seed: int = 7) -> dict:
    data = json.loads(EXAMPLE.read_text())
    data["nodes"]["sampler"]["params"]["seed"] = seed
    data["nodes"]["prompt"]["params"]["text"] = "a red circle — moving right, «quoted» {braces}"
    return data


def clip(frames: int = 4) -> Video:
    rng = np.random.default_rng(1)
    return Video(rng.integers(0, 256, (frames, 24, 32, 3), dtype=np.uint8), 16.0)


@pytest.mark.parametrize("kind", ["mp4", "webm", "gif", "png"])
@pytest.mark.parametrize("provenance", [False, True])
def test_the_workflow_read_back_from_every_format_equals_the_one_that_made_it(tmp_path, kind, provenance):
    made_with = workflow(seed=123456789)
    export = export_clip(clip(), tmp_path, "clip", kind, workflow=made_with, provenance=provenance)
    assert read_embedded_workflow(export.path) == made_with  # seed and non-ASCII text included
    graph = load_workflow(export.path)  # what studio render/validate and File > Open use
    assert graph.nodes["sampler"].params["seed"] == 123456789
    assert graph.source_path == export.path.resolve()


def test_each_png_frame_carries_it_and_a_single_frame_opens_too(tmp_path):
    export = export_clip(clip(), tmp_path, "frames", "png", workflow=workflow(), provenance=False)
    for frame in sorted(export.path.iterdir()):
        assert [key for key, _ in png_texts(frame.read_bytes())] == ["studio_workflow"]
    assert load_workflow(export.path / "00002.png").nodes["sampler"].params["seed"] == 7
    # The frames are still ordinary PNGs to every other reader.
    assert cv2.imread(str(export.path / "00000.png")).shape == (24, 32, 3)


def test_where_it_lives_in_each_container(tmp_path):
    text = workflow_text(workflow())
    mp4 = export_clip(clip(), tmp_path, "a", "mp4", workflow=workflow(), provenance=False).path
    webm = export_clip(clip(), tmp_path, "b", "webm", workflow=workflow(), provenance=False).path
    gif = export_clip(clip(), tmp_path, "c", "gif", workflow=workflow(), provenance=False).path
    for path, key in ((mp4, "studio_workflow"), (webm, "STUDIO_WORKFLOW")):  # Matroska tags are upper case
        with av.open(str(path)) as container:
            assert container.metadata[key] == text
    assert gif_comments(gif.read_bytes()) == [text]


def test_renders_without_a_workflow_are_refused_clearly(tmp_path):
    plain = write_video(clip(), tmp_path / "plain.mp4")
    assert read_embedded_workflow(plain) is None
    with pytest.raises(WorkflowError, match=r"plain\.mp4 carries no workflow"):
        load_workflow(plain)
    cv2.imwrite(str(tmp_path / "photo.png"), np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(WorkflowError, match=r"photo\.png carries no workflow"):
        load_workflow(tmp_path / "photo.png")
    with pytest.raises(WorkflowError, match="render not found"):
        load_workflow(tmp_path / "missing.webm")
    (tmp_path / "broken.mp4").write_bytes(b"not a video at all" * 20)
    with pytest.raises(WorkflowError, match=r"cannot read the workflow in .*broken\.mp4"):
        load_workflow(tmp_path / "broken.mp4")


def test_a_damaged_tag_names_the_file(tmp_path):
    path = write_video(clip(), tmp_path / "damaged.gif", workflow_text='{"format": "studio.workflow", "nodes": ')
    with pytest.raises(EmbeddedWorkflowError, match=r"damaged\.gif carries a damaged workflow"):
        read_embedded_workflow(path)
    with pytest.raises(WorkflowError, match="damaged workflow"):
        load_workflow(path)


def test_a_render_of_an_older_workflow_version_is_migrated(tmp_path):
    old = {"format": "studio.workflow", "version": 1, "nodes": {
        "save": {"type": "save_video@1", "params": {"path": "out/clip.mp4", "crf": 20}, "inputs": {}, "ui": {}}}}
    path = write_video(clip(), tmp_path / "old.webm", workflow_text=json.dumps(old))
    save = load_workflow(path).nodes["save"]
    assert save.type == "save_video@2"
    assert save.params == {"folder": "out", "name": "clip", "format": "mp4", "crf": 20}


def test_reading_a_png_or_gif_needs_no_media_libraries(tmp_path):
    export = export_clip(clip(), tmp_path, "c", "gif", workflow=workflow(), provenance=False)
    code = (f"import sys; from studio.graph.workflow import load_workflow; load_workflow({str(export.path)!r}); "
            "bad = [m for m in ('av', 'cv2', 'torch', 'PySide6') if m in sys.modules]; "
            "sys.exit(f'imported {bad}' if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr


def test_a_text_chunk_that_inflates_without_end_is_ignored():
    from studio.media.embedded import png_with_text

    png = cv2.imencode(".png", np.zeros((2, 2, 3), np.uint8))[1].tobytes()
    bomb = png_with_text(png, "studio_workflow", " " * (20 * 1024 * 1024))  # 20 MiB of spaces, a few KiB on disk
    assert len(bomb) < 100_000 and png_texts(bomb) == []
