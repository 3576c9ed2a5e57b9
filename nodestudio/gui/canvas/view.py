"""The canvas widget: grid, zoom around the cursor, panning, keyboard shortcuts, the Tab quick-add
popup, op drops from the palette, context menus, and the editing commands the main window calls
(delete, copy / paste, duplicate, expand / collapse, auto-layout, fit)."""

from __future__ import annotations

import math

from PySide6.QtCore import QEvent, QLineF, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QCursor, QPainter, QTransform
from PySide6.QtWidgets import QGraphicsView, QMenu

from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.graph.limits import POSITION_LIMIT
from nodestudio.gui.canvas.edges import EdgeItem
from nodestudio.gui.canvas.items import GroupFrame, NodeItem, StatusBadge
from nodestudio.gui.canvas.quick_add import QuickAdd
from nodestudio.gui.canvas.scene import GraphScene
from nodestudio.gui.canvas.style import style
from nodestudio.gui.document import OP_MIME
from nodestudio.gui.theme import signals as theme_signals

MIN_ZOOM, MAX_ZOOM = 0.1, 4.0
FIT_MAX_ZOOM = 1.25  # fitting one small node should not blow it up
GRID_MINOR, GRID_MAJOR = 20.0, 100.0
WORLD = 100_000.0  # scene rect: room to pan anywhere and zoom around any point
PAN_STEP = 60  # pixels per arrow key press
ZOOM_STEP = 1.2
EMPTY_TITLE = "An empty graph"
EMPTY_HINT = ("Drag ops from the Palette onto the canvas, or press Tab to search for one.\n"
              "Drag from an output port to an input port to wire them.\n"
              "File > New from Template starts from a ready network.")


