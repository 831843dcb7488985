"""AnimateDiff through the studio, on a tiny random-init AnimateDiffPipeline saved to disk: text-to-video equals the
plain pipeline for every scheduler, inpainting keeps every pixel outside the mask, steps come with previews,
cancel works, and what the family cannot do is refused by name."""
import copy
import json

import numpy as np
import pytest
import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import Video, read_video, write_video
from studio.paths import WORKFLOWS
from studio.shapes.clips import ClipSpec, draw_clip
from tests.helpers import example_snapshot, save_params
from tests.models.families.common import run

SIZE, FRAMES, STEPS = 32, 8, 3
PROMPT, NEGATIVE = "a red circle moving right", "blue square"


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from studio.models.tiny.animatediff import save_tiny_animatediff

    return save_tiny_animatediff(tmp_path_factory.mktemp("models") / "tiny-animatediff", frames=FRAMES)


@pytest.fixture(scope="module")
def executor():
    return Executor(catalogue())  # shared: the model loads and the prompts encode once for the module


def snapshot(model, out, **params):
    defaults = {"latent": {"width": SIZE, "height": SIZE, "frames": FRAMES},
                "sampler": {"seed": 11, "steps": STEPS}, "negative": {"text": NEGATIVE}, "guidance": {"scale": 4.5}}
    for node, values in params.items():
        defaults[node] = {**defaults.get(node, {}), **values}
    return example_snapshot(model, out, **defaults)


def plain_frames(model, scheduler="default", **options):
    import diffusers

    pipe = diffusers.AnimateDiffPipeline.from_pretrained(model)
    kinds = {"euler": diffusers.EulerDiscreteScheduler, "dpm++": diffusers.DPMSolverMultistepScheduler}
    if scheduler in kinds:
        pipe.scheduler = kinds[scheduler].from_config(pipe.scheduler.config)
    arguments = dict(prompt=PROMPT, negative_prompt=NEGATIVE, height=SIZE, width=SIZE, num_frames=FRAMES,
                     num_inference_steps=STEPS, guidance_scale=4.5, output_type="np",
                     generator=torch.Generator("cpu").manual_seed(11))
    frames = pipe(**{**arguments, **options}).frames[0]
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


@pytest.fixture(scope="module")
def rendered(executor, model, tmp_path_factory):
    out = tmp_path_factory.mktemp("t2v") / "out"
    status, events = run(executor, snapshot(model, f"{out}/"))
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    return read_video(out).frames, events


def test_the_folder_loads_as_the_animatediff_family(model):
    from studio.models.families import family_for
    from studio.models.families.animatediff import AnimateDiffFamily

    assert family_for(json.loads((model / "model_index.json").read_text())["_class_name"]) is AnimateDiffFamily


def assert_within_one_level(frames, reference):
    """Equal to 1/255: with guidance the pipeline runs the unconditional and conditional passes as one batch of two,
    the studio's loop as two calls, and CPU kernels may round a batch of two differently in the last float bit."""
    difference = np.abs(frames.astype(int) - reference.astype(int))
    assert difference.max() <= 1, f"{difference.max()} at {np.count_nonzero(difference)} values"


def test_text_to_video_equals_the_plain_pipeline(model, rendered):
    assert_within_one_level(rendered[0], plain_frames(model))


@pytest.mark.parametrize("scheduler", ["euler", "dpm++"])
def test_every_scheduler_equals_the_plain_pipeline_with_that_scheduler(executor, model, tmp_path, scheduler):
    # Euler starts from noise times init_noise_sigma and scales the model's input: the sigma-space path.
    status, _ = run(executor, snapshot(model, f"{tmp_path}/out/", sampler={"scheduler": scheduler}))
    assert status == "done"
    assert_within_one_level(read_video(tmp_path / "out").frames, plain_frames(model, scheduler))


