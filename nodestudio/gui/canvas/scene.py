"""The scene: one item per node and per edge of the document, kept in sync only from the graph's
events. Undo / redo re-emit the same fine-grained events, so the scene never needs to know about
the undo stack. Labels and badges come from the document's annotation and are refreshed when it
is recomputed (`Document.annotated`), never looked up while painting.

The scene also runs the two mouse gestures that edit the graph: moving nodes (recorded as one
`move_nodes` call on release) and dragging wires (`gestures.WireGesture`).
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtWidgets import QGraphicsScene, QToolTip

from nodestudio.errors import GraphError
from nodestudio.graph.layout import COLUMN, ROW, layered_positions
from nodestudio.graph.model import Edge, Node, PortRef
from nodestudio.gui.canvas.edges import DragWire, EdgeItem
from nodestudio.gui.canvas.gestures import WRONG_KIND, WireGesture
from nodestudio.gui.canvas.items import INPUT, OUTPUT, GroupFrame, NodeItem
from nodestudio.gui.canvas.style import PORT_HIT
from nodestudio.gui.theme import signals as theme_signals
from nodestudio.ir.annotate import Annotation


class GraphScene(QGraphicsScene):
    """Mirror of `document.graph`. Signals: `node_selection_changed(list of ids)` and
    `connection_refused(reason)` (also kept in `last_refusal`)."""

    node_selection_changed = Signal(list)
    connection_refused = Signal(str)

    def __init__(self, document, parent=None):
        super().__init__(parent)
        self.document = document
        self.nodes: dict[str, NodeItem] = {}
        self.edges: dict[Edge, EdgeItem] = {}
        self.frames: dict[str, GroupFrame] = {}
        self.last_refusal: str | None = None
        self._members: dict[str, set[NodeItem]] = {}
        self._fallback: dict[str, tuple[float, float]] = {}
        self._gesture: WireGesture | None = None
        self._wire: DragWire | None = None
        self._hovered: NodeItem | None = None
        self._raised_wires: set[EdgeItem] = set()
        self._raised_cards: set[NodeItem] = set()
        self._synced: Annotation | None = None  # the annotation the items show
        self._press_positions: dict[str, QPointF] = {}
        self._selection: list[str] = []
        self._quiet_selection = False
        self.binding: dict[str, str] = {}  # role -> the dataset it is fed (set_dataset_binding)
        # the dataset's (example shape, classes), when known: what a new input is shaped for
        self.dataset_shape: tuple[tuple[int, ...], int] | None = None
        # The graph outlives the scene: unsubscribe when the C++ scene goes, without self.
        self._subscription: list[Any] = [None]
        holder = self._subscription
        self.destroyed.connect(lambda *_: holder[0] and holder[0]())
        document.replaced.connect(self.rebuild)
        document.annotated.connect(self.refresh_annotation)
        theme_signals.theme_changed.connect(self._theme_changed)
        self.selectionChanged.connect(self._selection_changed)
        self.rebuild()

    # --- mirroring the document ------------------------------------------------------------
    def rebuild(self) -> None:
        """Drop every item and build them again from `document.graph` (after `replaced`)."""
        self.detach()
        self._end_wire()
        self._raised_wires = set()  # before clearing: its selection change must not touch them
        self._raised_cards = set()
        self._quiet_selection = True
        self.clear()
        self._quiet_selection = False
        self.nodes.clear()
        self.edges.clear()
        self.frames.clear()
        self._members.clear()
        self._fallback.clear()
        graph = self.document.graph
        self._subscription[0] = graph.subscribe(self._graph_event)
        note = self._synced = self.document.annotation
        for node in graph.nodes.values():
            self._add_node(node, note)
        for edge in graph.edges:
            self._add_edge(edge, note)
        self.refresh_roles()
        self._selection_changed()

    def detach(self) -> None:
        """Stop listening to the graph (the scene is being thrown away)."""
        if self._subscription[0] is not None:
            self._subscription[0]()
            self._subscription[0] = None

    def _graph_event(self, event: str, payload: Any) -> None:
        graph = self.document.graph
        if event == "node_added":
            self._add_node(payload, None)
        elif event == "node_removed":
            self._remove_node(payload.id)
        elif event == "edge_added":
            self._add_edge(payload, None)
        elif event == "edge_removed":
            self._remove_edge(payload)
        elif event == "attrs_changed":
            item = self.nodes.get(payload[0])
            if item is not None:
                item.sync_node(graph.nodes[payload[0]], None)
        elif event == "moved":
            item = self.nodes.get(payload[0])
            if item is not None:
                item.setPos(self._display_pos(graph.nodes[payload[0]]))
                item.follow()
        elif event == "document_changed":
            for group_id in self.frames:
                self._retitle(group_id)

    def _add_node(self, node: Node, note: Annotation | None) -> None:
        item = NodeItem(node, note)
        item.setPos(self._display_pos(node))
        self.addItem(item)
        self.nodes[node.id] = item
        if node.group is not None:
            self._members.setdefault(node.group, set()).add(item)
            if node.group not in self.frames:
                frame = self.frames[node.group] = GroupFrame(node.group, "")
                self.addItem(frame)
                self._retitle(node.group)
            self.group_moved(node.group)

    def _remove_node(self, node_id: str) -> None:
        item = self.nodes.pop(node_id, None)
        if item is None:
            return
        for edge in list(item.edges):
            self._remove_edge(edge.edge)
        if item is self._hovered:
            self._hovered = None
        self._raised_cards.discard(item)
        group = item.group
        if group is not None:
            members = self._members.get(group, set())
            members.discard(item)
            if not members:
                self._members.pop(group, None)
                self.removeItem(self.frames.pop(group))
            else:
                self.group_moved(group)
        self.removeItem(item)

    def _add_edge(self, edge: Edge, note: Annotation | None) -> None:
        src, dst = self.nodes.get(edge.src.node), self.nodes.get(edge.dst.node)
        if src is None or dst is None or edge in self.edges:
            return  # an edge to a missing node: the annotation reports it
        known = None if note is None else note.types.get(edge.src)
        item = EdgeItem(edge, src, dst, "" if known is None else str(known))
        if known is not None:
            dst.set_input_dtype(edge.dst.port, known.dtype)
        self.addItem(item)
        self.edges[edge] = item

    def _remove_edge(self, edge: Edge) -> None:
        item = self.edges.pop(edge, None)
        if item is not None:
            self._raised_wires.discard(item)
            item.detach()
            self.removeItem(item)

    def _display_pos(self, node: Node) -> QPointF:
        """The node's position, or a layered-layout place for a node that has none."""
        if node.position is not None:
            return QPointF(*node.position)
        if node.id not in self._fallback:
            graph = self.document.graph
            try:
                self._fallback = dict(layered_positions(graph))
            except GraphError:  # a cycle assembled by hand: a plain grid
                self._fallback = {k: ((i % 8) * COLUMN, (i // 8) * ROW)
                                  for i, k in enumerate(graph.nodes)}
        return QPointF(*self._fallback.get(node.id, (0.0, 0.0)))

    def group_moved(self, group_id: str) -> None:
        frame = self.frames.get(group_id)
        if frame is not None:
            frame.fit(list(self._members.get(group_id, ())))

    def _retitle(self, group_id: str) -> None:
        info = self.document.graph.groups.get(group_id) or {}
        op = info.get("op")
        self.frames[group_id].title = f"{group_id}  ·  {op}" if op else group_id
        self.frames[group_id].update()

    def refresh_annotation(self) -> None:
        """New types, statuses and parameter counts: update the cached texts of the items the
        document says may have changed (every item when it cannot say)."""
        note = self.document.annotation
        if note is self._synced:  # the items were made from this very annotation (a new file)
            self.refresh_roles()
            return
        self._synced = note
        changed = self.document.annotation_changes
        nodes = (self.nodes if changed is None else
                 {k: self.nodes[k] for k in changed if k in self.nodes})
        for item in nodes.values():
            item.sync_annotation(note)
        edges = (self.edges.items() if changed is None else
                 [(e, item) for node in nodes.values() for item in node.edges
                  for e in (item.edge,) if e.src.node in nodes or e.dst.node in nodes])
        for edge, item in edges:
            known = note.types.get(edge.src)
            item.set_label("" if known is None else str(known))
            if known is not None:
                item.dst.set_input_dtype(edge.dst.port, known.dtype)
        groups = (self.frames if changed is None else
                  {item.group for item in nodes.values() if item.group in self.frames})
        for group_id in groups:
            self.group_moved(group_id)
        self.refresh_roles()

    def set_dataset_binding(self, features: str = "", labels: str = "",
                            shape: tuple[tuple[int, ...], int] | None = None) -> None:
        """What the features and labels inputs will receive (from the Training dock's
        dataset), shown on those input nodes: "mnist5k: 28 x 28"; `shape`: the dataset's
        (example shape, number of classes) when known."""
        self.binding = {"features": features, "labels": labels}
        self.dataset_shape = shape
        self.refresh_roles()

    def new_input_attrs(self) -> dict[str, Any] | None:
        """The attributes of an input dropped on the canvas: while the graph has no features
        input, one fed the dataset's examples as flat rows (B x 784 for mnist5k: what a dense
        layer reads); then one fed its labels (B, int32); after that, the op's defaults.
        None when the dataset's shape is unknown (a file not read yet)."""
        if self.dataset_shape is None:
            return None
        roles = self.document.roles
        example, _classes = self.dataset_shape
        if roles.features is None:
            return {"shape": [None, math.prod(example)], "dtype": "float32",
                    "role": "features"}
        if roles.labels is None:
            return {"shape": [None], "dtype": "int32", "role": "labels"}
        return None

    def refresh_roles(self) -> None:
        """Tag each node's output ports with the training role the document gives them."""
        roles = self.document.roles
        marked = self.document.graph.outputs
        tags: dict[str, dict[str, tuple[str, bool]]] = {}
        for role, ref in roles.outputs.items():
            tags.setdefault(ref.node, {})[ref.port] = (role, marked.get(role) != ref)
        bound: dict[str, str] = {}
        graph = self.document.graph
        for role, node_id in (("features", roles.features), ("labels", roles.labels)):
            if node_id is not None and node_id in graph.nodes:
                explicit = graph.nodes[node_id].attrs.get("role") == role
                tags.setdefault(node_id, {})["out"] = (role, not explicit)
                bound[node_id] = self.binding.get(role, "")
        for node_id, item in self.nodes.items():
            item.set_roles(tags.get(node_id, {}), bound.get(node_id, ""))

    def _theme_changed(self, _theme) -> None:
        # the style rebuilds itself for the new theme; text widths may differ with it
        for item in self.nodes.values():
            item.sync_annotation(self.document.annotation)
        for item in self.edges.values():
            label, item.label = item.label, ""
            item.set_label(label)
        self.update()

    # --- selection -------------------------------------------------------------------------
    def selected_node_ids(self) -> list[str]:
        """Selected nodes in document order."""
        return [k for k in self.document.graph.nodes
                if k in self.nodes and self.nodes[k].isSelected()]

    def selected_edges(self) -> list[Edge]:
        return [e for e, item in self.edges.items() if item.isSelected()]

    def select_nodes(self, ids) -> None:
        """Select exactly these nodes (one `node_selection_changed`)."""
        self._quiet_selection = True
        try:
            self.clearSelection()
            for node_id in ids:
                if node_id in self.nodes:
                    self.nodes[node_id].setSelected(True)
        finally:
            self._quiet_selection = False
        self._selection_changed()

    def _selection_changed(self) -> None:
        # a selected wire or card is drawn above the others (done here, not in each item's
        # itemChange: a Python itemChange on 10,000 items costs a second when a file opens)
        chosen = self.selectedItems()
        selected = {item for item in chosen if isinstance(item, EdgeItem)}
        for item in self._raised_wires - selected:
            item.setZValue(0)
        for item in selected - self._raised_wires:
            item.setZValue(0.5)
        self._raised_wires = selected
        cards = {item for item in chosen if isinstance(item, NodeItem)}  # selected on top
        for item in self._raised_cards - cards:
            item.setZValue(1)
        for item in cards - self._raised_cards:
            item.setZValue(2)
        self._raised_cards = cards
        if self._quiet_selection:
            return
        ids = self.selected_node_ids()
        if ids != self._selection:
            self._selection = ids
            self.node_selection_changed.emit(ids)

    def nodes_rect(self, ids=None) -> QRectF:
        """Bounding rectangle of the given nodes (default all) in scene coordinates."""
        rect = QRectF()
        for node_id, item in self.nodes.items():
            if ids is None or node_id in ids:  # the cards, not the room a far-out tile takes
                rect = rect.united(item.mapRectToScene(item.card()))
        return rect

    # --- ports and wires -------------------------------------------------------------------
    def port_at(self, pos: QPointF) -> tuple[NodeItem, str, str] | None:
        """(node item, "in"/"out", port name) under a scene point, topmost node first."""
        area = QRectF(pos.x() - PORT_HIT, pos.y() - PORT_HIT, 2 * PORT_HIT, 2 * PORT_HIT)
        for item in self.items(area, Qt.IntersectsItemShape, Qt.DescendingOrder):
            if isinstance(item, NodeItem):
                hit = item.port_at(item.mapFromScene(pos))
                if hit is not None:
                    return item, hit[0], hit[1]
        return None

    def _begin_wire(self, item: NodeItem, kind: str, port: str) -> None:
        """Start dragging a wire from a port (sets `_gesture` unless there is nothing to drag)."""
        ref = PortRef(item.node_id, port)
        picked = None
        if kind == OUTPUT:
            fixed, fixed_is_output = ref, True
        else:
            feeder = self.document.graph.incoming(item.node_id).get(port)
            if feeder is None:
                fixed, fixed_is_output = ref, False
            elif feeder.node not in self.nodes:
                return  # fed from a node the document lacks: nothing to pick up
            else:  # pick the wire up by its input end to re-route or delete it
                picked = Edge(feeder, ref)
                fixed, fixed_is_output = feeder, True
                if picked in self.edges:
                    self.edges[picked].setVisible(False)
        self._gesture = WireGesture(self.document, fixed, fixed_is_output, picked)
        anchor_item = self.nodes[fixed.node]
        anchor = anchor_item.port_pos(OUTPUT if fixed_is_output else INPUT, fixed.port)
        self._wire = DragWire(anchor, fixed_is_output)
        self.addItem(self._wire)

    def _track_wire(self, pos: QPointF) -> None:
        gesture, wire = self._gesture, self._wire
        hit = self.port_at(pos)
        target_item = None
        if hit is not None and (hit[0].node_id, hit[2]) != (gesture.fixed.node,
                                                             gesture.fixed.port):
            target_item, kind, port = hit
            verdict = gesture.problem(PortRef(target_item.node_id, port), kind == OUTPUT)
            if verdict == WRONG_KIND:
                target_item = None
            else:
                target_item.set_port_highlight(kind, port, verdict is None)
                wire.move_to(target_item.port_pos(kind, port),
                             "valid" if verdict is None else "invalid")
        if target_item is not self._hovered and self._hovered is not None:
            self._hovered.set_port_highlight(None)
        self._hovered = target_item
        if target_item is None:
            wire.move_to(pos, "searching")

    def _drop_wire(self, pos: QPointF, screen_pos) -> None:
        gesture = self._gesture
        hit = self.port_at(pos)
        self._end_wire()
        if hit is None:
            reason = gesture.finish(None)
        elif (hit[0].node_id, hit[2]) == (gesture.fixed.node, gesture.fixed.port):
            reason = None  # released where it started: a click, not a wire
        else:
            reason = gesture.finish(PortRef(hit[0].node_id, hit[2]), hit[1] == OUTPUT)
        if reason is not None:
            self.refuse(reason, screen_pos)

    def _end_wire(self) -> None:
        if self._hovered is not None:
            self._hovered.set_port_highlight(None)
            self._hovered = None
        if self._wire is not None:
            self.removeItem(self._wire)
            self._wire = None
        gesture, self._gesture = self._gesture, None
        if gesture is not None and gesture.picked in self.edges:
            self.edges[gesture.picked].setVisible(True)

    def refuse(self, reason: str, screen_pos) -> None:
        """Tell the user why an edit was refused, at the cursor, and the main window."""
        self.last_refusal = reason
        QToolTip.showText(screen_pos, reason)
        self.connection_refused.emit(reason)

    # --- mouse -------------------------------------------------------------------------------
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.LeftButton and self._gesture is None:
            hit = self.port_at(event.scenePos())
            if hit is not None:
                self._begin_wire(*hit)
                if self._gesture is not None:
                    event.accept()
                    return
        super().mousePressEvent(event)
        if event.button() == Qt.LeftButton:
            self._press_positions = {item.node_id: item.pos() for item in self.nodes.values()
                                     if item.isSelected()}

    def mouseMoveEvent(self, event) -> None:
        if self._gesture is not None:
            self._track_wire(event.scenePos())
            event.accept()
            return
        super().mouseMoveEvent(event)
        for node_id in self._press_positions:  # the cards being dragged: their wires follow
            item = self.nodes.get(node_id)
            if item is not None:
                item.follow()

    def mouseReleaseEvent(self, event) -> None:
        if self._gesture is not None and event.button() == Qt.LeftButton:
            self._drop_wire(event.scenePos(), event.screenPos())
            event.accept()
            return
        super().mouseReleaseEvent(event)
        if event.button() == Qt.LeftButton and self._press_positions:
            pressed, self._press_positions = self._press_positions, {}
            moved = {k: (p.x(), p.y()) for k, old in pressed.items()
                     if k in self.nodes and (p := self.nodes[k].pos()) != old}
            if moved:
                self.document.move_nodes(moved)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key_Escape and self._gesture is not None:
            self._end_wire()
            event.accept()
            return
        super().keyPressEvent(event)
