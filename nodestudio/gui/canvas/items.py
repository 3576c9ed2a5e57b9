"""The node item: a rounded card with a category-coloured header, key attributes, typed ports,
a parameter count and a status badge. Plus the frame drawn behind the nodes of an expanded group.

Everything a paint needs (elided strings, baselines, port positions) is computed when the node or
its annotation changes (`sync_node`, `sync_annotation`), never while painting.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsItem, QStyleOptionGraphicsItem

from nodestudio.errors import GraphError
from nodestudio.graph.model import Node, PortRef
from nodestudio.gui.canvas.style import (
    CORNER,
    DETAIL_LOD,
    FOOTER,
    HEADER,
    LABEL_ROW,
    MAX_NODE_WIDTH,
    NODE_WIDTH,
    PADDING,
    PORT_HIT,
    PORT_RADIUS,
    ROW,
    TEXT_LOD,
    CanvasStyle,
    style,
)
from nodestudio.gui.canvas.titles import Overview, TitleFit, shortened
from nodestudio.ir.annotate import Annotation
from nodestudio.ops import registry
from nodestudio.ops.registry import OpDef

if TYPE_CHECKING:
    from nodestudio.gui.canvas.edges import EdgeItem

INPUT, OUTPUT = "in", "out"
TITLE_LEFT = 10.0  # the title's left margin in the header
BADGE_ROOM = 24.0  # the header's right end, where the status badge sits
OP_GAP = 8.0  # between the title and the op's name
MIN_OP = 48.0  # an op's name elided shorter than this says nothing: the title gives way
MAX_TILE = 264.0  # how wide a tile far out may grow for its title: the layout's columns less
# a gap


@dataclass
class Port:
    name: str
    declared: str | None  # the op's dtype for the port; None: float or int
    y: float = 0.0  # centre, in node coordinates
    dtype: str | None = None  # what flows: the declared dtype until the annotation knows

    def __post_init__(self) -> None:
        self.dtype = self.declared


def face_text(opdef: OpDef | None, attrs: dict[str, Any]) -> str:
    """The body line: the op's own label, else up to two attributes changed from default."""
    if opdef is None:
        return ""
    if opdef.label is not None:
        try:
            return opdef.label({**{a.name: a.default for a in opdef.attrs}, **attrs})
        except (KeyError, TypeError, ValueError):  # a half-typed attribute: show nothing
            return ""
    changed = [f"{a.name}={_short(attrs[a.name])}" for a in opdef.attrs
               if a.name in attrs and attrs[a.name] != a.default]
    return "  ".join(changed[:2])


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join("B" if v is None else str(v) for v in value) + ")"
    return str(value)


class StatusBadge:
    """The dot in a node's header: green ok, red error (detail as tooltip), amber blocked.
    Painted by its card and its tooltip shown by it (not an item of its own: one item fewer
    per node when a large file opens)."""

    RADIUS = 4.5

    def __init__(self, card: NodeItem):
        self._card = card
        self.status = "ok"
        self._tip = "OK"
        self.centre = QPointF()

    def set_status(self, status: str, detail: str) -> None:
        self._tip = {"ok": "OK", "error": detail,
                     "blocked": "blocked: an upstream node has a problem"}[status]
        if status != self.status:
            self.status = status
            self._card.update()

    def toolTip(self) -> str:  # noqa: N802  (as a Qt item's, which it was)
        return self._tip

    def hit(self, local: QPointF) -> bool:
        """Whether a point in card coordinates is on the badge (a little room around it)."""
        r = self.RADIUS + 3.0
        return abs(local.x() - self.centre.x()) <= r and abs(local.y() - self.centre.y()) <= r

    def paint(self, painter) -> None:
        s = style()
        painter.setPen(s.badge_pen)
        painter.setBrush(s.badge[self.status])
        painter.drawEllipse(self.centre, self.RADIUS, self.RADIUS)


