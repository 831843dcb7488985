"""The executor on small pure-Python nodes: order, caching, output nodes, failures, cancel."""
from studio.engine.errors import NodeError
from studio.engine.executor import Executor
from studio.graph.registry import Input, NodeRegistry, NodeSpec, Output, Param
from studio.graph.types import ParamType, PortType

calls: list[str] = []


def number(ctx, value):
    calls.append(ctx.node_id)
    return {"out": value}


def add(ctx, a, b, fail):
    calls.append(ctx.node_id)
    if fail == "user":
        raise NodeError("cannot add that", param="fail")
    if fail == "bug":
        raise ZeroDivisionError("division by zero")
    for step in range(1, 4):
        ctx.check_aborted()
        ctx.set_progress(step, 3)
    ctx.report(total=a + b)
    return {"out": a + b}


def sink(ctx, value):
    calls.append(ctx.node_id)
    return {}


def registry():
    reg = NodeRegistry()
    reg.add(NodeSpec("number", 1, "Number", "test", "A number.", (), (Output("out", PortType.LATENT),),
                     (Param("value", ParamType.INT, 0),), number))
    reg.add(NodeSpec("add", 1, "Add", "test", "Adds.", (Input("a", PortType.LATENT), Input("b", PortType.LATENT)),
                     (Output("out", PortType.LATENT),), (Param("fail", ParamType.STRING, ""),), add))
    reg.add(NodeSpec("sink", 1, "Sink", "test", "Writes.", (Input("value", PortType.LATENT),), (), (), sink,
                     is_output=True))
    return reg


def snapshot(x=1, y=2, fail=""):
    return {"format": "studio.workflow", "version": 1, "nodes": {
        "sink": {"type": "sink@1", "inputs": {"value": ["sum", "out"]}},
        "sum": {"type": "add@1", "params": {"fail": fail}, "inputs": {"a": ["x", "out"], "b": ["y", "out"]}},
        "x": {"type": "number@1", "params": {"value": x}},
        "y": {"type": "number@1", "params": {"value": y}},
    }}


def run(executor, snap, cancel_after_step=None):
    events = []

    def emit(event):
        events.append(event)

    def cancelled():
        steps = [e for e in events if e["event"] == "step"]
        return cancel_after_step is not None and len(steps) >= cancel_after_step

    calls.clear()
    status = executor.run(snap, emit, cancelled)
    return status, events


def kinds(events, kind):
    return [e["node"] for e in events if e["event"] == kind]


def test_nodes_run_after_their_inputs_and_report_steps():
    status, events = run(Executor(registry()), snapshot())
    assert status == "done"
    assert calls == ["x", "y", "sum", "sink"]
    assert [(e["step"], e["total"]) for e in events if e["event"] == "step"] == [(1, 3), (2, 3), (3, 3)]
    assert next(e for e in events if e["event"] == "node_finished" and e["node"] == "sum")["info"] == {"total": 3}


def test_changing_one_parameter_reruns_only_that_node_and_what_follows():
    executor = Executor(registry())
    run(executor, snapshot(x=1, y=2))
    status, events = run(executor, snapshot(x=1, y=5))
    assert status == "done" and calls == ["y", "sum", "sink"]
    assert kinds(events, "node_cached") == ["x"]


def test_cached_nodes_repeat_their_report_and_output_nodes_always_run():
    executor = Executor(registry())
    run(executor, snapshot())
    _, events = run(executor, snapshot())
    assert calls == ["sink"]
    assert next(e for e in events if e["event"] == "node_cached" and e["node"] == "sum")["info"] == {"total": 3}


def test_a_user_error_fails_the_node_by_name_and_the_executor_keeps_serving():
    executor = Executor(registry())
    status, events = run(executor, snapshot(fail="user"))
    failed = next(e for e in events if e["event"] == "node_failed")
    assert status == "failed" and failed["node"] == "sum" and failed["param"] == "fail"
    assert failed["message"] == "node 'sum' parameter 'fail': cannot add that"
    assert "sink" not in calls
    assert run(executor, snapshot())[0] == "done"


def test_an_unexpected_exception_becomes_a_node_failure_with_its_message():
    status, events = run(Executor(registry()), snapshot(fail="bug"))
    failed = next(e for e in events if e["event"] == "node_failed")
    assert status == "failed"
    assert failed["message"] == "node 'sum' (Add) failed: ZeroDivisionError: division by zero"
    assert "Traceback" in failed["detail"]


def test_cancel_stops_at_the_next_step():
    status, events = run(Executor(registry()), snapshot(), cancel_after_step=1)
    assert status == "cancelled"
    assert len([e for e in events if e["event"] == "step"]) == 1
    assert kinds(events, "node_cancelled") == ["sum"]


def test_an_invalid_graph_is_refused_with_every_problem_before_anything_runs():
    snap = snapshot()
    snap["nodes"]["sum"]["inputs"]["a"] = ["nowhere", "out"]
    snap["nodes"]["x"]["params"]["value"] = "one"
    status, events = run(Executor(registry()), snap)
    assert status == "failed" and calls == []
    assert len(events[-1]["problems"]) == 2


def show(ctx, value):
    """A node that publishes a clip, as Decode does, and remembers whether previews were asked for."""
    import numpy as np

    calls.append(ctx.node_id)
    seen_previews.append(ctx.previews)
    ctx.publish_frames(np.full((2, 600, 1024, 3), value, np.uint8), fps=12)
    return {"out": value}


seen_previews: list[bool] = []


def frames_registry():
    reg = registry()
    reg.add(NodeSpec("show", 1, "Show", "test", "Publishes frames.", (Input("value", PortType.LATENT),),
                     (Output("out", PortType.LATENT),), (), show))
    return reg


def frames_snapshot(x=1, **extra):
    return {"format": "studio.workflow", "version": 1, **extra, "nodes": {
        "x": {"type": "number@1", "params": {"value": x}},
        "show": {"type": "show@1", "inputs": {"value": ["x", "out"]}},
        "sink": {"type": "sink@1", "inputs": {"value": ["show", "out"]}},
    }}


def test_published_frames_arrive_shrunk_and_are_sent_again_when_the_node_is_served_from_the_cache():
    executor = Executor(frames_registry())
    _, events = run(executor, frames_snapshot())
    sent = [e for e in events if e["event"] == "frames"]
    assert len(sent) == 1 and set(sent[0]) == {"event", "node", "kind", "frames", "fps"}
    assert sent[0]["node"] == "show" and sent[0]["kind"] == "final" and sent[0]["fps"] == 12.0
    assert sent[0]["frames"].shape == (2, 300, 512, 3) and sent[0]["frames"].dtype.name == "uint8"
    assert (sent[0]["frames"] == 1).all()
    _, events = run(executor, frames_snapshot())
    assert calls == ["sink"]  # nothing re-ran...
    replayed = [e for e in events if e["event"] in ("frames", "node_cached") and e["node"] == "show"]
    assert [e["event"] for e in replayed] == ["frames", "node_cached"]  # ...yet the frames came again, first
    assert replayed[0]["frames"] is sent[0]["frames"] and not replayed[0]["frames"].flags.writeable


def test_a_snapshot_can_ask_for_steps_without_previews():
    seen_previews.clear()
    run(Executor(frames_registry()), frames_snapshot())
    run(Executor(frames_registry()), frames_snapshot(previews=False))
    assert seen_previews == [True, False]
