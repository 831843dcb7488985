"""Shared fixtures: tiny real Wan models written to disk, and one worker process shared by the engine tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def studio_cache_dir(tmp_path_factory) -> Path:
    """Every test, and every worker or CLI process a test starts, caches (latent projections) in a temporary folder."""
    folder = tmp_path_factory.mktemp("studio-cache")
    previous = os.environ.get("STUDIO_CACHE_DIR")
    os.environ["STUDIO_CACHE_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("STUDIO_CACHE_DIR", None)
    else:
        os.environ["STUDIO_CACHE_DIR"] = previous


@pytest.fixture(scope="session", autouse=True)
def studio_config_dir(tmp_path_factory) -> Path:
    """Every test, worker and CLI process keeps its settings and C2PA signing key in a temporary folder, never the
    user's own config folder."""
    folder = tmp_path_factory.mktemp("studio-config")
    previous = os.environ.get("STUDIO_CONFIG_DIR")
    os.environ["STUDIO_CONFIG_DIR"] = str(folder)
    yield folder
    if previous is None:
        os.environ.pop("STUDIO_CONFIG_DIR", None)
    else:
        os.environ["STUDIO_CONFIG_DIR"] = previous


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
