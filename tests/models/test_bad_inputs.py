"""Every user mistake ends as a clear failure of the right node, naming its parameter or input."""
import json
import shutil

import numpy as np
import pytest

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import Video, write_video
from tests.helpers import example_snapshot


def failure(snapshot):
    events = []
    status = Executor(catalogue()).run(snapshot, events.append, lambda: False)
    assert status == "failed", events[-1]
    failed = [e for e in events if e["event"] == "node_failed"]
    assert len(failed) == 1 and "detail" not in failed[0], failed  # a user error, not a traceback
    return failed[0]


def test_a_missing_model_folder(tmp_path):
    failed = failure(example_snapshot(tmp_path / "nowhere", tmp_path / "o.mp4"))
    assert (failed["node"], failed["param"]) == ("model", "path")
    assert "model folder not found" in failed["message"]


def test_a_folder_that_is_not_a_diffusers_model(tmp_path):
    failed = failure(example_snapshot(tmp_path, tmp_path / "o.mp4"))
    assert "no model_index.json" in failed["message"] and failed["param"] == "path"


def test_pickle_weights_are_refused_without_being_opened(tiny_t2v_model, tmp_path):
    model = shutil.copytree(tiny_t2v_model, tmp_path / "pickled")
    weights = model / "transformer" / "diffusion_pytorch_model.safetensors"
    weights.unlink()
    # Not even a valid pickle: if the studio tried to load it, the error would be a different one.
    (model / "transformer" / "diffusion_pytorch_model.bin").write_bytes(b"\x80\x04 not really a pickle")
    failed = failure(example_snapshot(model, tmp_path / "o.mp4"))
    assert failed["node"] == "model" and failed["param"] == "path"
    assert "transformer/diffusion_pytorch_model.bin is a pickle weight file" in failed["message"]
    assert "only loads .safetensors" in failed["message"]


def test_a_model_needing_remote_code_is_refused(tiny_t2v_model, tmp_path):
    model = shutil.copytree(tiny_t2v_model, tmp_path / "custom")
    index = json.loads((model / "model_index.json").read_text())
    index["transformer"] = ["my_package.models", "SneakyTransformer"]
    (model / "model_index.json").write_text(json.dumps(index))
    failed = failure(example_snapshot(model, tmp_path / "o.mp4"))
    assert "needs code from 'my_package.models'" in failed["message"]


@pytest.mark.parametrize("size, param, message", [
    ({"width": 40}, "width", "must be a multiple of 16 for Wan models, got 40 (try 32 or 48)"),
    ({"height": 20}, "height", "multiple of 16"),
    ({"frames": 10}, "frames", "take 1 + a multiple of 4 frames, got 10 (try 9 or 13)"),
    ({"width": 8192, "height": 8192, "frames": 4097}, "frames", "GiB just for the decoded clip"),
])
def test_sizes_the_model_cannot_take_are_refused_before_allocating(tiny_t2v_model, tmp_path, size, param, message):
    failed = failure(example_snapshot(tiny_t2v_model, tmp_path / "o.mp4", latent=size))
    assert (failed["node"], failed["param"]) == ("latent", param)
    assert message in failed["message"]


def test_native_size_is_used_when_the_latent_says_zero(tiny_t2v_model, tmp_path):
    events = []
    snapshot = example_snapshot(tiny_t2v_model, f"{tmp_path}/o/", latent={"width": 0, "height": 0, "frames": 0})
    assert Executor(catalogue()).run(snapshot, events.append, lambda: False) == "done"
    assert len(list((tmp_path / "o").glob("*.png"))) == 9  # the tiny model's recorded native frame count


