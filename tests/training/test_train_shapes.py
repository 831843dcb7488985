"""Smoke test of the shapes training script at toy widths: the folder it writes, resuming, and rendering with it."""
import json

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.models.loading import PICKLE_SUFFIXES
from tests.helpers import example_snapshot
from training.common import read_log
from training.train_shapes import main
from training.transformer_stage import flow_matching_loss, shapes_tokenizer, training_captions

STEPS = ["--vae-steps", "2", "--vae-refine-steps", "2", "--checkpoint-every", "2", "--preset", "smoke", "--seed", "3"]


def train(out, work, steps):
    return main(["--out", str(out), "--work", str(work), "--steps", str(steps), *STEPS])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Two invocations into one work folder: 2 transformer steps, then on to 4 (a resume)."""
    root = tmp_path_factory.mktemp("shapes")
    first = train(root / "model", root / "work", 2)
    second = train(root / "model", root / "work", 4)
    return root, first, second


def test_the_folder_is_a_safetensors_only_wan_ti2v_pipeline_loadable_offline(trained):
    import diffusers

    root, _, second = trained
    model = root / "model"
    pipe = diffusers.DiffusionPipeline.from_pretrained(model, local_files_only=True, use_safetensors=True)
    assert type(pipe).__name__ == "WanPipeline" and pipe.config.expand_timesteps
    assert pipe.vae.config.latents_mean == second["pool"]["latents_mean"]
    caption = "a red circle moving left"
    assert pipe.tokenizer(caption).input_ids == shapes_tokenizer()(caption).input_ids
    assert pipe.tokenizer.model_max_length == 32
    files = [p for p in model.rglob("*") if p.is_file()]
    assert not [p for p in files if p.suffix in PICKLE_SUFFIXES]
    assert {p.parent.name for p in files if p.suffix == ".safetensors"} == {"text_encoder", "vae", "transformer"}
    assert json.loads((model / "studio_model.json").read_text()) == {"native_size": [64, 64, 17], "fps": 16}
    assert second["sizes"]["total"]["mib"] < 25
    assert (root / "work" / "loss.png").stat().st_size > 0


def test_a_second_invocation_resumes_from_the_checkpoint(trained):
    root, first, second = trained
    assert (first["vae"]["start_step"], first["transformer"]["start_step"]) == (0, 0)
    assert (second["vae"]["start_step"], second["vae"]["refine"]["start_step"]) == (2, 2)
    assert second["transformer"]["start_step"] == 2
    steps = [(row["stage"], int(row["step"])) for row in read_log(root / "work" / "loss.csv")]
    assert steps == [("vae", 1), ("vae", 2), ("vae-refine", 1), ("vae-refine", 2),
                     *[("transformer", step) for step in range(1, 5)]]
    assert second["vae"]["check"]["clips"] == 2  # the detector check ran on the finished VAE


def test_resuming_gives_the_weights_an_uninterrupted_run_gives(trained, tmp_path):
    root, _, _ = trained
    train(tmp_path / "model", tmp_path / "work", 4)
    for component in ("vae", "transformer"):
        resumed = load_file(root / "model" / component / "diffusion_pytorch_model.safetensors")
        straight = load_file(tmp_path / "model" / component / "diffusion_pytorch_model.safetensors")
        assert all(torch.equal(resumed[name], straight[name]) for name in straight), component


def test_more_vae_training_under_a_trained_stage_2_is_refused(trained):
    root, _, _ = trained
    for more in (["--vae-steps", "3", "--vae-refine-steps", "2"], ["--vae-steps", "2", "--vae-refine-steps", "3"]):
        with pytest.raises(SystemExit, match="adding up to 4 to resume it"):
            main(["--out", str(root / "model"), "--work", str(root / "work"), "--steps", "4", *more,
                  "--preset", "smoke", "--seed", "3"])


def render(snapshot):
    events = []
    status = Executor(catalogue()).run(snapshot, events.append, lambda: False)
    assert status == "done", events[-1]


def test_the_studio_renders_text_to_video_and_image_to_video_with_it(trained, tmp_path):
    import PIL.Image

    model = trained[0] / "model"
    render(example_snapshot(model, tmp_path / "t2v.mp4"))
    assert (tmp_path / "t2v.mp4").stat().st_size > 0
    PIL.Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "first.png")
    snapshot = example_snapshot(model, tmp_path / "i2v.mp4")
    nodes = snapshot["nodes"]
    nodes["image"] = {"type": "load_image@1", "params": {"path": str(tmp_path / "first.png")}}
    nodes["condition"] = {"type": "image_conditioning@1", "inputs": {
        "model": ["model", "model"], "latent": ["latent", "latent"], "image": ["image", "image"]}}
    nodes["sampler"]["inputs"]["latent"] = ["condition", "latent"]
    render(snapshot)


def test_caption_words_are_whole_tokens_and_held_out_captions_are_never_trained():
    from studio.shapes.clips import caption_for
    from studio.shapes.vocabulary import HELD_OUT

    tokenizer = shapes_tokenizer()
    assert len(tokenizer("a magenta triangle moving down").input_ids) == 6  # five words and </s>
    assert not {caption_for(triple) for triple in HELD_OUT} & set(training_captions())


class RecordingTransformer(torch.nn.Module):
    """Stands in for the Wan transformer: records its inputs, predicts a fixed tensor."""

    def __init__(self, prediction):
        super().__init__()
        self.prediction, self.calls = prediction, []

    def forward(self, hidden_states, timestep, encoder_hidden_states, return_dict):
        self.calls.append((hidden_states.clone(), timestep.clone()))
        return (self.prediction,)


def test_image_to_video_clips_see_a_clean_first_frame_at_timestep_zero_and_it_is_not_scored():
    clean = torch.randn(2, 4, 3, 4, 6)  # two clips, 3 latent frames of 4x6: 6 tokens per frame
    first_frame = torch.tensor([True, False])
    prediction = torch.zeros_like(clean)
    fake = RecordingTransformer(prediction)
    loss = flow_matching_loss(fake, clean, torch.zeros(2, 5, 8), first_frame, torch.Generator().manual_seed(0))
    noisy, timestep = fake.calls[0]
    assert torch.equal(noisy[0, :, 0], clean[0, :, 0]) and not torch.equal(noisy[1, :, 0], clean[1, :, 0])
    assert timestep.shape == (2, 18)
    assert (timestep[0, :6] == 0).all() and (timestep[0, 6:] == timestep[0, 6]).all() and timestep[0, 6] > 0
    assert (timestep[1] == timestep[1, 0]).all() and timestep[1, 0] > 0
    # Changing the prediction on the given first frame does not change the loss; elsewhere it does.
    prediction[0, :, 0] = 100.0
    again = flow_matching_loss(fake, clean, torch.zeros(2, 5, 8), first_frame, torch.Generator().manual_seed(0))
    assert torch.allclose(loss, again)
    prediction[1, :, 0] = 100.0
    assert flow_matching_loss(fake, clean, torch.zeros(2, 5, 8), first_frame,
                              torch.Generator().manual_seed(0)) > again


def test_the_vae_loss_punishes_a_lost_shape_far_more_than_a_plain_pixel_mean_does():
    from studio.shapes.clips import draw_clip, sample_clip_spec
    from training.vae_stage import clips_to_pixels, reconstruction_error

    def plain(recon, pixels):  # the per-pixel L1 + MSE mean the VAE trained with before
        return ((recon - pixels).abs() + (recon - pixels).pow(2)).mean()

    spec = sample_clip_spec(np.random.default_rng(0), "red", "triangle", "left", 64, 64, 17)
    pixels = clips_to_pixels(draw_clip(spec, 64, 64, 17)[None])
    lost = torch.full_like(pixels, -1.0)  # the shape dropped: a black clip
    # A small offset on every pixel, sized to cost the plain mean exactly what losing the shape costs it.
    lost_cost = float(plain(lost, pixels))
    offset = (-1.0 + (1.0 + 4.0 * lost_cost) ** 0.5) / 2.0  # offset + offset ** 2 == lost_cost
    shifted = pixels + offset
    assert float(plain(shifted, pixels)) == pytest.approx(lost_cost, rel=1e-4)
    # The plain mean rates the two the same; the VAE loss rates the lost shape several times worse.
    assert reconstruction_error(lost, pixels) > 3.0 * reconstruction_error(shifted, pixels)
    assert reconstruction_error(pixels, pixels) == 0.0
