"""Node cards and their ports, drawn from the node's declaration alone (no per-node UI code).

A card: a header with the category's colour and the title; input ports on the left and outputs on the right,
coloured by port type; a compact read-only list of parameter values; and, once a run has touched the node, a status
strip (state badge, step progress, failure message, the node's report such as a prompt's token count).
"""
from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from studio.graph.model import NodeInstance
from studio.graph.registry import NodeSpec
from studio.graph.types import PortType
from studio.ui import theme
from studio.ui.editor.card_text import Fonts, NodeStatus, format_value, info_lines, wrap_lines

WIDTH = 232.0
HEADER = 30.0
ROW = 22.0
PARAM_ROW = 18.0
PAD = 10.0
RADIUS = 6.0
LINE = 15.0  # one line of small text in the status strip
LOW_DETAIL = 0.45  # below this zoom cards drop their text: unreadable anyway, and it is most of the paint cost


_HEADER_PATH: QPainterPath | None = None


def _header_path() -> QPainterPath:
    """Rounded on top, square where it meets the body; the same for every card, so built once."""
    global _HEADER_PATH
    if _HEADER_PATH is None:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0.5, 0.5, WIDTH - 1, HEADER), RADIUS, RADIUS)
        path.addRect(QRectF(0.5, HEADER - RADIUS, WIDTH - 1, RADIUS))
        _HEADER_PATH = path.simplified()
    return _HEADER_PATH


class PortItem(QGraphicsItem):
    """A port dot plus its label; the scene starts a connection drag when one is pressed."""

    DOT = 5.0

    def __init__(self, node: NodeItem, name: str, port_type: PortType | None, is_input: bool,
                 optional: bool = False) -> None:
        super().__init__(node)
        self.node, self.name, self.port_type = node, name, port_type
        self.is_input, self.optional = is_input, optional
        self.connections = 0
        self.dimmed = False
        self.highlighted = False
        self.colour = theme.port_colour(port_type) if port_type else theme.ERROR
        fonts = Fonts.get()
        label_width = min(fonts.label_width(name) + 4, WIDTH / 2 - 14)
        if is_input:
            self._label = QRectF(10, -ROW / 2, label_width, ROW)
        else:
            self._label = QRectF(-10 - label_width, -ROW / 2, label_width, ROW)
        self._bounds = QRectF(-10, -ROW / 2, 20, ROW).united(self._label)
        self._shape = QPainterPath()
        self._shape.addEllipse(QPointF(0, 0), 9, 9)
        self._shape.addRect(self._label)
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.CrossCursor)
        type_name = port_type.value if port_type else "unknown type"
        self.setToolTip(f"{name}: {type_name}{' (optional)' if optional else ''}")

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        return self._shape

    def set_dimmed(self, dimmed: bool) -> None:
        if dimmed != self.dimmed:
            self.dimmed = dimmed
            self.setOpacity(0.22 if dimmed else 1.0)

    def set_highlighted(self, highlighted: bool) -> None:
        if highlighted != self.highlighted:
            self.highlighted = highlighted
            self.update()

    # A press starts a connection drag; the port keeps the mouse grab, so move and release come here too.
    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            event.ignore()
            return
        self.scene().begin_connection(self)

    def mouseMoveEvent(self, event) -> None:
        self.scene().update_connection(event.scenePos())

    def mouseReleaseEvent(self, event) -> None:
        self.scene().finish_connection(event.scenePos())

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        radius = self.DOT + (2 if self.highlighted else 0)
        painter.setPen(QPen(theme.TEXT if self.highlighted else self.colour, 2))
        painter.setBrush(self.colour if self.connections else theme.CARD_BORDER)
        painter.drawEllipse(QPointF(0, 0), radius, radius)
        if lod < LOW_DETAIL:
            return
        fonts = Fonts.get()
        painter.setFont(fonts.body)
        painter.setPen(theme.TEXT_FAINT if self.optional and not self.connections else theme.TEXT_DIM)
        align = Qt.AlignmentFlag.AlignLeft if self.is_input else Qt.AlignmentFlag.AlignRight
        text = fonts.body_metrics.elidedText(self.name, Qt.TextElideMode.ElideRight, self._label.width())
        painter.drawText(self._label, align | Qt.AlignmentFlag.AlignVCenter, text)


