"""Inpainting a region of a clip on real (tiny, random-init) Wan models: only the region changes, every pixel outside
it is the source's bit for bit, and the run reports, previews and cancels like the sampler."""
import copy
import json

import numpy as np
import pytest
import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.masks import region_mask
from studio.media.video_io import Video, read_video, write_video
from studio.models.families.base import ModelFamily
from studio.models.inpainting import composite
from studio.models.sampling import KnownRegion
from studio.paths import WORKFLOWS
from studio.shapes.clips import ClipSpec, draw_clip
from tests.helpers import save_params

WORKFLOW = WORKFLOWS / "inpaint_region.json"
SIZE, FRAMES, STEPS = 32, 9, 3


# -- the latent mask, from the family's compression


def family_with(spatial, temporal, causal):
    family = ModelFamily(pipe=None)
    family.spatial_compression, family.temporal_compression, family.causal_first_frame = spatial, temporal, causal
    return family


def test_a_latent_cell_is_inpainted_when_any_pixel_it_decodes_to_is_masked():
    family = family_with(8, 4, causal=False)
    covered = torch.zeros(8, 32, 32, dtype=torch.bool)
    covered[5, 9, 23] = True  # one pixel: frame 5 is in latent frame 1, pixel (9, 23) in latent cell (1, 2)
    latent = family.latent_mask(covered)
    assert latent.shape == (1, 1, 2, 4, 4) and latent.dtype == torch.float32
    assert latent.nonzero().tolist() == [[0, 0, 1, 1, 2]]
    covered[:, 8:16, 16:24] = True  # exactly one cell's pixels, every frame: no neighbour is touched
    assert latent.sum() == 1 and family.latent_mask(covered)[0, 0].sum() == 2


def test_a_causal_vae_keeps_the_first_frame_alone_in_the_first_latent_frame():
    family = family_with(8, 4, causal=True)
    covered = torch.zeros(9, 16, 16, dtype=torch.bool)  # 9 frames: latent frames {0}, {1..4}, {5..8}
    covered[4, 0, 0] = True
    assert family.latent_mask(covered)[0, 0, :, 0, 0].tolist() == [0, 1, 0]
    covered[4, 0, 0], covered[5, 15, 15] = False, True
    assert family.latent_mask(covered)[0, 0, :, 1, 1].tolist() == [0, 0, 1]
    covered[5, 15, 15], covered[0, 7, 8] = False, True
    latent = family.latent_mask(covered)
    assert latent.shape == (1, 1, 3, 2, 2) and latent.nonzero().tolist() == [[0, 0, 0, 0, 1]]


@pytest.fixture(scope="module")
def wan_family():
    from studio.models.families.wan import WanFamily
    from studio.models.tiny import tiny_wan_pipeline

    return WanFamily(tiny_wan_pipeline())


def test_the_tiny_wan_family_derives_its_latent_mask_through_the_same_path(wan_family):
    family = wan_family
    covered = torch.from_numpy(region_mask(width=32, height=32, frames=9, left=0.5, right=1.0, top=0.0,
                                           bottom=1.0, first_frame=2, last_frame=3).covered())
    latent = family.latent_mask(covered)
    assert tuple(latent.shape[2:]) == family.latent_shape(32, 32, 9)[2:]
    assert (latent[0, 0, 1, :, 2:] == 1).all() and latent[0, 0, 1, :, :2].sum() == 0
    assert latent[0, 0, 0].sum() == 0 and latent[0, 0, 2].sum() == 0


def test_known_latents_end_exactly_on_the_source(wan_family):
    family = wan_family
    samples, noise = torch.randn(1, 4, 3, 4, 4), torch.randn(1, 4, 3, 4, 4)
    mask = torch.zeros(1, 1, 3, 4, 4)
    mask[..., 2:] = 1
    known = KnownRegion(samples, noise, mask)
    latents = torch.randn(1, 4, 3, 4, 4)
    kept = known.keep(family, latents, torch.tensor(0.0))
    assert torch.equal(kept[..., :2], samples[..., :2]) and torch.equal(kept[..., 2:], latents[..., 2:])
    half = known.keep(family, latents, torch.tensor(0.5))
    assert torch.allclose(half[..., :2], 0.5 * samples[..., :2] + 0.5 * noise[..., :2])


