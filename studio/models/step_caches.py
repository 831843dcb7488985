"""diffusers' step caches (First-Block Cache, PAB, FasterCache, TaylorSeer, MagCache) driven by the studio's loop.

diffusers' cache hooks keep one state per named call ("cond", "uncond") and some read the current timestep; its
pipelines set both around every transformer call. The studio's shared loop calls `family.predict` instead, so the
loaded family's predict is wrapped to do the same.
"""
from __future__ import annotations

from typing import Any, Callable

from studio.engine.errors import NodeError


def cache_config(name: str, timestep: Callable[[], Any], dtype: Any, manifest: dict[str, Any], steps: int) -> Any:
    """The diffusers config of step cache `name` for a run of `steps` steps, with diffusers' own defaults."""
    import diffusers.hooks as hooks

    if name == "first_block":
        return hooks.FirstBlockCacheConfig(threshold=0.05)
    if name == "pyramid_attention":
        return hooks.PyramidAttentionBroadcastConfig(spatial_attention_block_skip_range=2,
                                                     spatial_attention_timestep_skip_range=(100, 800),
                                                     current_timestep_callback=timestep)
    if name == "faster_cache":
        # The studio predicts cond and uncond in separate calls, never batched: only the attention caching applies.
        return hooks.FasterCacheConfig(spatial_attention_block_skip_range=2, current_timestep_callback=timestep,
                                       attention_weight_callback=lambda _: 0.5, is_guidance_distilled=True)
    if name == "taylorseer":
        return hooks.TaylorSeerCacheConfig(cache_interval=5, disable_cache_before_step=3, taylor_factors_dtype=dtype)
    if name == "magcache":
        return hooks.MagCacheConfig(mag_ratios=list(manifest["mag_ratios"]), num_inference_steps=steps)
    raise ValueError(f"unknown step cache {name!r}")


def check_cache_inputs(name: str, family_name: str, manifest: dict[str, Any]) -> None:
    if name == "magcache" and not manifest.get("mag_ratios"):
        raise NodeError(f"MagCache needs magnitude ratios measured for this {family_name} checkpoint (diffusers ships "
                        "them for Flux only): add \"mag_ratios\": [one per step] to the folder's studio_model.json "
                        "(diffusers' MagCacheConfig(calibrate=True) prints them), or choose another step cache",
                        param="step_cache")


class CachedPredict:
    """A family's predict run as diffusers' pipelines run their transformer under a step cache: the first prediction
    of a step in cache_context("cond"), the second (the unconditional one) in "uncond", the step's timestep
    readable by the cache; a new schedule (the loop calls set_timesteps each run) starts with a fresh cache."""

    def __init__(self, family: Any, name: str) -> None:
        self.predict = family.predict  # the family's own, bound
        self.transformer = family.pipe.transformer
        self.name = name
        self.dtype = self.transformer.dtype
        self.manifest = family.manifest
        self.schedule: Any = None
        self.timestep: Any = None
        self.index = 0
        self.run_steps = 0

    def current_timestep(self) -> Any:
        return self.timestep

    def enable(self, steps: int) -> None:
        if self.transformer.is_cache_enabled:
            self.transformer.disable_cache()
        self.transformer.enable_cache(cache_config(self.name, self.current_timestep, self.dtype, self.manifest,
                                                   steps))
        self.run_steps = steps

    def _start_run(self, scheduler: Any, t: Any) -> None:
        self.schedule, self.timestep = scheduler.timesteps, None
        matches = (scheduler.timesteps == t).nonzero()
        self.index = int(matches[0]) - 1 if len(matches) else -1
        steps = len(scheduler.timesteps) - (self.index + 1)
        if self.name == "magcache" and steps != self.run_steps:
            self.enable(steps)  # MagCache spreads its ratios over the run's step count: a new count, a new config
        else:
            self.transformer._reset_stateful_cache()  # nothing cached by an earlier run may leak into this one

    def __call__(self, latents: Any, t: Any, conditioning: Any, first_frame: Any, *, scheduler: Any,
                 guidance_scale: float) -> Any:
        if scheduler.timesteps is not self.schedule:
            self._start_run(scheduler, t)
        second = t is self.timestep  # the loop passes the same timestep object to both predictions of a step
        if not second:
            self.index += 1
        self.timestep = t
        sigmas = getattr(scheduler, "sigmas", None)
        sigma = float(sigmas[self.index]) if sigmas is not None and self.index < len(sigmas) else None
        with self.transformer.cache_context("uncond" if second else "cond", step_index=self.index, sigma=sigma,
                                            num_inference_steps=len(scheduler.timesteps)):
            return self.predict(latents, t, conditioning, first_frame, scheduler=scheduler,
                                guidance_scale=guidance_scale)


def install_step_cache(family: Any, name: str) -> None:
    """Switch step cache `name` on for a loaded family (checked against family.step_caches by plan_memory)."""
    if name == "off":
        return
    check_cache_inputs(name, family.name, family.manifest)
    cached = CachedPredict(family, name)
    cached.enable(len(family.manifest.get("mag_ratios", ())) or 1)  # a config diffusers refuses fails the load
    family.predict = cached
