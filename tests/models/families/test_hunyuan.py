"""HunyuanVideo through the studio: frames equal the plain HunyuanVideoPipeline's (embedded guidance, and true CFG
with a negative prompt when the folder asks for it), inpainting keeps every pixel outside the mask, steps report
previews, cancel works and impossible sizes are refused. Tiny random-init models."""
import json
import shutil

import numpy as np
import pytest
import torch

from studio.media.video_io import read_video
from tests.helpers import example_snapshot
from tests.models.test_inpaint import inpaint_snapshot, source_clip
from tests.models.families.common import run, render, to_uint8

PROMPT = "a red circle moving right"
MAX_TOKENS = 32  # the tiny model's prompt length after the template


@pytest.fixture(scope="module")
def hunyuan_model(tmp_path_factory):
    from studio.models.tiny.hunyuan import save_tiny_hunyuan

    return save_tiny_hunyuan(tmp_path_factory.mktemp("models") / "tiny-hunyuan", max_tokens=MAX_TOKENS)


@pytest.fixture(scope="module")
def true_cfg_model(hunyuan_model, tmp_path_factory):
    """The same model, its studio_model.json asking for true classifier-free guidance at 2.0."""
    folder = tmp_path_factory.mktemp("models") / "tiny-hunyuan-true-cfg"
    shutil.copytree(hunyuan_model, folder, dirs_exist_ok=True)
    manifest = json.loads((folder / "studio_model.json").read_text())
    (folder / "studio_model.json").write_text(json.dumps({**manifest, "true_cfg_scale": 2.0}))
    return folder


@pytest.fixture(scope="module")
def plain_pipeline(hunyuan_model):
    import diffusers

    pipe = diffusers.HunyuanVideoPipeline.from_pretrained(hunyuan_model)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def reference(pipe, seed, steps, **options):
    return to_uint8(pipe(PROMPT, height=32, width=32, num_frames=9, num_inference_steps=steps,
                         max_sequence_length=MAX_TOKENS, generator=torch.Generator("cpu").manual_seed(seed),
                         output_type="np", **options).frames[0])


def test_text_to_video_equals_the_plain_pipeline_with_embedded_guidance(executor, hunyuan_model, plain_pipeline,
                                                                        tmp_path):
    # Guidance-distilled: the scale is fed to the model and the negative prompt is ignored, as by the pipeline.
    events = render(executor, example_snapshot(hunyuan_model, f"{tmp_path}/out/", sampler={"seed": 11, "steps": 3},
                                               negative={"text": "blue square"}, guidance={"scale": 4.5}))
    expected = reference(plain_pipeline, 11, 3, negative_prompt="blue square", guidance_scale=4.5)
    frames = read_video(tmp_path / "out").frames
    assert frames.shape == (9, 32, 32, 3) and frames.std() > 0
    assert np.array_equal(frames, expected)
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(1, 3), (2, 3), (3, 3)]
    assert all(e["preview"].shape == (9, 32, 32, 3) and e["preview"].dtype == np.uint8 for e in steps)
    prompt = next(e for e in events if e["event"] == "node_finished" and e["node"] == "prompt")
    # The template is cropped off: five words and the end-of-turn token.
    assert (prompt["info"]["tokens"], prompt["info"]["max_tokens"]) == (6, MAX_TOKENS)


def test_the_guidance_scale_is_the_embedded_guidance(executor, hunyuan_model, plain_pipeline, tmp_path):
    render(executor, example_snapshot(hunyuan_model, f"{tmp_path}/out/", sampler={"seed": 5, "steps": 2},
                                      guidance={"scale": 1.0}))
    frames = read_video(tmp_path / "out").frames
    assert np.array_equal(frames, reference(plain_pipeline, 5, 2, guidance_scale=1.0))
    assert not np.array_equal(frames, reference(plain_pipeline, 5, 2, guidance_scale=8.0))


def test_true_cfg_with_a_negative_prompt_equals_the_plain_pipeline(executor, true_cfg_model, plain_pipeline,
                                                                   tmp_path):
    render(executor, example_snapshot(true_cfg_model, f"{tmp_path}/out/", sampler={"seed": 7, "steps": 2},
                                      negative={"text": "blue square"}, guidance={"scale": 4.5}))
    expected = reference(plain_pipeline, 7, 2, negative_prompt="blue square", true_cfg_scale=2.0,
                         guidance_scale=4.5)
    assert np.array_equal(read_video(tmp_path / "out").frames, expected)


def test_inpainting_keeps_every_pixel_outside_the_mask(executor, hunyuan_model, tmp_path):
    source = source_clip(tmp_path / "clip")
    status, events = run(executor, inpaint_snapshot(hunyuan_model, tmp_path / "clip", f"{tmp_path}/out/",
                                                    inpaint={"steps": 2}))
    assert status == "done", [e for e in events if e["event"] == "node_failed"]
    frames = read_video(tmp_path / "out").frames
    assert np.array_equal(frames[:, :, :16], source[:, :, :16])
    assert np.abs(frames[:, :, 16:].astype(int) - source[:, :, 16:].astype(int)).mean() > 5
    steps = [e for e in events if e["event"] == "step" and e["node"] == "inpaint"]
    assert [e["step"] for e in steps] == [1, 2] and all(e["preview"].shape[0] == 9 for e in steps)


def test_cancel_stops_between_steps(executor, hunyuan_model, tmp_path):
    status, events = run(executor, example_snapshot(hunyuan_model, f"{tmp_path}/out/", sampler={"seed": 8}),
                         cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert [e["node"] for e in events if e["event"] == "node_cancelled"] == ["sampler"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size, param, message", [
    ({"width": 40}, "width", "must be a multiple of 16 for HunyuanVideo models, got 40 (try 32 or 48)"),
    ({"frames": 10}, "frames", "HunyuanVideo models take 1 + a multiple of 4 frames, got 10 (try 9 or 13)"),
])
def test_an_impossible_size_is_refused_naming_the_parameter(executor, hunyuan_model, tmp_path, size, param,
                                                            message):
    status, events = run(executor, example_snapshot(hunyuan_model, tmp_path / "o.mp4", latent=size))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and len(failed) == 1
    assert (failed[0]["node"], failed[0]["param"]) == ("latent", param) and message in failed[0]["message"]