def test_image_conditioning_on_a_model_without_first_frame_input(tiny_t2v_model, tmp_path):
    import PIL.Image

    PIL.Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "i.png")
    snapshot = example_snapshot(tiny_t2v_model, tmp_path / "o.mp4")
    snapshot["nodes"]["image"] = {"type": "load_image@1", "params": {"path": str(tmp_path / "i.png")}}
    snapshot["nodes"]["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    snapshot["nodes"]["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    failed = failure(snapshot)
    assert (failed["node"], failed["input"]) == ("condition", "image")
    assert "cannot start from a given first frame" in failed["message"]


def test_a_missing_image_file(tiny_model, tmp_path):
    snapshot = example_snapshot(tiny_model, tmp_path / "o.mp4")
    snapshot["nodes"]["image"] = {"type": "load_image@1", "params": {"path": "no/such.png"}}
    failed = failure(snapshot)
    assert (failed["node"], failed["param"]) == ("image", "path") and "not found" in failed["message"]


def test_a_missing_video_file(tiny_model, tmp_path):
    snapshot = example_snapshot(tiny_model, tmp_path / "o.mp4")
    snapshot["nodes"]["clip"] = {"type": "load_video@1", "params": {"path": str(tmp_path / "nope.mp4")}}
    failed = failure(snapshot)
    assert (failed["node"], failed["param"]) == ("clip", "path") and "not found" in failed["message"]


def test_denoise_below_one_on_an_empty_latent(tiny_model, tmp_path):
    failed = failure(example_snapshot(tiny_model, tmp_path / "o.mp4", sampler={"denoise": 0.5}))
    assert (failed["node"], failed["param"]) == ("sampler", "denoise")
    assert "Empty Latent Video has none" in failed["message"]


def test_denoise_too_low_for_any_step(tiny_model, tmp_path):
    failed = failure(example_snapshot(tiny_model, tmp_path / "o.mp4", sampler={"denoise": 0.1, "steps": 4}))
    assert "leaves no step to run" in failed["message"]


def test_a_clip_of_the_wrong_size_for_video_to_video(tiny_model, tmp_path):
    write_video(Video(np.zeros((10, 32, 30, 3), np.uint8), 16.0), f"{tmp_path}/src/")
    snapshot = example_snapshot(tiny_model, tmp_path / "o.mp4", sampler={"denoise": 0.5})
    snapshot["nodes"]["clip"] = {"type": "load_video@1", "params": {"path": str(tmp_path / "src")}}
    snapshot["nodes"]["encode"] = {"type": "encode_video@1", "inputs": {"model": ["model", "model"],
                                                                       "video": ["clip", "video"]}}
    snapshot["nodes"]["sampler"]["inputs"]["latent"] = ["encode", "latent"]
    failed = failure(snapshot)
    assert (failed["node"], failed["input"]) == ("encode", "video")
    assert "the clip is 30x32, 10 frames" in failed["message"]


def test_an_existing_output_is_never_overwritten_the_name_moves_on(tiny_model, tmp_path):
    (tmp_path / "o.mp4").write_bytes(b"earlier work")
    events = []
    snapshot = example_snapshot(tiny_model, tmp_path / "o.mp4")
    assert Executor(catalogue()).run(snapshot, events.append, lambda: False) == "done"
    saved = next(e for e in events if e["event"] == "node_finished" and e["node"] == "save")
    assert saved["info"]["path"] == str(tmp_path / "o-2.mp4")
    assert (tmp_path / "o.mp4").read_bytes() == b"earlier work"


def test_an_unknown_output_kind(tiny_model, tmp_path):
    events = []
    snapshot = example_snapshot(tiny_model, tmp_path / "o.avi")
    assert Executor(catalogue()).run(snapshot, events.append, lambda: False) == "failed"
    assert "node 'save' parameter 'format': must be one of 'mp4', 'webm', 'gif', 'png'" in events[-1]["problems"][0]


def test_a_scheduler_the_family_does_not_offer_is_caught_by_validation(tiny_model, tmp_path):
    events = []
    snapshot = example_snapshot(tiny_model, tmp_path / "o.mp4", sampler={"scheduler": "ddim"})
    assert Executor(catalogue()).run(snapshot, events.append, lambda: False) == "failed"
    assert "node 'sampler' parameter 'scheduler': must be one of" in events[-1]["problems"][0]


def test_an_unknown_model_name_says_where_models_are_listed(tmp_path):
    snapshot = example_snapshot(tmp_path, tmp_path / "o.mp4")
    snapshot["nodes"]["model"]["params"]["path"] = "no-such-model"
    failed = failure(snapshot)
    assert (failed["node"], failed["param"]) == ("model", "path")
    assert "no model named 'no-such-model' (`studio models` lists the ones found)" in failed["message"]
