"""Milliseconds per timeline paint tick while a render streams previews, and while scrubbing afterwards.

Three kinds of tick (median of each): idle (nothing changed: the common case at 30 Hz), scrub (another frame of the
same step: one ImageItem update and a repaint of the viewer), and new step (a preview arrives: store it, build its
row of thumbnails, repaint viewer and overview). Target: every tick well under the 33 ms a 30 Hz timer allows.

    QT_QPA_PLATFORM=offscreen .venv/bin/python benchmarks/timeline_paint.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time

import numpy as np

if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6 import QtWidgets  # noqa: E402

from studio.ui.timeline import TimelineView  # noqa: E402

CASES = ((64, 64, 17, 20), (256, 144, 81, 50))  # (width, height, frames, steps)


def previews(width: int, height: int, frames: int, steps: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8) for _ in range(steps)]


def ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1e3:6.2f} ms (max {max(samples) * 1e3:6.2f})"


def settle(app: QtWidgets.QApplication, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.002)


def run_case(app: QtWidgets.QApplication, width: int, height: int, frames: int, steps: int) -> None:
    view = TimelineView()
    view._paint_timer.stop()  # ticks are driven by hand so each one is timed alone
    view.resize(1200, 420)
    view.show()
    app.processEvents()
    clips = previews(width, height, frames, steps)
    view.handle_event({"event": "run_started", "run_id": "bench"})
    new_step, store = [], []
    for step, clip in enumerate(clips, 1):
        start = time.perf_counter()
        view.handle_event({"event": "step", "run_id": "bench", "node": "sampler", "step": step, "total": steps,
                           "preview": clip})
        stored = time.perf_counter()
        view.refresh()
        view.viewer.viewport().repaint()
        view.overview.viewport().repaint()
        if step > 3:  # the first steps lay the grid out and size thumbnails to the screen: once per run
            store.append(stored - start)
            new_step.append(time.perf_counter() - start)
        settle(app, 0.3 if step == 3 else 0.02)  # a sampler step takes far longer than this in practice
    view.select(steps // 2, 0)
    view.refresh()
    scrub, idle = [], []
    for i in range(200):
        start = time.perf_counter()
        view.select(frame=i % frames)
        view.refresh()
        view.viewer.viewport().repaint()
        scrub.append(time.perf_counter() - start)
        start = time.perf_counter()
        view.refresh()
        idle.append(time.perf_counter() - start)
    print(f"{width}x{height}x{frames}, {steps} steps  "
          f"(platform {app.platformName()}, viewer {view.viewer.width()}x{view.viewer.height()})")
    print(f"  idle tick     {ms(idle)}")
    print(f"  scrub tick    {ms(scrub)}")
    print(f"  new-step tick {ms(new_step)}   (store the preview, build its thumbnail row, repaint both views)")
    print(f"  of which handle_event {ms(store)}")
    view.close()


def main() -> None:
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv)
    for case in CASES:
        run_case(app, *case)


if __name__ == "__main__":
    main()
