"""Export progress: reported frame by frame, and a callback that raises (a cancel) leaves nothing behind."""
from __future__ import annotations

import os

import numpy as np
import pytest

from studio.media.export import export_clip
from studio.media.video_io import Video


class Stop(Exception):
    pass


def clip(frames: int = 6) -> Video:
    return Video(np.random.default_rng(0).integers(0, 255, (frames, 16, 24, 3), dtype=np.uint8), 16.0)


@pytest.mark.parametrize("kind", ["mp4", "webm", "gif", "png"])
def test_progress_counts_every_frame_up_to_the_total(tmp_path, kind):
    seen: list[tuple[int, int]] = []
    export_clip(clip(), tmp_path, "clip", kind, provenance=False,
                progress=lambda done, total: seen.append((done, total)))
    assert seen == [(done, 6) for done in range(1, 7)] + [(6, 6)]  # the last one just before the file is placed


@pytest.mark.parametrize("kind", ["mp4", "gif", "png"])
@pytest.mark.parametrize("at", [3, 6])  # mid-way, and after the last frame (while signing or just before placing)
def test_a_progress_callback_that_raises_aborts_the_export_and_leaves_nothing(tmp_path, kind, at):
    calls = []

    def cancel_at(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == at + (at == 6):  # at=6: the extra call before the file is put in place
            raise Stop

    with pytest.raises(Stop):
        export_clip(clip(), tmp_path, "clip-{counter}", kind, progress=cancel_at)
    assert os.listdir(tmp_path) == []
