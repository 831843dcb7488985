"""The denoising loop behind the Sampler node: family-agnostic, cancellable between steps, reporting every step."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import torch

from studio.engine.context import RunContext
from studio.engine.errors import Cancelled, NodeError
from studio.models.families.base import ModelFamily
from studio.models.values import Guider, Latent, LoadedModel, Conditioning

GUIDER_CLASSES = {
    "cfg": "ClassifierFreeGuidance",
    "cfg_zero_star": "ClassifierFreeZeroStarGuidance",
    "apg": "AdaptiveProjectedGuidance",
    "tangential_cfg": "TangentialClassifierFreeGuidance",
}


def make_guider(guider: Guider) -> Any:
    """A fresh diffusers guider: some keep state across steps (APG's momentum), so never share one between runs."""
    import diffusers.guiders

    return getattr(diffusers.guiders, GUIDER_CLASSES[guider.method])(guidance_scale=guider.scale)


def initial_latents(latent: Latent, scheduler: Any, timesteps: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """Pure noise for a full denoise; otherwise the given latents noised to the first remaining timestep."""
    if len(timesteps) == len(scheduler.timesteps):
        if hasattr(scheduler, "set_begin_index"):  # the DDIM-style CogVideoX schedulers keep no step index
            scheduler.set_begin_index(0)
        # The sigma-scaled schedulers' start; flow-matching ones (FlowMatchEulerDiscreteScheduler has no such
        # attribute) start from the noise itself.
        return noise * getattr(scheduler, "init_noise_sigma", 1.0)
    if latent.samples is None:
        raise NodeError("denoise below 1 keeps part of the input clip, but an Empty Latent Video has none: "
                        "connect an Encode Video latent, or set denoise to 1", param="denoise")
    start = timesteps[:1]
    if hasattr(scheduler, "add_noise"):
        return scheduler.add_noise(latent.samples, noise, start)
    return scheduler.scale_noise(latent.samples, start, noise)


def step_previews(ctx: RunContext, model: LoadedModel) -> Any:
    """The model's latent projection when this run wants previews and the family can give them, else None."""
    if not ctx.previews or type(model.family).predicted_clean is ModelFamily.predicted_clean:
        return None
    from studio.models.previews import projection_for

    try:
        return projection_for(model, check_aborted=ctx.check_aborted)
    except Cancelled:
        raise
    except Exception as exc:  # a preview is never worth failing the render for: say so on the node and go on
        warnings.warn(f"no step previews: fitting the latent projection failed ({type(exc).__name__}: {exc})")
        return None


@dataclass
class KnownRegion:
    """Latents to keep: outside `mask` (1 regenerates a latent cell, 0 keeps it) the clip stays on the trajectory
    of `samples` noised with `noise` to each step's noise level, so it ends exactly at `samples`."""

    samples: torch.Tensor
    noise: torch.Tensor
    mask: torch.Tensor

    def keep(self, family: ModelFamily, latents: torch.Tensor, level: Any) -> torch.Tensor:
        """`latents` inside the mask, the known samples noised to `level` (family.noise_level) outside it."""
        return self.mask * latents + (1 - self.mask) * family.noised(self.samples, self.noise, level)

    def blend(self, clean: torch.Tensor) -> torch.Tensor:
        """A clean-clip estimate inside the mask, the known samples outside it (what the result will be)."""
        return self.mask * clean + (1 - self.mask) * self.samples


def plan_steps(family: ModelFamily, scheduler_name: str, steps: int, denoise: float, device: Any, *,
               param: str = "denoise", latent_shape: tuple[int, ...] | None = None) -> tuple[Any, torch.Tensor]:
    """The scheduler, set for `steps`, and the timesteps a denoise of `denoise` runs (the last round(steps * d))."""
    if scheduler_name not in family.schedulers:
        raise NodeError(f"{family.name} models offer schedulers {', '.join(family.schedulers)}", param="scheduler")
    scheduler = family.make_scheduler(scheduler_name)
    family.set_timesteps(scheduler, steps, device, latent_shape)
    # Like the video-to-video pipeline: denoise d keeps the last round(steps * d) steps.
    kept = min(int(steps * denoise), steps)
    if kept == 0:
        raise NodeError(f"{param} {denoise} of {steps} steps leaves no step to run; raise {param} or steps",
                        param=param)
    return scheduler, scheduler.timesteps[(steps - kept) * scheduler.order:]


@torch.no_grad()
def sample(ctx: RunContext, model: LoadedModel, positive: Conditioning, guider: Guider, latent: Latent, *,
           seed: int, steps: int, scheduler_name: str, denoise: float) -> Latent:
    family = model.family
    device = model.pipeline._execution_device
    shape = family.latent_shape(latent.width, latent.height, latent.frames)
    scheduler, timesteps = plan_steps(family, scheduler_name, steps, denoise, device, latent_shape=shape)
    noise = family.initial_noise_with(shape, seed, device, latent.first_frame)
    latents = initial_latents(latent, scheduler, timesteps, noise)
    latents = denoise_steps(ctx, model, positive, guider, latents, scheduler, timesteps, latent.first_frame)
    latents = family.apply_first_frame(latents, latent.first_frame)
    return Latent(latent.width, latent.height, latent.frames, samples=latents, first_frame=latent.first_frame)


def denoise_steps(ctx: RunContext, model: LoadedModel, positive: Conditioning, guider: Guider,
                  latents: torch.Tensor, scheduler: Any, timesteps: torch.Tensor, first_frame: torch.Tensor | None,
                  known: KnownRegion | None = None) -> torch.Tensor:
    """Run `timesteps` from `latents`: cancellable before every step, reporting every step with a preview of every
    frame when the run wants previews. With `known`, latents outside its mask follow its noised trajectory."""
    family = model.family
    guided = family.runs_unconditional(guider.scale)
    negative = (guider.negative or family.empty_prompt()) if guided else None
    combine = make_guider(guider) if guided else None
    total = len(timesteps)
    first_index = len(scheduler.timesteps) - total  # where in the schedule a partial denoise starts
    projection = step_previews(ctx, model)
    for index, t in enumerate(timesteps):
        ctx.check_aborted()
        prediction = family.predict(latents, t, positive, first_frame, scheduler=scheduler,
                                    guidance_scale=guider.scale)
        if combine is not None:
            unconditional = family.predict_unconditional(latents, t, negative, first_frame, scheduler=scheduler,
                                                         guidance_scale=guider.scale)
            prediction = family.guide(combine, prediction, unconditional, index, total, t)
        noisy, latents = latents, family.step(scheduler, prediction, t, latents)
        if known is not None:
            # The latents the step returned sit at the noise level of the schedule's next index.
            latents = known.keep(family, latents, family.noise_level(scheduler, first_index + index + 1))
        if projection is None:
            ctx.set_progress(index + 1, total)
            continue
        clean = family.predicted_clean(noisy, prediction, scheduler, first_frame)
        if known is not None:
            clean = known.blend(clean)
        ctx.set_progress(index + 1, total, preview=projection.project(clean))
    return latents
