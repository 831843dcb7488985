"""Every preview of the last run, by sampler node and step, plus the final decoded clip. Qt-free.

The worker sends a small uint8 preview of the whole clip (F, H, W, 3) with each denoising step. The store keeps all
of them so the timeline can show any frame of any step; views poll `version` on a timer instead of being called for
every event ("keep only the newest, pull it on a timer").

Lifetime: previews of a run stay browsable after it finishes; a new run's first image (a step preview or its final
frames) clears them, so until then the previous run can still be browsed while the new one starts up. When the new
run serves that sampler from the cache (node_cached), its previews are kept as the new run's.

Memory: the arrays are counted against `budget_bytes` (1 GiB unless set). When a run exceeds it, intermediate steps
are dropped, always the one whose neighbours are closest, so what is left stays evenly spread; the first step, the
newest step of each sampler and the final frames are never dropped. `thinned` then counts how many were dropped.

`handle_event` may be called from any thread (for instance the one reading the worker's pipe); reads take the same
lock, and stored arrays are never modified, so a view may keep a reference to one.
"""
from __future__ import annotations

import threading
from typing import Any, Union

import numpy as np

FINAL = "final"
"""The step value that stands for the final decoded frames (`frames_at(FINAL)`)."""

Step = Union[int, str]  # an int step (1-based) or FINAL

DEFAULT_BUDGET = 1 << 30
DEFAULT_FPS = 16.0  # Wan's native rate; used until the final frames bring the clip's own


def as_clip(array: Any) -> np.ndarray | None:
    """`array` as a C-contiguous uint8 (F, H, W, 3) clip, or None when it cannot be one."""
    if not isinstance(array, np.ndarray) or array.dtype != np.uint8:
        return None
    if array.ndim == 3:  # a single frame
        array = array[None]
    if array.ndim != 4 or array.shape[-1] not in (3, 4) or 0 in array.shape:
        return None
    return np.ascontiguousarray(array[..., :3])  # no copy for the usual (F, H, W, 3) C-contiguous case


