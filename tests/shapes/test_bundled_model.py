"""The bundled shapes model does what its prompt says: checked by the project's detector, not by tensor shapes.

A few seeds per promise keep this under a minute on the CI machine; benchmarks/shapes_adherence.py measures the
rates over many seeds.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import diffusers
import numpy as np
import pytest

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.video_io import read_video
from studio.paths import BUNDLED_MODELS, WORKFLOWS
from studio.shapes.clips import draw_clip, sample_clip_spec
from studio.shapes.detector import detect_clip
from studio.shapes.vocabulary import load_heldout
from tests.helpers import save_params

MODEL = BUNDLED_MODELS / "shapes"


@pytest.fixture(scope="module")
def executor():
    return Executor(catalogue())  # one executor: the model loads once for the whole module


def render(executor, tmp_path: Path, workflow: str, **params) -> np.ndarray:
    data = json.loads((WORKFLOWS / workflow).read_text())
    data["base_dir"] = str(WORKFLOWS)
    out = tmp_path / f"clip-{len(list(tmp_path.iterdir()))}"
    data["nodes"]["save"]["params"].update(save_params(f"{out}/"))
    for node, values in params.items():
        data["nodes"][node]["params"].update(values)
    events = []
    assert executor.run(copy.deepcopy(data), events.append, lambda: False) == "done", events[-1]
    return read_video(out).frames


def test_the_bundled_folder_is_a_standard_diffusers_pipeline_within_budget():
    pipe = diffusers.DiffusionPipeline.from_pretrained(MODEL, local_files_only=True, use_safetensors=True)
    assert type(pipe).__name__ == "WanPipeline" and pipe.config.expand_timesteps
    assert not [p for p in MODEL.rglob("*") if p.suffix in (".bin", ".pt", ".pth", ".ckpt", ".pkl")]
    assert sum(p.stat().st_size for p in MODEL.rglob("*") if p.is_file()) <= 25 * 2**20
    assert json.loads((MODEL / "studio_model.json").read_text())["native_size"][2] >= 16


@pytest.mark.parametrize("seed", [11, 12])
def test_the_example_workflow_renders_what_its_prompt_says(executor, tmp_path, seed):
    clip = render(executor, tmp_path, "text_to_video.json", sampler={"seed": seed})
    assert clip.shape[0] >= 16 and clip.shape[1] >= 64
    assert detect_clip(clip).attrs == ("red", "circle", "right")


def test_a_held_out_combination_is_composed_from_attributes_seen_apart(executor, tmp_path):
    colour, shape, direction = load_heldout()[0]
    clip = render(executor, tmp_path, "text_to_video.json", prompt={"text": f"a {colour} {shape} moving {direction}"},
                  sampler={"seed": 21})
    assert detect_clip(clip).attrs == (colour, shape, direction)


def test_image_to_video_starts_from_the_given_frame_and_moves_as_prompted(executor, tmp_path):
    spec = sample_clip_spec(np.random.default_rng(5), "magenta", "triangle", "down", 64, 64, 17)
    image = draw_clip(spec, 64, 64, 1)[0]
    import cv2

    png = tmp_path / "first.png"
    cv2.imwrite(str(png), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    clip = render(executor, tmp_path, "image_to_video.json", image={"path": str(png)},
                  prompt={"text": "a magenta triangle moving down"}, sampler={"seed": 3})
    given, made = detect_clip(image[None].repeat(2, 0)), detect_clip(clip)
    (gx, gy), (mx, my) = given.centroids[0], made.centroids[0]
    assert np.hypot(gx - mx, gy - my) <= 3.0
    assert made.direction == "down"


def test_a_negative_prompt_steers_an_attribute_the_prompt_leaves_open(executor, tmp_path):
    colours = [detect_clip(render(executor, tmp_path, "text_to_video.json", prompt={"text": "a circle moving right"},
                                  negative={"text": "red"}, sampler={"seed": seed})).colour for seed in range(4)]
    assert "red" not in colours
