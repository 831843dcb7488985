"""The inspector: editors generated from the declaration, edits as undo steps, and undo flowing back in."""
from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QUndoStack
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QPlainTextEdit, QSpinBox

from studio.graph.registry import catalogue
from studio.graph.workflow import load_workflow
from studio.ui.editor.commands import SetParam
from studio.ui.inspector import Inspector
from studio.ui.param_fields import WideIntSpinBox

EXAMPLE = Path(__file__).resolve().parents[2] / "resources" / "workflows" / "text_to_video.json"


@pytest.fixture
def graph():
    return load_workflow(EXAMPLE)


@pytest.fixture
def stack():
    return QUndoStack()


@pytest.fixture
def inspector(qtbot, graph, stack):
    widget = Inspector(catalogue(), stack)
    qtbot.addWidget(widget)
    widget.resize(320, 700)
    widget.show()
    widget.set_graph(graph)
    return widget


def test_each_param_gets_the_editor_its_declaration_asks_for(inspector):
    inspector.show_node("sampler")
    fields = inspector.fields
    assert isinstance(fields["steps"].widget, QSpinBox)
    assert (fields["steps"].widget.minimum(), fields["steps"].widget.maximum()) == (1, 1000)
    assert isinstance(fields["seed"].widget, WideIntSpinBox)  # seeds go past what QSpinBox holds
    assert fields["seed"].widget.maximum() == 2**64 - 1
    assert isinstance(fields["scheduler"].widget, QComboBox)
    assert isinstance(fields["denoise"].widget, QDoubleSpinBox)
    assert fields["steps"].widget.toolTip() == catalogue().get("sampler@1").param("steps").description
    inspector.show_node("prompt")
    assert isinstance(inspector.fields["text"].widget, QPlainTextEdit)
    inspector.show_node("decode")
    assert isinstance(inspector.fields["tiling"].widget, QCheckBox)
    inspector.show_node("model")
    assert inspector.fields["path"].widget.findChild(QLineEdit).text() == "shapes"
    assert any(button.text() == "Browse…" for button in inspector.fields["path"].widget.findChildren(
        type(inspector.fields["path"].widget.layout().itemAt(1).widget())))
    assert inspector.title.text() == "Load Model"
    assert "load_model@1" in inspector.type_label.text()


def test_typing_a_prompt_is_one_undo_step(qtbot, inspector, graph, stack):
    inspector.show_node("prompt")
    box = inspector.fields["text"].widget
    box.setFocus()
    box.moveCursor(box.textCursor().MoveOperation.End)
    qtbot.keyClicks(box, " fast")
    assert graph.nodes["prompt"].params["text"] == "a red circle moving right fast"
    assert stack.count() == 1
    stack.undo()
    assert graph.nodes["prompt"].params["text"] == "a red circle moving right"
    assert box.toPlainText() == "a red circle moving right"  # undo flows back into the editor


def test_leaving_a_field_ends_the_merged_step(qtbot, inspector, graph, stack):
    inspector.show_node("save")
    line = inspector.fields["folder"].line_edit
    line.setFocus()
    line.end(False)
    qtbot.keyClicks(line, "x")
    line.editingFinished.emit()
    qtbot.keyClicks(line, "y")
    assert graph.nodes["save"].params["folder"] == "rendersxy"
    assert stack.count() == 2


def test_spin_boxes_keep_values_within_the_declared_bounds(qtbot, inspector, graph, stack):
    inspector.show_node("sampler")
    steps = inspector.fields["steps"].widget
    steps.setFocus()
    steps.selectAll()
    qtbot.keyClicks(steps, "5000")  # the 4th digit would pass 1000: the spin box refuses it
    assert graph.nodes["sampler"].params["steps"] <= 1000
    steps.setValue(99999)
    assert graph.nodes["sampler"].params["steps"] == 1000
    denoise = inspector.fields["denoise"].widget
    denoise.setValue(3.0)
    assert graph.nodes["sampler"].params["denoise"] == 1.0
    seed = inspector.fields["seed"].widget
    seed.setValue(2**63)
    assert graph.nodes["sampler"].params["seed"] == 2**63
    seed.setValue(2**70)
    assert graph.nodes["sampler"].params["seed"] == 2**64 - 1


def test_clicked_choices_are_one_step_each(inspector, graph, stack):
    inspector.show_node("sampler")
    combo = inspector.fields["scheduler"].widget
    for index in (1, 2):
        combo.setCurrentIndex(index)
        combo.activated.emit(index)
    assert graph.nodes["sampler"].params["scheduler"] == "euler"
    assert stack.count() == 2
    inspector.show_node("decode")
    inspector.fields["tiling"].widget.click()
    assert graph.nodes["decode"].params["tiling"] is True
    assert stack.count() == 3


def test_undo_updates_the_shown_editor_without_moving_the_cursor(qtbot, inspector, graph, stack):
    inspector.show_node("save")
    line = inspector.fields["folder"].line_edit
    stack.push(SetParam(graph, "save", "folder", "renders/a", session=1))
    line.setFocus()
    line.setCursorPosition(3)
    stack.push(SetParam(graph, "save", "folder", "renders/b", session=2))
    assert line.text() == "renders/b"
    assert line.cursorPosition() == 3
    stack.undo()
    assert line.text() == "renders/a"


def test_removing_the_shown_node_empties_the_inspector(inspector, graph):
    inspector.show_node("decode")
    graph.remove_node("decode")
    assert inspector.node_id is None
    assert inspector.fields == {}


def test_the_last_run_status_is_shown(inspector):
    inspector.show_node("prompt")
    inspector.set_node_status("prompt", "done", info={"tokens": 600, "max_tokens": 512, "truncated": True})
    assert "600/512 tokens" in inspector.status.text()
    assert "truncated" in inspector.status.text()
    inspector.set_node_status("decode", "failed", message="out of memory")
    assert "out of memory" not in inspector.status.text()  # another node's status waits for that node
    inspector.show_node("decode")
    assert "out of memory" in inspector.status.text()
    assert inspector.status.isVisible()


def test_bools_and_choices_accept_keyboard(qtbot, inspector, graph):
    inspector.show_node("decode")
    box = inspector.fields["tiling"].widget
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_Space)
    assert graph.nodes["decode"].params["tiling"] is True
