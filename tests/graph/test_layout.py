"""Auto-layout (`layered_positions`): layered, left to right, wrapped into bands when long.

Random DAGs (Hypothesis) check the invariants; an MLP's backward graph built with the API and a
long chain check that the drawing keeps a readable shape with few crossing wires.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import nodestudio as ns
from nodestudio.graph import fileformat
from nodestudio.graph.layout import ANCHOR, CARD, COLUMN, PORT_ROW, layered_positions
from nodestudio.graph.model import Graph

NODE_WIDTH = 168.0  # the canvas's card; wires leave its right edge
# Examples per test; the "ci" Hypothesis profile (see conftest) lowers them
DAG_EXAMPLES = min(60, settings.default.max_examples * 2)
EXAMPLE_SETTINGS = dict(deadline=None, derandomize=settings.default.derandomize)


@st.composite
def dags(draw, max_nodes: int = 40) -> Graph:
    """A DAG of up to `max_nodes` nodes; each node takes up to three earlier nodes' outputs
    (any of two ports), mostly recent ones, so there are deep chains (wrapped into bands),
    long wires, fan-out and several wires between a pair."""
    n = draw(st.integers(1, max_nodes))
    graph = Graph()
    for i in range(n):
        graph.add_node("add", id=f"n{i}")
        if i:
            back = st.one_of(st.integers(1, min(i, 2)), st.integers(1, i))
            feeders = [i - b for b in draw(st.lists(back, max_size=3))]
            for port, j in enumerate(feeders):
                graph.connect(f"n{j}:{draw(st.sampled_from(['out', 'aux']))}", f"n{i}:in{port}")
    return graph


def chain(layers: int) -> Graph:
    """input -> (dense with W and b -> tanh) * layers: a long chain with parameters."""
    graph = Graph()
    graph.add_node("input", id="x")
    last = "x:out"
    for k in range(layers):
        for name in ("W", "b"):
            graph.add_node("parameter", id=f"{name}{k}")
        graph.add_node("dense", id=f"dense{k}")
        graph.add_node("tanh", id=f"tanh{k}")
        graph.connect(last, f"dense{k}:x")
        graph.connect(f"W{k}:out", f"dense{k}:W")
        graph.connect(f"b{k}:out", f"dense{k}:b")
        graph.connect(f"dense{k}:out", f"tanh{k}:x")
        last = f"tanh{k}:out"
    return graph


def bounding_box(positions) -> tuple[float, float]:
    xs = [x for x, _ in positions.values()]
    ys = [y for _, y in positions.values()]
    return max(xs) - min(xs) + NODE_WIDTH, max(ys) - min(ys) + CARD + PORT_ROW


def crossings(graph: Graph, positions) -> int:
    """Pairs of wires (straight, output port to input port) that cross, ends apart."""
    wires = [(e.src.node, e.dst.node,
              np.add(positions[e.src.node], (NODE_WIDTH, ANCHOR)),
              np.add(positions[e.dst.node], (0.0, ANCHOR))) for e in graph.edges]

    def side(a, b, c) -> float:
        return float(np.sign((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])))

    count = 0
    for i, (u1, v1, p1, q1) in enumerate(wires):
        for u2, v2, p2, q2 in wires[i + 1:]:
            if len({u1, v1, u2, v2}) == 4 and side(p2, q2, p1) * side(p2, q2, q1) < 0 \
                    and side(p1, q1, p2) * side(p1, q1, q2) < 0:
                count += 1
    return count


def assert_cards_apart(positions) -> None:
    """No two cards of one column closer than the smallest card is tall."""
    columns: dict[float, list[float]] = {}
    for x, y in positions.values():
        columns.setdefault(x, []).append(y)
    for ys in columns.values():
        ys.sort()
        assert all(b - a >= CARD + PORT_ROW for a, b in zip(ys, ys[1:])), ys


@settings(max_examples=DAG_EXAMPLES, **EXAMPLE_SETTINGS)
@given(dags())
def test_random_dags_flow_left_to_right_without_overlaps(graph):
    positions = layered_positions(graph, wrap=False)
    assert set(positions) == set(graph.nodes)
    assert all(math.isfinite(x) and math.isfinite(y) for x, y in positions.values())
    assert len(set(positions.values())) == len(positions)
    for e in graph.edges:  # every wire runs rightwards: layers follow the wires
        assert positions[e.src.node][0] < positions[e.dst.node][0], e
    assert_cards_apart(positions)
    assert layered_positions(graph, wrap=False) == positions  # deterministic
    assert layered_positions(graph.copy(), wrap=False) == positions


@settings(max_examples=DAG_EXAMPLES // 2, **EXAMPLE_SETTINGS)
@given(dags(max_nodes=60))
def test_wrapped_bands_read_like_lines_of_text(graph):
    """A wire runs rightwards within a band, or down to a later band (all of whose cards are
    below the earlier band's)."""
    positions = layered_positions(graph, wrap=True)
    assert len(set(positions.values())) == len(positions)
    event("wrapped" if any(positions[e.src.node][0] >= positions[e.dst.node][0]
                           for e in graph.edges) else "one band")
    for e in graph.edges:
        (x1, y1), (x2, y2) = positions[e.src.node], positions[e.dst.node]
        assert x1 < x2 or y1 < y2, e
    assert_cards_apart(positions)
    assert layered_positions(graph, wrap=True) == positions


def test_a_long_chain_wraps_into_bands_shaped_like_the_canvas():
    graph = chain(25)  # 101 nodes, 51 layers: a strip of 14,000 x 400 unwrapped
    positions = layered_positions(graph)
    width, height = bounding_box(positions)
    assert 1.0 <= width / height <= 2.5, (width, height)
    backwards = [e for e in graph.edges
                 if positions[e.src.node][0] >= positions[e.dst.node][0]]
    assert 2 <= len(backwards) <= 5  # one wire back to the start of each next band
    assert all(e.dst.port == "x" for e in backwards)  # cut along the chain, not a parameter
    assert crossings(graph, positions) <= len(backwards) * 4


def test_the_main_line_is_straight_with_parameters_beside_it():
    graph = chain(4)
    positions = layered_positions(graph)
    line = ["x"] + [n for k in range(4) for n in (f"dense{k}", f"tanh{k}")]
    assert max(positions[n][1] for n in line) - min(positions[n][1] for n in line) <= 1.0
    for k in range(4):  # W and b one column before their dense, below the line, in port order
        assert positions[f"W{k}"][0] == positions[f"b{k}"][0] == positions[f"dense{k}"][0] - COLUMN
        assert positions["x"][1] < positions[f"W{k}"][1] < positions[f"b{k}"][1]


def mlp_backward_graph(path) -> Graph:
    """An MLP's cost and its gradients, built with the API and saved as a file."""
    rng = np.random.default_rng(0)
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    W1 = ns.shared(rng.normal(size=(784, 100)).astype(np.float32), "W1")
    b1 = ns.shared(np.zeros(100, np.float32), "b1")
    W2 = ns.shared(rng.normal(size=(100, 10)).astype(np.float32), "W2")
    b2 = ns.shared(np.zeros(10, np.float32), "b2")
    hidden = ns.tanh(ns.dense(x, W1, b1))
    cost = ns.softmax_cross_entropy(ns.dense(hidden, W2, b2), y)
    grads = ns.grad(cost, [W1, b1, W2, b2])
    ns.save({"cost": cost, **{f"grad_{p.name}": g for p, g in zip([W1, b1, W2, b2], grads)}},
            path)
    return fileformat.load(path)


@pytest.fixture(scope="module")
def backward_graph(tmp_path_factory) -> Graph:
    return mlp_backward_graph(tmp_path_factory.mktemp("backward") / "mlp_grad.json")


def test_a_backward_graph_is_neither_a_strip_nor_a_tangle(backward_graph):
    positions = layered_positions(backward_graph)
    width, height = bounding_box(positions)
    assert len(backward_graph.nodes) >= 35
    assert 0.25 <= width / height <= 4.0, (width, height)  # the old layout: 5,200 x 580
    assert crossings(backward_graph, positions) <= len(backward_graph.edges)
    assert_cards_apart(positions)


def test_laying_out_part_of_a_graph_keeps_it_in_one_band(backward_graph):
    """Expanding a composite lays its nodes out among the others: never wrapped."""
    graph = chain(25)
    part = [n for n in graph.nodes if n != "x"]
    positions = layered_positions(graph, part, origin=(1000.0, 500.0))
    assert set(positions) == set(part)
    assert min(x for x, _ in positions.values()) == 1000.0
    tops = [y for _, y in positions.values()]
    assert (min(tops) + max(tops)) / 2 == pytest.approx(500.0, abs=0.5)
    for e in graph.edges:
        if e.src.node in positions:
            assert positions[e.src.node][0] < positions[e.dst.node][0]


def test_an_empty_selection_and_a_lone_node():
    graph = Graph()
    assert layered_positions(graph) == {}
    graph.add_node("input", id="x")
    assert layered_positions(graph, origin=(5.0, 7.0)) == {"x": (5.0, 7.0)}
