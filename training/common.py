"""What both training stages share: step-seeded randomness, safetensors checkpoints, the loop, the loss log and plot.

Checkpoints hold only safetensors and JSON (never torch.save / pickle): model weights as safetensors, the AdamW
state flattened into safetensors tensors plus its hyper-parameters in state.json, so a resumed run continues with the
optimizer moments it had, not a fresh optimizer.
"""
from __future__ import annotations

import csv
import json
import math
import os
import shutil
import time
import zlib
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import torch
from safetensors.torch import load_file, save_file

KEEP_CHECKPOINTS = 2  # the newest plus one spare, in case the newest was cut short on a full disk
LOG_FIELDS = ("stage", "step", "loss", "lr", "seconds")


def pick_device(choice: str) -> torch.device:
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def step_rng(seed: int, stage: str, step: int) -> np.random.Generator:
    # Randomness from (seed, stage, step) alone: a resumed run draws exactly the batches an uninterrupted one would.
    return np.random.default_rng([seed, zlib.crc32(stage.encode()), step])


def torch_generator(rng: np.random.Generator) -> torch.Generator:
    # A CPU generator, so noise is the same on CPU and CUDA for a given seed.
    return torch.Generator("cpu").manual_seed(int(rng.integers(2 ** 62)))


def warmup_lr(base_lr: float, step: int, warmup: int, *, steps: int = 0, cooldown: int = 0) -> float:
    """Linear warm-up over `warmup` steps, constant, then (if `cooldown`) linear down to a tenth over the last
    `cooldown` of `steps`. Only the tail depends on `steps`, so stopping before it and resuming with a larger
    `steps` gives the weights one uninterrupted run to that many steps gives."""
    rate = base_lr * min(1.0, step / max(1, warmup))
    if cooldown and step > steps - cooldown:
        rate *= 1.0 - 0.9 * (step - (steps - cooldown)) / cooldown
    return rate


# -- checkpoints
def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach().to("cpu").contiguous() for name, value in tensors.items()}


def _flatten_optimizer(state: dict) -> tuple[dict[str, torch.Tensor], dict]:
    tensors, scalars = {}, {}
    for index, entry in state["state"].items():
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"{index}.{key}"] = value
            else:
                scalars[f"{index}.{key}"] = value
    return _cpu(tensors), {"param_groups": state["param_groups"], "scalars": scalars}


def restore_optimizer(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict) -> None:
    state: dict[int, dict] = {}
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        index, key = name.split(".", 1)
        state.setdefault(int(index), {})[key] = value
    optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def save_checkpoint(folder: Path, step: int, modules: dict[str, torch.nn.Module], optimizer: torch.optim.Optimizer,
                    extra: dict) -> Path:
    """Write folder/step-NNNNNNN/ (one safetensors file per module, optimizer.safetensors, state.json) atomically."""
    final, partial = folder / f"step-{step:07d}", folder / f".partial-step-{step:07d}"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    for name, module in modules.items():
        save_file(_cpu(module.state_dict()), str(partial / f"{name}.safetensors"))
    optimizer_tensors, optimizer_meta = _flatten_optimizer(optimizer.state_dict())
    save_file(optimizer_tensors, str(partial / "optimizer.safetensors"))
    state = {"step": step, "optimizer": optimizer_meta, **extra}
    (partial / "state.json").write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
    shutil.rmtree(final, ignore_errors=True)
    os.replace(partial, final)  # a checkpoint either exists whole or not at all
    for old in sorted(folder.glob("step-*"))[:-KEEP_CHECKPOINTS]:
        shutil.rmtree(old)
    return final


def latest_checkpoint(folder: Path) -> Path | None:
    found = sorted(p for p in folder.glob("step-*") if (p / "state.json").is_file())
    return found[-1] if found else None


def read_checkpoint(path: Path) -> tuple[dict, dict[str, dict[str, torch.Tensor]]]:
    state = json.loads((path / "state.json").read_text(encoding="utf-8"))
    tensors = {file.stem: load_file(str(file)) for file in path.glob("*.safetensors")}
    return state, tensors


# -- the loop
class LossLog:
    """Append-only CSV of (stage, step, loss, lr, seconds); rows past the checkpoint a run resumes from are dropped."""

    def __init__(self, path: Path, stage: str, resume_step: int) -> None:
        rows = read_log(path)
        # Steps after the checkpoint were lost with the interrupted run; they are about to be redone.
        kept = [row for row in rows if not (row["stage"] == stage and int(row["step"]) > resume_step)]
        if len(kept) != len(rows) or not path.exists():
            with open(path, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, LOG_FIELDS)
                writer.writeheader()
                writer.writerows(kept)
        self.stage = stage
        self.handle = open(path, "a", newline="", encoding="utf-8")
        self.writer = csv.writer(self.handle)

    def write(self, step: int, loss: float, lr: float, seconds: float) -> None:
        self.writer.writerow([self.stage, step, f"{loss:.6g}", f"{lr:.3g}", f"{seconds:.4f}"])
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()


