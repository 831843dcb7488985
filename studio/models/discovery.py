"""Finding diffusers model folders on disk without loading them (torch-free: the window lists models with it)."""
from __future__ import annotations

import ast
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from studio.paths import BUNDLED_MODELS

FAMILIES_DIR = Path(__file__).resolve().parent / "families"


@dataclass(frozen=True)
class ModelEntry:
    name: str  # what a workflow's Load Model `path` may say instead of a folder
    path: Path
    source: str  # "bundled", "models folder" or "hugging face cache"
    pipeline_class: str
    family: str | None = None  # the studio's family name (e.g. "Wan"); None: not a video family the studio drives


def user_models_dir() -> Path | None:
    value = os.environ.get("STUDIO_MODELS_DIR")
    return Path(value).expanduser() if value else None


def hf_hub_cache() -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


def _literal_assignments(body: list[ast.stmt]) -> dict[str, object]:
    values = {}
    for statement in body:
        if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and \
                isinstance(statement.targets[0], ast.Name):
            target, value = statement.targets[0].id, statement.value
        elif isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name) and statement.value:
            target, value = statement.target.id, statement.value
        else:
            continue
        try:
            values[target] = ast.literal_eval(value)
        except ValueError:
            continue
    return values


@lru_cache(maxsize=1)
def family_names() -> dict[str, str]:
    """Pipeline class name -> family name, read from the family modules' source (class attributes `name` and
    `pipeline_classes`) without importing them: importing a family imports torch."""
    package = ast.parse((FAMILIES_DIR / "__init__.py").read_text(encoding="utf-8"))
    modules = _literal_assignments(package.body).get("FAMILY_MODULES", ())
    table: dict[str, str] = {}
    for module in modules:
        source = FAMILIES_DIR / f"{module}.py"
        if not source.is_file():
            continue
        classes = {node.name: node for node in ast.parse(source.read_text(encoding="utf-8")).body
                   if isinstance(node, ast.ClassDef)}

        def attribute(cls: ast.ClassDef, key: str, seen: int = 0) -> object:
            # A family may inherit `name` from another family class of the same module.
            values = _literal_assignments(cls.body)
            if key in values or seen > 5:
                return values.get(key)
            bases = [b.id for b in cls.bases if isinstance(b, ast.Name) and b.id in classes]
            return next((v for v in (attribute(classes[b], key, seen + 1) for b in bases) if v is not None), None)

        for cls in classes.values():
            name, pipelines = attribute(cls, "name"), attribute(cls, "pipeline_classes")
            if isinstance(name, str) and isinstance(pipelines, tuple):
                for pipeline in pipelines:
                    table.setdefault(pipeline, name)
    return table


def _pipeline_class(folder: Path) -> str | None:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = index.get("_class_name") if isinstance(index, dict) else None
    return value if isinstance(value, str) else None


def _entry(name: str, folder: Path, source: str, pipeline_class: str) -> ModelEntry:
    return ModelEntry(name, folder, source, pipeline_class, family_names().get(pipeline_class))


def _folders(root: Path | None, source: str) -> list[ModelEntry]:
    if root is None or not root.is_dir():
        return []
    entries = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        pipeline_class = _pipeline_class(folder)
        if pipeline_class:
            entries.append(_entry(folder.name, folder, source, pipeline_class))
    return entries


def _hf_cache(root: Path) -> list[ModelEntry]:
    """Diffusers pipelines in a Hugging Face hub cache (models--org--name/snapshots/<revision>/model_index.json),
    named org/name; the revision refs/main points at, else the newest snapshot that is a pipeline."""
    entries = []
    if not root.is_dir():
        return entries
    for repo in sorted(root.glob("models--*")):
        ref = repo / "refs" / "main"
        snapshots = [repo / "snapshots" / ref.read_text().strip()] if ref.is_file() else \
            sorted((repo / "snapshots").glob("*"), key=_modified, reverse=True)
        for snapshot in snapshots:
            pipeline_class = _pipeline_class(snapshot)
            if pipeline_class:
                name = repo.name.removeprefix("models--").replace("--", "/", 1)
                entries.append(_entry(name, snapshot, "hugging face cache", pipeline_class))
                break
    return entries


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def find_models() -> list[ModelEntry]:
    """Bundled models, then the user's models folder ($STUDIO_MODELS_DIR), then diffusers pipelines in the HF cache,
    each with its family; reads only model_index.json files, never weights."""
    return (_folders(BUNDLED_MODELS, "bundled") + _folders(user_models_dir(), "models folder")
            + _hf_cache(hf_hub_cache()))


def resolve_model(value: str, base_dir: Path) -> Path:
    """A Load Model `path`: a folder (relative to the workflow's folder), else the name of a discovered model."""
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    if path.exists():
        return path
    return next((entry.path for entry in find_models() if entry.name == value), path)
