import json

import pytest

from studio.graph import workflow
from studio.graph.model import Graph
from studio.graph.workflow import WorkflowError, load_workflow, save_workflow
from tests.helpers import EXAMPLE


def test_example_round_trips_through_save_and_load(tmp_path):
    graph = load_workflow(EXAMPLE)
    graph.extra["author"] = "someone"  # fields the studio does not interpret survive a save
    save_workflow(graph, tmp_path / "copy.json")
    again = load_workflow(tmp_path / "copy.json")
    assert again.to_json() == graph.to_json()
    assert json.loads((tmp_path / "copy.json").read_text())["author"] == "someone"


def test_relative_paths_resolve_from_the_workflow_folder():
    assert load_workflow(EXAMPLE).base_dir() == EXAMPLE.parent


def test_a_newer_version_is_refused_with_a_clear_message(tmp_path):
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"format": "studio.workflow", "version": 99, "nodes": {}}))
    with pytest.raises(WorkflowError, match="newer studio.*version 99"):
        load_workflow(path)


def test_an_older_version_is_migrated_when_a_migration_exists(tmp_path, monkeypatch):
    def rename_seed_node(data):
        data["nodes"] = {("sampler" if k == "ksampler" else k): v for k, v in data["nodes"].items()}
        return data

    monkeypatch.setitem(workflow.MIGRATIONS, 0, rename_seed_node)
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "studio.workflow", "version": 0,
                                "nodes": {"ksampler": {"type": "sampler@1"}}}))
    assert list(load_workflow(path).nodes) == ["sampler"]


def test_an_older_version_without_migration_is_refused(tmp_path):
    path = tmp_path / "old.json"
    path.write_text(json.dumps({"format": "studio.workflow", "version": -3, "nodes": {}}))
    with pytest.raises(WorkflowError, match="older than any"):
        load_workflow(path)


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON \\(line 1"),
    ('{"nodes": {}}', "not a studio workflow"),
    ('{"format": "studio.workflow", "version": 1, "nodes": []}', "must be an object"),
    ('{"format": "studio.workflow", "version": "1", "nodes": {}}', "must be an integer"),
])
def test_files_that_are_not_workflows_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(WorkflowError, match=message):
        load_workflow(path)


def test_every_malformed_node_is_reported_at_once(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"format": "studio.workflow", "version": 1, "nodes": {
        "a": [], "b": {"type": 3}, "c": {"type": "prompt@1", "inputs": {"model": "model"}}}}))
    with pytest.raises(WorkflowError) as raised:
        load_workflow(path)
    text = str(raised.value)
    assert "'a': must be an object" in text and "'b': \"type\" must be a string" in text
    assert "'c' input 'model': a link must be" in text


def test_missing_file_and_folder_are_clear(tmp_path):
    with pytest.raises(WorkflowError, match="not found"):
        load_workflow(tmp_path / "nope.json")
    with pytest.raises(WorkflowError, match="is a folder"):
        load_workflow(tmp_path)


def test_a_failed_save_leaves_the_previous_file_and_no_temp(tmp_path):
    path = tmp_path / "w.json"
    graph = load_workflow(EXAMPLE)
    save_workflow(graph, path)
    before = path.read_text()
    graph.set_param("prompt", "text", object())  # not JSON-serialisable: the save must fail cleanly
    with pytest.raises(TypeError):
        save_workflow(graph, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["w.json"]


def test_the_graph_announces_every_edit():
    graph, seen = Graph(), []
    graph.subscribe(lambda event, details: seen.append(event))
    graph.add_node("a", "load_model@1")
    graph.add_node("b", "prompt@1")
    graph.connect("a", "model", "b", "model")
    graph.set_param("b", "text", "hi")
    graph.remove_node("a")
    assert seen == ["node_added", "node_added", "link_added", "param_changed", "link_removed", "node_removed"]
