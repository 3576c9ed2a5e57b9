"""The node-editor canvas with real widgets and real mouse, key and drag-and-drop events."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QByteArray, QEvent, QMimeData, QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodestudio.graph import fileformat
from nodestudio.graph.model import Edge, Graph, PortRef
from nodestudio.gui.canvas import OP_MIME, GraphScene, GraphView
from nodestudio.gui.canvas.items import INPUT, OUTPUT
from nodestudio.gui.document import Document
from nodestudio.gui.theme import apply_theme
from nodestudio.paths import resource_dir


def example(name: str) -> Graph:
    return fileformat.load(resource_dir("examples") / f"{name}.json")


@pytest.fixture
def canvas(qtbot):
    def make(graph: Graph | None = None):
        document = Document(graph)
        scene = GraphScene(document)
        view = GraphView(scene)
        qtbot.addWidget(view)
        view.resize(1400, 900)
        view.show()
        qtbot.waitExposed(view)
        view.fit_all()
        return document, scene, view
    return make


def mouse(view: GraphView, kind: str, scene_pos: QPointF, button=Qt.LeftButton) -> None:
    """A real mouse event on the viewport at a scene point."""
    viewport = view.viewport()
    local = QPointF(view.mapFromScene(scene_pos))
    where = QPointF(viewport.mapToGlobal(local.toPoint()))
    types = {"press": QEvent.MouseButtonPress, "move": QEvent.MouseMove,
             "release": QEvent.MouseButtonRelease}
    held = Qt.NoButton if kind == "release" else button
    event = QMouseEvent(types[kind], local, where, Qt.NoButton if kind == "move" else button,
                        held, Qt.NoModifier)
    QApplication.sendEvent(viewport, event)


def drag(view: GraphView, start: QPointF, end: QPointF, steps: int = 4) -> None:
    mouse(view, "press", start)
    for i in range(1, steps + 1):
        mouse(view, "move", start + (end - start) * (i / steps))
    mouse(view, "release", end)


def port(scene: GraphScene, ref: str, kind: str) -> QPointF:
    p = PortRef.parse(ref)
    return scene.nodes[p.node].port_pos(kind, p.port)


def header(scene: GraphScene, node_id: str) -> QPointF:
    return scene.nodes[node_id].mapToScene(QPointF(60, 12))


def two_nodes(document: Document) -> None:
    document.add_node("input", {"shape": [None, 4]}, position=(0, 0))
    document.add_node("tanh", position=(320, 40))


# --- mirroring the document ---------------------------------------------------------------------
def test_scene_mirrors_document_through_edits_undo_redo_and_replace(canvas, qtbot):
    document, scene, view = canvas(example("mlp"))
    assert set(scene.nodes) == set(document.graph.nodes)
    assert set(scene.edges) == set(document.graph.edges)
    assert scene.nodes["hidden"].pos() == QPointF(*document.graph.nodes["hidden"].position)

    new = document.add_node("relu", position=(50, 600))
    assert new in scene.nodes and scene.nodes[new].pos() == QPointF(50, 600)
    document.remove_nodes(["hidden_tanh"])
    assert "hidden_tanh" not in scene.nodes
    assert not any("hidden_tanh" in (e.src.node, e.dst.node) for e in scene.edges)

    document.undo_stack.undo()
    assert "hidden_tanh" in scene.nodes and set(scene.edges) == set(document.graph.edges)
    document.undo_stack.undo()
    assert new not in scene.nodes
    document.undo_stack.redo()
    assert new in scene.nodes

    document.replace(example("logistic_regression"), None)
    assert set(scene.nodes) == set(document.graph.nodes)
    assert set(scene.edges) == set(document.graph.edges)
    document.add_node("tanh")  # the scene listens to the new graph, not the old one
    assert len(scene.nodes) == len(document.graph.nodes)


def test_node_without_position_gets_a_layered_place(canvas):
    graph = Graph()
    graph.add_node("input", {"shape": [None, 3]}, id="a")
    graph.add_node("tanh", id="b")
    graph.connect("a:out", "b:x")
    _, scene, _ = canvas(graph)
    assert scene.nodes["b"].pos().x() > scene.nodes["a"].pos().x()


def test_wire_labels_show_tensor_types(canvas):
    _, scene, _ = canvas(example("mlp"))
    edge = Edge(PortRef("hidden", "out"), PortRef("hidden_tanh", "x"))
    assert scene.edges[edge].label == "B x 800"
    assert scene.nodes["W1"].params == 627_200


def test_a_wire_says_its_type_when_hovered_and_a_selected_one_is_drawn_on_top(canvas):
    _, scene, view = canvas(example("mlp"))
    item = scene.edges[Edge(PortRef("hidden", "out"), PortRef("hidden_tanh", "x"))]
    start, end = (scene.nodes["hidden"].port_pos("out", "out"),
                  scene.nodes["hidden_tanh"].port_pos("in", "x"))
    middle = (start + end) / 2  # where the wire's curve passes, under its type's pill
    mouse(view, "move", middle, Qt.NoButton)
    assert item.toolTip() == "hidden:out → hidden_tanh:x\nB x 800"
    mouse(view, "press", middle)
    mouse(view, "release", middle)
    assert item.isSelected() and item.zValue() == 0.5
    scene.clearSelection()
    assert item.zValue() == 0


def test_badge_shows_the_error_of_a_node_missing_an_input(canvas, qtbot):
    document, scene, view = canvas(example("mlp"))
    assert scene.nodes["hidden"].status == "ok"
    with qtbot.waitSignal(document.annotated):
        new = document.add_node("tanh", position=(0, 700))
    item = scene.nodes[new]
    assert item.status == "error" and item.badge.status == "error"
    assert "missing input" in item.badge.toolTip()
    view.centerOn(item)
    mouse(view, "move", item.mapToScene(item.badge.centre), Qt.NoButton)  # on the dot
    assert "missing input" in item.toolTip()
    mouse(view, "move", item.mapToScene(item.card().center()), Qt.NoButton)  # off it
    assert item.toolTip() == ""
    with qtbot.waitSignal(document.annotated):
        document.connect("hidden:out", f"{new}:x")
    assert item.status == "ok" and item.badge.toolTip() == "OK"


# --- wiring with the mouse -------------------------------------------------------------------
def test_dragging_from_output_to_input_connects_in_one_undo_step(canvas, qtbot):
    document, scene, view = canvas()
    two_nodes(document)
    view.fit_all()
    steps = document.undo_stack.count()
    drag(view, port(scene, "input_1:out", OUTPUT), port(scene, "tanh_1:x", INPUT))
    wanted = Edge(PortRef("input_1", "out"), PortRef("tanh_1", "x"))
    assert document.graph.edges == [wanted] and wanted in scene.edges
    assert document.undo_stack.count() == steps + 1
    assert scene._wire is None  # the temporary wire is gone
    with qtbot.waitSignal(document.annotated):
        pass
    assert scene.edges[wanted].label == "B x 4"
    document.undo_stack.undo()
    assert document.graph.edges == [] and not scene.edges


def test_dragging_backwards_from_an_input_connects_too(canvas):
    document, scene, view = canvas()
    two_nodes(document)
    view.fit_all()
    drag(view, port(scene, "tanh_1:x", INPUT), port(scene, "input_1:out", OUTPUT))
    assert document.graph.edges == [Edge(PortRef("input_1", "out"), PortRef("tanh_1", "x"))]


def test_hovering_a_port_while_dragging_shows_the_verdict(canvas):
    document, scene, view = canvas(example("mlp"))
    document.disconnect([Edge(PortRef("hidden_tanh", "out"), PortRef("logits", "x"))])
    mouse(view, "press", port(scene, "x:out", OUTPUT))
    mouse(view, "move", port(scene, "logits:x", INPUT))
    assert scene._wire.state == "invalid"
    assert scene.nodes["logits"]._highlight == (INPUT, "x", False)
    mouse(view, "move", port(scene, "hidden_tanh:out", OUTPUT) + QPointF(40, 300))
    assert scene._wire.state == "searching" and scene.nodes["logits"]._highlight is None
    mouse(view, "release", port(scene, "hidden_tanh:out", OUTPUT) + QPointF(40, 300))
    assert scene._wire is None


@pytest.mark.parametrize("src, dst, prepare, reason", [
    ("x:out", "logits:x", ("hidden_tanh:out", "logits:x"), "800"),  # B x 784 into a 800 x 10 W
    ("hidden_tanh:out", "hidden:x", ("x:out", "hidden:x"), "cycle"),
    ("x:out", "hidden_tanh:x", None, "already fed"),
])
def test_refused_connection_adds_nothing_and_says_why(canvas, qtbot, src, dst, prepare, reason):
    document, scene, view = canvas(example("mlp"))
    if prepare is not None:
        document.disconnect([Edge(PortRef.parse(prepare[0]), PortRef.parse(prepare[1]))])
    before = list(document.graph.edges)
    steps = document.undo_stack.count()
    with qtbot.waitSignal(scene.connection_refused) as signal:
        drag(view, port(scene, src, OUTPUT), port(scene, dst, INPUT))
    assert reason in signal.args[0] and scene.last_refusal == signal.args[0]
    assert document.graph.edges == before and set(scene.edges) == set(before)
    assert document.undo_stack.count() == steps


def test_picking_up_a_wire_reroutes_or_deletes_it(canvas):
    document, scene, view = canvas(example("mlp"))
    old = Edge(PortRef("hidden_tanh", "out"), PortRef("logits", "x"))
    document.disconnect([Edge(PortRef("logits", "out"), PortRef("prediction", "x"))])
    steps = document.undo_stack.count()
    drag(view, port(scene, "logits:x", INPUT), port(scene, "prediction:x", INPUT))
    moved = Edge(PortRef("hidden_tanh", "out"), PortRef("prediction", "x"))
    assert old not in document.graph.edges and moved in document.graph.edges
    assert moved in scene.edges and scene.edges[moved].isVisible()
    assert document.undo_stack.count() == steps + 1
    drag(view, port(scene, "prediction:x", INPUT), QPointF(2000, 2000))
    assert moved not in document.graph.edges and moved not in scene.edges
    document.undo_stack.undo()
    document.undo_stack.undo()
    assert old in document.graph.edges and old in scene.edges


# --- moving, deleting, adding ------------------------------------------------------------------
def test_wires_follow_a_card_while_it_is_dragged_and_the_dragged_card_is_on_top(canvas):
    document, scene, view = canvas(example("mlp"))
    view.setTransform(view.transform().fromScale(1, 1))
    start = header(scene, "hidden")
    edge = scene.edges[Edge(PortRef("hidden", "out"), PortRef("hidden_tanh", "x"))]
    mouse(view, "press", start)
    assert scene.nodes["hidden"].isSelected() and scene.nodes["hidden"].zValue() == 2
    assert scene.nodes["hidden_tanh"].zValue() == 1
    for i in range(1, 4):  # mid-drag: nothing recorded yet, the wire already follows
        mouse(view, "move", start + QPointF(30 * i, 20 * i))
        assert edge._path.pointAtPercent(0).toPoint() == \
            port(scene, "hidden:out", OUTPUT).toPoint()
    mouse(view, "release", start + QPointF(90, 60))
    scene.clearSelection()
    assert scene.nodes["hidden"].zValue() == 1


def test_dragging_a_node_is_one_undo_step(canvas):
    document, scene, view = canvas(example("mlp"))
    view.setTransform(view.transform().fromScale(1, 1))
    start = header(scene, "hidden")
    x0, y0 = document.graph.nodes["hidden"].position
    steps = document.undo_stack.count()
    drag(view, start, start + QPointF(100, 60), steps=6)
    assert document.graph.nodes["hidden"].position == (x0 + 100, y0 + 60)
    assert scene.nodes["hidden"].pos() == QPointF(x0 + 100, y0 + 60)
    assert document.undo_stack.count() == steps + 1
    edge = scene.edges[Edge(PortRef("hidden", "out"), PortRef("hidden_tanh", "x"))]
    assert edge._path.pointAtPercent(0).toPoint() == port(scene, "hidden:out", OUTPUT).toPoint()
    document.undo_stack.undo()
    assert document.graph.nodes["hidden"].position == (x0, y0)
    assert scene.nodes["hidden"].pos() == QPointF(*document.graph.nodes["hidden"].position)


def test_delete_key_removes_selected_nodes_and_wires_in_one_step(canvas):
    document, scene, view = canvas(example("mlp"))
    wire = Edge(PortRef("logits", "out"), PortRef("prediction", "x"))
    scene.select_nodes(["hidden_tanh"])
    scene.edges[wire].setSelected(True)
    steps = document.undo_stack.count()
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Delete)
    assert "hidden_tanh" not in document.graph.nodes and "hidden_tanh" not in scene.nodes
    assert wire not in document.graph.edges and wire not in scene.edges
    assert document.undo_stack.count() == steps + 1
    document.undo_stack.undo()
    assert "hidden_tanh" in scene.nodes and wire in scene.edges


def test_dropping_an_op_adds_it_at_the_drop_position(canvas):
    document, scene, view = canvas()
    mime = QMimeData()
    mime.setData(OP_MIME, QByteArray(b"sigmoid"))
    at = QPointF(300, 200)
    for event in (QDragEnterEvent(at.toPoint(), Qt.CopyAction, mime, Qt.LeftButton,
                                  Qt.NoModifier),
                  QDragMoveEvent(at.toPoint(), Qt.CopyAction, mime, Qt.LeftButton,
                                 Qt.NoModifier)):
        QApplication.sendEvent(view.viewport(), event)
        assert event.isAccepted()
    drop = QDropEvent(at, Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(view.viewport(), drop)
    assert drop.isAccepted()
    [node] = document.graph.nodes.values()
    expected = view.mapToScene(at.toPoint())
    assert node.op == "sigmoid" and node.position == (expected.x(), expected.y())
    assert scene.selected_node_ids() == [node.id]


def test_tab_opens_quick_add_and_enter_adds_the_op(canvas, qtbot):
    document, scene, view = canvas()
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Tab)
    assert view.quick.isVisible()
    QTest.keyClicks(view.quick.search, "softpl")
    assert view.quick.current_op() == "softplus"
    QTest.keyClick(view.quick.search, Qt.Key_Return)
    assert not view.quick.isVisible()
    assert [n.op for n in document.graph.nodes.values()] == ["softplus"]
    assert scene.selected_node_ids() == list(document.graph.nodes)


def test_quick_add_ranks_name_prefixes_first_and_escape_closes(canvas):
    _, _, view = canvas()
    view.quick_add(QPointF(10, 10))
    QTest.keyClicks(view.quick.search, "re")
    assert view.quick.current_op() in ("relu", "reshape", "reshape_like")
    QTest.keyClick(view.quick.search, Qt.Key_Escape)
    assert not view.quick.isVisible()


# --- commands the main window calls ------------------------------------------------------------
def test_expand_and_collapse_a_composite_through_the_view(canvas):
    document, scene, view = canvas(example("mlp"))
    edges_before = set(document.graph.edges)
    scene.select_nodes(["hidden"])
    inner = view.expand_selected()
    assert inner and "hidden" not in scene.nodes and all(i in scene.nodes for i in inner)
    assert all(scene.nodes[i].group == "hidden" for i in inner)
    assert "hidden" in scene.frames and scene.frames["hidden"].title.startswith("hidden")
    assert scene.selected_node_ids() == inner
    assert view.collapse_selected() == ["hidden"]
    assert "hidden" in scene.nodes and not scene.frames
    assert set(document.graph.edges) == edges_before == set(scene.edges)


def test_copy_paste_and_duplicate_select_the_new_nodes(canvas):
    document, scene, view = canvas(example("mlp"))
    scene.select_nodes(["hidden", "hidden_tanh"])
    text = view.copy_selection()
    pasted = view.paste(text)
    assert len(pasted) == 2 and scene.selected_node_ids() == pasted
    assert all(p in scene.nodes for p in pasted)
    assert len(view.duplicate_selection()) == 2
    scene.clearSelection()
    assert view.copy_selection() is None


def test_selection_signal_and_context_menus(canvas, qtbot):
    document, scene, view = canvas(example("mlp"))
    with qtbot.waitSignal(scene.node_selection_changed) as signal:
        scene.select_nodes(["logits", "hidden"])
    assert signal.args == [["hidden", "logits"]]
    menu = view.context_menu(header(scene, "hidden"))
    actions = {a.text(): a for a in menu.actions() if a.text()}
    assert actions["Expand"].isEnabled() and not actions["Collapse group"].isEnabled()
    actions["Duplicate"].trigger()
    assert len(document.graph.nodes) == 14
    canvas_menu = view.context_menu(QPointF(5000, 5000))
    assert [a.text() for a in canvas_menu.actions()] == ["Add node…", "Auto-layout", "Fit"]


def test_zoom_is_clamped_and_keeps_the_point_under_the_cursor(canvas):
    _, _, view = canvas(example("mlp"))
    anchor = QPoint(300, 200)
    before = view.mapToScene(anchor)
    view.zoom_by(1.5, anchor)
    after = view.mapToScene(anchor)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2
    view.zoom_by(1000)
    assert view.zoom == pytest.approx(4.0)
    view.setFocus()
    QTest.keyClick(view, Qt.Key_Minus)
    assert view.zoom == pytest.approx(4.0 / 1.2)
    view.zoom_by(1e-6)
    assert view.zoom == pytest.approx(0.1)


def test_paints_at_every_level_of_detail_in_both_themes(canvas, qtbot):
    document, scene, view = canvas(example("deep_mlp"))
    scene.select_nodes(list(document.graph.nodes)[:3])
    try:
        for name in ("light", "dark"):
            apply_theme(QApplication.instance(), name)
            for zoom in (0.12, 0.3, 1.0, 3.0):
                view.setTransform(view.transform().fromScale(zoom, zoom))
                image = view.grab().toImage()
                assert not image.isNull()
                assert image.pixelColor(2, 2).name() == ("#f7f8fa" if name == "light"
                                                        else "#1a1c20")
    finally:
        apply_theme(QApplication.instance(), "dark")


def test_selected_cards_and_wires_can_be_deleted_and_the_graph_replaced(canvas, qtbot):
    # the scene keeps the selected items to lower them again: deleted ones must leave it
    document, scene, _ = canvas(example("mlp"))
    wire = Edge(PortRef("hidden", "out"), PortRef("hidden_tanh", "x"))
    scene.nodes["W2"].setSelected(True)
    scene.edges[wire].setSelected(True)
    with qtbot.waitSignal(document.annotated):
        document.remove_nodes(["W2"])
        document.disconnect([wire])
    scene.nodes["b2"].setSelected(True)
    scene.clearSelection()
    scene.nodes["hidden"].setSelected(True)
    document.replace(example("logistic_regression"), None)  # every item made again
    scene.nodes[next(iter(scene.nodes))].setSelected(True)
    assert scene.selected_node_ids()


def test_the_empty_graph_hint_is_repainted_away_when_the_first_node_arrives(canvas, qtbot):
    """The hint covers the viewport; a smart update repaints only around the node dropped,
    so the view repaints all of it when the graph stops (or starts) being empty."""
    from PySide6.QtCore import QObject

    document, scene, view = canvas()
    painted: list = []

    class Paints(QObject):
        def eventFilter(self, obj, event):  # noqa: N802  (Qt's name)
            if event.type() == QEvent.Paint:
                painted.append(event.region().boundingRect())
            return False

    spy = Paints()
    view.viewport().installEventFilter(spy)
    qtbot.wait(50)
    whole = view.viewport().rect()
    for edit in (lambda: document.add_node("sigmoid"), document.undo_stack.undo):
        painted.clear()
        edit()
        qtbot.waitUntil(lambda: any(r.contains(whole) for r in painted), timeout=2000)
    view.viewport().removeEventFilter(spy)


def test_inputs_dropped_are_shaped_for_the_dataset_features_then_labels(canvas):
    document, scene, view = canvas()
    assert scene.new_input_attrs() is None  # the dataset's shape is not known yet
    view.add_op("input", QPointF(0, 0))
    [first] = document.graph.nodes.values()
    assert list(first.attrs["shape"]) == [] and first.attrs["role"] == "auto"  # the defaults
    document.undo_stack.undo()
    scene.set_dataset_binding("digits: 8 x 8", "digits: 10 classes", ((8, 8), 10))
    features = view.add_op("input", QPointF(0, 0))
    labels = view.add_op("input", QPointF(0, 150))
    third = view.add_op("input", QPointF(0, 300))
    nodes = document.graph.nodes
    assert nodes[features].attrs == {"shape": [None, 64], "dtype": "float32",
                                     "role": "features"}
    assert nodes[labels].attrs == {"shape": [None], "dtype": "int32", "role": "labels"}
    assert list(nodes[third].attrs["shape"]) == [] and nodes[third].attrs["role"] == "auto"
    assert (document.roles.features, document.roles.labels) == (features, labels)
    dense = view.add_op("dense_layer", QPointF(300, 0))
    document.connect(f"{features}:out", f"{dense}:x")  # a dense layer takes the rows as they are
    assert len(document.graph.edges) == 1
