"""Shared fixtures: tiny real Wan models written to disk, and one worker process shared by the engine tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny random-init Wan 2.2 TI2V-style model (text-to-video and first-frame image-to-video)."""
    from studio.models.tiny import save_tiny_wan

    return save_tiny_wan(tmp_path_factory.mktemp("models") / "tiny-ti2v", expand_timesteps=True)


@pytest.fixture(scope="session")
def tiny_t2v_model(tmp_path_factory) -> Path:
    """A tiny random-init Wan 2.1-style text-to-video model (no first-frame input)."""
    from studio.models.tiny import save_tiny_wan

    return save_tiny_wan(tmp_path_factory.mktemp("models") / "tiny-t2v", expand_timesteps=False)


@pytest.fixture(scope="session")
def engine():
    from studio.engine.client import EngineClient

    client = EngineClient()
    yield client
    client.close()
