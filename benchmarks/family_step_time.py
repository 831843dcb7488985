"""Per family: studio vs plain diffusers pipeline, time per denoising step and peak memory, with and without Load
Model's memory options. Target: studio step time within 2% of the plain pipeline's (ratio <= 1.02), peak memory no
higher.

Runs on CUDA when present (bfloat16), else on the CPU (float32), at tiny sizes with the random-init models of
studio.models.tiny. Each side renders the same workflow / call: same model folder, prompt, seed, size, steps and
guidance scale. Timing: the studio's "step" events and the plain pipeline's callback_on_step_end are timestamped
(after a CUDA synchronize); ms/step is the median of the gaps between consecutive steps, so prompt encoding, decode
and the first step are outside it on both sides. Each side renders once to warm up (load, compile, caches) before the
timed runs (--repeats, default 3; the lowest median is kept, the one least disturbed by other load). Studio rows
run with previews off ("previews": false in the snapshot, as the plain pipeline has none), except the "previews"
row, which shows what the step previews cost.

Peak memory: on CUDA, torch.cuda.max_memory_allocated over the timed run (stats reset after the warm-up). On the
CPU each side of each family runs in its own subprocess, and the peak is the process's peak resident set (VmHWM)
over the timed run: the high-water mark is reset after the warm-up by writing 5 to /proc/self/clear_refs (Linux),
so it counts the loaded weights and everything resident plus the run's own allocations, but not the import and
load transients. Options run one after another in that process (each with a fresh pipeline / executor, the last
one freed and collected), so a later option's figure can carry some allocator residue; both sides alike.

Options (Load Model's; on the CPU only those that work there): none, vae_tiling (pipe.vae.enable_tiling()),
fp8_storage (denoiser.enable_layerwise_casting(float8_e4m3fn, compute dtype)), step_cache=first_block (Wan only:
transformer.enable_cache(FirstBlockCacheConfig(threshold=0.05)), as studio.models.step_caches configures it).

    .venv/bin/python benchmarks/family_step_time.py [--families wan,ltx_i2v,...] [--steps 30] [--repeats 3]
        [--size 32] [--options none,vae_tiling,fp8_storage,step_cache] [--no-previews]
"""
from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROMPT, NEGATIVE, SCALE, SEED = "a red circle moving right", "blue square", 4.5, 3
REPO = Path(__file__).resolve().parent.parent

# family-mode key -> (family, mode, diffusers class, frames, max_sequence_length or None, has step caches)
CASES = {
    "wan": ("wan", "t2v", "WanPipeline", 9, 64, True),
    "wan_i2v": ("wan_i2v", "i2v", "WanImageToVideoPipeline", 9, 64, True),
    "ltx": ("ltx", "t2v", "LTXPipeline", 9, 64, False),
    "ltx_i2v": ("ltx", "i2v", "LTXImageToVideoPipeline", 9, 64, False),
    "cogvideox": ("cogvideox", "t2v", "CogVideoXPipeline", 9, 16, False),
    "cogvideox_i2v": ("cogvideox", "i2v", "CogVideoXImageToVideoPipeline", 9, 16, False),
    "hunyuan": ("hunyuan", "t2v", "HunyuanVideoPipeline", 9, 32, False),
    "animatediff": ("animatediff", "t2v", "AnimateDiffPipeline", 8, None, False),
    "svd": ("svd", "i2v", "StableVideoDiffusionPipeline", 8, None, False),
}
FAMILY_ALIASES = {"wan": ["wan", "wan_i2v"], "ltx": ["ltx", "ltx_i2v"], "cogvideox": ["cogvideox", "cogvideox_i2v"]}


