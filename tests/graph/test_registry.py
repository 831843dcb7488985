import subprocess
import sys

from studio.graph.registry import catalogue
from studio.graph.types import PortType

REQUIRED = {"load_model@1", "prompt@1", "negative_prompt@1", "empty_latent_video@1", "load_image@1",
            "image_conditioning@1", "guidance@1", "sampler@1", "decode@1", "load_video@1", "save_video@2",
            "encode_video@1"}


def test_the_catalogue_declares_every_node_a_workflow_needs():
    assert REQUIRED <= {spec.type_id for spec in catalogue().specs()}


def test_every_declaration_is_self_describing():
    for spec in catalogue().specs():
        assert spec.title and spec.category and spec.description, spec.type_id
        assert "\n" not in spec.description, f"{spec.type_id}: description must be one line"
        for param in spec.params:
            assert param.problem_with(param.default) is None, (spec.type_id, param.name)
        assert all(isinstance(port.type, PortType) for port in (*spec.inputs, *spec.outputs))


def test_the_graph_core_and_engine_client_import_without_torch_or_qt():
    code = ("import sys; import studio.graph.registry as r, studio.graph.validation, studio.engine.client, "
            "studio.cli, studio.models.discovery; r.catalogue(); "
            "bad = [m for m in ('torch', 'diffusers', 'transformers', 'PySide6') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
