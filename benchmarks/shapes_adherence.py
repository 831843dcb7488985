"""How well the bundled shapes model does what its prompt says, read back by the project's own detector.

Renders through the studio's executor (the exact nodes a user runs: load, prompt, guidance, sampler, decode, save)
and scores every clip with studio.shapes.detector (colour by hue, shape by contour fit, direction by centroid
track). Prints, in one run:
  - adherence (colour, shape and direction all right) on training and on held-out combinations, at the workflow's
    default guidance and at guidance 1.0 (no guidance), with per-attribute rates;
  - image-to-video: the first frame's shape position error against the given image, and how often it then moves
    as prompted;
  - `a circle moving right` with negative `red`: how often the clip is not red (and the same without a negative);
  - the default render's denoise time (sampler node seconds, 20 steps at the native size, guidance on).

    .venv/bin/python benchmarks/shapes_adherence.py [--model PATH] [--seeds-train 2] [--seeds-heldout 12] [--json F]
"""
from __future__ import annotations

import argparse
import copy
import itertools
import json
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from studio.engine.executor import Executor
from studio.graph.registry import catalogue
from studio.media.naming import output_params
from studio.media.video_io import read_video
from studio.paths import WORKFLOWS
from studio.shapes.clips import draw_clip, sample_clip_spec
from studio.shapes.detector import detect_clip
from studio.shapes.vocabulary import COLOURS, DIRECTIONS, SHAPES, caption, load_heldout


