"""Packaging: the resource locator, the desktop files naming each other, and install.sh's quick paths.

The full wheel -> install.sh -> render -> screenshot -> uninstall round trip takes several minutes (a fresh
environment with torch and every dependency), so it lives in packaging/check.sh (`make check-dist`, run by CI).
"""
from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from studio import paths
from studio.cli import build_parser

REPO = Path(__file__).resolve().parents[2]
LINUX = REPO / "packaging" / "linux"
INSTALL = REPO / "packaging" / "install.sh"
APP_ID = "io.github.studio.Studio"
MIME_TYPE = "application/x-studio-workflow+json"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)


def desktop_entry() -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive
    parser.read(LINUX / f"{APP_ID}.desktop", encoding="utf-8")
    return dict(parser["Desktop Entry"])


def test_from_the_checkout_the_resources_are_the_repos_resources_folder():
    assert paths.RESOURCES == REPO / "resources"
    assert (paths.WORKFLOWS / "text_to_video.json").is_file()
    assert paths.BUNDLED_MODELS == REPO / "resources" / "models"


def test_an_installed_package_finds_the_resources_inside_itself(tmp_path, monkeypatch):
    (tmp_path / "studio" / "resources" / "workflows").mkdir(parents=True)
    monkeypatch.setattr(paths, "PACKAGE_ROOT", tmp_path / "studio")
    assert paths.find_resources() == tmp_path / "studio" / "resources"


def test_the_icon_exists_at_every_hicolor_size_and_as_svg():
    hicolor = paths.ICONS / "hicolor"
    for size in ICON_SIZES:
        png = hicolor / f"{size}x{size}" / "apps" / f"{APP_ID}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert ET.parse(hicolor / "scalable" / "apps" / f"{APP_ID}.svg").getroot().tag.endswith("svg")


def test_the_desktop_entry_metainfo_and_mime_type_name_each_other():
    entry = desktop_entry()
    assert entry["Type"] == "Application" and entry["Icon"] == APP_ID
    assert entry["Exec"] == "studio gui %f"  # install.sh rewrites `studio` to the launcher's full path
    assert MIME_TYPE in entry["MimeType"].split(";")

    component = ET.parse(LINUX / f"{APP_ID}.metainfo.xml").getroot()
    assert component.get("type") == "desktop-application"
    assert component.findtext("id") == APP_ID
    assert component.findtext("launchable") == f"{APP_ID}.desktop"
    assert component.findtext("icon") == APP_ID
    assert component.findtext("provides/mediatype") == MIME_TYPE
    assert component.findtext("provides/binary") == "studio"

    mime = ET.parse(LINUX / f"{APP_ID}.xml").getroot().find(f"{MIME_NS}mime-type")
    assert mime.get("type") == MIME_TYPE
    assert mime.find(f"{MIME_NS}glob").get("pattern") == "*.studio.json"
    assert mime.find(f"{MIME_NS}icon").get("name") == APP_ID


def test_studio_gui_takes_the_file_the_desktop_opens():
    args = build_parser().parse_args(["gui", "/some/where/clip.studio.json"])
    assert args.workflow == "/some/where/clip.studio.json"


@pytest.mark.skipif(shutil.which("desktop-file-validate") is None, reason="desktop-file-validate not installed")
def test_the_desktop_entry_is_valid():
    subprocess.run(["desktop-file-validate", str(LINUX / f"{APP_ID}.desktop")], check=True)


@pytest.mark.skipif(shutil.which("appstreamcli") is None, reason="appstreamcli not installed")
def test_the_metainfo_is_valid():
    subprocess.run(["appstreamcli", "validate", "--no-net", str(LINUX / f"{APP_ID}.metainfo.xml")], check=True,
                   stdout=subprocess.DEVNULL)


def run_install(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(INSTALL), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_install_help_names_the_commands_and_settings():
    result = run_install("--help")
    assert result.returncode == 0
    for word in ("--uninstall", "STUDIO_INSTALL_HOME", "torch==2.13.0", "manifest"):
        assert word in result.stdout


@pytest.mark.parametrize("cuda, build", [(None, "cpu"), ("12.4", "cpu"), ("12.6", "cu126"), ("12.9", "cu128"),
                                         ("13.2", "cu130")])
def test_the_torch_build_follows_the_drivers_cuda_version(tmp_path, cuda, build):
    fake = tmp_path / "bin"
    fake.mkdir()
    if cuda:
        smi = fake / "nvidia-smi"
        smi.write_text(f"#!/bin/sh\necho '| NVIDIA-SMI 570.86   Driver Version: 570.86   CUDA Version: {cuda}     |'\n")
        smi.chmod(0o755)
    path = os.pathsep.join([str(fake), "/usr/bin", "/bin"])
    result = run_install("--which-torch", env={"PATH": path, "STUDIO_TORCH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == build


def test_uninstall_without_an_install_says_so_and_touches_nothing(tmp_path):
    result = run_install("--uninstall", env={"STUDIO_INSTALL_HOME": str(tmp_path)})
    assert result.returncode == 1 and "nothing to uninstall" in result.stderr
    assert list(tmp_path.iterdir()) == []
