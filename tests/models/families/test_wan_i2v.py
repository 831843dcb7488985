"""Wan 2.1 image-to-video through the studio (extra transformer channels and CLIP image embeddings): frames equal the
plain WanImageToVideoPipeline's, steps report previews, cancel works, and what such a model cannot do is refused by
name. A tiny random-init model."""
import numpy as np
import PIL.Image
import pytest
import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import read_video
from tests.helpers import example_snapshot
from tests.models.test_inpaint import inpaint_snapshot, source_clip
from tests.models.families.common import run

PROMPT = "a red circle moving right"


@pytest.fixture(scope="module")
def i2v_model(tmp_path_factory):
    from studio.models.tiny.wan_i2v import save_tiny_wan_i2v

    return save_tiny_wan_i2v(tmp_path_factory.mktemp("models") / "tiny-wan21-i2v")


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    image = np.zeros((48, 40, 3), np.uint8)  # another size and aspect than the clip: both paths resize it
    image[10:30, 8:24] = (255, 0, 0)
    path = tmp_path_factory.mktemp("images") / "first.png"
    PIL.Image.fromarray(image).save(path)
    return path


@pytest.fixture(scope="module")
def executor():
    return Executor(catalogue())  # shared: the model loads once for the module


def image_to_video_snapshot(model, image_path, out, **params):
    snapshot = example_snapshot(model, out, **params)
    nodes = snapshot["nodes"]
    nodes["image"] = {"type": "load_image@1", "params": {"path": str(image_path)}}
    nodes["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    nodes["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    return snapshot


def failure(executor, snapshot):
    status, events = run(executor, snapshot)
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and len(failed) == 1, events[-1]
    return failed[0]


def test_image_to_video_equals_the_plain_wan21_image_to_video_pipeline(executor, i2v_model, image_path, tmp_path):
    import diffusers

    status, events = run(executor, image_to_video_snapshot(
        i2v_model, image_path, f"{tmp_path}/out/", sampler={"seed": 3, "steps": 3},
        negative={"text": "blue square"}, guidance={"scale": 4.5}))
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    pipe = diffusers.WanImageToVideoPipeline.from_pretrained(i2v_model)
    pipe.set_progress_bar_config(disable=True)
    reference = pipe(image=PIL.Image.open(image_path), prompt=PROMPT, negative_prompt="blue square", height=32,
                     width=32, num_frames=9, num_inference_steps=3, guidance_scale=4.5, max_sequence_length=64,
                     generator=torch.Generator("cpu").manual_seed(3), output_type="np").frames[0]
    frames = read_video(tmp_path / "out").frames
    assert frames.shape == (9, 32, 32, 3) and frames.std() > 0
    assert np.array_equal(frames, (np.clip(reference, 0, 1) * 255).round().astype(np.uint8))
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(1, 3), (2, 3), (3, 3)]
    assert all(e["preview"].shape == (9, 32, 32, 3) for e in steps)


def test_the_image_changes_the_clip(executor, i2v_model, image_path, tmp_path):
    other = tmp_path / "other.png"
    PIL.Image.fromarray(np.full((32, 32, 3), 200, np.uint8)).save(other)
    for name, path in (("a", image_path), ("b", other)):
        status, _ = run(executor, image_to_video_snapshot(i2v_model, path, f"{tmp_path}/{name}/",
                                                          sampler={"seed": 1, "steps": 2}))
        assert status == "done"
    assert not np.array_equal(read_video(tmp_path / "a").frames, read_video(tmp_path / "b").frames)


def test_text_to_video_without_an_image_is_refused_on_the_sampler_latent(executor, i2v_model, tmp_path):
    failed = failure(executor, example_snapshot(i2v_model, tmp_path / "o.mp4", sampler={"steps": 2}))
    assert (failed["node"], failed["input"]) == ("sampler", "latent")
    assert "needs an image to start from: connect Image Conditioning" in failed["message"]


def test_inpainting_is_refused_naming_the_image_channels(executor, i2v_model, tmp_path):
    source_clip(tmp_path / "clip")
    failed = failure(executor, inpaint_snapshot(i2v_model, tmp_path / "clip", tmp_path / "o.mp4"))
    assert (failed["node"], failed["input"]) == ("inpaint", "model")
    assert "takes 8 extra image channels (Wan 2.1 image-to-video)" in failed["message"]


def test_cancel_stops_between_steps(executor, i2v_model, image_path, tmp_path):
    status, events = run(executor, image_to_video_snapshot(i2v_model, image_path, f"{tmp_path}/out/",
                                                           sampler={"seed": 8}), cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert [e["node"] for e in events if e["event"] == "node_cancelled"] == ["sampler"]
    assert not (tmp_path / "out").exists()


def test_an_impossible_size_is_refused_naming_the_parameter(executor, i2v_model, image_path, tmp_path):
    failed = failure(executor, image_to_video_snapshot(i2v_model, image_path, tmp_path / "o.mp4",
                                                       latent={"width": 40}))
    assert (failed["node"], failed["param"]) == ("latent", "width")
    assert "must be a multiple of 16 for Wan models, got 40 (try 32 or 48)" in failed["message"]
