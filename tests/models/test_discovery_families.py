"""Discovery names each model's family, offline and without torch, fast enough for a big Hugging Face cache."""
import json
import subprocess
import sys
import time

from benchmarks.discovery_speed import build_hub_cache
from studio.cli import main as studio_main


def write_pipeline(folder, pipeline_class):
    folder.mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": pipeline_class}))
    return folder


def hub_repo(hub, name, pipeline_class, revision="r1", main=True):
    repo = hub / f"models--{name.replace('/', '--')}"
    write_pipeline(repo / "snapshots" / revision, pipeline_class)
    if main:
        (repo / "refs").mkdir()
        (repo / "refs" / "main").write_text(revision)
    return repo


def test_every_model_is_listed_with_its_family_without_importing_torch(tmp_path):
    hub = tmp_path / "home" / "hub"  # HF_HOME's layout: the hub cache is HF_HOME/hub
    hub_repo(hub, "Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "WanPipeline")
    hub_repo(hub, "Lightricks/LTX-Video", "LTXPipeline", main=False)  # no refs/main: the snapshot is still found
    hub_repo(hub, "acme/an-image-model", "StableDiffusionPipeline")
    write_pipeline(tmp_path / "mine" / "my-wan", "WanImageToVideoPipeline")
    code = ("import sys; from studio.models.discovery import find_models; "
            "print([(e.name, e.source, e.family) for e in find_models()]); "
            "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])")
    env = {"HF_HOME": str(tmp_path / "home"), "STUDIO_MODELS_DIR": str(tmp_path / "mine"), "PATH": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    entries, imported = map(eval, result.stdout.splitlines())
    assert imported == []
    assert ("shapes", "bundled", "Wan") in entries
    assert ("my-wan", "models folder", "Wan") in entries
    assert ("Wan-AI/Wan2.1-T2V-1.3B-Diffusers", "hugging face cache", "Wan") in entries
    assert ("Lightricks/LTX-Video", "hugging face cache", "LTX-Video") in entries
    assert ("acme/an-image-model", "hugging face cache", None) in entries  # listed, but no family drives it


def test_the_torch_free_family_table_agrees_with_the_family_classes():
    from studio.models.discovery import family_names
    from studio.models.families import FAMILIES

    assert family_names() == {pipeline: family.name for family in FAMILIES for pipeline in family.pipeline_classes}


def test_studio_models_prints_each_models_family(tmp_path, monkeypatch, capsys):
    hub = tmp_path / "hub"
    hub_repo(hub, "Wan-AI/Wan2.2-TI2V-5B-Diffusers", "WanPipeline")
    hub_repo(hub, "acme/an-image-model", "StableDiffusionPipeline")
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    monkeypatch.delenv("STUDIO_MODELS_DIR", raising=False)
    assert studio_main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["name", "family", "pipeline"]
    assert any(line.split()[:3] == ["Wan-AI/Wan2.2-TI2V-5B-Diffusers", "Wan", "WanPipeline"] for line in lines)
    assert any(line.split()[:3] == ["acme/an-image-model", "unsupported", "StableDiffusionPipeline"]
               for line in lines)


def test_a_fifty_model_cache_is_discovered_in_well_under_a_second_of_cpu(tmp_path, monkeypatch):
    from studio.models.discovery import find_models

    monkeypatch.setenv("HF_HUB_CACHE", str(build_hub_cache(tmp_path, 50)))
    monkeypatch.delenv("STUDIO_MODELS_DIR", raising=False)
    find_models()
    started = time.process_time()  # CPU time: the shared test machine's wall clock mostly measures waiting
    entries = [e for e in find_models() if e.source == "hugging face cache"]
    assert time.process_time() - started < 1.0
    assert len(entries) == 50
    assert {e.family for e in entries} >= {"Wan", None}
