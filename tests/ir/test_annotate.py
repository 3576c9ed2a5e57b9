"""What the canvas shows: port types, node problems, parameter counts, wire checks."""

from __future__ import annotations

import pytest

from nodestudio.graph import fileformat
from nodestudio.graph.model import Graph, PortRef
from nodestudio.ir.annotate import annotate, check_connection
from tests.train.examples import EXAMPLES


@pytest.fixture
def mlp() -> Graph:
    return fileformat.load(EXAMPLES / "mlp.json")


def test_types_and_parameter_counts_of_the_mlp(mlp):
    note = annotate(mlp)
    assert str(note.types[PortRef("hidden", "out")]) == "B x 800"
    assert str(note.types[PortRef("y", "out")]) == "B int32"
    assert str(note.types[PortRef("loss", "loss")]) == "scalar"
    assert note.params["W1"] == 784 * 800 and note.params["hidden"] == 784 * 800 + 800
    assert note.total_params == 784 * 800 + 800 + 800 * 10 + 10
    assert not note.errors and not note.blocked
    assert note.status("hidden") == "ok"


def test_a_missing_input_is_the_nodes_problem_and_blocks_what_follows(mlp):
    mlp.disconnect("hidden_tanh:x")
    note = annotate(mlp)
    assert note.status("hidden_tanh") == "error"
    assert note.errors["hidden_tanh"].port == "x"
    assert "missing input" in note.errors["hidden_tanh"].detail
    assert {"logits", "loss", "error", "prediction"} <= note.blocked
    assert note.status("logits") == "blocked"
    assert PortRef("hidden", "out") in note.types  # upstream still typed


@pytest.mark.parametrize("src, dst, reason", [
    ("logits:out", "hidden:x", "already fed"),
    ("hidden_tanh:out", "hidden_tanh:x", "cannot feed itself"),
    ("W2:out", "logits:x", "inner dimensions"),
    ("x:out", "logits:x", "inner dimensions"),
    ("x:nope", "logits:x", "no output port"),
    ("x:out", "logits:nope", "no input port"),
])
def test_invalid_wires_are_refused_with_a_reason(mlp, src, dst, reason):
    if dst in ("logits:x", "logits:nope"):
        mlp.disconnect("logits:x")
    problem = check_connection(mlp, src, dst)
    assert problem is not None and reason in problem


def test_a_wire_closing_a_cycle_is_refused(mlp):
    mlp.disconnect("hidden:x")
    problem = check_connection(mlp, "logits:out", "hidden:x")
    assert problem is not None and "cycle" in problem and "hidden" in problem


def test_a_valid_wire_passes_and_leaves_the_graph_alone(mlp):
    mlp.disconnect("logits:x")
    before = mlp.copy()
    assert check_connection(mlp, "hidden_tanh:out", "logits:x") is None
    assert mlp == before


def test_wrong_dtype_is_refused_before_shapes():
    g = Graph()
    g.add_node("input", {"shape": [None, 3], "dtype": "float32"}, id="x")
    g.add_node("input", {"shape": [None], "dtype": "float32"}, id="labels")
    g.add_node("softmax_cross_entropy", id="loss")
    g.connect("x:out", "loss:logits")
    problem = check_connection(g, "labels:out", "loss:labels")
    assert problem == "'softmax_cross_entropy.labels' takes int32; 'labels:out' gives float32"