class NodeItem(QGraphicsItem):
    """One node's card. It reads the node and its declaration; it never changes the graph."""

    def __init__(self, node: NodeInstance, spec: NodeSpec | None, extra_outputs: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.node_id = node.id
        self.node, self.spec = node, spec
        self.status = NodeStatus()
        self.edges: set = set()  # EdgeItems touching this card; they re-route when it moves
        self.setFlags(QGraphicsItem.GraphicsItemFlag.ItemIsMovable | QGraphicsItem.GraphicsItemFlag.ItemIsSelectable
                      | QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges)
        # Cards repaint only when their content changes, so a pixmap per card makes panning and dragging cheap.
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.title = spec.title if spec else node.type
        self.strip = theme.category_colour(spec.category) if spec else theme.ERROR
        if spec:
            self.setToolTip(f"{spec.title} ({spec.type_id})\n{spec.description}")
            inputs = [(i.name, i.type, i.optional) for i in spec.inputs]
            outputs = [(o.name, o.type) for o in spec.outputs]
        else:  # unknown type: keep its links visible so the user can see what to reconnect
            self.status.message = f"unknown node type {node.type!r}"
            inputs = [(name, None, False) for name in node.inputs]
            outputs = [(name, None) for name in extra_outputs]
        self.inputs = {name: PortItem(self, name, kind, True, optional) for name, kind, optional in inputs}
        self.outputs = {name: PortItem(self, name, kind, False) for name, kind in outputs}
        rows = max(len(self.inputs), len(self.outputs))
        for index, port in enumerate(self.inputs.values()):
            port.setPos(0, HEADER + 4 + ROW * index + ROW / 2)
        for index, port in enumerate(self.outputs.values()):
            port.setPos(WIDTH, HEADER + 4 + ROW * index + ROW / 2)
        self._params_top = HEADER + 4 + ROW * rows + (4 if rows else 0)
        self._param_lines: list[tuple[str, list[str], bool]] = []
        self._status_lines: list[tuple[str, QColor]] = []
        self._height = 0.0
        self._badge = ""
        self.setPos(float(node.ui.get("x", 0)), float(node.ui.get("y", 0)))
        self.refresh()

    # -- content
    def refresh(self) -> None:
        """Re-read params and status and re-lay the card (after a param change or a status update)."""
        fonts = Fonts.get()
        text_width = WIDTH - 2 * PAD
        self._param_lines = []
        for param in self.spec.params if self.spec else ():
            value = self.node.params.get(param.name, param.default)
            if param.multiline and value:
                text = f"“{value}”"
                self._param_lines.append((param.name, wrap_lines(text, fonts.italic_metrics, text_width, 2), True))
            else:
                shown = format_value(param, value)
                mode = Qt.TextElideMode.ElideMiddle if param.path else Qt.TextElideMode.ElideRight
                room = text_width - fonts.label_width(param.name) - 12
                self._param_lines.append((param.name, [fonts.body_metrics.elidedText(shown, mode, room)], False))
        status = self.status
        self._status_lines = []
        if status.message:
            colour = theme.ERROR if status.state == "failed" or not self.spec else theme.TEXT_DIM
            for line in wrap_lines(status.message, fonts.small_metrics, text_width, 4):
                self._status_lines.append((line, colour))
        for text, warning in info_lines(status.info):
            for line in wrap_lines(text, fonts.small_metrics, text_width, 2):
                self._status_lines.append((line, theme.WARNING if warning else theme.TEXT_DIM))
        params_height = sum(_param_height(lines, multi) for _, lines, multi in self._param_lines)
        height = self._params_top + params_height + (4 if self._param_lines else 0)
        if self._status_lines:
            height += 6 + LINE * len(self._status_lines)
        height += 6
        self._badge = self._badge_text()
        if height != self._height:
            self.prepareGeometryChange()
            self._height = height
        self.update()

    def status_lines(self) -> list[str]:
        """The text lines of the card's status area (failure message, report), as drawn."""
        return [line for line, _ in self._status_lines]

    def badge_text(self) -> str:
        return self._badge

    def _badge_text(self) -> str:
        status = self.status
        if status.state == "idle":
            return ""
        if status.state == "running" and status.total:
            return f"STEP {max(0, min(status.step or 0, status.total))}/{status.total}"
        return status.state.upper()

    def set_status(self, status: NodeStatus) -> None:
        self.status = status
        if not self.spec:  # the unknown-type message outlives run states
            status.message = status.message or f"unknown node type {self.node.type!r}"
        self.refresh()

    # -- geometry
    def boundingRect(self) -> QRectF:
        return QRectF(-4, -4, WIDTH + 8, self._height + 8)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, WIDTH, self._height), RADIUS, RADIUS)
        return path

    def itemChange(self, change: QGraphicsItem.GraphicsItemChange, value: Any) -> Any:
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged:
            for edge in self.edges:
                edge.update_path()
        return super().itemChange(change, value)

    # -- painting: plain shapes and elided text only; nothing is measured or allocated per frame beyond that
    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        state_colour = theme.STATE_COLOURS.get(self.status.state, theme.TEXT_FAINT)
        body = QRectF(0, 0, WIDTH, self._height)
        painter.setPen(QPen(state_colour, 1.6) if self.status.state in ("running", "failed")
                       else QPen(theme.CARD_BORDER, 1.0))
        painter.setBrush(theme.CARD)
        painter.drawRoundedRect(body, RADIUS, RADIUS)
        if self.isSelected():  # outside the state's border, so both stay visible
            painter.setPen(QPen(theme.ACCENT, 2.0))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(body.adjusted(-2.5, -2.5, 2.5, 2.5), RADIUS + 2, RADIUS + 2)
        # Header: a darker band with the category's colour along its top edge.
        header = _header_path()
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.CARD_HEADER)
        painter.drawPath(header)
        painter.save()
        painter.setClipPath(header)
        painter.fillRect(QRectF(0, 0, WIDTH, 4), self.strip)
        painter.restore()
        self._paint_progress(painter, state_colour)
        if lod < LOW_DETAIL:
            return
        fonts = Fonts.get()
        title_right = WIDTH - PAD
        if self._badge:  # the state as a pill at the header's right end
            badge_width = fonts.badge_metrics.horizontalAdvance(self._badge) + 12
            badge = QRectF(WIDTH - PAD - badge_width, 4 + (HEADER - 4 - 15) / 2, badge_width, 15)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(state_colour)
            painter.drawRoundedRect(badge, 7.5, 7.5)
            painter.setFont(fonts.badge)
            painter.setPen(theme.CARD_BORDER)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, self._badge)
            title_right = badge.left() - 6
        painter.setFont(fonts.title)
        painter.setPen(theme.TEXT)
        title_rect = QRectF(PAD, 3, title_right - PAD, HEADER - 3)
        painter.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         fonts.title_metrics.elidedText(self.title, Qt.TextElideMode.ElideRight, title_rect.width()))
        self._paint_params(painter, fonts)
        self._paint_status_lines(painter, fonts)

    def _paint_progress(self, painter: QPainter, colour: QColor) -> None:
        """Step progress as a bar along the header's bottom edge: visible even when zoomed far out."""
        status = self.status
        if status.state != "running" or not status.total:
            return
        done = max(0, min(status.step or 0, status.total)) / status.total
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(theme.FIELD)
        painter.drawRect(QRectF(0.5, HEADER - 3, WIDTH - 1, 3))
        painter.setBrush(colour)
        painter.drawRect(QRectF(0.5, HEADER - 3, (WIDTH - 1) * done, 3))

    def _paint_params(self, painter: QPainter, fonts: type[Fonts]) -> None:
        if not self._param_lines:
            return
        y = self._params_top
        painter.setPen(QPen(theme.CARD_BORDER, 1))
        painter.drawLine(QPointF(1, y - 2), QPointF(WIDTH - 1, y - 2))
        for name, lines, multiline in self._param_lines:
            if multiline:
                painter.setFont(fonts.italic)
                painter.setPen(theme.TEXT)
                for index, line in enumerate(lines):
                    painter.drawText(QRectF(PAD, y + 3 + index * LINE, WIDTH - 2 * PAD, LINE),
                                     Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, line)
            else:
                row = QRectF(PAD, y, WIDTH - 2 * PAD, PARAM_ROW)
                painter.setFont(fonts.body)
                painter.setPen(theme.TEXT_DIM)
                painter.drawText(row, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, name)
                painter.setPen(theme.TEXT)
                painter.drawText(row, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, lines[0])
            y += _param_height(lines, multiline)

    def _paint_status_lines(self, painter: QPainter, fonts: type[Fonts]) -> None:
        if not self._status_lines:
            return
        y = self._height - 6 - LINE * len(self._status_lines)
        painter.setPen(QPen(theme.CARD_BORDER, 1))
        painter.drawLine(QPointF(1, y - 3), QPointF(WIDTH - 1, y - 3))
        painter.setFont(fonts.small)
        for line, colour in self._status_lines:
            painter.setPen(colour)
            painter.drawText(QRectF(PAD, y, WIDTH - 2 * PAD, LINE),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, line)
            y += LINE


def _param_height(lines: list[str], multiline: bool) -> float:
    return LINE * len(lines) + 8 if multiline else PARAM_ROW
