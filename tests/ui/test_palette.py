"""The node palette: every type by category, search that filters, activation that asks for a node."""
from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.graph.registry import catalogue
from studio.ui.editor import NODE_TYPE_MIME
from studio.ui.palette import NodePalette


@pytest.fixture
def palette(qtbot):
    widget = NodePalette(catalogue())
    qtbot.addWidget(widget)
    widget.show()
    return widget


def test_every_node_type_is_listed_under_its_category(palette):
    assert sorted(palette.visible_type_ids()) == sorted(spec.type_id for spec in catalogue().specs())
    categories = [palette.tree.topLevelItem(i).text(0) for i in range(palette.tree.topLevelItemCount())]
    assert categories == sorted(categories)
    assert "Sampling" in categories


def test_search_filters_the_list(qtbot, palette):
    qtbot.keyClicks(palette.search, "prompt")
    shown = palette.visible_type_ids()
    assert set(shown[:2]) == {"prompt@1", "negative_prompt@1"}  # title matches first
    assert "decode@1" not in shown and "load_video@1" not in shown
    palette.search.clear()
    assert len(palette.visible_type_ids()) == len(catalogue().specs())
    qtbot.keyClicks(palette.search, "nothing matches this")
    assert palette.visible_type_ids() == []


def test_enter_in_the_search_box_asks_for_the_best_match(qtbot, palette):
    qtbot.keyClicks(palette.search, "sampler")
    with qtbot.waitSignal(palette.add_requested) as requested:
        qtbot.keyClick(palette.search, Qt.Key.Key_Return)
    assert requested.args == ["sampler@1"]


def test_activating_an_entry_asks_for_that_node(qtbot, palette):
    item = palette._item_for("decode@1")
    with qtbot.waitSignal(palette.add_requested) as requested:
        palette.tree.itemActivated.emit(item, 0)
    assert requested.args == ["decode@1"]


def test_dragging_an_entry_carries_its_type_id(palette):
    mime = palette.tree.mimeData([palette._item_for("guidance@1")])
    assert bytes(mime.data(NODE_TYPE_MIME)).decode() == "guidance@1"
    category = palette.tree.topLevelItem(0)
    assert not category.flags() & Qt.ItemFlag.ItemIsDragEnabled  # categories are headings, not nodes