def read_log(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def train_loop(*, stage: str, folder: Path, modules: dict[str, torch.nn.Module], trained: torch.nn.Module,
               optimizer: torch.optim.Optimizer, loss_at: Callable[[int], torch.Tensor], steps: int, lr: float,
               warmup: int, checkpoint_every: int, log_path: Path, settings: dict, cooldown: int = 0,
               after_step: Callable[[int], None] | None = None) -> dict:
    """Resume from folder's newest checkpoint, run to `steps`, checkpoint every `checkpoint_every` and at the end.

    modules: everything saved and restored (the trained module and e.g. its EMA copy); loss_at(step) returns the loss
    of that step's batch. Returns where it started and ended, and the mean seconds per step of this run.
    """
    start = 0
    checkpoint = latest_checkpoint(folder)
    if checkpoint is not None:
        state, tensors = read_checkpoint(checkpoint)
        if state.get("settings") != settings:
            raise SystemExit(f"{folder} was trained with settings {state.get('settings')}, not {settings}: "
                             "use a fresh --work folder (or the same settings) to resume")
        for name, module in modules.items():
            module.load_state_dict(tensors[name])
        restore_optimizer(optimizer, tensors["optimizer"], state["optimizer"])
        start = state["step"]
        print(f"[{stage}] resuming from step {start} ({checkpoint})", flush=True)
    log = LossLog(log_path, stage, start)
    params = [p for p in trained.parameters() if p.requires_grad]
    began, step = time.perf_counter(), start
    try:
        for step in range(start + 1, steps + 1):
            tick = time.perf_counter()
            step_lr = warmup_lr(lr, step, warmup, steps=steps, cooldown=cooldown)
            for group in optimizer.param_groups:
                group["lr"] = step_lr
            loss = loss_at(step)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)  # one bad batch should not undo what was learned
            optimizer.step()
            if after_step is not None:
                after_step(step)
            value = float(loss.detach())
            if not math.isfinite(value):
                raise SystemExit(f"[{stage}] loss became {value} at step {step}; lower the learning rate")
            log.write(step, value, step_lr, time.perf_counter() - tick)
            if step % 25 == 0 or step == steps:
                print(f"[{stage}] step {step}/{steps} loss {value:.4f} ({time.perf_counter() - tick:.2f} s)",
                      flush=True)
            if step % checkpoint_every == 0 or step == steps:
                save_checkpoint(folder, step, modules, optimizer, {"settings": settings})
    finally:
        log.close()
    ran = max(0, steps - start)
    elapsed = time.perf_counter() - began
    return {"start_step": start, "end_step": max(start, steps), "seconds": round(elapsed, 2),
            "seconds_per_step": round(elapsed / ran, 4) if ran else None}


# -- the plot
def plot_losses(log_path: Path, png_path: Path, width: int = 720, panel_height: int = 300) -> Path | None:
    """One panel per stage: log10(loss) per step (grey) and its moving average (blue), drawn with OpenCV."""
    rows = read_log(log_path)
    stages = list(dict.fromkeys(row["stage"] for row in rows))
    if not stages:
        return None
    image = np.full((panel_height * len(stages), width, 3), 255, np.uint8)
    margin = 50
    for index, stage in enumerate(stages):
        points = sorted((int(r["step"]), float(r["loss"])) for r in rows if r["stage"] == stage)
        steps = np.array([p[0] for p in points], np.float64)
        values = np.log10(np.maximum([p[1] for p in points], 1e-12))
        window = max(1, len(values) // 50)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        top = index * panel_height
        low, high = float(values.min()), float(values.max())
        span_y, span_x = max(high - low, 1e-6), max(steps[-1] - steps[0], 1.0)

        def to_pixels(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
            px = margin + (xs - steps[0]) / span_x * (width - 2 * margin)
            py = top + panel_height - margin + (low - ys) / span_y * (panel_height - 2 * margin)
            return np.stack([px, py], 1).round().astype(np.int32)

        cv2.rectangle(image, (margin, top + margin), (width - margin, top + panel_height - margin), (0, 0, 0), 1)
        cv2.polylines(image, [to_pixels(steps, values)], False, (180, 180, 180), 1, cv2.LINE_AA)
        cv2.polylines(image, [to_pixels(steps[window - 1:], smooth)], False, (200, 80, 0), 2, cv2.LINE_AA)
        labels = [(f"{stage}: log10(loss), steps {int(steps[0])}-{int(steps[-1])}", (margin, top + 30)),
                  (f"{high:.2f}", (4, top + margin + 5)), (f"{low:.2f}", (4, top + panel_height - margin))]
        for text, origin in labels:
            cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.imwrite(str(png_path), image)
    return png_path
