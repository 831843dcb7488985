"""CogVideoX through the studio: frames equal the plain diffusers pipelines' (DDIM and the stochastic DPM scheduler,
dynamic guidance, image-to-video), inpainting keeps every pixel outside the mask, steps report previews, cancel
works and impossible sizes are refused. Tiny random-init models."""
import copy
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
TOKENS = 16  # the tiny transformer's max_text_seq_length


@pytest.fixture(scope="module")
def cog_model(tmp_path_factory):
    """A tiny CogVideoXPipeline folder with rotary embeddings and the DDIM scheduler."""
    from studio.models.tiny.cogvideox import save_tiny_cogvideox

    return save_tiny_cogvideox(tmp_path_factory.mktemp("models") / "tiny-cogvideox")


@pytest.fixture(scope="module")
def cog_dynamic_model(cog_model, tmp_path_factory):
    """The same components with studio_model.json asking for the dynamic guidance scale."""
    folder = tmp_path_factory.mktemp("models") / "tiny-cogvideox-dynamic"
    shutil.copytree(cog_model, folder, dirs_exist_ok=True)
    manifest = json.loads((folder / "studio_model.json").read_text())
    (folder / "studio_model.json").write_text(json.dumps({**manifest, "use_dynamic_cfg": True}))
    return folder


@pytest.fixture(scope="module")
def cog_i2v_model(tmp_path_factory):
    """A tiny CogVideoXImageToVideoPipeline folder (image latents as extra channels) with the DPM scheduler."""
    from studio.models.tiny.cogvideox import save_tiny_cogvideox

    return save_tiny_cogvideox(tmp_path_factory.mktemp("models") / "tiny-cogvideox-i2v", image_to_video=True,
                               dpm=True)


def plain(model_path, cls_name, scheduler=None):
    import diffusers

    pipe = getattr(diffusers, cls_name).from_pretrained(model_path)
    if scheduler is not None:
        pipe.scheduler = getattr(diffusers, scheduler).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def within_one_level(frames, reference):
    # The pipeline batches the conditional and unconditional passes; the studio runs them one by one, which may
    # round differently in the last float bits.
    assert frames.shape == reference.shape
    return np.abs(frames.astype(int) - to_uint8(reference).astype(int)).max() <= 1


@pytest.mark.parametrize("scheduler, diffusers_scheduler", [("default", None), ("dpm++", "CogVideoXDPMScheduler")])
def test_text_to_video_equals_the_plain_pipeline(executor, cog_model, tmp_path, scheduler, diffusers_scheduler):
    events = render(executor, example_snapshot(cog_model, f"{tmp_path}/out/", negative={"text": "blue square"},
                                               sampler={"seed": 11, "steps": 3, "scheduler": scheduler},
                                               guidance={"scale": 4.5}))
    reference = plain(cog_model, "CogVideoXPipeline", diffusers_scheduler)(
        PROMPT, negative_prompt="blue square", height=32, width=32, num_frames=9, num_inference_steps=3,
        guidance_scale=4.5, max_sequence_length=TOKENS, generator=torch.Generator("cpu").manual_seed(11),
        output_type="np").frames[0]
    assert within_one_level(read_video(tmp_path / "out").frames, reference)
    steps = [e for e in events if e["event"] == "step"]
    assert [(e["step"], e["total"]) for e in steps] == [(1, 3), (2, 3), (3, 3)]
    assert all(e["preview"].shape == (9, 32, 32, 3) and e["preview"].dtype == np.uint8 for e in steps)


def test_guidance_scale_one_equals_the_plain_pipeline_exactly(executor, cog_model, tmp_path):
    render(executor, example_snapshot(cog_model, f"{tmp_path}/out/", sampler={"seed": 5, "steps": 2},
                                      guidance={"scale": 1.0}))
    reference = plain(cog_model, "CogVideoXPipeline")(
        PROMPT, height=32, width=32, num_frames=9, num_inference_steps=2, guidance_scale=1.0,
        max_sequence_length=TOKENS, generator=torch.Generator("cpu").manual_seed(5), output_type="np").frames[0]
    assert np.array_equal(read_video(tmp_path / "out").frames, to_uint8(reference))


def test_dynamic_guidance_equals_the_plain_pipeline(executor, cog_dynamic_model, tmp_path):
    render(executor, example_snapshot(cog_dynamic_model, f"{tmp_path}/out/", sampler={"seed": 2, "steps": 3}))
    reference = plain(cog_dynamic_model, "CogVideoXPipeline")(
        PROMPT, height=32, width=32, num_frames=9, num_inference_steps=3, guidance_scale=example_scale(),
        use_dynamic_cfg=True, max_sequence_length=TOKENS, generator=torch.Generator("cpu").manual_seed(2),
        output_type="np").frames[0]
    assert within_one_level(read_video(tmp_path / "out").frames, reference)


