"""Stable Video Diffusion through the studio, on a tiny random-init StableVideoDiffusionPipeline saved to disk:
image-to-video equals the plain pipeline, text alone is refused with what to connect, steps come with previews,
cancel works, and what the family cannot do is refused by name."""
import copy
import json

import numpy as np
import pytest
import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import read_video
from studio.paths import WORKFLOWS
from tests.helpers import example_scale, example_snapshot, save_params
from tests.models.families.common import run

SIZE, FRAMES, STEPS = 32, 8, 3


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from studio.models.tiny.svd import save_tiny_svd

    return save_tiny_svd(tmp_path_factory.mktemp("models") / "tiny-svd", frames=FRAMES)


@pytest.fixture(scope="module")
def executor():
    return Executor(catalogue())  # shared: the model loads once for the module


@pytest.fixture(scope="module")
def start_image(tmp_path_factory):
    import PIL.Image

    image = np.zeros((48, 40, 3), np.uint8)  # not the clip's size: the pipeline resizes it, so must the studio
    image[10:30, 8:24] = (255, 200, 0)
    path = tmp_path_factory.mktemp("image") / "start.png"
    PIL.Image.fromarray(image).save(path)
    return path


def workflow(name, model, out, **params):
    """An example workflow, pointed at `model`, sized small, writing to `out`."""
    path = WORKFLOWS / name
    data = json.loads(path.read_text())
    data["base_dir"] = str(path.parent)
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    if "latent" in nodes:
        nodes["latent"]["params"].update(width=SIZE, height=SIZE, frames=FRAMES)
    for changes in ({"sampler": {"steps": STEPS}, "inpaint": {"steps": STEPS}, "save": save_params(out)}, params):
        for node_id, values in changes.items():
            if node_id in nodes:
                nodes[node_id]["params"].update(values)
    return copy.deepcopy(data)


def image_to_video(model, image, out, **params):
    return workflow("image_to_video.json", model, out, image={"path": str(image)}, **params)


@pytest.fixture(scope="module")
def rendered(executor, model, start_image, tmp_path_factory):
    out = tmp_path_factory.mktemp("i2v") / "out"
    status, events = run(executor, image_to_video(model, start_image, f"{out}/", sampler={"seed": 3}))
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    return read_video(out).frames, events


def test_the_folder_loads_as_the_svd_family(model):
    from studio.models.families import family_for
    from studio.models.families.svd import StableVideoDiffusionFamily

    assert family_for(json.loads((model / "model_index.json").read_text())["_class_name"]) \
        is StableVideoDiffusionFamily


def test_image_to_video_equals_the_plain_pipeline(model, start_image, rendered):
    import diffusers
    import PIL.Image

    pipe = diffusers.StableVideoDiffusionPipeline.from_pretrained(model)
    # The Guidance node's scale is the top of the per-frame ramp; the rest are the pipeline's defaults.
    reference = pipe(PIL.Image.open(start_image), height=SIZE, width=SIZE, num_frames=FRAMES,
                     num_inference_steps=STEPS, max_guidance_scale=example_scale(), fps=7,
                     generator=torch.Generator("cpu").manual_seed(3), output_type="np").frames[0]
    # Equal to 1/255: with guidance the pipeline runs the unconditional and conditional passes as one batch of two,
    # the studio's loop as two calls, and CPU kernels may round a batch of two differently in the last float bit.
    difference = np.abs(rendered[0].astype(int) - (np.clip(reference, 0, 1) * 255).round().astype(int))
    assert difference.max() <= 1, f"{difference.max()} at {np.count_nonzero(difference)} values"


def test_the_prompt_is_not_read(rendered):
    prompt = next(e for e in rendered[1] if e["event"] == "node_finished" and e["node"] == "prompt")
    assert prompt["info"] == {"tokens": 0, "max_tokens": 0, "truncated": False}


def test_every_step_comes_with_a_preview_of_every_frame(rendered):
    steps = [e for e in rendered[1] if e["event"] == "step" and e["node"] == "sampler"]
    assert [(e["step"], e["total"]) for e in steps] == [(i, STEPS) for i in range(1, STEPS + 1)]
    assert all(e["preview"].shape == (FRAMES, SIZE, SIZE, 3) and e["preview"].dtype == np.uint8 for e in steps)


def test_another_guider_ramps_over_the_frames_too(executor, model, start_image, tmp_path):
    status, _ = run(executor, image_to_video(model, start_image, f"{tmp_path}/out/",
                                             guidance={"method": "cfg_zero_star"}))
    assert status == "done"
    frames = read_video(tmp_path / "out").frames
    assert frames.shape == (FRAMES, SIZE, SIZE, 3) and frames.std() > 0


def test_text_to_video_is_refused_naming_image_conditioning(executor, model, tmp_path):
    snapshot = example_snapshot(model, tmp_path / "o.mp4", latent={"width": SIZE, "height": SIZE,
                                                                    "frames": FRAMES}, sampler={"steps": STEPS})
    status, events = run(executor, snapshot)
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and [(e["node"], e["input"]) for e in failed] == [("sampler", "latent")]
    assert "makes a clip from an image, not from text: connect Load Image -> Image Conditioning" \
        in failed[0]["message"]


def test_cancel_stops_between_steps(executor, model, start_image, tmp_path):
    status, events = run(executor, image_to_video(model, start_image, f"{tmp_path}/out/", sampler={"seed": 99}),
                         cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert not (tmp_path / "out").exists()


def test_an_impossible_size_is_refused_naming_the_parameter(executor, model, start_image, tmp_path):
    status, events = run(executor, image_to_video(model, start_image, tmp_path / "o.mp4", latent={"height": 20}))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and [(e["node"], e["param"]) for e in failed] == [("latent", "height")]
    assert "must be a multiple of 8 for Stable Video Diffusion models, got 20" in failed[0]["message"]


def test_inpainting_is_refused_saying_why(executor, model, tmp_path):
    from studio.media.video_io import Video, write_video

    write_video(Video(np.zeros((FRAMES, SIZE, SIZE, 3), np.uint8), 7.0), f"{tmp_path}/clip/")
    status, events = run(executor, workflow("inpaint_region.json", model, tmp_path / "o.mp4",
                                            source={"path": str(tmp_path / "clip")}))
    failed = [e for e in events if e["event"] == "node_failed"]
    assert status == "failed" and [(e["node"], e["input"]) for e in failed] == [("inpaint", "model")]
    assert "make a clip from a start image, and the Inpaint node has no image to give them" in failed[0]["message"]
