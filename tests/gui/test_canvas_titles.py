"""Node titles on the canvas: legible at fit-to-view (graphs up to 100 nodes), in full wherever
a card can hold them; and auto-laid-out cards never overlap."""

from __future__ import annotations

import pytest

from nodestudio.graph import fileformat
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.model import Graph
from nodestudio.gui.canvas import GraphScene, GraphView
from nodestudio.gui.canvas.items import OUTPUT
from nodestudio.gui.canvas.style import DETAIL_LOD, MAX_NODE_WIDTH, style
from nodestudio.gui.document import Document
from nodestudio.paths import resource_dir
from tests.graph.test_layout import chain, mlp_backward_graph

CANVAS = (900, 540)  # about the canvas's share of the studio's 1600 x 1000 window
LEGIBLE = 7.0  # on-screen font size, pixels


def show(qtbot, graph: Graph, size=CANVAS) -> tuple[GraphScene, GraphView]:
    scene = GraphScene(Document(graph))
    view = GraphView(scene)
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    qtbot.waitExposed(view)
    view.fit_all()
    return scene, view


def laid_out(graph: Graph) -> Graph:
    for node_id, position in layered_positions(graph).items():
        graph.move(node_id, position)
    return graph


def whitish_pixels(image, rect) -> int:
    """Pixels of a screen rectangle light enough to be title text (white on a tile)."""
    count = 0
    for x in range(max(0, rect.left()), min(image.width(), rect.right() + 1)):
        for y in range(max(0, rect.top()), min(image.height(), rect.bottom() + 1)):
            colour = image.pixelColor(x, y)
            count += min(colour.red(), colour.green(), colour.blue()) >= 200
    return count


GRAPHS = {
    "deep_mlp.json": lambda: fileformat.load(resource_dir("examples") / "deep_mlp.json"),
    "a 101-node chain": lambda: laid_out(chain(25)),
}


@pytest.mark.parametrize("name", GRAPHS)
def test_every_title_is_legible_and_whole_at_fit_to_view(qtbot, name):
    graph = GRAPHS[name]()
    scene, view = show(qtbot, graph)
    zoom = view.zoom
    assert zoom < DETAIL_LOD  # far out: before, untitled coloured bricks
    image = view.grab().toImage()
    for node_id, item in scene.nodes.items():
        fit = item.title_at(zoom)
        assert fit is not None, node_id
        assert fit.pixels >= LEGIBLE, (node_id, fit)
        assert "".join(fit.lines) == node_id  # broken into lines, never cut
        # and painted: light text across the tile on screen
        card = view.mapFromScene(item.mapToScene(item.card())).boundingRect()
        assert whitish_pixels(image, card) >= 12, node_id


def test_titles_of_a_backward_graph_keep_their_ends_when_shortened(qtbot):
    """Gradient nodes' ids are paths (grad/dense_2/matmul_4/matmul_5): far out a tile too
    small for the whole id shows its first and last parts, or its last, never a stub."""
    graph = Graph()
    graph.add_node("input", id="x")
    last = "x"
    for k in range(40):
        node = graph.add_node("mul", id=f"grad/dense_{k}/matmul_{k}/mul_{k}").id
        graph.connect(f"{last}:out", f"{node}:a")
        last = node
    scene, view = show(qtbot, laid_out(graph))
    for node_id, item in scene.nodes.items():
        fit = item.title_at(view.zoom)
        assert fit is not None and fit.pixels >= LEGIBLE, node_id
        text = "".join(fit.lines)
        assert text == node_id or text.endswith("/" + node_id.rsplit("/", 1)[-1]), text


def test_headers_show_the_whole_title_and_op_name_where_a_card_can_hold_them(qtbot):
    graph = Graph()
    for node_id, op in (("softmax_cross_entropy_1", "softmax_cross_entropy"),
                        ("loss", "softmax_cross_entropy"), ("hidden1_bn", "batch_norm"),
                        ("hidden1_relu", "relu"), ("x", "input")):
        graph.add_node(op, id=node_id)
    long_id = "grad/softmax_cross_entropy_1/log_softmax_2/exp_1/broadcast_like_9"
    graph.add_node("exp", id=long_id)
    scene, view = show(qtbot, laid_out(graph))
    view.setTransform(view.transform().fromScale(1.0, 1.0))
    nodes = scene.nodes
    # before: "softmax_…ntropy_1", and no op name beside it
    assert nodes["softmax_cross_entropy_1"].title == "softmax_cross_entropy_1"
    assert nodes["softmax_cross_entropy_1"].op_label == ""  # the title says it
    assert (nodes["loss"].title, nodes["loss"].op_label) == ("loss", "softmax_cross_entropy")
    assert nodes["hidden1_bn"].op_label == "batch_norm"
    assert nodes["hidden1_relu"].op_label == ""
    assert nodes["x"].op_label == "input"
    s = style()
    for node_id, item in nodes.items():
        room = item.width - 34.0
        used = s.title_metrics.horizontalAdvance(item.title)
        if item.op_label:
            used += 8.0 + s.sub_metrics.horizontalAdvance(item.op_label)
        assert used <= room + 0.5, node_id  # the card is as wide as its header
        assert item.port_pos(OUTPUT, "out").x() == pytest.approx(item.x() + item.width)
    # only a title longer than the widest card is shortened: a path keeps its ends
    long = nodes[long_id]
    assert long.width == MAX_NODE_WIDTH
    assert long.title == "grad/\u2026/broadcast_like_9"


@pytest.mark.parametrize("name", ["deep_mlp", "backward"])
def test_auto_laid_out_cards_never_overlap(qtbot, name, tmp_path):
    """The layout estimates each card's size from its title and ports: the cards the canvas
    draws fit in the room it leaves."""
    if name == "deep_mlp":
        graph = fileformat.load(resource_dir("examples") / "deep_mlp.json")
    else:
        graph = mlp_backward_graph(tmp_path / "grad.json")
    scene, _ = show(qtbot, laid_out(graph))
    cards = [(node_id, item.mapRectToScene(item.card())) for node_id, item in
             scene.nodes.items()]
    for i, (a, ra) in enumerate(cards):
        for b, rb in cards[i + 1:]:
            assert not ra.intersects(rb), (a, b)
