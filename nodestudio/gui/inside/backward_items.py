"""The read-only drawing of one part of a backward view (ir/backward_view.py): small cards for the
ops, stubs for values from elsewhere, wires left to right, dashed frames for the groups, in the
canvas's colours (canvas/style.py). Hovering a card reports it (`PartView.hovered`), and the
panel lights up the matching cards in both drawings (`PartView.highlight`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem, QGraphicsPathItem, QGraphicsScene, QGraphicsView

from nodestudio.gui.canvas.style import CORNER, style
from nodestudio.ir.backward_view import OP, SAVED, ViewNode, ViewPart, shape_text
from nodestudio.ops import registry

BACKWARD_TINT = QColor("#d9822b")  # the gradient's colour: cards of the backward pass
RESULT_TINT = QColor("#2f9e5b")  # d loss / d parameter: what the optimizer receives


class CardItem(QGraphicsItem):
    """One node of the view: a rounded card with a coloured stripe (op category, or orange for
    the backward pass), the op (or label) and the shape; stubs are smaller and dashed."""

    def __init__(self, node: ViewNode, on_hover: Callable[[str | None], None]):
        super().__init__()
        self.node = node
        self.on_hover = on_hover
        self.lit = False
        self.setPos(node.x, node.y)
        self.setAcceptHoverEvents(True)
        self.setToolTip(node.role)
        try:
            self.category = registry.get(node.op).category
        except Exception:  # noqa: BLE001  (an unknown op still draws, in the plain colour)
            self.category = "Other"

    def boundingRect(self) -> QRectF:  # noqa: N802  (Qt's name)
        return QRectF(-2, -2, self.node.width + 4, self.node.height + 4)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        s = style()
        node = self.node
        rect = QRectF(0, 0, node.width, node.height)
        painter.setRenderHint(QPainter.Antialiasing)
        if node.kind == OP:
            painter.setBrush(s.body)
            painter.setPen(s.selected if self.lit else s.border)
            painter.drawRoundedRect(rect, CORNER, CORNER)
            tint = (RESULT_TINT if node.result_of else BACKWARD_TINT) \
                if node.phase == "backward" else s.category(self.category).color()
            painter.setPen(Qt.NoPen)
            painter.setBrush(QBrush(tint))
            painter.drawRoundedRect(QRectF(0, 0, 5, node.height), 2, 2)
            painter.setPen(s.text)
            painter.setFont(s.body_font)
            painter.drawText(QRectF(9, 2, node.width - 12, 17), Qt.AlignLeft | Qt.AlignVCenter,
                             node.label)
            painter.setPen(s.muted)
            painter.setFont(s.small_font)
            painter.drawText(QRectF(9, 18, node.width - 12, 15), Qt.AlignLeft | Qt.AlignVCenter,
                             shape_text(node.shape))
        else:
            pen = QPen(s.selected if self.lit else s.pill_pen)
            pen.setStyle(Qt.SolidLine if self.lit else Qt.DashLine)
            painter.setPen(pen)
            painter.setBrush(s.pill)
            painter.drawRoundedRect(rect, node.height / 2, node.height / 2)
            painter.setPen(BACKWARD_TINT if node.phase == "backward" else s.pill_text)
            painter.setFont(s.small_font)
            prefix = "saved " if node.kind == SAVED else ""
            painter.drawText(rect, Qt.AlignCenter, prefix + node.label
                             if len(prefix + node.label) * 6 < node.width else node.label)

    def set_lit(self, lit: bool) -> None:
        if lit != self.lit:
            self.lit = lit
            self.update()

    def hoverEnterEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        self.on_hover(self.node.id)

    def hoverLeaveEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        self.on_hover(None)


class FrameItem(QGraphicsItem):
    """A group's dashed frame and its title ("gradient of hidden1_bn › div")."""

    def __init__(self, title: str, rect: tuple[float, float, float, float]):
        super().__init__()
        self.title = title
        self.rect = QRectF(*rect)
        self.lit = False
        self.setZValue(-2)

    def boundingRect(self) -> QRectF:  # noqa: N802  (Qt's name)
        return self.rect.adjusted(-2, -2, 2, 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        s = style()
        painter.setPen(s.selected if self.lit else s.group_frame_pen)
        painter.setBrush(s.group_frame)
        painter.drawRoundedRect(self.rect, CORNER, CORNER)
        painter.setPen(s.text if self.lit else s.muted)
        painter.setFont(s.small_font)
        title = s.small_metrics.elidedText(self.title, Qt.ElideRight, self.rect.width() - 8)
        painter.drawText(self.rect.adjusted(5, 2, -3, 0), Qt.AlignLeft | Qt.AlignTop, title)

    def set_lit(self, lit: bool) -> None:
        if lit != self.lit:
            self.lit = lit
            self.update()


def _wire(a: ViewNode, b: ViewNode) -> QPainterPath:
    start = QPointF(a.x + a.width, a.y + a.height / 2)
    end = QPointF(b.x, b.y + b.height / 2)
    bend = max(20.0, (end.x() - start.x()) / 2)
    path = QPainterPath(start)
    path.cubicTo(start + QPointF(bend, 0), end - QPointF(bend, 0), end)
    return path


class PartView(QGraphicsView):
    """One part (forward or backward) drawn read-only; wheel zooms, drag pans."""

    hovered = Signal(object)  # the node id under the mouse, or None

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHint(QPainter.Antialiasing)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setMouseTracking(True)
        self.cards: dict[str, CardItem] = {}
        self.frames: dict[str, FrameItem] = {}
        self.part: ViewPart | None = None

    def show_part(self, part: ViewPart) -> None:
        scene = self.scene()
        scene.clear()
        self.cards, self.frames, self.part = {}, {}, part
        s = style()
        scene.setBackgroundBrush(s.canvas)
        for key, group in part.groups.items():
            frame = FrameItem(group.title, group.rect)
            scene.addItem(frame)
            self.frames[key] = frame
        for u, v in dict.fromkeys(part.edges):
            wire = QGraphicsPathItem(_wire(part.nodes[u], part.nodes[v]))
            backward = part.nodes[v].phase == "backward" and part.nodes[u].kind != SAVED
            pen = QPen(BACKWARD_TINT if backward else s.wire.color(), 1.4)
            pen.setCosmetic(True)
            wire.setPen(pen)
            wire.setZValue(-1)
            scene.addItem(wire)
        for node in part.nodes.values():
            card = CardItem(node, self.hovered.emit)
            scene.addItem(card)
            self.cards[node.id] = card
        width, height = part.size()
        scene.setSceneRect(QRectF(-20, -10, width + 40, height + 20))
        self.fit()

    def fit(self) -> None:
        """The whole part, but never magnified, nor so small that the labels cannot be read."""
        rect = self.scene().sceneRect()
        if rect.isEmpty():
            return
        view = self.viewport().rect()
        scale = min(1.0, max(0.8, min(view.width() / rect.width(),
                                       view.height() / rect.height())))
        self.resetTransform()
        self.scale(scale, scale)
        self.centerOn(rect.center() if scale * rect.width() <= view.width()
                      else QPointF(rect.left() + view.width() / scale / 2, rect.center().y()))

    def highlight(self, ids: Iterable[str], frames: Iterable[str] = ()) -> None:
        ids, frames = set(ids), set(frames)
        for key, card in self.cards.items():
            card.set_lit(key in ids)
        for key, frame in self.frames.items():
            frame.set_lit(key in frames)

    def lit(self) -> list[str]:
        return [key for key, card in self.cards.items() if card.lit]

    def wheelEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        factor = 1.15 if event.angleDelta().y() > 0 else 1 / 1.15
        self.scale(factor, factor)


__all__ = ["BACKWARD_TINT", "CardItem", "FrameItem", "PartView", "RESULT_TINT"]
