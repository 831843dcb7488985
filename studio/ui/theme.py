"""The studio's dark theme: one place for every colour the editor, inspector and palette paint with."""
from __future__ import annotations

import zlib

from PySide6.QtGui import QColor, QFont, QPalette
from PySide6.QtWidgets import QApplication

from studio.graph.types import PortType

# Spin boxes and combo boxes are left to Fusion + the palette: styling their frame in a stylesheet would make Qt
# draw their arrows from the stylesheet too, as bare squares.

# Surfaces, darkest to lightest, and text.
CANVAS = QColor("#1b1d21")
GRID_MINOR = QColor("#22252a")
GRID_MAJOR = QColor("#2b2f35")
PANEL = QColor("#24272c")
CARD = QColor("#2e3238")
CARD_HEADER = QColor("#363b42")
CARD_BORDER = QColor("#121417")
FIELD = QColor("#1e2125")
TEXT = QColor("#e3e6ea")
TEXT_DIM = QColor("#9aa1ab")
TEXT_FAINT = QColor("#6b727c")
ACCENT = QColor("#4c9bff")  # selection, focus
WARNING = QColor("#f0b43c")
ERROR = QColor("#ff5c5c")

# Each port type keeps one hue everywhere (port dot, link, palette legend), so a glance tells what may connect.
PORT_COLOURS: dict[PortType, QColor] = {
    PortType.MODEL: QColor("#b37cf0"),
    PortType.CONDITIONING: QColor("#f2c94c"),
    PortType.GUIDER: QColor("#ef8a4f"),
    PortType.LATENT: QColor("#ff6f9d"),
    PortType.IMAGE: QColor("#56c7e8"),
    PortType.VIDEO: QColor("#4fd18b"),
    PortType.MASK: QColor("#c9ced6"),
}

# Run states as the engine reports them; "idle" draws nothing.
STATES = ("idle", "queued", "running", "cached", "done", "failed")
STATE_COLOURS: dict[str, QColor] = {
    "idle": TEXT_FAINT,
    "queued": QColor("#8a93a0"),
    "running": QColor("#38c4b0"),  # not the selection blue: a running node may also be selected
    "cached": QColor("#7fa7c9"),
    "done": QColor("#4fc27a"),
    "failed": ERROR,
}

CATEGORY_COLOURS: dict[str, QColor] = {
    "model": QColor("#9b6fd6"),
    "conditioning": QColor("#d9ae3a"),
    "guidance": QColor("#d9773f"),
    "sampling": QColor("#d9577f"),
    "latent": QColor("#c45c8a"),
    "decode": QColor("#3fae74"),
    "video": QColor("#3d9fbf"),
    "image": QColor("#4a90c8"),
    "mask": QColor("#9aa1ab"),
}


def category_colour(category: str) -> QColor:
    """A stable colour for any category, so nodes from new catalogue modules still get a strip."""
    if category in CATEGORY_COLOURS:
        return CATEGORY_COLOURS[category]
    hue = zlib.crc32(category.encode()) % 360  # crc32, not hash(): the same colour on every start
    return QColor.fromHsl(hue, 120, 130)


def port_colour(port_type: PortType) -> QColor:
    return PORT_COLOURS.get(port_type, TEXT_DIM)


def ui_font(point_size: float = 9.0, bold: bool = False) -> QFont:
    font = QFont()
    font.setPointSizeF(point_size)
    font.setBold(bold)
    return font


STYLESHEET = f"""
QToolTip {{ color: {TEXT.name()}; background: {CARD_HEADER.name()}; border: 1px solid {CARD_BORDER.name()};
            padding: 4px; }}
QLineEdit, QPlainTextEdit {{
    background: {FIELD.name()}; border: 1px solid #3a3f46; border-radius: 3px; padding: 3px 5px;
    selection-background-color: {ACCENT.name()}; }}
QLineEdit:focus, QPlainTextEdit:focus {{ border-color: {ACCENT.name()}; }}
QTreeView, QListView {{ background: {PANEL.name()}; border: none; }}
QTreeView::item, QListView::item {{ padding: 3px 2px; }}
QTreeView::item:selected, QListView::item:selected {{ background: #33537d; }}
QPushButton {{ background: {CARD_HEADER.name()}; border: 1px solid #454b53; border-radius: 3px; padding: 4px 10px; }}
QPushButton:hover {{ background: #40464e; }}
QScrollArea {{ border: none; }}
QLabel#inspectorTitle {{ font-size: 13pt; font-weight: bold; }}
QLabel#inspectorType {{ color: {TEXT_FAINT.name()}; font-family: monospace; }}
QLabel#inspectorDescription {{ color: {TEXT_DIM.name()}; }}
QFrame#searchPopup {{ background: {PANEL.name()}; border: 1px solid #454b53; border-radius: 4px; }}
"""


def dark_palette() -> QPalette:
    palette = QPalette()
    roles = {
        QPalette.ColorRole.Window: PANEL, QPalette.ColorRole.WindowText: TEXT,
        QPalette.ColorRole.Base: FIELD, QPalette.ColorRole.AlternateBase: CARD,
        QPalette.ColorRole.Text: TEXT, QPalette.ColorRole.Button: CARD_HEADER,
        QPalette.ColorRole.ButtonText: TEXT, QPalette.ColorRole.ToolTipBase: CARD_HEADER,
        QPalette.ColorRole.ToolTipText: TEXT, QPalette.ColorRole.Highlight: ACCENT,
        QPalette.ColorRole.HighlightedText: QColor("#ffffff"), QPalette.ColorRole.Link: ACCENT,
        QPalette.ColorRole.PlaceholderText: TEXT_FAINT, QPalette.ColorRole.BrightText: ERROR,
    }
    for role, colour in roles.items():
        palette.setColor(role, colour)
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, TEXT_FAINT)
    return palette


def apply_theme(app: QApplication) -> None:
    """Fusion + the dark palette + a small stylesheet; Fusion because native styles ignore parts of a palette."""
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    app.setStyleSheet(STYLESHEET)
