"""`studio render | validate | models` as a user runs them: real processes, real files read back with PyAV."""
import json
import os
import subprocess
import sys

import av
import numpy as np
import pytest

from studio.media.embedded import read_embedded_workflow
from studio.media.video_io import Video, read_video, write_video
from tests.helpers import EXAMPLE, example_snapshot


def studio(*args, env=None, cwd=None):
    environment = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "studio.cli", *map(str, args)], capture_output=True, text=True,
                          env=environment, cwd=cwd, timeout=300)


def small(model):
    return ["--set", f"model.path={model}", "--set", "latent.width=32", "--set", "latent.height=32",
            "--set", "latent.frames=9", "--set", "sampler.steps=3"]


def assert_clear_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr


def test_render_writes_an_h264_mp4(tiny_model, tmp_path):
    out = tmp_path / "clip.mp4"
    result = studio("render", EXAMPLE, "--out", out, *small(tiny_model))
    assert result.returncode == 0, result.stderr
    assert f"wrote {out}" in result.stdout
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert sum(1 for _ in container.decode(stream)) == 9
    assert "sampler done" in result.stderr  # progress, one line per node when not on a terminal


def test_render_to_a_folder_writes_png_frames(tiny_model, tmp_path):
    result = studio("render", EXAMPLE, "--out", f"{tmp_path}/frames/", *small(tiny_model))
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "frames").iterdir()) == [f"{i:05d}.png" for i in range(9)]


def test_a_render_is_a_workflow_and_re_rendering_it_gives_the_same_frames(engine, tiny_model, tmp_path):
    clip, reference = tmp_path / "clip.mp4", tmp_path / "reference"
    for out in (clip, f"{reference}/"):  # the same render twice: as H.264, and as lossless PNG frames
        result = engine.run(example_snapshot(tiny_model, out, sampler={"seed": 11}), lambda event: None)
        assert result["status"] == "done", result
    made = clip.read_bytes()
    checked = studio("validate", clip)
    assert checked.returncode == 0 and f"{clip}: valid (8 nodes)" in checked.stdout, checked.stderr
    result = studio("render", clip, "--out", f"{tmp_path}/again/")
    assert result.returncode == 0, result.stderr
    again, expected = read_video(tmp_path / "again").frames, read_video(reference).frames
    assert again.shape == expected.shape == (9, 32, 32, 3)
    assert np.abs(again.astype(int) - expected).max() <= 1  # the render's own frames, to within 1/255
    assert clip.read_bytes() == made
    assert read_embedded_workflow(tmp_path / "again")["nodes"]["sampler"]["params"]["seed"] == 11


def test_render_to_an_upscaled_gif_and_a_render_without_workflow(tiny_model, tmp_path):
    out = tmp_path / "clip.gif"
    result = studio("render", EXAMPLE, "--out", out, *small(tiny_model), "--set", "save.upscale=2")
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        sizes = {(frame.width, frame.height) for frame in container.decode(stream)}
        assert stream.codec_context.name == "gif" and container.streams.video[0].frames == 9 and sizes == {(64, 64)}
    assert read_embedded_workflow(out)["nodes"]["save"]["params"]["upscale"] == 2
    plain = write_video(Video(np.zeros((2, 8, 8, 3), np.uint8), 16.0), tmp_path / "plain.mp4")
    assert_clear_error(studio("validate", plain), "plain.mp4 carries no workflow")
    assert_clear_error(studio("render", plain, "--out", f"{tmp_path}/x/"), "plain.mp4 carries no workflow")


def test_an_existing_output_needs_overwrite(tiny_model, tmp_path):
    out = tmp_path / "clip.mp4"
    out.write_bytes(b"earlier render")
    assert_clear_error(studio("render", EXAMPLE, "--out", out, *small(tiny_model)), "already exists",
                       "--overwrite")
    assert out.read_bytes() == b"earlier render"
    result = studio("render", EXAMPLE, "--out", out, "--overwrite", *small(tiny_model))
    assert result.returncode == 0 and out.read_bytes() != b"earlier render"


@pytest.mark.parametrize("args, fragments", [
    (["--out", "clip.avi"], ["--out 'clip.avi'", ".mp4"]),
    (["--set", "sampler.steps=many"], ["node 'sampler' parameter 'steps' expects int, got 'many'"]),
    (["--set", "sampler.speed=3"], ["node 'sampler' has no parameter 'speed'"]),
    (["--set", "nobody.seed=3"], ["the workflow has no node 'nobody'"]),
    (["--set", "seed"], ["expected NODE_ID.PARAM=VALUE"]),
    (["--set", "latent.width=-4"], ["node 'latent' parameter 'width': must be at least 0"]),
])
def test_command_line_mistakes_get_one_clear_line(tmp_path, args, fragments):
    assert_clear_error(studio("render", EXAMPLE, *args, cwd=tmp_path), *fragments)