def test_image_to_video_equals_the_plain_image_to_video_pipeline(executor, cog_i2v_model, tmp_path):
    image = np.zeros((48, 40, 3), np.uint8)
    image[10:30, 8:24] = (255, 0, 0)
    PIL.Image.fromarray(image).save(tmp_path / "first.png")
    snapshot = example_snapshot(cog_i2v_model, f"{tmp_path}/out/", sampler={"seed": 3, "steps": 3})
    nodes = snapshot["nodes"]
    nodes["image"] = {"type": "load_image@1", "params": {"path": str(tmp_path / "first.png")}}
    nodes["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    nodes["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    events = render(executor, snapshot)
    reference = plain(cog_i2v_model, "CogVideoXImageToVideoPipeline")(
        image=PIL.Image.fromarray(image), prompt=PROMPT, height=32, width=32, num_frames=9, num_inference_steps=3,
        guidance_scale=example_scale(), max_sequence_length=TOKENS,
        generator=torch.Generator("cpu").manual_seed(3), output_type="np").frames[0]
    assert within_one_level(read_video(tmp_path / "out").frames, reference)
    assert all(e["preview"].shape[0] == 9 for e in events if e["event"] == "step")


def test_inpainting_keeps_every_pixel_outside_the_mask(executor, cog_model, tmp_path):
    source = source_clip(tmp_path / "clip")
    status, events = run(executor, inpaint_snapshot(cog_model, tmp_path / "clip", f"{tmp_path}/out/",
                                                    inpaint={"steps": 2}))
    assert status == "done", [e for e in events if e["event"] == "node_failed"]
    frames = read_video(tmp_path / "out").frames
    assert np.array_equal(frames[:, :, :16], source[:, :, :16])
    assert np.abs(frames[:, :, 16:].astype(int) - source[:, :, 16:].astype(int)).mean() > 5
    assert [e["step"] for e in events if e["event"] == "step" and "preview" in e] == [1, 2]


def test_an_image_to_video_model_says_why_it_cannot_inpaint(executor, cog_i2v_model, tmp_path):
    source_clip(tmp_path / "clip")
    status, events = run(executor, inpaint_snapshot(cog_i2v_model, tmp_path / "clip", tmp_path / "o.mp4"))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and (failed[0]["node"], failed[0]["input"]) == ("inpaint", "model")
    assert "is image-to-video (it takes 4 extra image channels)" in failed[0]["message"]


def test_cancel_stops_between_steps(executor, cog_model, tmp_path):
    status, events = run(executor, example_snapshot(cog_model, f"{tmp_path}/out/", sampler={"seed": 8}),
                         cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert [e["node"] for e in events if e["event"] == "node_cancelled"] == ["sampler"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size, param, message", [
    ({"width": 40}, "width", "must be a multiple of 16 for CogVideoX models, got 40 (try 32 or 48)"),
    ({"frames": 10}, "frames", "CogVideoX models take 1 + a multiple of 4 frames, got 10 (try 9 or 13)"),
])
def test_an_impossible_size_is_refused_naming_the_parameter(executor, cog_model, tmp_path, size, param, message):
    status, events = run(executor, example_snapshot(cog_model, tmp_path / "o.mp4", latent=size))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and len(failed) == 1
    assert (failed[0]["node"], failed[0]["param"]) == ("latent", param) and message in failed[0]["message"]


def test_cogvideox_15_takes_latent_frames_in_pairs(cog_model):
    import diffusers

    from studio.models.families.cogvideox import CogVideoXFamily
    from studio.models.loading import load_model

    pipe = copy.copy(load_model(cog_model, "cpu", "float32").pipeline)
    pipe.transformer = diffusers.CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=8,
        text_embed_dim=32, num_layers=1, sample_width=4, sample_height=4, sample_frames=9, patch_size=2,
        patch_size_t=2, max_text_seq_length=TOKENS, use_rotary_positional_embeddings=True)
    family = CogVideoXFamily(pipe)
    assert family.size_problem(32, 32, 13) is None  # 4 latent frames
    param, message = family.size_problem(32, 32, 9)  # 3 latent frames: the pipeline would pad and drop one
    assert param == "frames" and "latent frames in multiples of 2, got 9 frames (try 5 or 13)" in message