class Renderer:
    """One executor for every render, so the model loads once and prompts are encoded once (the studio's cache)."""

    def __init__(self, model: str, work: Path) -> None:
        self.model, self.work = model, work
        self.executor = Executor(catalogue())
        self.count = 0
        self.sampler_seconds: list[float] = []

    def render(self, workflow: str, *, prompt: str, seed: int, negative: str = "", scale: float | None = None,
               image: np.ndarray | None = None) -> np.ndarray:
        data = json.loads((WORKFLOWS / workflow).read_text())
        nodes = data["nodes"]
        nodes["model"]["params"]["path"] = self.model
        nodes["prompt"]["params"]["text"] = prompt
        nodes["negative"]["params"]["text"] = negative
        nodes["sampler"]["params"]["seed"] = seed
        if scale is not None:
            nodes["guidance"]["params"]["scale"] = scale
        self.count += 1
        out = self.work / f"clip{self.count:05d}"
        nodes["save"]["params"].update(output_params(f"{out}/"), overwrite=False)
        if image is not None:
            png = self.work / f"first{self.count:05d}.png"
            cv2.imwrite(str(png), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
            nodes["image"]["params"]["path"] = str(png)
        data["base_dir"] = str(WORKFLOWS)
        events: list[dict] = []
        status = self.executor.run(copy.deepcopy(data), events.append, lambda: False)
        if status != "done":
            raise SystemExit(f"render failed: {[e for e in events if e['event'] in ('node_failed', 'run_finished')]}")
        self.sampler_seconds += [e["seconds"] for e in events
                                 if e["event"] == "node_finished" and e["node"] == "sampler"]
        return read_video(out).frames


def rate(hits: list[bool]) -> float:
    return 100.0 * sum(hits) / max(len(hits), 1)


def adherence(renderer: Renderer, triples: list[tuple[str, str, str]], seeds: int, scale: float | None,
              first_seed: int) -> dict:
    per_attribute = {"colour": [], "shape": [], "direction": []}
    all_right, failures = [], []
    for triple, index in itertools.product(triples, range(seeds)):
        clip = renderer.render("text_to_video.json", prompt=caption(*triple), seed=first_seed + index, scale=scale)
        found = detect_clip(clip).attrs
        for name, want, got in zip(per_attribute, triple, found):
            per_attribute[name].append(want == got)
        all_right.append(found == tuple(triple))
        if found != tuple(triple):
            failures.append({"wanted": list(triple), "found": list(found), "seed": first_seed + index})
    return {"clips": len(all_right), "adherence": rate(all_right),
            **{name: rate(hits) for name, hits in per_attribute.items()}, "failures": failures[:12]}


def centre_of(frame: np.ndarray) -> tuple[float, float] | None:
    lit = frame.max(axis=2) > 80
    if lit.sum() < 12:
        return None
    ys, xs = np.nonzero(lit)
    return float(xs.mean()), float(ys.mean())


def image_to_video(renderer: Renderer, clips: int, first_seed: int, size: tuple[int, int, int]) -> dict:
    rng = np.random.default_rng(first_seed)
    errors, moved, fully = [], [], []
    for index in range(clips):
        triple = (COLOURS[index % 6], SHAPES[index % 3], DIRECTIONS[(index // 3) % 4])
        width, height, frames = size
        spec = sample_clip_spec(rng, *triple, width=width, height=height, frames=frames)
        given = draw_clip(spec, width, height, 1)[0]
        clip = renderer.render("image_to_video.json", prompt=caption(*triple), seed=first_seed + index, image=given)
        want, got = centre_of(given), centre_of(clip[0])
        errors.append(float(np.hypot(want[0] - got[0], want[1] - got[1])) if got else float("inf"))
        found = detect_clip(clip).attrs
        moved.append(found[2] == triple[2])
        fully.append(found == triple)
    finite = [e for e in errors if np.isfinite(e)]
    return {"clips": clips, "first_frame_error_px_median": round(statistics.median(finite), 2) if finite else None,
            "first_frame_error_px_max": round(max(errors), 2), "within_3px": rate([e <= 3 for e in errors]),
            "moves_as_prompted": rate(moved), "adherence": rate(fully)}


def negative_prompt(renderer: Renderer, seeds: int, first_seed: int) -> dict:
    """`a circle moving right` with negative `red` (the issue's check), without a negative, and with the colour the
    partial prompt most often gives as the negative: the last shows whether the negative steers at all."""
    def colours_for(negative: str) -> list:
        return [detect_clip(renderer.render("text_to_video.json", prompt="a circle moving right", negative=negative,
                                            seed=first_seed + i)).colour for i in range(seeds)]

    result = {}
    found = {"red": colours_for("red"), "": colours_for("")}
    usual = max(set(found[""]) - {None}, key=found[""].count, default=None)
    if usual is not None and usual != "red":
        found[usual] = colours_for(usual)
    for negative, colours in found.items():
        label = f"with negative {negative}" if negative else "without negative"
        result[label] = {f"not_{negative or 'red'}": rate([c != (negative or "red") for c in colours]),
                         "colours": {c or "none": colours.count(c) for c in sorted(set(colours), key=str)}}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shapes", help="model name or folder (default: the bundled model)")
    parser.add_argument("--seeds-train", type=int, default=2, help="seeds per training combination")
    parser.add_argument("--seeds-heldout", type=int, default=12, help="seeds per held-out combination")
    parser.add_argument("--seeds-unguided", type=int, default=1, help="seeds per combination at guidance 1.0")
    parser.add_argument("--i2v", type=int, default=36, help="image-to-video clips")
    parser.add_argument("--negative", type=int, default=40, help="seeds for the negative-prompt test")
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    parser.add_argument("--parts", default="adherence,i2v,negative",
                        help="comma-separated subset of adherence, i2v, negative (default: all)")
    args = parser.parse_args()
    import diffusers

    diffusers.utils.logging.set_verbosity_error()  # the guiders announce they are experimental on every render
    example = json.loads((WORKFLOWS / "text_to_video.json").read_text())["nodes"]
    default_scale = example["guidance"]["params"]["scale"]
    size = tuple(example["latent"]["params"][k] for k in ("width", "height", "frames"))
    heldout = [tuple(t) for t in load_heldout()]
    training = [t for t in itertools.product(COLOURS, SHAPES, DIRECTIONS) if t not in heldout]
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="studio-adherence-") as work:
        renderer = Renderer(args.model, Path(work))
        renderer.render("text_to_video.json", prompt="a red circle moving right", seed=0)  # load + warm up
        renderer.sampler_seconds.clear()
        figures = {"model": args.model, "default_guidance": default_scale, "size": size}
        parts = set(args.parts.split(","))
        if "adherence" in parts:
            figures["heldout"] = adherence(renderer, heldout, args.seeds_heldout, None, 1000)
            figures["training"] = adherence(renderer, training, args.seeds_train, None, 2000)
            figures["heldout_guidance_1"] = adherence(renderer, heldout, args.seeds_unguided * 4, 1.0, 1000)
            figures["training_guidance_1"] = adherence(renderer, training, args.seeds_unguided, 1.0, 2000)
        if "i2v" in parts:
            figures["image_to_video"] = image_to_video(renderer, args.i2v, 3000, size)
        default_seconds = list(renderer.sampler_seconds)  # every render so far ran at the default guidance...
        if "adherence" in parts:  # ...except the guidance 1.0 ones: time the default renders only
            default_seconds = default_seconds[:len(heldout) * args.seeds_heldout + len(training) * args.seeds_train]
        if "negative" in parts:
            figures["negative_prompt"] = negative_prompt(renderer, args.negative, 4000)
        if default_seconds:
            figures["default_render_denoise_seconds"] = {"median": round(statistics.median(default_seconds), 3),
                                                         "max": round(max(default_seconds), 3)}
    figures["benchmark_seconds"] = round(time.perf_counter() - began, 1)
    report(figures)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


def report(f: dict) -> None:
    def line(name: str, r: dict) -> str:
        return (f"{name:<34} {r['adherence']:6.1f}%  (colour {r['colour']:.1f}%, shape {r['shape']:.1f}%, "
                f"direction {r['direction']:.1f}%; {r['clips']} clips)")

    print(f"model {f['model']}, {f['size'][0]}x{f['size'][1]}x{f['size'][2]} frames, default guidance "
          f"{f['default_guidance']}")
    print("adherence (all three attributes right)                       target")
    for key, name, target in (("heldout", "held-out, default guidance", ">= 95%"),
                              ("training", "training, default guidance", ">= 98%"),
                              ("heldout_guidance_1", "held-out, guidance 1.0", "worse"),
                              ("training_guidance_1", "training, guidance 1.0", "worse")):
        if key in f:
            print(line(name, f[key]) + "  " + target)
    i2v = f.get("image_to_video")
    if i2v:
        print(f"image-to-video: first frame within 3 px {i2v['within_3px']:.1f}% (median error "
          f"{i2v['first_frame_error_px_median']} px, max {i2v['first_frame_error_px_max']} px); moves as prompted "
              f"{i2v['moves_as_prompted']:.1f}%; all attributes {i2v['adherence']:.1f}% ({i2v['clips']} clips)")
    for name, r in f.get("negative_prompt", {}).items():
        avoided = next(key for key in r if key.startswith("not_"))
        print(f"'a circle moving right' {name}: {avoided.replace('_', ' ')} {r[avoided]:.1f}%  {r['colours']}")
    t = f.get("default_render_denoise_seconds")
    if t:
        print(f"default render denoise: median {t['median']} s, max {t['max']} s (target <= 5 s)")
    print(f"benchmark took {f['benchmark_seconds']} s")


if __name__ == "__main__":
    main()