class GraphView(QGraphicsView):
    """Shows a GraphScene; see the module doc for what the user can do. `rename_requested(str)`:
    the user asked to rename a node (the window focuses the inspector's name field)."""

    rename_requested = Signal(str)

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(scene, parent)
        if scene.parent() is None:
            # the view owns its scene: a scene freed by Python's garbage collector before the
            # view is gone leaves the view painting through a dangling pointer
            scene.setParent(self)
        self.graph_scene = scene
        self.document = scene.document
        self.setRenderHints(QPainter.Antialiasing | QPainter.TextAntialiasing)
        self.setViewportUpdateMode(QGraphicsView.SmartViewportUpdate)
        self.setOptimizationFlags(QGraphicsView.DontSavePainterState
                                  | QGraphicsView.DontAdjustForAntialiasing)
        self.setDragMode(QGraphicsView.RubberBandDrag)
        self.setRubberBandSelectionMode(Qt.IntersectsItemShape)
        self.setTransformationAnchor(QGraphicsView.NoAnchor)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setSceneRect(_room(QRectF()))
        scene.sceneRectChanged.connect(self._cover)
        # the empty graph's hint is drawn over the whole viewport; a smart update repaints only
        # around the first node dropped, which would leave the rest of the hint on screen
        self._hint_shown = not scene.nodes
        scene.changed.connect(lambda _rects: self._repaint_if_hint_changed())
        self.setFrameShape(QGraphicsView.NoFrame)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMouseTracking(True)
        self.centerOn(0, 0)
        self.quick = QuickAdd(self)
        self.quick.chosen.connect(self.add_op)
        self._pan_from: QPointF | None = None
        theme_signals.theme_changed.connect(self._theme_changed)

    # --- zoom and pan ------------------------------------------------------------------------
    @property
    def zoom(self) -> float:
        return self.transform().m11()

    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        """Scale by `factor` (clamped to 0.1..4) keeping the scene point under `anchor`
        (a viewport position; default the centre) where it is."""
        current = self.zoom
        target = min(max(current * factor, MIN_ZOOM), MAX_ZOOM)
        if math.isclose(target, current):
            return
        anchor = self.viewport().rect().center() if anchor is None else anchor
        before = self.mapToScene(anchor)
        self.scale(target / current, target / current)
        after = self.mapToScene(anchor)
        self.pan_by((before.x() - after.x()) * target, (before.y() - after.y()) * target)

    def pan_by(self, dx: float, dy: float) -> None:
        """Move the view by pixels (content moves the other way)."""
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() + round(dx))
        v.setValue(v.value() + round(dy))

    def fit_all(self) -> None:
        self.fit_rect(self.graph_scene.nodes_rect())

    def fit_selection(self) -> None:
        ids = self.graph_scene.selected_node_ids()
        self.fit_rect(self.graph_scene.nodes_rect(ids) if ids else
                      self.graph_scene.nodes_rect())

    def _cover(self, items: QRectF) -> None:
        """Keep every node within reach: the view's room grows with what the scene holds
        (never beyond the document's position limit, so it stays a sane size)."""
        room = _room(items)
        if room != self.sceneRect():
            self.setSceneRect(room)

    def fit_rect(self, rect: QRectF) -> None:
        self._cover(self.graph_scene.itemsBoundingRect())
        if rect.isEmpty():
            self.setTransform(QTransform())
            self.centerOn(0, 0)
            return
        margin = 48.0
        room = self.viewport().rect()
        scale = min((room.width() - 2 * margin) / rect.width(),
                    (room.height() - 2 * margin) / rect.height())
        scale = min(max(scale, MIN_ZOOM), FIT_MAX_ZOOM)
        self.setTransform(QTransform.fromScale(scale, scale))
        self.centerOn(rect.center())

    def center_on_nodes(self, ids) -> None:
        rect = self.graph_scene.nodes_rect(set(ids))
        if not rect.isEmpty():
            self.centerOn(rect.center())

    # --- editing commands ----------------------------------------------------------------------
    def add_op(self, op: str, scene_pos: QPointF) -> str | None:
        """Add an op with its top-left corner at a scene point and select it. An input is
        shaped for the Training dock's dataset (GraphScene.new_input_attrs)."""
        attrs = self.graph_scene.new_input_attrs() if op == "input" else None
        try:
            node_id = self.document.add_node(op, attrs, position=(scene_pos.x(), scene_pos.y()))
        except GraphError as exc:
            self.graph_scene.refuse(exc.detail, QCursor.pos())
            return None
        self.graph_scene.select_nodes([node_id])
        return node_id

    def quick_add(self, scene_pos: QPointF | None = None) -> None:
        """Open the search popup; the op chosen is added at `scene_pos` (default: cursor)."""
        view_pos = self._cursor_or_centre()
        if not isinstance(scene_pos, QPointF):  # also QAction.triggered's `checked` flag
            scene_pos = None
        if scene_pos is None:
            scene_pos = self.mapToScene(view_pos)
        else:
            view_pos = self.mapFromScene(scene_pos)
        self.quick.popup(self.viewport().mapTo(self, view_pos), scene_pos)

    def delete_selection(self) -> None:
        """Delete the selected nodes and wires as one undo step."""
        ids = self.graph_scene.selected_node_ids()
        edges = [e for e in self.graph_scene.selected_edges()
                 if e.src.node not in ids and e.dst.node not in ids]
        if ids and not edges:
            self.document.remove_nodes(ids)
        elif edges and not ids:
            self.document.disconnect(edges)
        elif ids:
            def change(g):
                for e in edges:
                    g.disconnect(e)
                for node_id in ids:
                    g.remove_node(node_id)
            self.document.edit(f"Delete {len(ids)} nodes and {len(edges)} wires", change)

    def copy_selection(self) -> str | None:
        ids = self.graph_scene.selected_node_ids()
        return self.document.copy_nodes(ids) if ids else None

    def paste(self, text: str) -> list[str]:
        """Paste copied nodes with their top-left at the cursor (or the view's centre) and
        select them. FileFormatError when the text is not copied nodes."""
        part = fileformat.loads(text, "<clipboard>")
        placed = [n.position for n in part.nodes.values() if n.position is not None]
        offset = (40.0, 40.0)
        if placed:
            target = self.mapToScene(self._cursor_or_centre())
            offset = (target.x() - min(p[0] for p in placed),
                      target.y() - min(p[1] for p in placed))
        ids = self.document.paste(text, offset)
        self.graph_scene.select_nodes(ids)
        return ids

    def duplicate_selection(self) -> list[str]:
        ids = self.graph_scene.selected_node_ids()
        if not ids:
            return []
        new = self.document.duplicate(ids)
        self.graph_scene.select_nodes(new)
        return new

    def expand_selected(self) -> list[str]:
        """Expand every selected composite (one undo step each); selects what they became."""
        graph, new = self.document.graph, []
        for node_id in self.graph_scene.selected_node_ids():
            item = self.graph_scene.nodes[node_id]
            if item.op is not None and item.op.is_composite and node_id not in graph.groups:
                new += self._guarded(lambda n=node_id: self.document.expand(n)) or []
        if new:
            self.graph_scene.select_nodes(new)
        return new

    def collapse_selected(self) -> list[str]:
        """Collapse the groups the selected nodes belong to; selects the composites."""
        graph = self.document.graph
        groups = dict.fromkeys(graph.nodes[n].group for n in self.graph_scene.selected_node_ids()
                               if graph.nodes[n].group is not None)
        made = [self._guarded(lambda g=g: self.document.collapse(g)) for g in groups
                if g in self.document.graph.groups]
        made = [m for m in made if m is not None]
        if made:
            self.graph_scene.select_nodes(made)
        return made

    def auto_layout(self) -> None:
        self._guarded(self.document.auto_layout)
        self.fit_all()

    def _guarded(self, action):
        try:
            return action()
        except GraphError as exc:
            self.graph_scene.refuse(exc.detail, QCursor.pos())
            return None

    def _cursor_or_centre(self) -> QPoint:
        pos = self.viewport().mapFromGlobal(QCursor.pos())
        return pos if self.viewport().rect().contains(pos) else self.viewport().rect().center()

    # --- context menu --------------------------------------------------------------------------
    def context_menu(self, scene_pos: QPointF) -> QMenu:
        """The menu for a scene point: node actions on a node, canvas actions elsewhere."""
        menu = QMenu(self)
        item = self.scene().itemAt(scene_pos, self.transform())
        if isinstance(item, StatusBadge):
            item = item.parentItem()
        if isinstance(item, NodeItem):
            if not item.isSelected():
                self.graph_scene.select_nodes([item.node_id])
            rename = _action(menu, "Rename…", lambda: self.rename_requested.emit(item.node_id))
            rename.setShortcut("F2")
            rename.setEnabled(item.group is None)
            self._role_actions(menu, item, scene_pos)
            menu.addSeparator()
            expand = _action(menu, "Expand", self.expand_selected)
            expand.setEnabled(item.op is not None and item.op.is_composite)
            collapse = _action(menu, "Collapse group", self.collapse_selected)
            collapse.setEnabled(item.group is not None)
            menu.addSeparator()
            _action(menu, "Duplicate", self.duplicate_selection)
            _action(menu, "Delete", self.delete_selection)
        elif isinstance(item, EdgeItem):
            _action(menu, "Delete wire", lambda: self.document.disconnect([item.edge]))
        elif isinstance(item, GroupFrame):
            _action(menu, f"Collapse {item.group_id}",
                    lambda: self._guarded(lambda: self.document.collapse(item.group_id)))
        else:
            _action(menu, "Add node…", lambda: self.quick_add(scene_pos))
            _action(menu, "Auto-layout", self.auto_layout)
            _action(menu, "Fit", self.fit_all)
        return menu

    def _role_actions(self, menu: QMenu, item: NodeItem, scene_pos: QPointF) -> None:
        """Mark what a node is for in training: an input as the features or the labels, an
        output port (the one clicked, or the node's only one) as the loss, error or
        prediction."""
        document, node_id = self.document, item.node_id
        op = item.op.name if item.op is not None else None
        if op == "input":
            current = document.graph.nodes[node_id].attrs.get("role", "auto")
            for role, text in (("features", "Use as the features"),
                               ("labels", "Use as the labels"), ("auto", "Role: automatic")):
                action = _action(menu, text, lambda role=role: self._guarded(
                    lambda: document.mark_input(node_id, role)))
                action.setCheckable(True)
                action.setChecked(current == role)
            return
        hit = self.graph_scene.port_at(scene_pos)
        ports = [p.name for p in item.outputs]
        port = hit[2] if hit is not None and hit[0] is item and hit[1] == "out" else (
            ports[0] if len(ports) == 1 else None)
        if port is None or op in (None, "parameter", "constant"):
            return
        ref = f"{node_id}:{port}"
        marked = {role for role, r in document.graph.outputs.items() if str(r) == ref}
        for role in ("loss", "error", "prediction"):
            action = _action(menu, f"Mark {port} as the {role}", lambda role=role: self._guarded(
                lambda: document.mark_output(role, ref)))
            action.setCheckable(True)
            action.setChecked(role in marked)
        for role in sorted(marked):
            _action(menu, f"Unmark the {role}", lambda role=role: document.mark_output(role, None))

    def contextMenuEvent(self, event) -> None:
        self.context_menu(self.mapToScene(event.pos())).exec(event.globalPos())

    # --- events ------------------------------------------------------------------------------
    def event(self, event) -> bool:
        # Tab would move the focus to the next widget before keyPressEvent sees it
        if event.type() == QEvent.KeyPress and event.key() == Qt.Key_Tab \
                and not self.quick.isVisible():
            self.quick_add()
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        key, text = event.key(), event.text()
        if key in (Qt.Key_Delete, Qt.Key_Backspace):
            self.delete_selection()
        elif key == Qt.Key_F:
            self.fit_selection()
        elif text in ("+", "=") or key == Qt.Key_Plus:
            self.zoom_by(ZOOM_STEP)
        elif text == "-" or key == Qt.Key_Minus:
            self.zoom_by(1 / ZOOM_STEP)
        elif key in (Qt.Key_Left, Qt.Key_Right, Qt.Key_Up, Qt.Key_Down):
            dx = {Qt.Key_Left: -PAN_STEP, Qt.Key_Right: PAN_STEP}.get(key, 0)
            dy = {Qt.Key_Up: -PAN_STEP, Qt.Key_Down: PAN_STEP}.get(key, 0)
            self.pan_by(dx, dy)
        else:
            super().keyPressEvent(event)

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP ** steps, event.position().toPoint())
        event.accept()

    def mousePressEvent(self, event) -> None:
        if self.quick.isVisible():
            self.quick.hide()
        if event.button() == Qt.MiddleButton:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.ClosedHandCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.pan_by(-delta.x(), -delta.y())
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MiddleButton and self._pan_from is not None:
            self._pan_from = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(OP_MIME):
            event.acceptProposedAction()
        else:
            super().dragEnterEvent(event)

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasFormat(OP_MIME):
            event.acceptProposedAction()
        else:
            super().dragMoveEvent(event)

    def dropEvent(self, event) -> None:
        if not event.mimeData().hasFormat(OP_MIME):
            super().dropEvent(event)
            return
        op = bytes(event.mimeData().data(OP_MIME)).decode("utf-8").strip()
        event.acceptProposedAction()
        self.add_op(op, self.mapToScene(event.position().toPoint()))
        self.setFocus()

    # --- painting ------------------------------------------------------------------------------
    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        s = style()
        painter.fillRect(rect, s.canvas)
        painter.setRenderHint(QPainter.Antialiasing, False)  # one crisp pixel per grid line
        zoom = self.zoom
        levels = ((GRID_MINOR, s.grid_minor, GRID_MAJOR), (GRID_MAJOR, s.grid_major, 0.0))
        if GRID_MAJOR * zoom < 16:  # far out: one coarse grid instead of a dense, costly one
            levels = ((GRID_MAJOR * 5, s.grid_major, 0.0),)
        for step, pen, skip in levels:
            if step * zoom < 10:  # denser than 10 px is noise
                continue
            lines = []
            x = math.floor(rect.left() / step) * step
            while x <= rect.right():
                if not skip or x % skip:
                    lines.append(QLineF(x, rect.top(), x, rect.bottom()))
                x += step
            y = math.floor(rect.top() / step) * step
            while y <= rect.bottom():
                if not skip or y % skip:
                    lines.append(QLineF(rect.left(), y, rect.right(), y))
                y += step
            painter.setPen(pen)
            painter.drawLines(lines)
        painter.setRenderHint(QPainter.Antialiasing, True)

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        """An empty graph says how to start, in the middle of the view."""
        if self.graph_scene.nodes:
            return
        s = style()
        painter.save()
        painter.resetTransform()  # in viewport pixels, whatever the zoom
        area = QRectF(self.viewport().rect()).adjusted(40, 0, -40, 0)
        painter.setPen(s.muted)
        painter.setFont(s.title_font)
        painter.drawText(area.adjusted(0, -40, 0, -40), Qt.AlignCenter, EMPTY_TITLE)
        painter.setFont(s.body_font)
        painter.drawText(area.adjusted(0, 20, 0, 20), Qt.AlignCenter | Qt.TextWordWrap,
                         EMPTY_HINT)
        painter.restore()

    def _repaint_if_hint_changed(self) -> None:
        empty = not self.graph_scene.nodes
        if empty != self._hint_shown:
            self._hint_shown = empty
            self.viewport().update()

    def _theme_changed(self, _theme) -> None:
        self.viewport().update()


def _room(items: QRectF) -> QRectF:
    """The scene rect to pan and zoom in: +-WORLD, grown to hold `items` with a margin, within
    the document's position limit (POSITION_LIMIT) and that margin."""
    room = QRectF(-WORLD, -WORLD, 2 * WORLD, 2 * WORLD)
    if items.isValid() and not items.isEmpty():
        room = room.united(items.adjusted(-WORLD, -WORLD, WORLD, WORLD))
    edge = POSITION_LIMIT + WORLD
    return room.intersected(QRectF(-edge, -edge, 2 * edge, 2 * edge))


def _action(menu: QMenu, text: str, slot) -> QAction:
    action = menu.addAction(text)
    action.triggered.connect(lambda *_: slot())
    return action
