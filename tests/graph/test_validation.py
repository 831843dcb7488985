from studio.graph.model import Graph
from studio.graph.registry import catalogue
from studio.graph.validation import can_connect, validate
from studio.graph.workflow import load_workflow
from tests.helpers import EXAMPLE


def test_the_example_workflow_is_valid():
    assert validate(load_workflow(EXAMPLE), catalogue()) == []


def test_every_problem_is_reported_at_once_naming_node_and_port():
    graph = load_workflow(EXAMPLE)
    graph.add_node("mystery", "teleport@1")
    graph.nodes["sampler"].inputs["latent"] = ("prompt", "conditioning")  # type mismatch
    graph.nodes["decode"].inputs["latent"] = ("ghost", "latent")  # missing node
    graph.nodes["save"].inputs["video"] = ("decode", "frames")  # missing output
    del graph.nodes["guidance"].inputs["negative"]  # optional: fine
    del graph.nodes["prompt"].inputs["model"]  # required: missing
    graph.set_param("sampler", "steps", "twenty")  # wrong type
    graph.set_param("latent", "width", -5)  # below bounds
    graph.set_param("guidance", "scale", 99.0)  # above bounds
    graph.set_param("guidance", "method", "magic")  # not a choice
    graph.set_param("decode", "sharpness", 2)  # unknown parameter
    messages = sorted(str(p) for p in validate(graph, catalogue()))
    assert messages == sorted([
        "node 'mystery': unknown node type 'teleport@1'",
        "node 'sampler' input 'latent': expects LATENT but 'prompt'.conditioning is CONDITIONING",
        "node 'decode' input 'latent': linked to missing node 'ghost'",
        "node 'save' input 'video': node 'decode' (Decode) has no output 'frames'",
        "node 'prompt' input 'model': required MODEL input is not connected",
        "node 'sampler' parameter 'steps': expects int, got str 'twenty'",
        "node 'latent' parameter 'width': must be at least 0, got -5",
        "node 'guidance' parameter 'scale': must be at most 30, got 99.0",
        "node 'guidance' parameter 'method': must be one of 'cfg', 'cfg_zero_star', 'apg', 'tangential_cfg', "
        "got 'magic'",
        "node 'decode' parameter 'sharpness': Decode has no such parameter",
    ])


def test_a_cycle_is_reported_on_the_nodes_that_form_it():
    graph = Graph()
    for node_id in ("model", "a", "b", "after"):
        graph.add_node(node_id, "encode_video@1" if node_id != "model" else "load_model@1")
    graph.add_node("dec_a", "decode@1")
    graph.add_node("dec_b", "decode@1")
    # a -> dec_a -> b -> dec_b -> a is a cycle; `after` merely reads from it
    for node_id in ("a", "b", "after", "dec_a", "dec_b"):
        graph.connect("model", "model", node_id, "model")
    graph.connect("dec_a", "video", "b", "video")
    graph.connect("b", "latent", "dec_b", "latent")
    graph.connect("dec_b", "video", "a", "video")
    graph.connect("a", "latent", "dec_a", "latent")
    graph.connect("dec_b", "video", "after", "video")
    cyclic = sorted(p.node for p in validate(graph, catalogue()) if "cycle" in p.message)
    assert cyclic == ["a", "b", "dec_a", "dec_b"]


def test_wrong_bool_and_int_types_are_not_confused():
    graph = load_workflow(EXAMPLE)
    graph.set_param("decode", "tiling", 1)
    graph.set_param("sampler", "seed", True)
    graph.set_param("guidance", "scale", 7)  # an int is a fine float
    assert sorted(str(p) for p in validate(graph, catalogue())) == [
        "node 'decode' parameter 'tiling': expects bool, got int 1",
        "node 'sampler' parameter 'seed': expects int, got bool True",
    ]


def test_links_are_refused_for_wrong_types_and_cycles():
    graph = load_workflow(EXAMPLE)
    registry = catalogue()
    assert can_connect(graph, registry, "prompt", "conditioning", "sampler", "latent") == \
        "LATENT input cannot take CONDITIONING"
    graph.add_node("encode", "encode_video@1")
    graph.connect("model", "model", "encode", "model")
    graph.connect("decode", "video", "encode", "video")
    assert can_connect(graph, registry, "encode", "latent", "sampler", "latent") == "the link would close a cycle"
    assert can_connect(graph, registry, "latent", "latent", "sampler", "latent") is None