class PreviewStore:
    def __init__(self, budget_bytes: int = DEFAULT_BUDGET) -> None:
        self._lock = threading.RLock()
        self._budget = int(budget_bytes)
        self._version = 0
        self.run_id: str | None = None
        self.status = "idle"  # idle | running | done | failed | cancelled | crashed
        self.message: str | None = None  # run_finished's message, if any
        self.progress: tuple[int, int] | None = None  # (step, total) of the last step event, preview or not
        self._previews_run: object = None  # which run the stored images belong to
        self._run_token: object = None
        self.generation = 0  # increases when a run's first image replaces the stored ones
        self._past_runs: set[str] = set()
        self._clear_images()

    def _clear_images(self) -> None:
        self._previews: dict[str, dict[int, np.ndarray]] = {}
        self._totals: dict[str, int] = {}
        self._active: str | None = None
        self._final: np.ndarray | None = None
        self._final_node: str | None = None
        self._fps = DEFAULT_FPS
        self._bytes = 0
        self._thinned = 0

    # -- events
    def handle_event(self, event: dict[str, Any]) -> bool:
        """Take one engine event; True when something a view shows changed (then `version` has increased)."""
        with self._lock:
            changed = self._handle(event)
            if changed:
                self._version += 1
            return changed

    def _handle(self, event: dict[str, Any]) -> bool:
        kind = event.get("event")
        run_id = event.get("run_id")
        if run_id is not None and run_id in self._past_runs:
            return False  # a late event from a run we have moved past
        if kind == "run_started":
            self._start_run(run_id)
            return True
        if run_id is not None and run_id != self.run_id and kind in ("step", "frames"):
            if self.run_id is None and self.status == "running":
                self.run_id = run_id  # the running run's events had no id so far: the same run
            else:
                self._start_run(run_id)  # a run whose run_started we missed
        if kind == "step":
            return self._take_step(event)
        if kind == "frames":
            return self._take_frames(event)
        if kind == "node_cached":
            return self._adopt_cached(str(event.get("node", "")))
        if kind == "run_finished":
            self.status = str(event.get("status", "done"))
            self.message = event.get("message")
            return True
        return False

    def _start_run(self, run_id: str | None) -> None:
        if self.run_id is not None:
            self._past_runs.add(self.run_id)
        self.run_id, self.status, self.message, self.progress = run_id, "running", None, None
        self._run_token = object()  # runs without ids still get a distinct identity

    def _claim_images(self) -> None:
        """The first image of a run replaces the previous run's images."""
        if self._run_token is None:  # events without a run_started: treat them as one running run
            self._start_run(self.run_id)
        if self._previews_run is not self._run_token:
            self._clear_images()
            self._previews_run = self._run_token
            self.generation += 1

    def _adopt_cached(self, node: str) -> bool:
        """A sampler served from the cache sends no steps: its previews from the last run are this run's too."""
        if node not in self._previews or self._previews_run is self._run_token or self._run_token is None:
            return False
        self._previews_run = self._run_token
        if self._final is not None:  # decoding may run again with new settings; a cached decode replays its frames
            self._bytes -= self._final.nbytes
            self._final = self._final_node = None
        return True

    def _take_step(self, event: dict[str, Any]) -> bool:
        try:
            step, total = int(event["step"]), int(event["total"])
        except (KeyError, TypeError, ValueError):
            return False
        if self._run_token is None:
            self._start_run(self.run_id)
        self.progress = (step, total)
        clip = as_clip(event.get("preview"))
        if clip is None:
            return True  # progress still changed (the state label shows it)
        self._claim_images()
        node = str(event.get("node", ""))
        steps = self._previews.setdefault(node, {})
        old = steps.get(step)
        if old is not None:
            self._bytes -= old.nbytes
        steps[step] = clip
        self._bytes += clip.nbytes
        self._totals[node] = total
        self._active = node  # the most recent sampler is the one shown
        self._thin()
        return True

    def _take_frames(self, event: dict[str, Any]) -> bool:
        if event.get("kind", "final") != "final":
            return False
        clip = as_clip(event.get("frames"))
        if clip is None:
            return False
        self._claim_images()
        if self._final is not None:
            self._bytes -= self._final.nbytes
        self._final, self._final_node = clip, event.get("node")
        self._bytes += clip.nbytes
        try:
            fps = float(event.get("fps") or 0)
        except (TypeError, ValueError):
            fps = 0.0
        if fps > 0:
            self._fps = fps
        self._thin()
        return True

    def _thin(self) -> None:
        """Drop intermediate steps until within budget, always the one with the closest neighbours."""
        while self._bytes > self._budget:
            best: tuple[int, str, int] | None = None  # (gap, node, step)
            for node, steps in self._previews.items():
                keys = sorted(steps)
                for prev, step, nxt in zip(keys, keys[1:], keys[2:]):  # never the first or the newest
                    gap = nxt - prev
                    if best is None or gap < best[0]:
                        best = (gap, node, step)
            if best is None:
                return  # only protected images are left; keep them even over budget
            _, node, step = best
            self._bytes -= self._previews[node].pop(step).nbytes
            self._thinned += 1

    # -- reading
    @property
    def version(self) -> int:
        """Increases whenever something a view shows changes; poll it from a timer."""
        return self._version

    @property
    def budget_bytes(self) -> int:
        return self._budget

    @budget_bytes.setter
    def budget_bytes(self, value: int) -> None:
        with self._lock:
            self._budget = int(value)
            before = self._thinned
            self._thin()
            if self._thinned != before:
                self._version += 1

    @property
    def nbytes(self) -> int:
        """Bytes held by stored previews and final frames."""
        return self._bytes

    @property
    def thinned(self) -> int:
        """How many intermediate steps of this run were dropped to stay within the memory budget (0: none)."""
        return self._thinned

    @property
    def active_node(self) -> str | None:
        """The sampler whose previews are shown: the one that sent the most recent preview."""
        return self._active

    @property
    def nodes(self) -> list[str]:
        with self._lock:
            return list(self._previews)

    @property
    def total_steps(self) -> int | None:
        """The active sampler's step count (known from its first preview), else the last progress total."""
        with self._lock:
            if self._active is not None:
                return self._totals.get(self._active)
            return self.progress[1] if self.progress else None

    def steps(self, node: str | None = None) -> list[Step]:
        """Steps with a preview for `node` (default: the active sampler), ascending, then FINAL if decoded."""
        with self._lock:
            node = self._active if node is None else node
            out: list[Step] = sorted(self._previews.get(node, ())) if node is not None else []
            if self._final is not None:
                out.append(FINAL)
            return out

    @property
    def newest_step(self) -> int | None:
        """The highest step with a preview for the active sampler."""
        with self._lock:
            steps = self._previews.get(self._active) if self._active is not None else None
            return max(steps) if steps else None

    @property
    def has_final(self) -> bool:
        return self._final is not None

    @property
    def has_images(self) -> bool:
        return self._final is not None or bool(self._previews)

    @property
    def stale(self) -> bool:
        """True while a newer run has started but not yet sent an image: what is stored is the previous run's."""
        return self.has_images and self._previews_run is not self._run_token

    @property
    def fps(self) -> float:
        return self._fps

    def frames_at(self, step: Step, node: str | None = None) -> np.ndarray | None:
        """The (F, H, W, 3) uint8 clip at `step` (FINAL: the decoded clip) for `node` (default: active), or None."""
        with self._lock:
            if step == FINAL:
                return self._final
            node = self._active if node is None else node
            return self._previews.get(node, {}).get(step) if node is not None else None

    @property
    def frame_count(self) -> int:
        """Frames in the clip: the most of the newest preview's and the final's (0 before any image)."""
        with self._lock:
            counts = [len(self._final)] if self._final is not None else []
            newest = self.newest_step
            if newest is not None:
                counts.append(len(self._previews[self._active][newest]))
            return max(counts, default=0)

    def frame(self, step: Step, frame: int, node: str | None = None) -> np.ndarray | None:
        """Frame `frame` (0-based, of `frame_count`) at `step`, mapped proportionally when that step's clip is
        shorter (for example previews of latent frames against a longer decoded clip)."""
        clip = self.frames_at(step, node)
        if clip is None:
            return None
        return clip[map_frame(frame, self.frame_count, len(clip))]


def map_frame(frame: int, count: int, length: int) -> int:
    """Frame `frame` of a `count`-frame timeline as an index into a clip of `length` frames."""
    if length <= 1 or count <= 1:
        return 0
    frame = min(max(frame, 0), count - 1)
    if length == count:
        return frame
    return min(length - 1, round(frame * (length - 1) / (count - 1)))
