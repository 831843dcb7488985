"""Step previews: a latent -> RGB projection fitted to the model's own VAE, cached on disk, cheap per step."""
from pathlib import Path

import numpy as np
import pytest
import torch

from studio.engine.context import RunContext
from studio.models import previews
from studio.models.families.base import ModelFamily
from studio.models.loading import load_model
from studio.models.previews import LatentProjection, cache_file, fit_latent_projection, projection_for, synthetic_clip
from studio.models.sampling import sample
from studio.models.values import Guider, Latent


@pytest.fixture(scope="module")
def t2v(tiny_t2v_model):
    return load_model(tiny_t2v_model, "cpu", "float32")


@pytest.fixture(scope="module")
def ti2v(tiny_model):
    return load_model(tiny_model, "cpu", "float32")


# ---------------------------------------------------------------- the projection itself

class LinearVAE(ModelFamily):
    """A stand-in family whose decoder is exactly linear per latent pixel: the fit must recover it."""

    name = "linear"
    pipeline_classes = ()

    def __init__(self, causal: bool) -> None:
        super().__init__(pipe=None)
        self.spatial_compression, self.temporal_compression, self.causal_first_frame = 4, 2, causal
        self.channels = 5
        g = torch.Generator().manual_seed(1)
        block = lambda frames: frames * 4 * 4 * 3  # noqa: E731
        self.encoders = [torch.randn(self.channels, block(n), generator=g) / block(n) ** 0.5 for n in (1, 2)]
        self.decoders = [torch.randn(block(n), self.channels, generator=g) * 0.04 for n in (1, 2)]

    def latent_shape(self, width, height, frames):
        return (1, self.channels, (frames - 1) // 2 + 1 if self.causal_first_frame else frames // 2,
                height // 4, width // 4)

    def _spans(self, latent_frames):
        if self.causal_first_frame:
            return [(0, 1)] + [(1 + 2 * (k - 1), 2) for k in range(1, latent_frames)]
        return [(2 * k, 2) for k in range(latent_frames)]

    def encode_video(self, frames):
        x = torch.from_numpy(frames).to(torch.float64) / 127.5 - 1.0
        f, height, width, _ = x.shape
        latent_frames = self.latent_shape(width, height, f)[2]
        out = torch.empty(1, self.channels, latent_frames, height // 4, width // 4, dtype=torch.float64)
        for k, (start, count) in enumerate(self._spans(latent_frames)):
            blocks = x[start:start + count].reshape(count, height // 4, 4, width // 4, 4, 3)
            blocks = blocks.permute(1, 3, 0, 2, 4, 5).reshape(height // 4, width // 4, -1)
            out[0, :, k] = (blocks @ self.encoders[count - 1].T.double()).permute(2, 0, 1)
        return out.float()

    def decode(self, latents, tiled):
        z = latents[0].double()
        _, latent_frames, h, w = z.shape
        frames = []
        for k, (_, count) in enumerate(self._spans(latent_frames)):
            block = 0.5 + z[:, k].permute(1, 2, 0) @ self.decoders[count - 1].T.double()
            frames.append(block.reshape(h, w, count, 4, 4, 3).permute(2, 0, 3, 1, 4, 5).reshape(count, h * 4,
                                                                                                 w * 4, 3))
        return (torch.cat(frames).clamp(0, 1) * 255).round().to(torch.uint8).numpy()


@pytest.mark.parametrize("causal", [True, False])
def test_the_fit_recovers_an_exactly_linear_decoder_frame_by_frame_and_pixel_by_pixel(causal):
    family = LinearVAE(causal)
    projection = fit_latent_projection(family)
    assert (projection.first is not None) == causal
    assert projection.error < 0.6  # only the decoder's own rounding to uint8 is left
    held_out = family.encode_video(synthetic_clip(8, family.pixel_frames(3), seed=9))
    decoded = family.decode(held_out, tiled=False)
    preview = projection.project(held_out, max_side=10_000)
    assert preview.shape == decoded.shape
    assert np.abs(preview.astype(int) - decoded.astype(int)).max() <= 1


@pytest.mark.parametrize("model", ["t2v", "ti2v"])
@pytest.mark.parametrize("width, height, frames, expected", [
    (32, 32, 9, (9, 32, 32, 3)),           # small clips: every pixel
    (32, 48, 1, (1, 48, 32, 3)),           # a single frame
    (832, 480, 81, (81, 120, 208, 3)),     # Wan's native size: every frame, longest side <= 256
    (4096, 64, 5, (5, 8, 512, 3)),         # never below the latent grid, even past 256
])
def test_a_preview_has_every_frame_of_the_decoded_clip_and_stays_small(request, model, width, height, frames,
                                                                       expected):
    loaded = request.getfixturevalue(model)
    projection = projection_for(loaded)
    latents = torch.randn(loaded.family.latent_shape(width, height, frames))
    preview = projection.project(latents)
    assert preview.shape == expected and preview.dtype == np.uint8 and preview.flags.c_contiguous
    assert loaded.family.pixel_frames(latents.shape[2]) == frames


def test_a_small_preview_is_the_full_size_projection_averaged(t2v):
    projection = projection_for(t2v)
    latents = t2v.family.encode_video(synthetic_clip(24, 9, seed=5)[:, :, :64])  # 96 high, 64 wide
    full = projection.project(latents, max_side=10_000).astype(float)  # 8 pixels per latent pixel
    small = projection.project(latents, max_side=24).astype(float)      # 2 pixels per latent pixel
    assert full.shape == (9, 96, 64, 3) and small.shape == (9, 24, 16, 3)
    difference = np.abs(small - full.reshape(9, 24, 4, 16, 4, 3).mean(axis=(2, 4)))
    # Equal up to rounding, except where full-size pixels were clipped to 0..255 before averaging.
    assert np.mean(difference) < 0.5 and np.mean(difference > 1) < 0.01


def test_the_fitted_projection_reproduces_held_out_decodes_far_better_than_one_colour(ti2v):
    projection = projection_for(ti2v)
    assert 0 < projection.error < 40
    family = ti2v.family
    clip = synthetic_clip(24, 9, grid=4, seed=123)  # other patterns, other tile size than the fit's
    latents = family.encode_video(clip)
    decoded = family.decode(latents, tiled=False).astype(float)
    preview = projection.project(latents, max_side=10_000).astype(float)
    projection_error = np.abs(preview - decoded).mean()
    constant_error = np.abs(decoded - decoded.mean(axis=(0, 1, 2))).mean()  # the best single colour (roughly)
    # The tiny random VAE is far from linear, so ask for a clear gain, not a perfect fit (measured: about 0.67).
    assert projection_error < 0.8 * constant_error, (projection_error, constant_error)


# ---------------------------------------------------------------- memoised and cached on disk

def test_the_projection_is_fitted_once_then_read_from_disk_by_the_next_load(tiny_t2v_model, t2v, monkeypatch):
    first = projection_for(t2v)
    assert projection_for(t2v) is first  # memoised on the loaded model
    path = cache_file(t2v)
    assert path.is_file() and path.suffix == ".safetensors" and Path(previews.user_cache_dir()) in path.parents

    def no_fit(*args, **kwargs):
        raise AssertionError("fitted again although the disk cache holds this model's projection")

    monkeypatch.setattr(previews, "fit_latent_projection", no_fit)
    again = projection_for(load_model(tiny_t2v_model, "cpu", "float32"))
    assert again is not first and torch.equal(again.rest, first.rest) and torch.equal(again.first, first.first)
    assert again.error == pytest.approx(first.error)


def test_a_corrupt_cache_file_is_ignored_and_replaced(tiny_t2v_model, t2v, monkeypatch):
    projection_for(t2v)
    path = cache_file(t2v)
    read_before = previews.load_projection(path, t2v.family)
    path.write_bytes(b"\x00\x01 not a safetensors file")  # in place: a memory-mapped reader would crash (SIGBUS)
    assert torch.isfinite(read_before.rest).all()
    fits = []

    def counting_fit(family, **kwargs):
        fits.append(family)
        return t2v.latent_projection

    monkeypatch.setattr(previews, "fit_latent_projection", counting_fit)
    fresh = load_model(tiny_t2v_model, "cpu", "float32")
    assert projection_for(fresh) is t2v.latent_projection and len(fits) == 1
    assert previews.load_projection(path, fresh.family) is not None  # rewritten, readable again


def test_a_cache_file_for_another_layout_is_not_used(t2v, tmp_path):
    wrong = LatentProjection(rest=torch.zeros(3, 7), first=None, spatial=8, temporal=4)
    previews.save_projection(wrong, tmp_path / "wrong.safetensors")
    assert previews.load_projection(tmp_path / "wrong.safetensors", t2v.family) is None


def test_a_changed_vae_gets_another_cache_file(t2v):
    weights = next((Path(t2v.path) / "vae").glob("*.safetensors"))
    before, stat = cache_file(t2v), weights.stat()
    try:
        import os

        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
        assert cache_file(t2v) != before
    finally:
        os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cache_file(t2v) == before


# ---------------------------------------------------------------- in the sampling loop

def run_sampler(model, *, previews_on, scheduler="default", first_frame=None, steps=3, denoise=1.0, samples=None):
    events = []
    ctx = RunContext("sampler", Path("."), events.append, lambda: False, previews=previews_on)
    positive = model.family.encode_prompt("a red circle moving right")
    latent = Latent(32, 32, 9, samples=samples, first_frame=first_frame)
    result = sample(ctx, model, positive, Guider("cfg", 3.0), latent, seed=4, steps=steps,
                    scheduler_name=scheduler, denoise=denoise)
    return result.samples, [e for e in events if e["event"] == "step"]


@pytest.mark.parametrize("scheduler", ["default", "euler", "dpm++"])
def test_previews_come_with_every_step_and_do_not_change_the_sampled_clip(t2v, scheduler):
    with_previews, steps = run_sampler(t2v, previews_on=True, scheduler=scheduler)
    without, quiet_steps = run_sampler(t2v, previews_on=False, scheduler=scheduler)
    assert torch.equal(with_previews, without)
    assert [e["step"] for e in steps] == [1, 2, 3] and all("preview" not in e for e in quiet_steps)
    assert all(e["preview"].shape == (9, 32, 32, 3) and e["preview"].dtype == np.uint8 for e in steps)
    # The last step's estimate is the clip itself (nothing is left to denoise), so its preview is the clip's.
    final = t2v.latent_projection.project(without).astype(int)
    assert np.abs(steps[-1]["preview"].astype(int) - final).mean() < 2


def test_the_image_to_video_first_frame_stays_clean_in_every_preview(ti2v):
    image = np.zeros((32, 32, 3), np.uint8)
    image[8:24, 8:24] = (255, 0, 0)
    first_frame = ti2v.family.encode_first_frame(image, 32, 32, 9)
    _, steps = run_sampler(ti2v, previews_on=True, first_frame=first_frame)
    expected = ti2v.latent_projection.project(first_frame)[0].astype(int)
    assert all(np.abs(e["preview"][0].astype(int) - expected).max() <= 1 for e in steps)
    assert not np.array_equal(steps[0]["preview"][1], steps[-1]["preview"][1])  # while the rest changes


@pytest.mark.parametrize("scheduler", ["default", "unipc", "euler", "dpm++"])
@pytest.mark.parametrize("start", [0, 2])  # from pure noise, and part-way in (video-to-video)
def test_the_clean_estimate_uses_the_sigma_of_the_step_just_taken(t2v, scheduler, start):
    family = t2v.family
    sched = family.make_scheduler(scheduler)
    sched.set_timesteps(6)
    if start == 0:
        sched.set_begin_index(0)
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(1, 4, 3, 4, 4, generator=g)
    for t in sched.timesteps[start:]:
        velocity = torch.randn(latents.shape, generator=g)
        following = sched.step(velocity, t, latents, return_dict=False)[0]
        clean = family.predicted_clean(latents, velocity, sched, None)
        if hasattr(sched, "model_outputs"):  # multistep solvers keep their own x0 estimate: it must be ours
            assert torch.allclose(clean, sched.model_outputs[-1], atol=1e-5)
        else:  # Euler: x_next = x0 + sigma_next * v exactly when x0 used the step's own sigma
            assert torch.allclose(following, clean + sched.sigmas[sched.step_index] * velocity, atol=1e-5)
        latents = following
