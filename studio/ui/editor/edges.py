"""Links drawn as horizontal bezier curves from an output port to an input port, in the port type's colour."""
from __future__ import annotations

from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QStyleOptionGraphicsItem

from studio.ui import theme
from studio.ui.editor.items import PortItem


def link_path(start: QPointF, end: QPointF) -> QPainterPath:
    """Leave the output rightwards and enter the input from the left, even when the input lies behind the output."""
    bend = max(abs(end.x() - start.x()) * 0.5, 60.0)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + bend, start.y()), QPointF(end.x() - bend, end.y()), end)
    return path


class EdgeItem(QGraphicsPathItem):
    """A link between two ports; selectable, so Delete disconnects it."""

    def __init__(self, source: PortItem, target: PortItem) -> None:
        super().__init__()
        self.source, self.target = source, target
        self.key = (target.node.node_id, target.name)  # an input reads from at most one link
        self.colour = QColor(source.colour)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        self.setZValue(-1)  # under the cards
        self._hovered = False
        self._shape: QPainterPath | None = None
        self._casing = QPen(QColor(0, 0, 0, 110), 5.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap)
        self.setToolTip(f"{source.node.node_id}.{source.name} → {target.node.node_id}.{target.name}")
        source.node.edges.add(self)
        target.node.edges.add(self)
        source.connections += 1
        target.connections += 1
        self.update_path()

    def detach(self) -> None:
        """Forget the ports before removal, so their cards stop moving it and their dots show unconnected."""
        for port in (self.source, self.target):
            port.node.edges.discard(self)
            port.connections -= 1
            port.update()

    def update_path(self) -> None:
        self._shape = None
        self.setPath(link_path(self.source.scenePos(), self.target.scenePos()))

    def shape(self) -> QPainterPath:
        if self._shape is None:  # hit tests ask often; the path changes only when a card moves
            stroker = QPainterPathStroker()
            stroker.setWidth(12)  # a comfortable target for clicking a 2 px line
            self._shape = stroker.createStroke(self.path())
        return self._shape

    def hoverEnterEvent(self, event) -> None:
        self._hovered = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self._hovered = False
        self.update()

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        path = self.path()
        painter.setBrush(Qt.BrushStyle.NoBrush)
        if self.isSelected():
            painter.setPen(QPen(theme.ACCENT, 6.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        else:
            painter.setPen(self._casing)
        painter.drawPath(path)
        colour = self.colour.lighter(130) if self._hovered or self.isSelected() else self.colour
        painter.setPen(QPen(colour, 2.4 if self._hovered else 2.0, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap))
        painter.drawPath(path)


class DragEdge(QGraphicsPathItem):
    """The link that follows the mouse while connecting; it starts at the pressed port, from whichever side."""

    def __init__(self, port: PortItem) -> None:
        super().__init__()
        self.port = port
        self.setZValue(10)  # over the cards while dragging
        self.setPen(QPen(port.colour, 2.0, Qt.PenStyle.DashLine, Qt.PenCapStyle.RoundCap))
        self.move_to(port.scenePos())

    def move_to(self, point: QPointF) -> None:
        anchor = self.port.scenePos()
        self.setPath(link_path(point, anchor) if self.port.is_input else link_path(anchor, point))
