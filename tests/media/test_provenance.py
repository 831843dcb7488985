"""C2PA provenance on exports: the manifest reads back with c2pa.Reader, the key is made once and kept private, and
a signing failure never costs the render."""
from __future__ import annotations

import json
import os
import stat
import sys

import c2pa
import numpy as np
import pytest

from studio import __version__
from studio.media import provenance
from studio.media.export import export_clip
from studio.media.video_io import Video, read_video

MIME = {"mp4": "video/mp4", "png": "image/png", "gif": "image/gif"}


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    folder = tmp_path / "config"
    monkeypatch.setenv("STUDIO_CONFIG_DIR", str(folder))
    return folder


def clip() -> Video:
    return Video(np.random.default_rng(2).integers(0, 256, (3, 24, 32, 3), dtype=np.uint8), 16.0)


def read_manifest(path, kind) -> tuple[dict, str]:
    file = sorted(path.iterdir())[0] if path.is_dir() else path
    with open(file, "rb") as stream:
        reader = c2pa.Reader(MIME[kind], stream)
        return reader.get_active_manifest(), reader.get_validation_state()


@pytest.mark.parametrize("kind", ["mp4", "png", "gif"])
def test_the_manifest_reads_back_marking_trained_algorithmic_media(tmp_path, config_dir, kind):
    export = export_clip(clip(), tmp_path / "out", "clip", kind, model="tiny-ti2v", workflow={"format": "x"})
    assert export.signed and export.warnings == []
    manifest, state = read_manifest(export.path, kind)
    actions = next(a for a in manifest["assertions"] if a["label"].startswith("c2pa.actions"))["data"]["actions"]
    created = next(a for a in actions if a["action"] == "c2pa.created")
    assert created["digitalSourceType"] == "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
    assert created["softwareAgent"]["name"] == "studio" and created["parameters"]["model"] == "tiny-ti2v"
    assert {"name": "studio", "version": __version__}.items() <= manifest["claim_generator_info"][0].items()
    assert manifest["signature_info"]["alg"].lower() == "es256"
    assert state == "Valid"  # intact and signed; the local root is simply not on anyone's trust list
    assert read_video(export.path).num_frames == 3  # still an ordinary file to every decoder


def test_every_png_frame_is_signed(tmp_path, config_dir):
    export = export_clip(clip(), tmp_path, "frames", "png")
    for frame in sorted(export.path.iterdir()):
        with open(frame, "rb") as stream:
            assert "trainedAlgorithmicMedia" in c2pa.Reader("image/png", stream).json()


def test_webm_carries_no_manifest_and_provenance_can_be_turned_off(tmp_path, config_dir):
    webm = export_clip(clip(), tmp_path, "a", "webm")
    unsigned = export_clip(clip(), tmp_path, "b", "mp4", provenance=False)
    assert not webm.signed and not unsigned.signed and webm.warnings == []
    with pytest.raises(c2pa.C2paError), open(unsigned.path, "rb") as stream:
        c2pa.Reader("video/mp4", stream)


def test_the_signing_key_is_created_once_readable_by_its_owner_only(tmp_path, config_dir):
    export_clip(clip(), tmp_path, "one", "mp4")
    folder = config_dir / "c2pa"
    key = folder / provenance.KEY_FILE
    first = key.read_bytes()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert (folder / provenance.CHAIN_FILE).read_text().count("BEGIN CERTIFICATE") == 2  # signer + intermediate
    provenance._contexts.clear()  # as a new process would
    export_clip(clip(), tmp_path, "two", "png")
    assert key.read_bytes() == first
    assert sorted(p.name for p in folder.iterdir()) == sorted([provenance.KEY_FILE, provenance.CHAIN_FILE,
                                                               provenance.ROOT_FILE])


def test_without_c2pa_the_export_still_succeeds_with_a_warning(tmp_path, config_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "c2pa", None)  # import c2pa now fails, as when it is not installed
    monkeypatch.setattr(provenance, "_contexts", {})
    export = export_clip(clip(), tmp_path / "out", "clip", "mp4")
    assert not export.signed
    assert export.warnings == ["C2PA provenance is off: the c2pa-python package is not installed; "
                               "the export has no C2PA manifest"]
    assert read_video(export.path).num_frames == 3 and os.listdir(tmp_path / "out") == ["clip.mp4"]


@pytest.mark.parametrize("kind", ["mp4", "png"])
def test_a_broken_key_costs_the_manifest_never_the_render(tmp_path, config_dir, monkeypatch, kind):
    folder = config_dir / "c2pa"
    folder.mkdir(parents=True)
    (folder / provenance.KEY_FILE).write_text("not a key")
    (folder / provenance.CHAIN_FILE).write_text("not a certificate")
    monkeypatch.setattr(provenance, "_contexts", {})
    export = export_clip(clip(), tmp_path / "out", "clip", kind)
    assert not export.signed and "cannot use the signing key" in export.warnings[0]
    assert read_video(export.path).num_frames == 3
    assert os.listdir(tmp_path / "out") == ["clip" + (".mp4" if kind == "mp4" else "")]


def test_the_manifest_definition_names_studio_and_model():
    definition = provenance.manifest("clip.mp4", "video/mp4", "shapes")
    assert json.dumps(definition).count("trainedAlgorithmicMedia") == 1
    assert definition["claim_generator_info"] == [{"name": "studio", "version": __version__}]


def test_even_a_bug_in_the_signing_library_costs_only_the_manifest(tmp_path, config_dir, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("native library fell over")

    monkeypatch.setattr(provenance, "sign_file", broken)
    monkeypatch.setattr(provenance, "sign_bytes", broken)
    for kind in ("gif", "png"):
        export = export_clip(clip(), tmp_path / "out", "clip", kind)
        assert not export.signed and read_video(export.path).num_frames == 3
        assert export.warnings == ["C2PA signing failed: RuntimeError: native library fell over; "
                                   f"the {'frames have' if kind == 'png' else 'export has'} no C2PA manifest"]
    assert sorted(os.listdir(tmp_path / "out")) == ["clip", "clip.gif"]
