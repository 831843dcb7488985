"""Where the studio's own files live."""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parent


def find_resources() -> Path:
    """The studio's bundled files (example workflows, bundled models, icons): inside the installed package
    (`studio/resources/`, where the wheel puts them), else the checkout's `resources/` next to the package
    (editable installs, tests)."""
    installed = PACKAGE_ROOT / "resources"
    return installed if installed.is_dir() else PACKAGE_ROOT.parent / "resources"


RESOURCES = find_resources()
WORKFLOWS = RESOURCES / "workflows"
BUNDLED_MODELS = RESOURCES / "models"
ICONS = RESOURCES / "icons"


def user_cache_dir() -> Path:
    """Files the studio can always recompute: $STUDIO_CACHE_DIR, else $XDG_CACHE_HOME/studio, else ~/.cache/studio."""
    if os.environ.get("STUDIO_CACHE_DIR"):
        return Path(os.environ["STUDIO_CACHE_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "studio"


def user_data_dir() -> Path:
    """Files the studio must keep (autosaves): $STUDIO_DATA_DIR, else $XDG_DATA_HOME/studio, else
    ~/.local/share/studio."""
    if os.environ.get("STUDIO_DATA_DIR"):
        return Path(os.environ["STUDIO_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base).expanduser() / "studio"


def user_config_dir() -> Path:
    """The user's own settings and credentials (the C2PA signing key): $STUDIO_CONFIG_DIR, else
    $XDG_CONFIG_HOME/studio, else ~/.config/studio."""
    if os.environ.get("STUDIO_CONFIG_DIR"):
        return Path(os.environ["STUDIO_CONFIG_DIR"]).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base).expanduser() / "studio"