class NodeItem(QGraphicsItem):
    """One document node. Moves live while dragged; the scene records the move on release."""

    def __init__(self, node: Node, note: Annotation | None):
        super().__init__()
        self.node_id = node.id
        self.group: str | None = None
        self.op: OpDef | None = None
        self.edges: set[EdgeItem] = set()
        self.inputs: list[Port] = []
        self.outputs: list[Port] = []
        self.status = "ok"
        self.error = ""
        self.params = 0
        self._laid_out_params: int | None = None  # the count the card was last laid out for
        self._label = ""
        self._highlight: tuple[str, str, bool] | None = None  # kind, port, valid
        self._rect = QRectF()
        self._bounds = QRectF()
        self.width = NODE_WIDTH  # sized to the title and the op's name, within limits
        self._header = QPainterPath()
        self._texts: list[tuple[int, QPointF, str]] | None = None  # (font, baseline, text)
        self._shown = ""  # the body line as shown: the face text, an input's dataset
        self.title = ""  # the header's texts as drawn (elided only where the card is full)
        self.op_label = ""
        self._overview = Overview("")  # the title far out, where the header's is unreadable
        self._tile: tuple | None = None
        self.roles: dict[str, tuple[str, bool]] = {}  # output port -> (training role, inferred)
        self.binding = ""  # an input's dataset: "mnist5k: 28 x 28"
        self._pills: list[tuple[QRectF, str, bool]] = []  # role tags as laid out
        self.setFlags(QGraphicsItem.ItemIsMovable | QGraphicsItem.ItemIsSelectable)
        self.setZValue(1)
        self.setAcceptHoverEvents(True)  # for the badge's tooltip
        self.badge = StatusBadge(self)
        self.sync_node(node, note)

    # --- state from the document ---------------------------------------------------------
    def sync_node(self, node: Node, note: Annotation | None) -> None:
        """Ports, title and body line from the node (after add or an attribute change)."""
        self.group = node.group
        try:
            self.op = registry.get(node.op, node=node.id)
            names = self.op.input_names(node.attrs)
        except (GraphError, TypeError, ValueError):
            self.op, names = None, []
        dtypes = {p.name: p.dtype for p in self.op.inputs} if self.op else {}
        first = self.op.inputs[0].dtype if self.op and self.op.inputs else None
        self.inputs = [Port(n, dtypes.get(n, first)) for n in names]
        self.outputs = ([Port(p.name, p.dtype) for p in self.op.outputs if not p.hidden]
                        if self.op else [])
        self._op_name = node.op
        self._label = face_text(self.op, node.attrs)
        self._laid_out_params = None  # ports or the body line may have changed: lay out again
        if note is not None:
            self.sync_annotation(note)
        else:
            self._relayout()

    def sync_annotation(self, note: Annotation) -> None:
        """Status, parameter count and output dtypes from a fresh annotation."""
        self.status = note.status(self.node_id)
        error = note.errors.get(self.node_id)
        self.error = "" if error is None else (
            error.detail if error.port is None else f"{error.port}: {error.detail}")
        if self.op is None and not self.error:
            self.status, self.error = "error", f"unknown op {self._op_name!r}"
        self.params = note.params.get(self.node_id, 0)
        for port in self.outputs:
            known = note.types.get(PortRef(self.node_id, port.name))
            port.dtype = port.declared if known is None else known.dtype
        for port in self.inputs:  # the scene colours fed inputs from their wires after this
            port.dtype = port.declared
        self.badge.set_status(self.status, self.error)
        # only the parameter count changes the card's layout; the rest is painted
        if self.params != self._laid_out_params:
            self._relayout()
        else:
            self.update()

    def set_roles(self, roles: dict[str, tuple[str, bool]], binding: str = "") -> None:
        """Tag output ports with their training role (loss, error, prediction, features,
        labels; inferred ones drawn hollow) and show an input's dataset on its body line."""
        if roles != self.roles or binding != self.binding:
            self.roles, self.binding = dict(roles), binding
            self._relayout()

    def set_input_dtype(self, name: str, dtype: str) -> None:
        """Colour an input port by the dtype its wire brings."""
        for port in self.inputs:
            if port.name == name and port.dtype != dtype:
                port.dtype = dtype
                self.update()

    def set_port_highlight(self, kind: str | None, name: str = "", valid: bool = True) -> None:
        """Ring a port while a wire is dragged over it (green valid, red refused)."""
        value = None if kind is None else (kind, name, valid)
        if value != self._highlight:
            self._highlight = value
            self.update()

    # --- geometry ------------------------------------------------------------------------
    def _relayout(self) -> None:
        s = style()
        rows = max(len(self.inputs), len(self.outputs))
        top = HEADER + (LABEL_ROW if self._label else 0.0) + (PADDING / 2 if rows else 0.0)
        for ports in (self.inputs, self.outputs):
            for i, port in enumerate(ports):
                port.y = top + (i + 0.5) * ROW
        height = top + rows * ROW + (FOOTER if self.params else 0.0) + PADDING
        self._laid_out_params = self.params
        # inside an expanded group the frame names the group: show the node's own part only
        name = (self.node_id.removeprefix(f"{self.group}/") if self.group is not None
                else self.node_id)
        op = "" if _names_its_op(name, self._op_name) else self._op_name
        width, title, op = _header_fit(name, op)
        shown = f"{self._label}  ← {self.binding}" if self.binding else self._label
        if shown:  # the body line widens the card too (an input's dataset), within limits
            need = s.body_metrics.horizontalAdvance(shown) + 20.0
            width = max(width, min(MAX_NODE_WIDTH, math.ceil(need / 8.0) * 8.0))
        rect = QRectF(0, 0, width, max(height, HEADER + 14.0))
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
            self.width = width
            # ports stick out by their radius, a tile with a long title far out up to
            # MAX_TILE; the selection outline by a pixel or two
            side = max(PORT_RADIUS, (MAX_TILE - width) / 2) + 2
            self._bounds = rect.adjusted(-side, -2, side, 2)
            self._header = _top_rounded(QRectF(0, 0, width, HEADER), CORNER)
        self.badge.centre = QPointF(width - 13.0, HEADER / 2)
        self.title, self.op_label = title, op
        if self._overview.text != name:
            self._overview = Overview(name)
        self._tile = None  # (zoom, style, rect, colour, (font, text)): the last tile painted
        self._shown = shown
        self._texts = None  # placed when the card is first painted up close (_place_texts)
        for edge in self.edges:
            edge.adjust()
        self.update()

    def _place_texts(self) -> list[tuple[int, QPointF, str]]:
        """The card's texts (header, body line, ports, role tags, parameter count) placed for
        painting; made on the first close-up paint after a relayout, not for each card of a
        large file as it opens."""
        s = style()
        width, title, op, shown = self.width, self.title, self.op_label, self._shown
        texts: list[tuple[int, QPointF, str]] = []
        texts.append((0, QPointF(TITLE_LEFT, HEADER / 2 + s.title_metrics.capHeight() / 2),
                      title))
        if op:
            x = width - BADGE_ROOM - s.sub_metrics.horizontalAdvance(op)
            texts.append((1, QPointF(x, HEADER / 2 + s.sub_metrics.capHeight() / 2), op))
        if self._label:
            label = s.body_metrics.elidedText(shown, Qt.ElideRight, width - 20.0)
            texts.append((3, QPointF(10.0, HEADER + LABEL_ROW / 2 + 4.0), label))
        half = width / 2 - 14.0
        for port in self.inputs:
            name = s.body_metrics.elidedText(port.name, Qt.ElideRight, half)
            texts.append((2, QPointF(11.0, port.y + 4.0), name))
        self._pills = []
        for port in self.outputs:
            name = s.body_metrics.elidedText(port.name, Qt.ElideRight, half)
            x = width - 11.0 - s.body_metrics.horizontalAdvance(name)
            texts.append((2, QPointF(x, port.y + 4.0), name))
            if port.name in self.roles:  # a tag left of the port's name: "LOSS"
                role, inferred = self.roles[port.name]
                text = role.upper()
                w = s.small_metrics.horizontalAdvance(text) + 10.0
                self._pills.append((QRectF(x - 6.0 - w, port.y - 7.0, w, 14.0), text,
                                    inferred))
        if self.params:
            text = f"{self.params:,} params"
            texts.append((4, QPointF(10.0, self._rect.height() - PADDING - 4.0), text))
        self._texts = texts
        return texts

    def title_at(self, zoom: float) -> TitleFit | None:
        """How the title is drawn far out at this zoom (None: as the header's, or no room)."""
        if zoom >= DETAIL_LOD:
            return None
        spill = max(0.0, (MAX_TILE - self._rect.width()) / 2)
        return self._overview.fit(self._rect.width() * zoom, self._rect.height() * zoom,
                                  spill * zoom)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def card(self) -> QRectF:
        """The card in item coordinates (without the ports sticking out)."""
        return QRectF(self._rect)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self._rect.adjusted(-PORT_HIT, 0, PORT_HIT, 0))
        return path

    def port_pos(self, kind: str, name: str) -> QPointF:
        """A port's centre in scene coordinates (the header's edge for a port not shown)."""
        ports = self.inputs if kind == INPUT else self.outputs
        x = 0.0 if kind == INPUT else self.width
        for port in ports:
            if port.name == name:
                return self.mapToScene(QPointF(x, port.y))
        return self.mapToScene(QPointF(x, HEADER / 2))

    def port_at(self, local: QPointF) -> tuple[str, str] | None:
        """The port under a point in node coordinates: its dot or its name near the edge."""
        for kind, ports, x, inner in ((INPUT, self.inputs, 0.0, 18.0),
                                      (OUTPUT, self.outputs, self.width, -18.0)):
            low, high = sorted((x - PORT_HIT * (1 if inner > 0 else -1), x + inner))
            if low <= local.x() <= high:
                for port in ports:
                    if abs(local.y() - port.y) <= ROW / 2:
                        return kind, port.name
        return None

    def follow(self) -> None:
        """After the card moved: its wires and its group's frame follow. Called by the scene
        for each way a card moves (a drag, a document move), not from an itemChange, which Qt
        calls about ten times per card as it is made (0.3 s for a 10,000-node file)."""
        for edge in self.edges:
            edge.adjust()
        if self.group is not None:
            scene = self.scene()
            if scene is not None:
                scene.group_moved(self.group)

    # --- painting ------------------------------------------------------------------------
    def paint(self, painter, option: QStyleOptionGraphicsItem, widget=None) -> None:
        s = style()
        lod = option.levelOfDetailFromTransform(painter.worldTransform())
        if lod < DETAIL_LOD:
            self._paint_overview(painter, lod)
            return
        rect = self._rect
        header = s.category(self.op.category) if self.op else s.category("default")
        painter.setPen(s.no_pen)
        painter.setBrush(s.group_body if self.group else s.body)
        painter.drawRoundedRect(rect, CORNER, CORNER)
        painter.setBrush(header)
        painter.drawPath(self._header)
        painter.setBrush(Qt.NoBrush)
        painter.setPen(s.selected if self.isSelected()
                       else s.error_border if self.status == "error" else s.border)
        painter.drawRoundedRect(rect, CORNER, CORNER)
        painter.setPen(s.port_border)
        for ports, x in ((self.inputs, 0.0), (self.outputs, self.width)):
            for port in ports:
                painter.setBrush(s.port(port.dtype))
                painter.drawEllipse(QPointF(x, port.y), PORT_RADIUS, PORT_RADIUS)
        if self._highlight is not None:
            kind, name, valid = self._highlight
            ports = self.inputs if kind == INPUT else self.outputs
            for port in ports:
                if port.name == name:
                    painter.setBrush(Qt.NoBrush)
                    painter.setPen(s.port_ok if valid else s.port_bad)
                    x = 0.0 if kind == INPUT else self.width
                    painter.drawEllipse(QPointF(x, port.y), PORT_RADIUS + 3, PORT_RADIUS + 3)
        fonts = (s.title_font, s.sub_font, s.body_font, s.body_font, s.small_font)
        colours = (s.header_text, s.header_sub, s.text, s.muted, s.muted)
        slot = -1
        texts = self._texts if self._texts is not None else self._place_texts()
        for font_slot, at, text in texts:
            if font_slot != slot:
                slot = font_slot
                painter.setFont(fonts[slot])
                painter.setPen(colours[slot])
            painter.drawText(at, text)
        if self._pills:
            painter.setFont(s.small_font)
            for rect, text, inferred in self._pills:  # marked: filled; inferred: outlined
                painter.setPen(s.role_pen)
                painter.setBrush(Qt.NoBrush if inferred else s.role_fill)
                painter.drawRoundedRect(rect, 7.0, 7.0)
                painter.setPen(s.role_pen if inferred else s.role_text)
                painter.drawText(rect, Qt.AlignCenter, text)
        self.badge.paint(painter)

    def hoverMoveEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        # the badge's word (OK, the error, blocked) where the pointer is on the badge
        tip = self.badge.toolTip() if self.badge.hit(event.pos()) else ""
        if tip != self.toolTip():
            self.setToolTip(tip)
        super().hoverMoveEvent(event)

    def _paint_overview(self, painter, lod: float) -> None:
        """Far out: a tile in the op's colour with the title across it, as large as fits and
        never under 7 px on screen; flat fills, no curves (hundreds of tiles on screen)."""
        s = style()
        tile = self._tile
        if tile is None or tile[0] != lod or tile[1] is not s:
            fit = self.title_at(lod)
            rect = self._rect
            if fit is not None and fit.width > rect.width() * lod:  # a long title widens it
                spill = (fit.width / lod - rect.width()) / 2
                rect = rect.adjusted(-spill, 0, spill, 0)
            colour = s.category(self.op.category) if self.op else s.category("default")
            text = None if fit is None else (s.overview_font(fit.pixels / lod),
                                             "\n".join(fit.lines))
            tile = self._tile = (lod, s, rect, colour, text)
        _, _, rect, colour, text = tile
        painter.fillRect(rect, colour)
        if self.isSelected() or self.status == "error":
            painter.setPen(s.selected if self.isSelected() else s.error_border)
            painter.setBrush(Qt.NoBrush)
            painter.drawRect(rect)
        if text is not None:
            painter.setFont(text[0])
            painter.setPen(s.header_text)
            painter.drawText(rect, Qt.AlignCenter, text[1])


