"""Media file I/O (images, videos, PNG-frame folders) as numpy arrays; no torch/Qt."""
from studio.media.video_io import MediaError, Video, read_image, read_video, write_video

__all__ = ["MediaError", "Video", "read_image", "read_video", "write_video"]
