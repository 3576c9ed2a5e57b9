"""Wires: a cubic bezier from an output port to an input port with a pill label in the middle
showing the tensor type that flows (e.g. "B x 800"), and the temporary wire of a drag."""

from __future__ import annotations

import functools

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem

from nodestudio.graph.model import Edge
from nodestudio.gui.canvas.items import INPUT, OUTPUT, NodeItem
from nodestudio.gui.canvas.style import PORT_LOD, TEXT_LOD, style

PILL_HEIGHT = 16.0


def wire_path(start: QPointF, end: QPointF) -> QPainterPath:
    """Leaves the output rightwards and enters the input from the left, even when backwards."""
    bend = max(abs(end.x() - start.x()) * 0.5, 40.0)
    path = QPainterPath(start)
    path.cubicTo(QPointF(start.x() + bend, start.y()), QPointF(end.x() - bend, end.y()), end)
    return path


def _label_width(text: str) -> float:
    return _pill_width(style(), text) if text else 0.0


@functools.lru_cache(maxsize=1024)
def _pill_width(s, text: str) -> float:
    # a graph's wires share a few types ("B x 800"): measured once each per style
    return s.small_metrics.horizontalAdvance(text) + 14.0


class EdgeItem(QGraphicsItem):
    """One document edge; selectable (Delete removes it), highlighted under the mouse."""

    def __init__(self, edge: Edge, src: NodeItem, dst: NodeItem, label: str = ""):
        super().__init__()
        self.edge = edge
        self.src, self.dst = src, dst
        self.label = label  # the type on the wire: given here, the path is laid out once
        self._label_width = _label_width(label)
        self._path = QPainterPath()
        self._pill = QRectF()
        self._bounds = QRectF()
        self._shape: QPainterPath | None = None
        self._hover = False
        self._show_label = False
        self.overlay_pen: QPen | None = None  # a canvas mode's (canvas/wire_overlay.py), <= 8 px
        self.setFlags(QGraphicsItem.ItemIsSelectable)
        self.setAcceptHoverEvents(True)
        src.edges.add(self)
        dst.edges.add(self)
        self.adjust()

    def detach(self) -> None:
        self.src.edges.discard(self)
        self.dst.edges.discard(self)

    def set_label(self, text: str) -> None:
        if text != self.label:
            self.label = text
            self._label_width = _label_width(text)
            self.adjust()

    def tooltip_text(self) -> str:
        return f"{self.edge.src} → {self.edge.dst}" + (f"\n{self.label}" if self.label else "")

    def adjust(self) -> None:
        """Follow the ports (after a node moved or changed its ports)."""
        start = self.src.port_pos(OUTPUT, self.edge.src.port)
        end = self.dst.port_pos(INPUT, self.edge.dst.port)
        self.prepareGeometryChange()
        self._path = wire_path(start, end)
        self._ends = QLineF(start, end)
        mid = self._path.pointAtPercent(0.5)
        w = self._label_width
        # the pill sits halfway across: in a gap narrower than itself it would cover the nodes
        # (the tooltip still says the type then)
        self._show_label = bool(self.label) and end.x() - start.x() > w + 36.0
        self._pill = QRectF(mid.x() - w / 2, mid.y() - PILL_HEIGHT / 2, w, PILL_HEIGHT)
        self._bounds = self._path.controlPointRect().united(self._pill).adjusted(-4, -4, 4, 4)
        self._shape = None
        self.update()

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        if self._shape is None:  # only hit tests need it: built lazily
            stroker = QPainterPathStroker()
            stroker.setWidth(10.0)
            self._shape = stroker.createStroke(self._path)
            if self._show_label:
                self._shape.addRect(self._pill)
        return self._shape

    def hoverEnterEvent(self, event) -> None:
        # the tooltip is made when the pointer arrives, not for each of 10,000 wires on open
        self.setToolTip(self.tooltip_text())
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        self.update()

    def paint(self, painter, option, widget=None) -> None:
        s = style()
        painter.setBrush(Qt.NoBrush)
        painter.setPen(s.wire_selected if self.isSelected() else self.overlay_pen
                       if self.overlay_pen is not None else s.wire_hover if self._hover
                       else s.wire)
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < PORT_LOD:  # far out a curve reads as a line and costs several times more
            painter.drawLine(self._ends)
            return
        painter.drawPath(self._path)
        if self._show_label and lod >= TEXT_LOD:
            painter.setPen(s.wire_selected if self.isSelected() else s.pill_pen)
            painter.setBrush(s.pill)
            painter.drawRoundedRect(self._pill, PILL_HEIGHT / 2, PILL_HEIGHT / 2)
            painter.setFont(s.small_font)
            painter.setPen(s.pill_text)
            painter.drawText(self._pill, Qt.AlignCenter, self.label)


class DragWire(QGraphicsItem):
    """The wire that follows the cursor while connecting: accent dashed while searching,
    green over a valid port, red dashed over a refused one."""

    def __init__(self, anchor: QPointF, anchor_is_output: bool):
        super().__init__()
        self.anchor = anchor
        self.anchor_is_output = anchor_is_output
        self.state = "searching"  # or "valid", "invalid"
        self._path = QPainterPath()
        self.setZValue(5)
        self.move_to(anchor, "searching")

    def move_to(self, point: QPointF, state: str) -> None:
        self.prepareGeometryChange()
        self.state = state
        if self.anchor_is_output:
            self._path = wire_path(self.anchor, point)
        else:
            self._path = wire_path(point, self.anchor)
        self.update()

    def boundingRect(self) -> QRectF:
        return self._path.controlPointRect().adjusted(-4, -4, 4, 4)

    def paint(self, painter, option, widget=None) -> None:
        s = style()
        painter.setBrush(Qt.NoBrush)
        painter.setPen({"searching": s.wire_drag, "valid": s.wire_ok,
                        "invalid": s.wire_bad}[self.state])
        painter.drawPath(self._path)