def test_guidance_scale_one_skips_the_unconditional_pass_like_the_pipeline(executor, model, tmp_path):
    status, _ = run(executor, snapshot(model, f"{tmp_path}/out/", guidance={"scale": 1.0}))
    assert status == "done"
    assert np.array_equal(read_video(tmp_path / "out").frames, plain_frames(model, guidance_scale=1.0))


def test_every_step_comes_with_a_preview_of_every_frame(rendered):
    steps = [e for e in rendered[1] if e["event"] == "step" and e["node"] == "sampler"]
    assert [(e["step"], e["total"]) for e in steps] == [(i, STEPS) for i in range(1, STEPS + 1)]
    assert all(e["preview"].shape == (FRAMES, SIZE, SIZE, 3) and e["preview"].dtype == np.uint8 for e in steps)


def test_cancel_stops_between_steps(executor, model, tmp_path):
    status, events = run(executor, snapshot(model, f"{tmp_path}/out/", sampler={"seed": 99}), cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("latent, param, message", [
    ({"width": 36}, "width", "must be a multiple of 8 for AnimateDiff models, got 36 (try 32 or 40)"),
    ({"frames": 33}, "frames", "takes at most 32 frames at once, got 33"),
])
def test_an_impossible_size_is_refused_naming_the_parameter(executor, model, tmp_path, latent, param, message):
    status, events = run(executor, snapshot(model, tmp_path / "o.mp4", latent=latent))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and [(e["node"], e["param"]) for e in failed] == [("latent", param)]
    assert message in failed[0]["message"]


def test_image_conditioning_is_refused_because_animatediff_has_no_first_frame_input(executor, model, tmp_path):
    import PIL.Image

    PIL.Image.fromarray(np.zeros((SIZE, SIZE, 3), np.uint8)).save(tmp_path / "first.png")
    data = snapshot(model, tmp_path / "o.mp4")
    nodes = data["nodes"]
    nodes["image"] = {"type": "load_image@1", "params": {"path": str(tmp_path / "first.png")}}
    nodes["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    nodes["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    status, events = run(executor, data)
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and (failed[0]["node"], failed[0]["input"]) == ("condition", "image")
    assert "(AnimateDiff) cannot start from a given first frame" in failed[0]["message"]


def source_clip(folder):
    spec = ClipSpec(colour="red", shape="circle", direction="right", size_px=10.0, start_xy=(6.0, 15.5),
                    speed_px_per_frame=2.5)
    clip = draw_clip(spec, SIZE, SIZE, FRAMES)
    write_video(Video(clip, 8.0), f"{folder}/")
    return clip


def inpaint_snapshot(model, source, out, **params):
    workflow = WORKFLOWS / "inpaint_region.json"
    data = json.loads(workflow.read_text())
    data["base_dir"] = str(workflow.parent)
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["source"]["params"]["path"] = str(source)
    nodes["inpaint"]["params"].update(steps=STEPS)
    nodes["save"]["params"].update(save_params(out))
    for node_id, values in params.items():
        nodes[node_id]["params"].update(values)
    return copy.deepcopy(data)


@pytest.mark.parametrize("scheduler, strength", [("default", 1.0), ("euler", 0.7)])
def test_inpainting_keeps_every_pixel_outside_the_mask(executor, model, tmp_path, scheduler, strength):
    source = source_clip(tmp_path / "clip")
    status, events = run(executor, inpaint_snapshot(model, tmp_path / "clip", f"{tmp_path}/out/", inpaint={
        "scheduler": scheduler, "strength": strength, "seed": 4}))
    assert status == "done", [e for e in events if e["event"] == "node_failed"]
    frames = read_video(tmp_path / "out").frames
    assert np.array_equal(frames[:, :, :SIZE // 2], source[:, :, :SIZE // 2])
    assert np.abs(frames[:, :, SIZE // 2:].astype(int) - source[:, :, SIZE // 2:].astype(int)).mean() > 5
    steps = [e for e in events if e["event"] == "step" and e["node"] == "inpaint"]
    assert len(steps) == int(STEPS * strength) and all(e["preview"].shape[0] == FRAMES for e in steps)