def test_the_composite_is_the_source_wherever_the_mask_is_zero_and_the_blend_elsewhere():
    rng = np.random.default_rng(1)
    source = Video(rng.integers(0, 256, (9, 32, 32, 3), dtype=np.uint8), 16.0)
    decoded = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)  # a causal decode stopped after the mask
    mask = region_mask(width=32, height=32, frames=9, left=0.5, right=1.0, top=0.0, bottom=1.0, last_frame=4,
                       feather=3.0)
    out = composite(source, mask, decoded)
    outside = ~mask.covered()
    assert np.array_equal(out[outside], source.frames[outside])  # bit for bit, frames 5..8 included
    m = mask.values[:5, :, :, None]
    expected = np.round(source.frames[:5] * (1 - m) + decoded * m.astype(np.float64))
    assert np.abs(out[:5].astype(int) - expected.astype(int)).max() <= 1
    assert np.array_equal(out[:5, :, 24:], decoded[:, :, 24:])  # past the feather: the decoded pixels


# -- the workflow, end to end through the executor


def source_clip(folder, size=SIZE, frames=FRAMES):
    spec = ClipSpec(colour="red", shape="circle", direction="right", size_px=10.0, start_xy=(6.0, 15.5),
                    speed_px_per_frame=2.5)
    clip = draw_clip(spec, size, size, frames)
    write_video(Video(clip, 16.0), f"{folder}/")
    return clip


def inpaint_snapshot(model, source, out, **params):
    data = json.loads(WORKFLOW.read_text())
    data["base_dir"] = str(WORKFLOW.parent)
    nodes = data["nodes"]
    nodes["model"]["params"]["path"] = str(model)
    nodes["source"]["params"]["path"] = str(source)
    nodes["inpaint"]["params"]["steps"] = STEPS
    nodes["save"]["params"].update(save_params(out))
    for node_id, values in params.items():
        nodes[node_id]["params"].update(values)
    return copy.deepcopy(data)


@pytest.fixture(scope="module")
def executor():
    return Executor(catalogue())  # shared: the model loads and the prompts encode once for the module


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    folder = tmp_path_factory.mktemp("source") / "clip"
    return folder, source_clip(folder)


def run(executor, snapshot, cancel_after_step=None):
    events = []

    def cancelled():
        return cancel_after_step is not None and sum(e["event"] == "step" for e in events) >= cancel_after_step

    status = executor.run(snapshot, events.append, cancelled)
    return status, events


