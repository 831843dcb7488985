"""Puts the checkout's `resources/` into the wheel as `studio/resources/` (see studio/paths.py: find_resources).

Everything else about the build is in pyproject.toml; this file only adds that copy step.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# Files that are never shipped: editor and OS droppings, and pickle weights (the studio refuses to load them).
SKIPPED_NAMES = {"__pycache__", ".DS_Store", ".ipynb_checkpoints"}
SKIPPED_SUFFIXES = {".pyc", ".bak", ".tmp", ".bin", ".pt", ".pth", ".ckpt", ".pkl"}


def shipped(path: Path) -> bool:
    return not (path.name.startswith(".") or path.name in SKIPPED_NAMES or path.suffix in SKIPPED_SUFFIXES
                or ".partial-" in path.name)


class BuildWithResources(build_py):
    """build_py, plus the resources folder copied into the package (editable installs read the checkout's)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "studio" / "resources"
        shutil.rmtree(target, ignore_errors=True)  # a stale build/lib must not ship files deleted since
        source = ROOT / "resources"
        for path in sorted(source.rglob("*")):
            relative = path.relative_to(source)
            if path.is_file() and all(shipped(Path(part)) for part in relative.parts):
                (target / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / relative)


setup(cmdclass={"build_py": BuildWithResources})
