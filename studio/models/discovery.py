"""Finding diffusers model folders on disk without loading them (torch-free: the window lists models with it)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from studio.paths import BUNDLED_MODELS


@dataclass(frozen=True)
class ModelEntry:
    name: str  # what a workflow's Load Model `path` may say instead of a folder
    path: Path
    source: str  # "bundled", "models folder" or "hugging face cache"
    pipeline_class: str


def user_models_dir() -> Path | None:
    value = os.environ.get("STUDIO_MODELS_DIR")
    return Path(value).expanduser() if value else None


def hf_hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


def _pipeline_class(folder: Path) -> str | None:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return index.get("_class_name") if isinstance(index, dict) else None


def _folders(root: Path | None, source: str) -> list[ModelEntry]:
    if root is None or not root.is_dir():
        return []
    entries = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        pipeline_class = _pipeline_class(folder)
        if pipeline_class:
            entries.append(ModelEntry(folder.name, folder, source, pipeline_class))
    return entries


def _hf_cache(root: Path) -> list[ModelEntry]:
    entries = []
    if not root.is_dir():
        return entries
    for repo in sorted(root.glob("models--*")):
        ref = repo / "refs" / "main"
        snapshots = [repo / "snapshots" / ref.read_text().strip()] if ref.is_file() else \
            sorted((repo / "snapshots").glob("*"))
        for snapshot in snapshots:
            pipeline_class = _pipeline_class(snapshot)
            if pipeline_class:
                name = repo.name.removeprefix("models--").replace("--", "/", 1)
                entries.append(ModelEntry(name, snapshot, "hugging face cache", pipeline_class))
                break
    return entries


def find_models() -> list[ModelEntry]:
    """Bundled models, then the user's models folder ($STUDIO_MODELS_DIR), then diffusers pipelines in the HF cache."""
    return (_folders(BUNDLED_MODELS, "bundled") + _folders(user_models_dir(), "models folder")
            + _hf_cache(hf_hub_cache()))


def resolve_model(value: str, base_dir: Path) -> Path:
    """A Load Model `path`: a folder (relative to the workflow's folder), else the name of a discovered model."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if path.exists():
        return path
    return next((entry.path for entry in find_models() if entry.name == value), path)
