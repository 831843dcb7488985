"""The node palette: every node type by category, a search box over them, and drag-to-canvas."""
from __future__ import annotations

from PySide6.QtCore import QMimeData, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from studio.graph.registry import NodeRegistry, NodeSpec
from studio.ui import theme
from studio.ui.editor.search import NODE_TYPE_MIME, rank_specs

TYPE_ROLE = Qt.ItemDataRole.UserRole


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(10, 10)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(0, 0, 10, 10, 2, 2)
    painter.end()
    return QIcon(pixmap)


def _tooltip(spec: NodeSpec) -> str:
    ins = ", ".join(f"{i.name}: {i.type.value}" for i in spec.inputs) or "none"
    outs = ", ".join(f"{o.name}: {o.type.value}" for o in spec.outputs) or "none"
    return f"{spec.title}  ({spec.type_id})\n{spec.description}\n\ninputs: {ins}\noutputs: {outs}"


class NodeTree(QTreeWidget):
    """The tree; dragging a node entry carries its type id to the editor."""

    def mimeTypes(self) -> list[str]:
        return [NODE_TYPE_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:
        mime = QMimeData()
        type_ids = [item.data(0, TYPE_ROLE) for item in items if item.data(0, TYPE_ROLE)]
        if type_ids:
            mime.setData(NODE_TYPE_MIME, type_ids[0].encode("utf-8"))
        return mime

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction


class NodePalette(QWidget):
    """Dock content. `add_requested(type_id)` on double-click or Enter; drag an entry onto the editor to place it."""

    add_requested = Signal(str)

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.registry = registry
        self.search = QLineEdit(placeholderText="Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.tree = NodeTree()
        self.tree.setHeaderHidden(True)
        self.tree.setDragEnabled(True)
        self.tree.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.tree.setIndentation(12)
        self.tree.setUniformRowHeights(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)
        self.search.textChanged.connect(self.filter)
        self.search.returnPressed.connect(self._activate_first)
        self.tree.itemActivated.connect(self._activate)
        self.filter("")

    def filter(self, text: str) -> None:
        """Show the node types matching `text` (every word, in title, type, category or description)."""
        self.tree.clear()
        matches = rank_specs(self.registry.specs(), text)
        categories: dict[str, QTreeWidgetItem] = {}
        # Searching lists categories in the order of their best match; browsing lists them alphabetically.
        for spec in matches if text.strip() else sorted(matches, key=lambda s: (s.category, s.title)):
            parent = categories.get(spec.category)
            if parent is None:
                parent = QTreeWidgetItem([spec.category.capitalize()])
                parent.setIcon(0, _swatch(theme.category_colour(spec.category)))
                parent.setFlags(Qt.ItemFlag.ItemIsEnabled)
                font = parent.font(0)
                font.setBold(True)
                parent.setFont(0, font)
                parent.setForeground(0, theme.TEXT_DIM)
                categories[spec.category] = parent
                self.tree.addTopLevelItem(parent)
            item = QTreeWidgetItem([spec.title])
            item.setData(0, TYPE_ROLE, spec.type_id)
            item.setToolTip(0, _tooltip(spec))
            item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled)
            parent.addChild(item)
        self.tree.expandAll()
        first = self.visible_type_ids()[:1]
        if first and text.strip():
            self.tree.setCurrentItem(self._item_for(first[0]))

    def visible_type_ids(self) -> list[str]:
        """The listed node types, top to bottom."""
        ids = []
        for index in range(self.tree.topLevelItemCount()):
            category = self.tree.topLevelItem(index)
            ids.extend(category.child(row).data(0, TYPE_ROLE) for row in range(category.childCount()))
        return ids

    def _item_for(self, type_id: str) -> QTreeWidgetItem | None:
        for index in range(self.tree.topLevelItemCount()):
            category = self.tree.topLevelItem(index)
            for row in range(category.childCount()):
                if category.child(row).data(0, TYPE_ROLE) == type_id:
                    return category.child(row)
        return None

    def _activate(self, item: QTreeWidgetItem) -> None:
        type_id = item.data(0, TYPE_ROLE)
        if type_id:
            self.add_requested.emit(type_id)

    def _activate_first(self) -> None:
        item = self.tree.currentItem() or (self._item_for(self.visible_type_ids()[0])
                                           if self.visible_type_ids() else None)
        if item is not None:
            self._activate(item)
