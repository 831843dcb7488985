"""The studio: video-diffusion workflows as node graphs."""
__version__ = "0.1.0"
