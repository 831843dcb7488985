"""Load Model's memory and speed options: what the CPU cannot do is refused by parameter, what it can do is run for
real on the tiny Wan model through the Executor, and "auto" decides from the GPU's memory."""
import json
import shutil

import numpy as np
import pytest
import torch

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import read_video
from studio.models.memory import GIB, MemoryOptions, component_parameters, decide, plan_memory
from studio.models.step_caches import cache_config
from tests.helpers import example_snapshot

PROMPT, NEGATIVE, SCALE = "a red circle moving right", "blue square", 4.5


def snapshot(model, out, seed=11, **model_params):
    data = example_snapshot(model, f"{out}/", sampler={"seed": seed}, negative={"text": NEGATIVE},
                            guidance={"scale": SCALE})
    data["nodes"]["model"]["params"].update(device="cpu", **model_params)
    return data


def run(executor, data):
    events = []
    status = executor.run(data, events.append, lambda: False)
    return status, events


def rendered(executor, data, out):
    status, events = run(executor, data)
    assert status == "done", [e for e in events if e["event"] in ("node_failed", "run_finished")]
    return read_video(out).frames, events


def loaded_model(executor):
    return next(entry.outputs["model"] for entry in executor.cache.values() if "model" in entry.outputs)


def plain_frames(model_path, seed=11, cache=None, manifest=None):
    import diffusers

    pipe = diffusers.WanPipeline.from_pretrained(model_path)
    if cache:
        pipe.transformer.enable_cache(cache_config(cache, lambda: pipe.current_timestep, pipe.transformer.dtype,
                                                   manifest or {}, 4))
    frames = pipe(PROMPT, negative_prompt=NEGATIVE, height=32, width=32, num_frames=9, num_inference_steps=4,
                  guidance_scale=SCALE, max_sequence_length=64, generator=torch.Generator("cpu").manual_seed(seed),
                  output_type="np").frames[0]
    return (np.clip(frames, 0, 1) * 255).round().astype(np.uint8)


@pytest.mark.parametrize("offload", ["model", "group"])
def test_offload_is_refused_on_the_cpu_naming_the_parameter(tiny_t2v_model, tmp_path, offload):
    status, events = run(Executor(catalogue()), snapshot(tiny_t2v_model, tmp_path / "out", offload=offload))
    failed = next(e for e in events if e["event"] == "node_failed")
    assert status == "failed" and failed["node"] == "model" and failed["param"] == "offload"
    assert "CUDA" in failed["message"] and "cpu" in failed["message"]


def test_magcache_without_measured_ratios_is_refused_naming_the_family(tiny_t2v_model, tmp_path):
    status, events = run(Executor(catalogue()), snapshot(tiny_t2v_model, tmp_path / "out", step_cache="magcache"))
    failed = next(e for e in events if e["event"] == "node_failed")
    assert failed["param"] == "step_cache" and "Wan checkpoint" in failed["message"]
    assert "mag_ratios" in failed["message"]


def test_a_step_cache_a_family_does_not_declare_is_refused_naming_the_family(tiny_t2v_model):
    from studio.models.families import FAMILIES

    family = next((f for f in FAMILIES if not f.step_caches), None)
    if family is None:
        pytest.skip("every family declares step caches")
    with pytest.raises(Exception) as refused:
        plan_memory(MemoryOptions(step_cache="first_block"), tiny_t2v_model, "cpu", torch.float32, family)
    assert refused.value.param == "step_cache" and family.name in refused.value.message


def test_load_model_offers_exactly_the_options_memory_applies():
    from studio.models import memory

    spec = catalogue().get("load_model@1")
    assert spec.param("offload").choices == memory.OFFLOAD_CHOICES
    assert spec.param("fp8_storage").choices == spec.param("vae_tiling").choices == memory.SWITCH_CHOICES
    assert spec.param("step_cache").choices == memory.STEP_CACHE_CHOICES


def test_auto_decides_from_the_gpu_memory_and_the_weights():
    wan_1_3b = {"transformer": 1_300_000_000, "text_encoder": 5_700_000_000, "vae": 130_000_000}
    wan_14b = {**wan_1_3b, "transformer": 14_000_000_000}
    auto = MemoryOptions()
    # bfloat16 everywhere: two bytes a weight.
    big = decide(auto, "cuda", 80 * GIB, wan_1_3b, 2, "transformer")
    assert (big.offload, big.fp8_storage, big.vae_tiling) == ("none", False, False)
    mid = decide(auto, "cuda", 16 * GIB, wan_1_3b, 2, "transformer")  # 14 GB of weights: one model at a time
    assert (mid.offload, mid.fp8_storage, mid.vae_tiling) == ("model", False, True)
    large = decide(auto, "cuda", 24 * GIB, wan_14b, 2, "transformer")  # 28 GB transformer: 14 GB in fp8
    assert (large.offload, large.fp8_storage) == ("model", True)
    small = decide(auto, "cuda", 8 * GIB, wan_14b, 2, "transformer")  # not even 14 GB fits: groups of layers
    assert (small.offload, small.fp8_storage) == ("group", True)
    cpu = decide(auto, "cpu", None, wan_14b, 4, "transformer")
    assert (cpu.offload, cpu.fp8_storage, cpu.vae_tiling) == ("none", False, False)
    chosen = decide(MemoryOptions(offload="none", fp8_storage="off", vae_tiling="off"), "cuda", 8 * GIB, wan_14b, 2,
                    "transformer")
    assert (chosen.offload, chosen.fp8_storage, chosen.vae_tiling) == ("none", False, False)


