"""The studio's frames equal the plain diffusers pipeline's for the same components, seed and settings."""
import numpy as np
import pytest
import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import Video, read_video, write_video
from tests.helpers import example_scale, example_snapshot


def render(snapshot):
    events = []
    status = Executor(catalogue()).run(snapshot, events.append, lambda: False)
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    return events


def to_uint8(frames):
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


def plain(model_path, cls_name="DiffusionPipeline"):
    import diffusers

    return getattr(diffusers, cls_name).from_pretrained(model_path)


@pytest.mark.parametrize("model_fixture", ["tiny_t2v_model", "tiny_model"])
def test_text_to_video_equals_the_plain_pipeline(request, model_fixture, tmp_path):
    model = request.getfixturevalue(model_fixture)
    render(example_snapshot(model, f"{tmp_path}/out/", sampler={"seed": 11, "steps": 5},
                            negative={"text": "blue square"}, guidance={"scale": 4.5}))
    reference = plain(model)("a red circle moving right", negative_prompt="blue square", height=32, width=32,
                             num_frames=9, num_inference_steps=5, guidance_scale=4.5, max_sequence_length=64,
                             generator=torch.Generator("cpu").manual_seed(11), output_type="np").frames[0]
    assert np.array_equal(read_video(tmp_path / "out").frames, to_uint8(reference))


def test_guidance_scale_one_skips_the_unconditional_pass_like_the_pipeline(tiny_t2v_model, tmp_path):
    render(example_snapshot(tiny_t2v_model, f"{tmp_path}/out/", guidance={"scale": 1.0}, sampler={"seed": 5}))
    reference = plain(tiny_t2v_model)("a red circle moving right", height=32, width=32, num_frames=9,
                                      num_inference_steps=4, guidance_scale=1.0, max_sequence_length=64,
                                      generator=torch.Generator("cpu").manual_seed(5), output_type="np").frames[0]
    assert np.array_equal(read_video(tmp_path / "out").frames, to_uint8(reference))


def image_to_video_snapshot(model, image_path, out):
    snapshot = example_snapshot(model, out, sampler={"seed": 3})
    nodes = snapshot["nodes"]
    nodes["image"] = {"type": "load_image@1", "params": {"path": str(image_path)}}
    nodes["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    nodes["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    return snapshot


def test_first_frame_image_to_video_equals_the_plain_wan22_pipeline(tiny_model, tmp_path):
    import PIL.Image

    image = np.zeros((48, 40, 3), np.uint8)
    image[10:30, 8:24] = (255, 0, 0)
    PIL.Image.fromarray(image).save(tmp_path / "first.png")
    render(image_to_video_snapshot(tiny_model, tmp_path / "first.png", f"{tmp_path}/out/"))
    pipe = plain(tiny_model, "WanImageToVideoPipeline")
    reference = pipe(image=PIL.Image.fromarray(image), prompt="a red circle moving right", height=32, width=32,
                     num_frames=9, num_inference_steps=4, guidance_scale=example_scale(), max_sequence_length=64,
                     generator=torch.Generator("cpu").manual_seed(3), output_type="np").frames[0]
    assert np.array_equal(read_video(tmp_path / "out").frames, to_uint8(reference))


def test_video_to_video_matches_the_plain_pipeline_within_one_level(tiny_t2v_model, tmp_path):
    import diffusers
    import PIL.Image

    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)
    write_video(Video(source, 16.0), f"{tmp_path}/source/")
    snapshot = example_snapshot(tiny_t2v_model, f"{tmp_path}/out/", sampler={"seed": 9, "steps": 10,
                                                                             "denoise": 0.6})
    nodes = snapshot["nodes"]
    nodes["source"] = {"type": "load_video@1", "params": {"path": str(tmp_path / "source")}}
    nodes["encode"] = {"type": "encode_video@1", "inputs": {"model": ["model", "model"],
                                                           "video": ["source", "video"]}}
    nodes["sampler"]["inputs"]["latent"] = ["encode", "latent"]
    render(snapshot)
    components = plain(tiny_t2v_model).components
    pipe = diffusers.WanVideoToVideoPipeline(**{k: components[k] for k in ("tokenizer", "text_encoder", "vae",
                                                                          "scheduler", "transformer")})
    reference = pipe(video=[PIL.Image.fromarray(f) for f in source], prompt="a red circle moving right",
                     height=32, width=32, num_inference_steps=10, strength=0.6, guidance_scale=example_scale(),
                     max_sequence_length=64, generator=torch.Generator("cpu").manual_seed(9),
                     output_type="np").frames[0]
    difference = np.abs(read_video(tmp_path / "out").frames.astype(int) - to_uint8(reference).astype(int))
    assert difference.max() <= 1


@pytest.mark.parametrize("scheduler", ["unipc", "euler", "dpm++"])
@pytest.mark.parametrize("method", ["cfg", "cfg_zero_star", "apg", "tangential_cfg"])
def test_every_scheduler_and_guider_renders_finite_frames(tiny_t2v_model, tmp_path, scheduler, method):
    render(example_snapshot(tiny_t2v_model, f"{tmp_path}/out/", sampler={"scheduler": scheduler},
                            guidance={"method": method}))
    frames = read_video(tmp_path / "out").frames
    assert frames.shape == (9, 32, 32, 3) and frames.std() > 0


def test_the_chosen_guider_is_the_one_that_runs(tiny_t2v_model, tmp_path):
    # CFG-Zero* zeroes the first step's prediction, so it must differ from plain CFG.
    render(example_snapshot(tiny_t2v_model, f"{tmp_path}/a/", guidance={"method": "cfg"}))
    render(example_snapshot(tiny_t2v_model, f"{tmp_path}/b/", guidance={"method": "cfg_zero_star"}))
    assert not np.array_equal(read_video(tmp_path / "a").frames, read_video(tmp_path / "b").frames)


def test_a_loaded_model_renders_the_same_clip_again_after_a_video_to_video_run(tiny_t2v_model, tmp_path):
    # Schedulers are reused between runs, as the pipeline reuses its own: no state may leak from one run to the next.
    executor = Executor(catalogue())

    def run(snapshot):
        assert executor.run(snapshot, lambda event: None, lambda: False) == "done"

    run(example_snapshot(tiny_t2v_model, f"{tmp_path}/first/", sampler={"seed": 2}))
    write_video(Video(read_video(tmp_path / "first").frames, 16.0), f"{tmp_path}/source/")
    v2v = example_snapshot(tiny_t2v_model, f"{tmp_path}/v2v/", sampler={"seed": 2, "denoise": 0.5})
    v2v["nodes"]["source"] = {"type": "load_video@1", "params": {"path": str(tmp_path / "source")}}
    v2v["nodes"]["encode"] = {"type": "encode_video@1", "inputs": {"model": ["model", "model"],
                                                                  "video": ["source", "video"]}}
    v2v["nodes"]["sampler"]["inputs"]["latent"] = ["encode", "latent"]
    run(v2v)
    run(example_snapshot(tiny_t2v_model, f"{tmp_path}/again/", sampler={"seed": 2}))
    assert np.array_equal(read_video(tmp_path / "first").frames, read_video(tmp_path / "again").frames)
