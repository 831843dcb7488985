"""The node editor: commands round-trip the graph exactly, the scene mirrors the graph, and the gestures a user makes
(drag to connect, move, delete, copy/paste, Tab search, frame all) do what they promise."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDropEvent, QUndoStack
from PySide6.QtWidgets import QApplication

from studio.graph.registry import catalogue
from studio.graph.workflow import load_workflow
from studio.ui.editor import NODE_TYPE_MIME, GraphEditor
from studio.ui.editor.commands import AddNodes, Connect, Disconnect, MoveNodes, RemoveNodes, SetParam
from studio.ui.editor.search import rank_specs

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "workflows" / "text_to_video.json"


@pytest.fixture
def graph():
    return load_workflow(EXAMPLE)


@pytest.fixture
def stack():
    return QUndoStack()


@pytest.fixture
def editor(qtbot, graph, stack):
    view = GraphEditor(catalogue(), stack)
    qtbot.addWidget(view)
    view.resize(1400, 800)
    view.show()
    qtbot.waitExposed(view)
    view.set_graph(graph)
    return view


def text_of(graph) -> str:
    return json.dumps(graph.to_json())  # a string: key order counts, as it does in the saved file


def assert_mirrors(editor, graph) -> None:
    scene = editor.graph_scene
    assert set(scene.node_items) == set(graph.nodes)
    links = {(target, name): link for target, node in graph.nodes.items() for name, link in node.inputs.items()}
    assert set(scene.edge_items) == set(links)
    for (target, name), edge in scene.edge_items.items():
        assert (edge.source.node.node_id, edge.source.name) == links[(target, name)]
        assert edge.path().pointAtPercent(0) == edge.source.scenePos()
        assert edge.path().pointAtPercent(1) == edge.target.scenePos()
    for node_id, item in scene.node_items.items():
        ui = graph.nodes[node_id].ui
        assert (item.pos().x(), item.pos().y()) == (ui.get("x", 0), ui.get("y", 0))
    for item in scene.node_items.values():  # a port's dot is filled exactly when a link touches it
        for port in (*item.inputs.values(), *item.outputs.values()):
            assert port.connections == sum(1 for e in scene.edge_items.values() if port in (e.source, e.target))


def port_point(editor, node_id: str, name: str, is_input: bool) -> QPoint:
    item = editor.graph_scene.node_items[node_id]
    port = (item.inputs if is_input else item.outputs)[name]
    return editor.mapFromScene(port.scenePos())


def drag(qtbot, editor, start: QPoint, end: QPoint, steps: int = 4) -> None:
    viewport = editor.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=start)
    for i in range(1, steps + 1):
        qtbot.mouseMove(viewport, start + (end - start) * (i / steps))
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=end)


# -- commands
def command_cases(graph):
    new_decode = {"decode_2": {"type": "decode@1", "params": {"tiling": True},
                               "inputs": {"model": ["model", "model"], "latent": ["sampler", "latent"]},
                               "ui": {"x": 1200, "y": 300}}}
    return {
        "add": AddNodes(graph, new_decode),
        "remove a hub": RemoveNodes(graph, ["model"]),
        "remove a chain": RemoveNodes(graph, ["latent", "sampler"]),
        "connect, replacing a link": Connect(graph, "negative", "conditioning", "sampler", "positive"),
        "disconnect": Disconnect(graph, "sampler", "guider"),
        "set a param": SetParam(graph, "sampler", "steps", 30),
        "move": MoveNodes(graph, {"sampler": ((900, 0), (950, 40)), "decode": ((1200, 0), (1250, 40))}),
    }


@pytest.mark.parametrize("case", list(command_cases(load_workflow(EXAMPLE))))
def test_every_command_undoes_and_redoes_to_the_exact_graph_json(editor, graph, stack, case):
    before = text_of(graph)
    stack.push(command_cases(graph)[case])
    after = text_of(graph)
    assert after != before
    assert_mirrors(editor, graph)
    stack.undo()
    assert text_of(graph) == before
    assert_mirrors(editor, graph)
    stack.redo()
    assert text_of(graph) == after
    assert_mirrors(editor, graph)


def test_undoing_a_param_the_node_did_not_store_removes_it_again(editor, graph, stack):
    graph.nodes["sampler"].params.pop("denoise")
    before = text_of(graph)
    stack.push(SetParam(graph, "sampler", "denoise", 0.5, default=1.0))
    stack.undo()
    assert text_of(graph) == before


def test_consecutive_edits_of_one_param_merge_into_one_undo_step(editor, graph, stack):
    for text in ("a", "a b", "a blue square"):
        stack.push(SetParam(graph, "prompt", "text", text, session=1))
    assert stack.count() == 1
    stack.undo()
    assert graph.nodes["prompt"].params["text"] == "a red circle moving right"
    stack.redo()
    stack.push(SetParam(graph, "prompt", "text", "later", session=2))  # a new editing session: a new step
    assert stack.count() == 2


def test_ids_come_from_the_type_name(editor, graph):
    assert editor.add_node_at("sampler@1", QPointF(0, 400)) == "sampler_2"
    assert editor.add_node_at("sampler@1", QPointF(0, 600)) == "sampler_3"
    assert editor.add_node_at("load_image@1", QPointF(0, 800)) == "load_image"
    assert graph.nodes["sampler_2"].params == catalogue().get("sampler@1").default_params()


# -- connecting
def test_dragging_from_an_output_to_an_input_with_the_mouse_links_them(qtbot, editor, graph, stack):
    editor.add_node_at("decode@1", QPointF(1300, 400))
    drag(qtbot, editor, port_point(editor, "sampler", "latent", False), port_point(editor, "decode_2", "latent", True))
    assert graph.nodes["decode_2"].inputs == {"latent": ("sampler", "latent")}
    assert ("decode_2", "latent") in editor.graph_scene.edge_items
    stack.undo()
    assert graph.nodes["decode_2"].inputs == {}
    assert_mirrors(editor, graph)


def test_dragging_from_an_input_to_an_output_links_them_too(qtbot, editor, graph):
    editor.add_node_at("decode@1", QPointF(1300, 400))
    drag(qtbot, editor, port_point(editor, "decode_2", "model", True), port_point(editor, "model", "model", False))
    assert graph.nodes["decode_2"].inputs == {"model": ("model", "model")}


def test_while_dragging_ports_that_cannot_accept_are_dimmed(qtbot, editor):
    editor.add_node_at("decode@1", QPointF(1300, 400))
    scene = editor.graph_scene
    start = port_point(editor, "sampler", "latent", False)
    qtbot.mousePress(editor.viewport(), Qt.MouseButton.LeftButton, pos=start)
    qtbot.mouseMove(editor.viewport(), start + QPoint(40, 40))
    decode = scene.node_items["decode_2"]
    assert not decode.inputs["latent"].dimmed
    assert decode.inputs["model"].dimmed  # MODEL cannot take LATENT
    assert scene.node_items["latent"].inputs["model"].dimmed
    assert scene.node_items["sampler"].inputs["latent"].dimmed  # a link to itself would be a cycle
    qtbot.mouseRelease(editor.viewport(), Qt.MouseButton.LeftButton, pos=start + QPoint(40, 40))
    assert not decode.inputs["model"].dimmed  # released: everything lit again


@pytest.mark.parametrize("start", [("sampler", "latent", False), ("model", "model", False),
                                   ("sampler", "guider", True), ("decode", "latent", True)])
def test_dimming_agrees_with_the_graph_core_on_every_port(editor, graph, start):
    from studio.graph.validation import can_connect

    scene = editor.graph_scene
    node_id, name, is_input = start
    port = (scene.node_items[node_id].inputs if is_input else scene.node_items[node_id].outputs)[name]
    scene.begin_connection(port)
    for item in scene.node_items.values():
        for other in (*item.inputs.values(), *item.outputs.values()):
            if other is port:
                continue
            if other.is_input == is_input:
                assert other.dimmed
                continue
            source, target = (other, port) if is_input else (port, other)
            refused = can_connect(graph, catalogue(), source.node.node_id, source.name, target.node.node_id,
                                  target.name)
            assert other.dimmed == (refused is not None), (other.node.node_id, other.name, refused)
    scene.cancel_connection()


def test_a_drop_on_an_incompatible_port_is_refused_and_says_why(qtbot, editor, graph, stack):
    before = text_of(graph)
    with qtbot.waitSignal(editor.status_message) as message:
        drag(qtbot, editor, port_point(editor, "prompt", "conditioning", False),
             port_point(editor, "decode", "latent", True))
    assert "LATENT input cannot take CONDITIONING" in message.args[0]
    assert text_of(graph) == before
    assert stack.count() == 0


def test_a_link_that_would_close_a_cycle_is_refused(qtbot, editor, graph, stack):
    # encode_video reads decode's video, so encode_video -> sampler would loop sampler -> decode -> encode_video.
    stack.push(AddNodes(graph, {"encode_video": {"type": "encode_video@1", "params": {}, "ui": {"x": 1500, "y": 300},
                                                 "inputs": {"video": ["decode", "video"]}}}))
    before = text_of(graph)
    with qtbot.waitSignal(editor.status_message) as message:
        drag(qtbot, editor, port_point(editor, "encode_video", "latent", False),
             port_point(editor, "sampler", "latent", True))
    assert "cycle" in message.args[0]
    assert text_of(graph) == before
    assert stack.count() == 1


def test_dropping_a_connection_on_empty_canvas_changes_nothing(qtbot, editor, graph, stack):
    before = text_of(graph)
    start = port_point(editor, "sampler", "latent", False)
    drag(qtbot, editor, start, start + QPoint(0, 300))
    assert text_of(graph) == before
    assert stack.count() == 0
    assert not editor.graph_scene.is_connecting()


# -- moving, deleting, selecting
def test_dragging_selected_nodes_moves_them_all_in_one_undo_step(qtbot, editor, graph, stack):
    scene = editor.graph_scene
    scene.node_items["sampler"].setSelected(True)
    scene.node_items["decode"].setSelected(True)
    title = editor.mapFromScene(scene.node_items["sampler"].scenePos() + QPointF(60, 12))
    drag(qtbot, editor, title, title + QPoint(50, 80))
    assert stack.count() == 1
    moved = graph.nodes["sampler"].ui["x"], graph.nodes["decode"].ui["x"]
    assert moved[0] > 900 and moved[1] > 1200
    assert moved[1] - moved[0] == 300  # both moved by the same amount
    assert_mirrors(editor, graph)
    stack.undo()
    assert (graph.nodes["sampler"].ui, graph.nodes["decode"].ui) == ({"x": 900, "y": 0}, {"x": 1200, "y": 0})
    assert_mirrors(editor, graph)


def test_rubber_band_selects_several_nodes(qtbot, editor):
    scene = editor.graph_scene
    with qtbot.waitSignal(editor.selection_changed) as selected:
        top_left = editor.mapFromScene(QPointF(860, -60))
        bottom_right = editor.mapFromScene(scene.node_items["decode"].sceneBoundingRect().bottomRight()
                                           + QPointF(20, 20))
        drag(qtbot, editor, top_left, bottom_right)
    assert set(editor.selected_node_ids()) == {"sampler", "decode"}
    assert set(selected.args[0]) <= {"sampler", "decode"}


def test_delete_key_removes_selected_nodes_and_undo_restores_their_links(qtbot, editor, graph, stack):
    before = text_of(graph)
    editor.graph_scene.node_items["sampler"].setSelected(True)
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_Delete)
    assert "sampler" not in graph.nodes
    assert "latent" not in graph.nodes["decode"].inputs
    assert_mirrors(editor, graph)
    stack.undo()
    assert text_of(graph) == before
    assert_mirrors(editor, graph)


def test_deleting_a_selected_link_disconnects_it(editor, graph, stack):
    editor.graph_scene.edge_items[("sampler", "guider")].setSelected(True)
    editor.delete_selected()
    assert "guider" not in graph.nodes["sampler"].inputs
    stack.undo()
    assert graph.nodes["sampler"].inputs["guider"] == ("guidance", "guider")


# -- clipboard
def test_copy_then_paste_renames_ids_and_keeps_only_internal_links(editor, graph, stack):
    for node_id in ("model", "prompt", "negative"):
        editor.graph_scene.node_items[node_id].setSelected(True)
    editor.copy()
    copied = json.loads(QApplication.clipboard().text())  # plain workflow JSON
    assert copied["format"] == "studio.workflow" and set(copied["nodes"]) == {"model", "prompt", "negative"}
    editor.paste()
    assert {"model_2", "prompt_2", "negative_2"} <= set(graph.nodes)
    assert graph.nodes["prompt_2"].inputs == {"model": ("model_2", "model")}
    assert graph.nodes["prompt_2"].params == graph.nodes["prompt"].params
    assert graph.nodes["prompt_2"].ui != graph.nodes["prompt"].ui  # offset, not stacked on the original
    assert set(editor.selected_node_ids()) == {"model_2", "prompt_2", "negative_2"}
    assert_mirrors(editor, graph)
    stack.undo()  # one paste is one step
    assert not {"model_2", "prompt_2", "negative_2"} & set(graph.nodes)


def test_duplicate_drops_links_to_nodes_outside_the_selection(qtbot, editor, graph):
    editor.graph_scene.node_items["prompt"].setSelected(True)
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    assert graph.nodes["prompt_2"].inputs == {}
    assert graph.nodes["prompt_2"].ui == {"x": 340, "y": -80}


def test_pasting_text_that_is_not_a_workflow_says_so(qtbot, editor, graph, stack):
    QApplication.clipboard().setText("hello")
    with qtbot.waitSignal(editor.status_message) as message:
        editor.paste()
    assert "Cannot paste" in message.args[0]
    assert stack.count() == 0


# -- view
def test_f_frames_every_node(qtbot, editor):
    editor.scale(4, 4)
    editor.centerOn(QPointF(-5000, -5000))
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_F)
    visible = editor.mapToScene(editor.viewport().rect()).boundingRect()
    for item in editor.graph_scene.node_items.values():
        assert visible.contains(item.sceneBoundingRect()), item.node_id


def test_wheel_zooms_within_limits(qtbot, editor):
    from PySide6.QtGui import QWheelEvent

    def wheel(delta: int) -> None:
        centre = QPointF(editor.viewport().rect().center())
        event = QWheelEvent(centre, editor.viewport().mapToGlobal(centre), QPoint(), QPoint(0, delta),
                            Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                            False)
        QApplication.sendEvent(editor.viewport(), event)

    before = editor.transform().m11()
    wheel(120)
    assert editor.transform().m11() > before
    for _ in range(50):
        wheel(-600)
    assert editor.transform().m11() == pytest.approx(0.1)


def test_middle_button_drag_pans(qtbot, editor):
    centre_before = editor.mapToScene(editor.viewport().rect().center())
    viewport = editor.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(700, 400))
    qtbot.mouseMove(viewport, QPoint(600, 300))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(600, 300))
    moved = editor.mapToScene(editor.viewport().rect().center()) - centre_before
    assert moved.x() > 0 and moved.y() > 0


# -- run states on the cards
def test_a_failed_node_shows_its_message_on_the_card(editor):
    card = editor.graph_scene.node_items["decode"]
    height = card.boundingRect().height()
    editor.set_node_status("decode", "failed", message="CUDA out of memory")
    assert "CUDA out of memory" in " ".join(card.status_lines())
    assert card.boundingRect().height() > height
    editor.clear_statuses()
    assert card.status_lines() == [] and card.boundingRect().height() == height


def test_a_prompt_card_shows_its_token_count_and_warns_when_truncated(editor):
    card = editor.graph_scene.node_items["prompt"]
    editor.set_node_status("prompt", "done", info={"tokens": 9, "max_tokens": 512, "truncated": False})
    assert card.status_lines() == ["9/512 tokens"]
    editor.set_node_status("prompt", "done", info={"tokens": 600, "max_tokens": 512, "truncated": True})
    assert card.status_lines()[0] == "600/512 tokens"
    assert any("truncated" in line for line in card.status_lines())


def test_a_running_node_shows_its_step(editor):
    editor.set_node_status("sampler", "running", step=7, total=20)
    assert editor.graph_scene.node_items["sampler"].badge_text() == "STEP 7/20"
    with pytest.raises(ValueError):
        editor.set_node_status("sampler", "exploded")


def test_statuses_survive_a_node_being_deleted_and_restored(editor, graph, stack):
    editor.set_node_status("decode", "failed", message="boom")
    stack.push(RemoveNodes(graph, ["decode"]))
    stack.undo()
    assert "boom" in " ".join(editor.graph_scene.node_items["decode"].status_lines())


def test_zoomed_far_out_cards_still_render(editor):
    editor.set_node_status("sampler", "running", step=3, total=10)
    editor.scale(0.2, 0.2)
    assert not editor.grab().isNull()


# -- adding nodes
def test_tab_opens_the_search_and_enter_adds_the_chosen_node(qtbot, editor, graph):
    editor.setFocus()
    qtbot.keyClick(editor, Qt.Key.Key_Tab)
    popup = editor._search
    assert popup.isVisible()
    qtbot.keyClicks(popup.search, "decode")
    qtbot.keyClick(popup.search, Qt.Key.Key_Return)
    assert graph.nodes["decode_2"].type == "decode@1"
    assert not popup.isVisible()
    assert editor.selected_node_ids() == ["decode_2"]


def test_double_click_on_empty_canvas_opens_the_search(qtbot, editor):
    empty = editor.mapFromScene(QPointF(600, 600))
    qtbot.mouseDClick(editor.viewport(), Qt.MouseButton.LeftButton, pos=empty)
    assert editor._search.isVisible()
    editor._search.hide()


def test_search_ranks_titles_first_and_finds_by_category_description_and_initials():
    specs = catalogue().specs()
    assert rank_specs(specs, "samp")[0].type_id == "sampler@1"
    assert rank_specs(specs, "emptlat")[0].type_id == "empty_latent_video@1"
    assert {s.type_id for s in rank_specs(specs, "conditioning")} >= {"prompt@1", "negative_prompt@1"}
    assert rank_specs(specs, "vae")[0].type_id == "decode@1"  # "VAE decode" is in its description
    assert rank_specs(specs, "zzzz") == []


def test_a_node_dropped_from_the_palette_lands_where_it_was_dropped(editor, graph):
    mime = QMimeData()
    mime.setData(NODE_TYPE_MIME, b"guidance@1")
    where = QPoint(300, 600)
    event = QDropEvent(QPointF(where), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    editor.dropEvent(event)
    node = graph.nodes["guidance_2"]
    scene_pos = editor.mapToScene(where)
    assert abs(node.ui["x"] + 116 - scene_pos.x()) <= 1 and abs(node.ui["y"] + 15 - scene_pos.y()) <= 1


def test_switching_graphs_stops_listening_to_the_old_one(editor, graph, stack):
    other = load_workflow(EXAMPLE)
    editor.set_graph(other)
    graph.remove_node("save")
    assert "save" in editor.graph_scene.node_items
    stack.push(RemoveNodes(other, ["save"]))
    assert "save" not in editor.graph_scene.node_items


def test_a_node_of_unknown_type_is_drawn_with_its_links_and_says_so(editor, stack):
    from studio.graph.workflow import workflow_from_json

    data = json.loads(EXAMPLE.read_text())
    data["nodes"]["decode"]["type"] = "fancy_decode@7"
    other = workflow_from_json(data)
    editor.set_graph(other)
    card = editor.graph_scene.node_items["decode"]
    assert "unknown node type 'fancy_decode@7'" in " ".join(card.status_lines())
    assert_mirrors(editor, other)  # its input links and the link out to save still draw
    editor.set_node_status("decode", "failed", message="cannot run")
    editor.clear_statuses()
    assert "unknown node type" in " ".join(card.status_lines())
