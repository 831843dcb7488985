"""Running out of GPU memory: reported on the node that ran out with what would help, Decode retrying in tiles by
itself, and the engine serving the next run. The error is injected once into the real tiny Wan model's modules."""
import numpy as np
import pytest
import torch

from nodes.decode import RETRIED_TILED
from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import read_video
from studio.models.out_of_memory import is_out_of_memory, remedies
from tests.helpers import example_snapshot


def snapshot(model, out, seed, **decode):
    data = example_snapshot(model, f"{out}/", sampler={"seed": seed}, decode=decode)
    data["nodes"]["model"]["params"]["device"] = "cpu"
    return data


def run(executor, data):
    events = []
    return executor.run(data, events.append, lambda: False), events


def out_of_memory(times, tiling_of=None):
    """A forward pre-hook that raises CUDA's out-of-memory error on its first `times` calls."""
    calls = []

    def hook(module, args):
        calls.append(tiling_of.use_tiling if tiling_of is not None else None)
        if len(calls) <= times:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    return hook, calls


@pytest.fixture(scope="module")
def engine_with_model(tiny_t2v_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("first")
    executor = Executor(catalogue())
    status, _ = run(executor, snapshot(tiny_t2v_model, out, seed=11))
    assert status == "done"
    model = next(e.outputs["model"] for e in executor.cache.values() if "model" in e.outputs)
    return executor, model, read_video(out).frames


def test_out_of_memory_errors_are_recognised():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))
    assert is_out_of_memory(RuntimeError("CUDA error: out of memory"))
    assert not is_out_of_memory(RuntimeError("mat1 and mat2 shapes cannot be multiplied"))


def test_the_advice_leaves_out_what_load_model_already_does():
    advice = " ".join(remedies({}, {"offload": "group", "fp8_storage": "on", "vae_tiling": "auto"}))
    assert "offload" not in advice and "fp8_storage" not in advice
    assert "vae_tiling 'on'" in advice and "fewer frames" in advice


def test_a_sampler_out_of_memory_is_reported_on_it_and_the_next_run_works(engine_with_model, tiny_t2v_model,
                                                                        tmp_path):
    executor, model, first_frames = engine_with_model
    hook, _ = out_of_memory(times=1)
    handle = model.pipeline.transformer.register_forward_pre_hook(hook)
    try:
        status, events = run(executor, snapshot(tiny_t2v_model, tmp_path / "a", seed=12))
        failed = next(e for e in events if e["event"] == "node_failed")
        assert status == "failed" and failed["node"] == "sampler" and "detail" not in failed  # no traceback
        for remedy in ("ran out of GPU memory", "offload 'model'", "offload 'group'", "fp8_storage 'on'",
                       "vae_tiling 'on'", "smaller width/height or fewer frames"):
            assert remedy in failed["message"]
        status, events = run(executor, snapshot(tiny_t2v_model, tmp_path / "b", seed=11))
    finally:
        handle.remove()
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    assert np.array_equal(read_video(tmp_path / "b").frames, first_frames)  # same model, same frames as before


def test_decode_retries_in_tiles_by_itself_and_says_so(engine_with_model, tiny_t2v_model, tmp_path):
    executor, model, _ = engine_with_model
    vae = model.pipeline.vae
    hook, calls = out_of_memory(times=1, tiling_of=vae)
    handle = vae.decoder.register_forward_pre_hook(hook)
    try:
        status, events = run(executor, snapshot(tiny_t2v_model, tmp_path / "o", seed=13))
    finally:
        handle.remove()
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    assert calls[0] is False and set(calls[1:]) == {True}  # failed whole, then decoded with tiling on
    info = next(e for e in events if e["event"] == "node_finished" and e["node"] == "decode")["info"]
    assert RETRIED_TILED in info["warnings"] and info["decoded"] == "in tiles"
    assert read_video(tmp_path / "o").frames.shape == (9, 32, 32, 3)


def test_decode_already_tiled_reports_out_of_memory_on_itself(engine_with_model, tiny_t2v_model, tmp_path):
    executor, model, _ = engine_with_model
    hook, calls = out_of_memory(times=100)
    handle = model.pipeline.vae.decoder.register_forward_pre_hook(hook)
    try:
        status, events = run(executor, snapshot(tiny_t2v_model, tmp_path / "o", seed=14, tiling=True))
    finally:
        handle.remove()
    failed = next(e for e in events if e["event"] == "node_failed")
    assert status == "failed" and failed["node"] == "decode" and "ran out of GPU memory" in failed["message"]
    assert len(calls) == 1  # tiled already: nothing smaller to retry with