def _names_its_op(title: str, op: str) -> bool:
    """Whether the title already says the op ("relu_3", "hidden1_relu"): then the header
    does not repeat it."""
    return op in title


@functools.lru_cache(maxsize=512)
def _op_advance(s: CanvasStyle, op: str) -> float:
    # op names repeat across a graph; measuring text costs microseconds each time
    return s.sub_metrics.horizontalAdvance(op)


def _header_fit(title: str, op: str) -> tuple[float, str, str]:
    """The card's width for its header (title left, op's name right, the badge) and the two
    texts, elided only when the widest card cannot hold them: the op's name first."""
    s = style()
    title_w = s.title_metrics.horizontalAdvance(title)
    op_w = _op_advance(s, op) + OP_GAP if op else 0.0
    need = TITLE_LEFT + title_w + op_w + BADGE_ROOM
    width = min(max(NODE_WIDTH, math.ceil(need / 8.0) * 8.0), MAX_NODE_WIDTH)
    room = width - TITLE_LEFT - BADGE_ROOM
    if title_w + op_w > room and op:
        op = s.sub_metrics.elidedText(op, Qt.ElideRight, max(room - title_w, MIN_OP) - OP_GAP)
        op_w = s.sub_metrics.horizontalAdvance(op) + OP_GAP
    if title_w + op_w > room:  # a path keeps its ends whole where it can
        short = [t for t in shortened(title)
                 if s.title_metrics.horizontalAdvance(t) + op_w <= room]
        title = short[0] if short else s.title_metrics.elidedText(
            shortened(title)[-1], Qt.ElideMiddle, room - op_w)
    return width, title, op