def test_tiling_and_slicing_reload_the_model_and_leave_small_frames_exactly_unchanged(tiny_t2v_model, tmp_path):
    executor = Executor(catalogue())
    plain, _ = rendered(executor, snapshot(tiny_t2v_model, tmp_path / "a", vae_tiling="off"), tmp_path / "a")
    # 32x32 frames are below the VAE's tile size and a single clip is one slice: the decode is the same computation.
    tiled, events = rendered(executor, snapshot(tiny_t2v_model, tmp_path / "b", vae_tiling="on", vae_slicing=True),
                             tmp_path / "b")
    assert {"event": "node_started", "node": "model"} in events  # a changed option is a new model, not the cache
    finished = next(e for e in events if e["event"] == "node_finished" and e["node"] == "model")
    assert finished["info"]["vae_tiling"] == "on" and finished["info"]["vae_slicing"] == "on"
    vae = loaded_model(executor).pipeline.vae
    assert vae.use_tiling and vae.use_slicing
    assert np.array_equal(plain, tiled)
    counts = component_parameters(tiny_t2v_model)  # read from safetensors headers, without loading
    pipeline = loaded_model(executor).pipeline
    assert counts == {name: sum(p.numel() for p in getattr(pipeline, name).parameters())
                      for name in ("transformer", "text_encoder", "vae")}


def test_fp8_storage_keeps_transformer_weights_in_fp8_and_the_render_finishes(tiny_t2v_model, tmp_path):
    executor = Executor(catalogue())
    frames, events = rendered(executor, snapshot(tiny_t2v_model, tmp_path / "o", fp8_storage="on"), tmp_path / "o")
    transformer = loaded_model(executor).pipeline.transformer
    stored = {p.dtype for p in transformer.parameters()}
    assert torch.float8_e4m3fn in stored  # norms and embeddings stay in the compute dtype, as diffusers skips them
    assert transformer.dtype == torch.float32  # what each layer computes in on the CPU (dtype auto)
    assert frames.shape == (9, 32, 32, 3)
    assert next(e for e in events if e.get("node") == "model" and e["event"] == "node_finished")["info"][
        "fp8_storage"] == "on"


@pytest.fixture(scope="module")
def model_with_mag_ratios(tiny_t2v_model, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mag") / "tiny-t2v"
    shutil.copytree(tiny_t2v_model, folder)
    manifest = json.loads((folder / "studio_model.json").read_text())
    manifest["mag_ratios"] = [1.0, 0.985, 1.01, 1.0]  # what MagCacheConfig(calibrate=True) printed for this model
    (folder / "studio_model.json").write_text(json.dumps(manifest))
    return folder, manifest


@pytest.mark.parametrize("cache", ["first_block", "pyramid_attention", "faster_cache", "taylorseer", "magcache"])
def test_each_step_cache_renders_exactly_as_the_plain_pipeline_with_that_cache(model_with_mag_ratios, tmp_path,
                                                                             cache):
    model, manifest = model_with_mag_ratios
    executor = Executor(catalogue())
    frames, events = rendered(executor, snapshot(model, tmp_path / "o", step_cache=cache), tmp_path / "o")
    assert loaded_model(executor).pipeline.transformer.is_cache_enabled
    assert [e["step"] for e in events if e["event"] == "step"] == [1, 2, 3, 4]
    assert np.array_equal(frames, plain_frames(model, cache=cache, manifest=manifest))


def test_a_step_cache_starts_afresh_on_every_run(tiny_t2v_model, tmp_path):
    executor = Executor(catalogue())
    first, _ = rendered(executor, snapshot(tiny_t2v_model, tmp_path / "a", step_cache="taylorseer"), tmp_path / "a")
    rendered(executor, snapshot(tiny_t2v_model, tmp_path / "b", seed=12, step_cache="taylorseer"), tmp_path / "b")
    again, events = rendered(executor, snapshot(tiny_t2v_model, tmp_path / "c", step_cache="taylorseer"),
                             tmp_path / "c")
    assert any(e["event"] == "node_cached" and e["node"] == "model" for e in events)  # the same loaded model
    assert np.array_equal(first, again)
