"""Finding node types by typing: one ranking shared by the editor's Tab popup and the node palette."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QFrame, QLabel, QLineEdit, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from studio.graph.registry import NodeRegistry, NodeSpec
from studio.ui import theme

# Drag-and-drop payload from the palette to the editor: the node's type id as UTF-8.
NODE_TYPE_MIME = "application/x-studio-node-type"


def _subsequence(needle: str, haystack: str) -> bool:
    letters = iter(haystack)
    return all(letter in letters for letter in needle)


def _word_score(word: str, spec: NodeSpec) -> int:
    title, name = spec.title.lower(), spec.name.lower()
    if title.startswith(word) or name.startswith(word):
        return 100
    if any(part.startswith(word) for part in title.split() + name.split("_")):
        return 80
    if word in title or word in name:
        return 60
    if word in spec.category.lower():
        return 40
    if word in spec.description.lower():
        return 20
    if _subsequence(word, title) or _subsequence(word, name):  # "emptlat" finds Empty Latent Video
        return 10
    return 0


def rank_specs(specs: list[NodeSpec], query: str) -> list[NodeSpec]:
    """The specs matching every word of `query` (title, type, category or description), best first; all of them,
    in catalogue order, for an empty query."""
    words = query.lower().split()
    if not words:
        return list(specs)
    scored = []
    for index, spec in enumerate(specs):
        scores = [_word_score(word, spec) for word in words]
        if all(scores):
            scored.append((-sum(scores), index, spec))
    return [spec for _, _, spec in sorted(scored, key=lambda entry: entry[:2])]


class NodeSearchPopup(QFrame):
    """A small popup at the cursor: type to filter node types, Enter or double-click adds the chosen one."""

    chosen = Signal(str)  # type id

    def __init__(self, registry: NodeRegistry, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Popup)
        self.setObjectName("searchPopup")
        self.registry = registry
        self.search = QLineEdit(placeholderText="Search nodes…")
        self.search.setClearButtonEnabled(True)
        self.results = QTreeWidget()
        self.results.setHeaderHidden(True)
        self.results.setColumnCount(2)
        self.results.setRootIsDecorated(False)
        self.results.setColumnWidth(0, 190)
        self.description = QLabel(wordWrap=True)
        self.description.setStyleSheet(f"color: {theme.TEXT_DIM.name()}; padding: 2px;")
        self.description.setMinimumHeight(34)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.results)
        layout.addWidget(self.description)
        self.resize(340, 320)
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.results.itemActivated.connect(self._choose)
        self.results.currentItemChanged.connect(self._describe)
        self._filter("")

    def open_at(self, global_pos: QPoint) -> None:
        self.search.clear()
        self._filter("")
        self.move(global_pos)
        self.show()
        self.search.setFocus()

    def _filter(self, text: str) -> None:
        self.results.clear()
        for spec in rank_specs(self.registry.specs(), text):
            item = QTreeWidgetItem([spec.title, spec.category])
            item.setData(0, Qt.ItemDataRole.UserRole, spec.type_id)
            item.setForeground(1, theme.TEXT_FAINT)
            item.setToolTip(0, f"{spec.type_id}\n{spec.description}")
            self.results.addTopLevelItem(item)
        if self.results.topLevelItemCount():
            self.results.setCurrentItem(self.results.topLevelItem(0))
        else:
            self.description.setText("No node matches.")

    def _describe(self, item: QTreeWidgetItem | None) -> None:
        if item is not None:
            spec = self.registry.get(item.data(0, Qt.ItemDataRole.UserRole))
            self.description.setText(spec.description if spec else "")

    def _choose(self, item: QTreeWidgetItem | None = None) -> None:
        item = item or self.results.currentItem()
        if item is None:
            return
        self.hide()
        self.chosen.emit(item.data(0, Qt.ItemDataRole.UserRole))

    def eventFilter(self, watched, event) -> bool:
        # The text box keeps focus; arrows move through the list and Enter picks, as in any command palette.
        if watched is self.search and isinstance(event, QKeyEvent) and event.type() == QKeyEvent.Type.KeyPress:
            key = event.key()
            if key in (Qt.Key.Key_Down, Qt.Key.Key_Up, Qt.Key.Key_PageDown, Qt.Key.Key_PageUp):
                self.results.keyPressEvent(event)
                return True
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self._choose()
                return True
        return super().eventFilter(watched, event)