def save_model(case: str, folder: Path, size: int) -> Path:
    frames = CASES[case][3]
    if case == "wan":
        from studio.models.tiny import save_tiny_wan
        return save_tiny_wan(folder, width=size, height=size, frames=frames)
    if case == "wan_i2v":
        from studio.models.tiny.wan_i2v import save_tiny_wan_i2v
        return save_tiny_wan_i2v(folder, width=size, height=size, frames=frames)
    if case in ("ltx", "ltx_i2v"):
        from studio.models.tiny.ltx import save_tiny_ltx
        save_tiny_ltx(folder, width=size, height=size, frames=frames, timestep_conditioning=True)
        if case == "ltx_i2v":  # the two LTX pipelines share every component
            index = json.loads((folder / "model_index.json").read_text())
            index["_class_name"] = "LTXImageToVideoPipeline"
            (folder / "model_index.json").write_text(json.dumps(index))
        return folder
    if case == "cogvideox":
        from studio.models.tiny.cogvideox import save_tiny_cogvideox
        return save_tiny_cogvideox(folder, width=size, height=size, frames=frames)
    if case == "cogvideox_i2v":
        from studio.models.tiny.cogvideox import save_tiny_cogvideox
        return save_tiny_cogvideox(folder, width=size, height=size, frames=frames, image_to_video=True, dpm=True)
    if case == "hunyuan":
        from studio.models.tiny.hunyuan import save_tiny_hunyuan
        return save_tiny_hunyuan(folder, width=size, height=size, frames=frames, max_tokens=32)
    if case == "animatediff":
        from studio.models.tiny.animatediff import save_tiny_animatediff
        return save_tiny_animatediff(folder, width=size, height=size, frames=frames)
    if case == "svd":
        from studio.models.tiny.svd import save_tiny_svd
        return save_tiny_svd(folder, width=size, height=size, frames=frames)
    raise ValueError(case)


ALL_OPTIONS = ("none", "vae_tiling", "fp8_storage", "step_cache")
SELECTED_OPTIONS = list(ALL_OPTIONS)


def options_for(case: str) -> list[str]:
    """The memory options measured for `case`: step caches are offered for Wan only."""
    return [o for o in SELECTED_OPTIONS if o != "step_cache" or CASES[case][5]]


# ---- measuring ------------------------------------------------------------------------------------------------


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    else:
        Path("/proc/self/clear_refs").write_text("5")


def read_peak_mib() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def per_step_ms(stamps: list[float]) -> float:
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    if not gaps:
        raise RuntimeError("fewer than two steps were timed: use --steps 3 or more")
    return statistics.median(gaps) * 1000


def warm_steps(args: argparse.Namespace) -> int:
    """The warm-up render's steps: enough to run every code path once (loading, compiling, caches) without paying
    for a full render."""
    return min(args.steps, 3)


def start_image(work: Path) -> Path:
    import numpy as np
    import PIL.Image

    image = np.zeros((48, 40, 3), np.uint8)
    image[10:30, 8:24] = (255, 0, 0)
    path = work / "start.png"
    if not path.exists():
        PIL.Image.fromarray(image).save(path)
    return path


# ---- the plain pipeline ---------------------------------------------------------------------------------------