def test_a_node_failure_names_the_node_and_parameter(tmp_path):
    result = studio("render", EXAMPLE, "--out", tmp_path / "o.mp4", "--set", f"model.path={tmp_path}/none")
    assert_clear_error(result, "node 'model' parameter 'path': model folder not found")


def test_a_missing_or_broken_workflow_file(tmp_path):
    assert_clear_error(studio("render", tmp_path / "none.json", "--out", tmp_path / "o.mp4"),
                       "workflow file not found")
    (tmp_path / "broken.json").write_text("{oops")
    assert_clear_error(studio("validate", tmp_path / "broken.json"), "not valid JSON (line 1")


def test_validate_prints_every_problem(tmp_path):
    data = json.loads(EXAMPLE.read_text())
    data["nodes"]["sampler"]["params"]["steps"] = 0
    data["nodes"]["decode"]["inputs"] = {}
    path = tmp_path / "w.json"
    path.write_text(json.dumps(data))
    result = studio("validate", path)
    assert_clear_error(result, "3 problem(s)", "node 'sampler' parameter 'steps': must be at least 1",
                       "node 'decode' input 'model': required MODEL input is not connected",
                       "node 'decode' input 'latent': required LATENT input is not connected")
    assert studio("validate", EXAMPLE).returncode == 0


def test_models_lists_the_models_folder_and_the_hugging_face_cache(tiny_model, tmp_path):
    snapshot = tmp_path / "hub" / "models--acme--tiny-wan" / "snapshots" / "abc123"
    snapshot.parent.mkdir(parents=True)
    snapshot.symlink_to(tiny_model, target_is_directory=True)
    (tmp_path / "hub" / "models--acme--tiny-wan" / "refs").mkdir()
    (tmp_path / "hub" / "models--acme--tiny-wan" / "refs" / "main").write_text("abc123")
    result = studio("models", env={"STUDIO_MODELS_DIR": str(tiny_model.parent), "HF_HUB_CACHE": str(tmp_path / "hub")})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert any(line.startswith("tiny-ti2v") and "models folder" in line for line in lines)
    assert any(line.startswith("acme/tiny-wan") and "hugging face cache" in line for line in lines)


def test_a_model_can_be_named_instead_of_given_as_a_folder(tiny_model, tmp_path):
    args = small("tiny-ti2v")
    result = studio("render", EXAMPLE, "--out", tmp_path / "o.mp4", *args,
                    env={"STUDIO_MODELS_DIR": str(tiny_model.parent)})
    assert result.returncode == 0, result.stderr


def test_ctrl_c_cancels_the_render_cleanly(tiny_model, tmp_path):
    import signal
    import time

    out = tmp_path / "o.mp4"
    command = [sys.executable, "-m", "studio.cli", "render", str(EXAMPLE), "--out", str(out), *small(tiny_model),
               "--set", "sampler.steps=1000", "--set", "latent.width=192", "--set", "latent.height=192",
               "--set", "latent.frames=17"]
    # As from a terminal: Ctrl+C's default disposition. (Earlier tests may leave SIGINT ignored in this process, and
    # an ignored signal stays ignored across exec, so the CLI would never see it.)
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    seen = ""
    while "prompt done" not in seen and time.monotonic() < deadline:
        seen += process.stderr.readline()
    time.sleep(1.0)  # well into the sampler
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=300)  # loaded machine: the first step may include the preview fit
    assert process.returncode == 130, rest[-2000:]
    assert "studio render: cancelled" in rest and "Traceback" not in rest
    assert not out.exists()


def test_the_progress_line_shows_counts_and_never_the_preview_or_frame_arrays():
    import io

    import numpy as np

    from studio.cli import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    terminal = Terminal()
    progress = Progress(terminal)
    clip = np.full((9, 32, 32, 3), 7, np.uint8)
    progress({"event": "node_started", "node": "sampler"})
    progress({"event": "step", "node": "sampler", "step": 1, "total": 2, "preview": clip})
    progress({"event": "frames", "node": "decode", "kind": "final", "frames": clip, "fps": 16.0})
    progress({"event": "node_cached", "node": "decode"})
    text = terminal.getvalue()
    assert "step 1/2" in text and "decode cached" in text
    assert "array" not in text and "[[" not in text
