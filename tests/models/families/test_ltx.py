"""LTX-Video through the studio: frames equal the plain diffusers pipelines', inpainting keeps every pixel outside
the mask, steps report previews, cancel works and impossible sizes are refused. Tiny random-init models."""
import json
import shutil

import numpy as np
import PIL.Image
import pytest
import torch

from studio.media.video_io import read_video
from tests.helpers import example_scale, example_snapshot
from tests.models.test_inpaint import inpaint_snapshot, source_clip
from tests.models.families.common import run, render, to_uint8

PROMPT = "a red circle moving right"


@pytest.fixture(scope="module")
def ltx_model(tmp_path_factory):
    """A tiny LTXPipeline folder whose VAE has LTX 0.9.1's timestep-conditioned decoder."""
    from studio.models.tiny.ltx import save_tiny_ltx

    return save_tiny_ltx(tmp_path_factory.mktemp("models") / "tiny-ltx", timestep_conditioning=True)


@pytest.fixture(scope="module")
def ltx_i2v_model(ltx_model, tmp_path_factory):
    """The same components saved as an LTXImageToVideoPipeline folder (the two pipelines share every component)."""
    folder = tmp_path_factory.mktemp("models") / "tiny-ltx-i2v"
    shutil.copytree(ltx_model, folder, dirs_exist_ok=True)
    index = json.loads((folder / "model_index.json").read_text())
    index["_class_name"] = "LTXImageToVideoPipeline"
    (folder / "model_index.json").write_text(json.dumps(index))
    return folder


def plain(model_path, cls_name):
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(model_path)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def test_text_to_video_equals_the_plain_pipeline(executor, ltx_model, tmp_path):
    events = render(executor, example_snapshot(ltx_model, f"{tmp_path}/out/", sampler={"seed": 11, "steps": 3},
                                               negative={"text": "blue square"}, guidance={"scale": 4.5}))
    reference = plain(ltx_model, "LTXPipeline")(
        PROMPT, negative_prompt="blue square", height=32, width=32, num_frames=9, num_inference_steps=3,
        guidance_scale=4.5, max_sequence_length=64, generator=torch.Generator("cpu").manual_seed(11),
        output_type="np").frames[0]
    frames = read_video(tmp_path / "out").frames
    # The pipeline batches the conditional and unconditional passes; the studio runs them one by one, which may
    # round differently in the last float bits: within one level of 255.
    assert frames.shape == (9, 32, 32, 3)
    assert np.abs(frames.astype(int) - to_uint8(reference).astype(int)).max() <= 1
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(1, 3), (2, 3), (3, 3)]
    assert all(e["preview"].shape == (9, 32, 32, 3) and e["preview"].dtype == np.uint8 for e in steps)


def test_guidance_scale_one_equals_the_plain_pipeline_exactly(executor, ltx_model, tmp_path):
    render(executor, example_snapshot(ltx_model, f"{tmp_path}/out/", sampler={"seed": 5, "steps": 2},
                                      guidance={"scale": 1.0}))
    reference = plain(ltx_model, "LTXPipeline")(
        PROMPT, height=32, width=32, num_frames=9, num_inference_steps=2, guidance_scale=1.0,
        max_sequence_length=64, generator=torch.Generator("cpu").manual_seed(5), output_type="np").frames[0]
    assert np.array_equal(read_video(tmp_path / "out").frames, to_uint8(reference))


def image_to_video_snapshot(model, image_path, out):
    snapshot = example_snapshot(model, out, sampler={"seed": 3, "steps": 3})
    nodes = snapshot["nodes"]
    nodes["image"] = {"type": "load_image@1", "params": {"path": str(image_path)}}
    nodes["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    nodes["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    return snapshot


def test_image_to_video_equals_the_plain_image_to_video_pipeline(executor, ltx_i2v_model, tmp_path):
    image = np.zeros((48, 40, 3), np.uint8)
    image[10:30, 8:24] = (255, 0, 0)
    PIL.Image.fromarray(image).save(tmp_path / "first.png")
    events = render(executor, image_to_video_snapshot(ltx_i2v_model, tmp_path / "first.png", f"{tmp_path}/out/"))
    reference = plain(ltx_i2v_model, "LTXImageToVideoPipeline")(
        image=PIL.Image.fromarray(image), prompt=PROMPT, height=32, width=32, num_frames=9, num_inference_steps=3,
        guidance_scale=example_scale(), max_sequence_length=64, generator=torch.Generator("cpu").manual_seed(3),
        output_type="np").frames[0]
    frames = read_video(tmp_path / "out").frames
    assert np.abs(frames.astype(int) - to_uint8(reference).astype(int)).max() <= 1  # batched CFG, as above
    assert all(e["preview"].shape[0] == 9 for e in events if e["event"] == "step")


def test_inpainting_keeps_every_pixel_outside_the_mask(executor, ltx_model, tmp_path):
    source = source_clip(tmp_path / "clip")
    status, events = run(executor, inpaint_snapshot(ltx_model, tmp_path / "clip", f"{tmp_path}/out/",
                                                    inpaint={"steps": 2}))
    assert status == "done", [e for e in events if e["event"] == "node_failed"]
    frames = read_video(tmp_path / "out").frames
    assert np.array_equal(frames[:, :, :16], source[:, :, :16])
    assert np.abs(frames[:, :, 16:].astype(int) - source[:, :, 16:].astype(int)).mean() > 5
    assert [e["step"] for e in events if e["event"] == "step" and "preview" in e] == [1, 2]


def test_cancel_stops_between_steps(executor, ltx_model, tmp_path):
    status, events = run(executor, example_snapshot(ltx_model, f"{tmp_path}/out/", sampler={"seed": 8}),
                         cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert [e["node"] for e in events if e["event"] == "node_cancelled"] == ["sampler"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size, param, message", [
    ({"width": 48}, "width", "must be a multiple of 32 for LTX-Video models, got 48 (try 32 or 64)"),
    ({"frames": 10}, "frames", "LTX-Video models take 1 + a multiple of 4 frames, got 10 (try 9 or 13)"),
])
def test_an_impossible_size_is_refused_naming_the_parameter(executor, ltx_model, tmp_path, size, param, message):
    status, events = run(executor, example_snapshot(ltx_model, tmp_path / "o.mp4", latent=size))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and len(failed) == 1
    assert (failed[0]["node"], failed[0]["param"]) == ("latent", param) and message in failed[0]["message"]