@pytest.fixture(scope="module")
def rendered(executor, tiny_t2v_model, clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("inpainted") / "out"
    status, events = run(executor, inpaint_snapshot(tiny_t2v_model, clip[0], f"{out}/"))
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    return read_video(out).frames, events


def test_the_workflow_regenerates_the_right_half_and_keeps_the_left_half_bit_for_bit(clip, rendered):
    source, (frames, _) = clip[1], rendered
    assert frames.shape == source.shape == (FRAMES, SIZE, SIZE, 3)
    assert np.array_equal(frames[:, :, :SIZE // 2], source[:, :, :SIZE // 2])  # within 1/255: exactly equal
    inside = np.abs(frames[:, :, SIZE // 2:].astype(int) - source[:, :, SIZE // 2:].astype(int))
    assert inside.mean() > 5  # the random-init model paints noise there: it changed everywhere


def test_every_step_is_reported_with_a_preview_of_every_frame_and_the_result_is_published(rendered):
    events = rendered[1]
    steps = [e for e in events if e["event"] == "step" and e["node"] == "inpaint"]
    assert [(e["step"], e["total"]) for e in steps] == [(i, STEPS) for i in range(1, STEPS + 1)]
    assert all(e["preview"].shape[0] == FRAMES and e["preview"].dtype == np.uint8 for e in steps)
    final = [e for e in events if e["event"] == "frames" and e["node"] == "inpaint"]
    assert len(final) == 1 and final[0]["frames"].shape == (FRAMES, SIZE, SIZE, 3)
    mask = next(e for e in events if e["event"] == "node_finished" and e["node"] == "mask")
    assert mask["info"] == {"frames": f"0..{FRAMES - 1}", "coverage": 0.5}


def test_a_frame_range_and_an_ellipse_leave_every_other_pixel_untouched(executor, tiny_t2v_model, clip, tmp_path):
    region = {"shape": "ellipse", "left": 0.25, "top": 0.25, "right": 0.75, "bottom": 0.75, "first_frame": 3,
              "last_frame": 5, "feather": 2.0}
    status, _ = run(executor, inpaint_snapshot(tiny_t2v_model, clip[0], f"{tmp_path}/out/", mask=region,
                                               inpaint={"seed": 4, "strength": 0.7}))
    assert status == "done"
    frames, source = read_video(tmp_path / "out").frames, clip[1]
    covered = region_mask(width=SIZE, height=SIZE, frames=FRAMES, **region).covered()
    assert np.array_equal(frames[~covered], source[~covered])
    assert not np.array_equal(frames[covered], source[covered])


def test_an_image_conditioned_wan22_model_inpaints_too(tiny_model, clip, tmp_path):
    status, events = run(Executor(catalogue()), inpaint_snapshot(tiny_model, clip[0], f"{tmp_path}/out/",
                                                                 inpaint={"steps": 2}))
    assert status == "done", [e for e in events if e["event"] == "node_failed"]
    frames, source = read_video(tmp_path / "out").frames, clip[1]
    assert np.array_equal(frames[:, :, :SIZE // 2], source[:, :, :SIZE // 2])


def test_a_model_with_image_channels_is_refused_by_name(wan_family):
    import diffusers

    from studio.models.families.wan import WanFamily

    assert wan_family.inpaint_problem() is None
    pipe = copy.copy(wan_family.pipe)
    pipe.transformer = diffusers.WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=8, in_channels=8, out_channels=4,
        text_dim=32, freq_dim=16, ffn_dim=32, num_layers=1, rope_max_seq_len=32)
    assert "takes 4 extra image channels" in WanFamily(pipe).inpaint_problem()


def test_cancel_stops_inpainting_within_a_step(executor, tiny_t2v_model, clip, tmp_path):
    status, events = run(executor, inpaint_snapshot(tiny_t2v_model, clip[0], f"{tmp_path}/out/",
                                                    inpaint={"seed": 99}), cancel_after_step=1)
    assert status == "cancelled"
    assert [e["step"] for e in events if e["event"] == "step"] == [1]
    assert [e["node"] for e in events if e["event"] == "node_cancelled"] == ["inpaint"]
    assert not (tmp_path / "out").exists()


# -- mistakes: each a clear failure of the right node, naming the parameter or input, without a traceback


def failure(executor, snapshot):
    status, events = run(executor, snapshot)
    assert status == "failed", events[-1]
    failed = [e for e in events if e["event"] == "node_failed"]
    assert len(failed) == 1 and "detail" not in failed[0], failed
    return failed[0]


@pytest.mark.parametrize("region, param, message", [
    ({"first_frame": 9}, "first_frame", "frame 9 is outside the clip, which has 9 frames"),
    ({"last_frame": -12}, "last_frame", "frame -12 is outside the clip"),
    ({"first_frame": 6, "last_frame": 2}, "first_frame", "comes after the last frame"),
    ({"left": 0.7, "right": 0.3}, "right", "must be greater than left (0.7)"),
    ({"left": 0.5, "right": 0.51, "top": 0.2, "bottom": 0.21}, "right", "covers no pixel"),
])
def test_mask_mistakes_fail_the_mask_node(executor, tiny_t2v_model, clip, tmp_path, region, param, message):
    failed = failure(executor, inpaint_snapshot(tiny_t2v_model, clip[0], tmp_path / "o.mp4", mask=region))
    assert (failed["node"], failed["param"]) == ("mask", param)
    assert message in failed["message"] and failed["message"].startswith(f"node 'mask' parameter '{param}': ")


def test_fractions_outside_the_frame_are_caught_by_validation(executor, tiny_t2v_model, clip, tmp_path):
    status, events = run(executor, inpaint_snapshot(tiny_t2v_model, clip[0], tmp_path / "o.mp4",
                                                    mask={"right": 1.2}))
    assert status == "failed"
    assert events[-1]["problems"] == ["node 'mask' parameter 'right': must be at most 1, got 1.2"]


def test_a_black_painted_mask_has_nothing_to_inpaint(executor, tiny_t2v_model, clip, tmp_path):
    import PIL.Image

    PIL.Image.fromarray(np.zeros((SIZE, SIZE), np.uint8)).save(tmp_path / "m.png")
    failed = failure(executor, inpaint_snapshot(tiny_t2v_model, clip[0], tmp_path / "o.mp4",
                                                mask={"path": str(tmp_path / "m.png")}))
    assert (failed["node"], failed["param"]) == ("mask", "path") and "nothing to inpaint" in failed["message"]


def test_a_painted_mask_drives_the_inpaint(executor, tiny_t2v_model, clip, tmp_path):
    import PIL.Image

    painted = np.zeros((SIZE, SIZE), np.uint8)
    painted[4:12, 20:28] = 255
    PIL.Image.fromarray(painted).save(tmp_path / "m.png")
    status, _ = run(executor, inpaint_snapshot(tiny_t2v_model, clip[0], f"{tmp_path}/out/",
                                               mask={"path": str(tmp_path / "m.png"), "feather": 0.0}))
    assert status == "done"
    frames, source = read_video(tmp_path / "out").frames, clip[1]
    outside = np.ones((SIZE, SIZE), bool)
    outside[4:12, 20:28] = False
    assert np.array_equal(frames[:, outside], source[:, outside])
    assert not np.array_equal(frames[:, 4:12, 20:28], source[:, 4:12, 20:28])


def mask_from(snapshot, folder):
    """Draw the mask on another clip than the one inpainted."""
    snapshot["nodes"]["other"] = {"type": "load_video@1", "params": {"path": str(folder)}}
    snapshot["nodes"]["mask"]["inputs"]["video"] = ["other", "video"]
    return snapshot


@pytest.mark.parametrize("size, frames, message", [
    (48, FRAMES, "the mask is 48x48 but the clip is 32x32"),
    (SIZE, 13, "the mask has 13 frames but the clip has 9"),
])
def test_a_mask_drawn_on_another_clip_is_refused(executor, tiny_t2v_model, clip, tmp_path, size, frames, message):
    source_clip(tmp_path / "other", size, frames)
    snapshot = mask_from(inpaint_snapshot(tiny_t2v_model, clip[0], tmp_path / "o.mp4"), tmp_path / "other")
    failed = failure(executor, snapshot)
    assert (failed["node"], failed["input"]) == ("inpaint", "mask") and message in failed["message"]


def test_a_clip_the_model_cannot_take_is_refused_on_the_source(executor, tiny_t2v_model, tmp_path):
    source_clip(tmp_path / "odd", SIZE, 10)
    failed = failure(executor, inpaint_snapshot(tiny_t2v_model, tmp_path / "odd", tmp_path / "o.mp4"))
    assert (failed["node"], failed["input"]) == ("inpaint", "source")
    assert "the clip is 32x32, 10 frames: Wan models take 1 + a multiple of 4 frames" in failed["message"]


def test_a_strength_too_low_for_any_step(executor, tiny_t2v_model, clip, tmp_path):
    failed = failure(executor, inpaint_snapshot(tiny_t2v_model, clip[0], tmp_path / "o.mp4",
                                                inpaint={"strength": 0.2}))
    assert (failed["node"], failed["param"]) == ("inpaint", "strength")
    assert "strength 0.2 of 3 steps leaves no step to run" in failed["message"]


def test_the_example_workflow_is_valid_and_its_source_clip_is_a_png_folder(capsys):
    from studio.cli import main

    assert main(["validate", str(WORKFLOW)]) == 0
    assert "valid (8 nodes)" in capsys.readouterr().out
    source = json.loads(WORKFLOW.read_text())["nodes"]["source"]["params"]["path"]
    assert read_video(WORKFLOW.parent / source).frames.shape == (17, 64, 64, 3)