def plain_side(case: str, model: Path, option: str, args: argparse.Namespace, work: Path) -> dict:
    import diffusers
    import PIL.Image
    import torch

    _, mode, cls_name, frames, tokens, _ = CASES[case]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pipe = getattr(diffusers, cls_name).from_pretrained(model, torch_dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    denoiser = getattr(pipe, "transformer", None) or getattr(pipe, "unet", None)
    if option == "fp8_storage":
        denoiser.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    elif option == "vae_tiling":
        pipe.vae.enable_tiling()
    elif option == "step_cache":
        from diffusers.hooks import FirstBlockCacheConfig
        denoiser.enable_cache(FirstBlockCacheConfig(threshold=0.05))
    pipe.to(device)

    call = dict(height=args.size, width=args.size, num_frames=frames, num_inference_steps=args.steps,
                output_type="np")
    if case == "svd":
        call.update(image=PIL.Image.open(start_image(work)), max_guidance_scale=SCALE, fps=7)
    else:
        call.update(prompt=PROMPT, guidance_scale=SCALE)
        if case != "hunyuan":  # guidance-distilled: the studio ignores the negative prompt, so does the pipeline
            call["negative_prompt"] = NEGATIVE
        if tokens:
            call["max_sequence_length"] = tokens
        if mode == "i2v":
            call["image"] = PIL.Image.open(start_image(work))

    def render(seed: int, steps: int) -> list[float]:
        stamps: list[float] = []

        def on_step_end(pipeline, step, timestep, kwargs):
            sync()
            stamps.append(time.perf_counter())
            return kwargs

        pipe(**{**call, "num_inference_steps": steps}, generator=torch.Generator("cpu").manual_seed(seed),
             callback_on_step_end=on_step_end)
        return stamps

    render(SEED + 1000, warm_steps(args))  # warm-up
    reset_peak()
    ms = min(per_step_ms(render(SEED + repeat, args.steps)) for repeat in range(args.repeats))
    return {"ms": ms, "peak": read_peak_mib()}


# ---- the studio -----------------------------------------------------------------------------------------------


def studio_snapshot(case: str, model: Path, option: str, args: argparse.Namespace, work: Path, seed: int,
                    out: Path, previews: bool) -> dict:
    from studio.media.naming import output_params
    from studio.paths import WORKFLOWS

    mode, frames = CASES[case][1], CASES[case][3]
    path = WORKFLOWS / ("image_to_video.json" if mode == "i2v" else "text_to_video.json")
    data = json.loads(path.read_text())
    data["base_dir"] = str(path.parent)
    data["previews"] = previews
    nodes = data["nodes"]
    # Every memory option explicit: "auto" would switch tiling on by itself on GPUs under 24 GiB.
    nodes["model"]["params"].update(path=str(model), offload="none", fp8_storage="off", vae_tiling="off",
                                    step_cache="off")
    if option == "fp8_storage":
        nodes["model"]["params"]["fp8_storage"] = "on"
    elif option == "vae_tiling":
        nodes["model"]["params"]["vae_tiling"] = "on"
    elif option == "step_cache":
        nodes["model"]["params"]["step_cache"] = "first_block"
    nodes["prompt"]["params"]["text"] = PROMPT
    nodes["negative"]["params"]["text"] = NEGATIVE
    nodes["latent"]["params"].update(width=args.size, height=args.size, frames=frames)
    nodes["guidance"]["params"]["scale"] = SCALE
    nodes["sampler"]["params"].update(seed=seed, steps=args.steps)
    nodes["save"]["params"].update(output_params(f"{out}/"), overwrite=True)
    if mode == "i2v":
        nodes["image"]["params"]["path"] = str(start_image(work))
    return copy.deepcopy(data)


def studio_side(case: str, model: Path, option: str, args: argparse.Namespace, work: Path) -> dict:
    from studio.engine.executor import Executor
    from studio.graph.registry import catalogue

    previews = option == "previews"
    load_option = "none" if previews else option
    executor = Executor(catalogue())

    def render(seed: int, out: Path, steps: int) -> list[float]:
        stamps: list[float] = []
        finals: list[dict] = []

        def emit(event: dict) -> None:
            if event.get("event") == "step" and event.get("node") == "sampler":
                sync()
                stamps.append(time.perf_counter())
            elif event.get("event") in ("node_failed", "run_finished"):
                finals.append(event)

        snapshot = studio_snapshot(case, model, load_option, args, work, seed, out, previews)
        snapshot["nodes"]["sampler"]["params"]["steps"] = steps
        status = executor.run(snapshot, emit, lambda: False)
        if status != "done":
            failed = [e for e in finals if e["event"] == "node_failed"] or finals
            raise RuntimeError(f"studio run {status}: " + "; ".join(
                f"{e.get('node', '')}: {e.get('message', '')}" for e in failed))
        return stamps

    render(SEED + 1000, work / f"warm-{case}-{option}", warm_steps(args))
    reset_peak()
    ms = min(per_step_ms(render(SEED + repeat, work / f"out-{case}-{option}-{repeat}", args.steps))
             for repeat in range(args.repeats))
    return {"ms": ms, "peak": read_peak_mib()}


# ---- worker: one side of one family-mode, every option --------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    import diffusers
    import torch
    import warnings

    warnings.filterwarnings("ignore")
    diffusers.utils.logging.disable_progress_bar()
    diffusers.utils.logging.set_verbosity_error()
    case, side, model, work = args.worker, args.side, Path(args.model), Path(args.work)
    options = options_for(case) + (["previews"] if side == "studio" and not args.no_previews else [])
    for option in options:
        try:
            result = (studio_side if side == "studio" else plain_side)(case, model, option, args, work)
        except Exception as exc:  # one option failing must not hide the others
            message = f"{type(exc).__name__}: {exc}".replace("\n", " ")
            result = {"error": message[:300]}
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        print("RESULT " + json.dumps({"case": case, "side": side, "option": option, **result}), flush=True)


def run_side(case: str, side: str, model: Path, work: Path, args: argparse.Namespace) -> dict[str, dict]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", case, "--side", side, "--model",
               str(model), "--work", str(work), "--steps", str(args.steps), "--size", str(args.size),
               "--repeats", str(args.repeats), "--options", args.options]
    if args.no_previews:
        command.append("--no-previews")
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=args.timeout)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            record = json.loads(line[len("RESULT "):])
            results[record["option"]] = record
    if proc.returncode != 0 and not results:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        results["*"] = {"error": f"worker exited {proc.returncode}: {tail[:300]}"}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(CASES),
                        help="comma-separated: " + ", ".join(CASES) + " (wan, ltx, cogvideox also take both modes "
                             "when given as e.g. 'ltx*')")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3,
                        help="timed renders per side and option; ms/step is the lowest of their medians (the least "
                             "disturbed by other load on the machine)")
    parser.add_argument("--options", default=",".join(ALL_OPTIONS),
                        help="comma-separated memory options to measure: " + ", ".join(ALL_OPTIONS))
    parser.add_argument("--no-previews", action="store_true", help="skip the studio-with-previews row")
    parser.add_argument("--timeout", type=int, default=600, help="seconds per worker process")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--side", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    args = parser.parse_args()
    SELECTED_OPTIONS[:] = [o.strip() for o in args.options.split(",") if o.strip()]
    for option in SELECTED_OPTIONS:
        if option not in ALL_OPTIONS:
            parser.error(f"unknown option {option!r}; choose from {', '.join(ALL_OPTIONS)}")
    if args.worker:
        worker(args)
        return

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import diffusers
    import torch

    diffusers.utils.logging.disable_progress_bar()
    cases: list[str] = []
    for name in (n.strip() for n in args.families.split(",") if n.strip()):
        expanded = FAMILY_ALIASES.get(name.rstrip("*"), [name.rstrip("*")]) if name.endswith("*") else [name]
        for case in expanded:
            if case not in CASES:
                parser.error(f"unknown family {case!r}; choose from {', '.join(CASES)}")
            if case not in cases:
                cases.append(case)

    if torch.cuda.is_available():
        device = f"CUDA {torch.cuda.get_device_name(0)}, bfloat16, peak = torch.cuda.max_memory_allocated"
    else:
        device = (f"CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads), float32, "
                  "peak = process VmHWM over the timed run, one process per side")
    print(f"device: {device} | size {args.size}x{args.size}, 9 frames (animatediff/svd 8), {args.steps} steps, "
          f"guidance {SCALE}, ms/step = lowest over {args.repeats} timed renders of the median gap between "
          f"consecutive steps | tiny random-init models",
          flush=True)

    header = (f"{'family':<12}| {'mode':<4} | {'option':<11} | {'plain ms/step':>13} | {'studio ms/step':>14} | "
              f"{'ratio':>6} | {'plain peak MiB':>14} | {'studio peak MiB':>15} | {'mem ratio':>9}")
    print(header)
    print("-" * len(header), flush=True)

    def cell(record: dict, key: str, fmt: str) -> str:
        return format(record[key], fmt) if key in record else "FAIL".rjust(len(format(0.0, fmt)))

    work = Path(tempfile.mkdtemp(prefix="studio-family-bench-"))
    failures = []
    try:
        for case in cases:  # rows print as each family-mode finishes, so a cut-short run still shows its rows
            family, mode = CASES[case][:2]
            started = time.perf_counter()
            try:
                model = save_model(case, work / f"model-{case}", args.size)
            except Exception as exc:
                failures.append(f"{case}: saving the tiny model failed: {type(exc).__name__}: {exc}")
                continue
            try:
                plain = run_side(case, "plain", model, work, args)
                studio = run_side(case, "studio", model, work, args)
            except subprocess.TimeoutExpired:
                failures.append(f"{family} {mode}: a worker ran past --timeout {args.timeout} s")
                continue
            for option in options_for(case) + ([] if args.no_previews else ["previews"]):
                p = plain.get("none" if option == "previews" else option) or plain.get("*") or {"error": "missing"}
                s = studio.get(option) or studio.get("*") or {"error": "missing"}
                for side, record in (("plain", p), ("studio", s)):
                    if "error" in record:
                        failures.append(f"{family} {mode} {option} {side}: {record['error']}")
                ratio = f"{s['ms'] / p['ms']:.3f}" if "ms" in p and "ms" in s else "-"
                mem = f"{s['peak'] / p['peak']:.3f}" if "peak" in p and "peak" in s else "-"
                label = "previews on" if option == "previews" else option
                print(f"{family:<12}| {mode:<4} | {label:<11} | {cell(p, 'ms', '13.1f')} | "
                      f"{cell(s, 'ms', '14.1f')} | {ratio:>6} | {cell(p, 'peak', '14.1f')} | "
                      f"{cell(s, 'peak', '15.1f')} | {mem:>9}", flush=True)
            print(f"  ({case}: {time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("target: ratio <= 1.02 and studio peak <= plain peak. 'previews on': studio with step previews vs the "
          "plain pipeline's 'none' row (which has none).")
    if failures:
        print("failed:")
        for line in failures:
            print(f"  {line}")


if __name__ == "__main__":
    main()
