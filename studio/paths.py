"""Where the studio's own files live."""
from __future__ import annotations

from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent
RESOURCES = PACKAGE_ROOT.parent / "resources"
WORKFLOWS = RESOURCES / "workflows"
BUNDLED_MODELS = RESOURCES / "models"