def _top_rounded(rect: QRectF, radius: float) -> QPainterPath:
    """A rectangle with only its top corners rounded (the header)."""
    return QPainterPath(_top_rounded_at(rect.x(), rect.y(), rect.width(), rect.height(), radius))


@functools.lru_cache(maxsize=256)
def _top_rounded_at(x: float, y: float, width: float, height: float,
                    radius: float) -> QPainterPath:
    # cached: most cards share a width, and a QPainterPath copies cheaply (implicitly shared)
    rect = QRectF(x, y, width, height)
    path = QPainterPath()
    path.setFillRule(Qt.WindingFill)
    path.addRoundedRect(rect, radius, radius)
    path.addRect(rect.adjusted(0, radius, 0, 0))
    return path.simplified()


class GroupFrame(QGraphicsItem):
    """A tinted, labelled frame behind the nodes expanded from one composite."""

    def __init__(self, group_id: str, title: str):
        super().__init__()
        self.group_id = group_id
        self.title = title
        self._rect = QRectF()
        self.setZValue(-2)

    def fit(self, members: list[NodeItem]) -> None:
        rect = QRectF()
        for item in members:  # the cards themselves (the items' bounds leave room for tiles)
            rect = rect.united(item.mapRectToScene(item.card()))
        rect = rect.adjusted(-14, -26, 14, 14)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect

    def boundingRect(self) -> QRectF:
        return self._rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter, option, widget=None) -> None:
        s = style()
        painter.setPen(s.group_frame_pen)
        painter.setBrush(s.group_frame)
        painter.drawRoundedRect(self._rect, 10, 10)
        if option.levelOfDetailFromTransform(painter.worldTransform()) >= TEXT_LOD:
            painter.setFont(s.body_font)
            painter.setPen(s.muted)
            painter.drawText(self._rect.topLeft() + QPointF(12, 17), self.title)
