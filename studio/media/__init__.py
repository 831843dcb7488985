"""Media file I/O (images, videos, PNG-frame folders) as numpy arrays; no torch/Qt.

The names below load PyAV and OpenCV on first use, so `studio.media.naming` stays importable without them.
"""
from __future__ import annotations

__all__ = ["MediaError", "Video", "read_image", "read_video", "write_video"]


def __getattr__(name: str):
    if name in __all__:
        from studio.media import video_io

        return getattr(video_io, name)
    raise AttributeError(f"module 'studio.media' has no attribute {name!r}")
