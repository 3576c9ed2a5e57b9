"""What the canvas shows: port types, node problems, parameter counts, wire checks."""

from __future__ import annotations

import random

import pytest

from nodestudio.errors import GraphError, ShapeError
from nodestudio.graph import fileformat
from nodestudio.graph.model import Graph, PortRef
from nodestudio.ir.annotate import annotate, check_connection
from nodestudio.ops import registry
from nodestudio.ops.registry import accepts, port_dtype_text
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


def _reference_check(graph: Graph, src, dst, without=None) -> str | None:
    """How wires were judged before `check_connection` stopped copying the graph: wire a copy
    (without the picked-up wire) and annotate all of it."""
    if without is not None:
        graph = graph.copy()
        graph.disconnect(without)
    src, dst = PortRef.parse(src), PortRef.parse(dst)
    src_node, dst_node = graph.nodes[src.node], graph.nodes[dst.node]
    if src.node == dst.node:
        return f"'{src.node}' cannot feed itself"
    try:
        src_op, dst_op = registry.get(src_node.op), registry.get(dst_node.op)
    except GraphError as exc:
        return exc.detail
    if src.port not in src_op.output_names():
        return f"'{src_node.op}' has no output port '{src.port}'"
    inputs = dst_op.input_names(dst_node.attrs)
    if dst.port not in inputs:
        return f"'{dst_node.op}' has no input port '{dst.port}'"
    fed = graph.incoming(dst.node).get(dst.port)
    if fed is not None:
        return f"'{dst.node}.{dst.port}' is already fed by '{fed}'; delete that wire first"
    path = graph.path(dst.node, src.node)
    if path is not None:
        return "this wire would close a cycle: " + " -> ".join([src.node, *path])
    note = annotate(graph)
    src_type = note.types.get(src)
    port_def = next((p for p in dst_op.inputs if p.name == dst.port), None)
    if src_type is not None and port_def is not None and \
            not accepts(port_def.dtype, src_type.dtype):
        return (f"'{dst_node.op}.{dst.port}' takes {port_dtype_text(port_def.dtype)}; "
                f"'{src}' gives {src_type.dtype}")
    if src_type is None or any(p not in graph.incoming(dst.node) for p in inputs
                               if p != dst.port):
        return None
    trial = graph.copy()
    trial.connect(src, dst)
    error = annotate(trial).errors.get(dst.node)
    if isinstance(error, ShapeError) or (error is not None and error.port is not None):
        return error.detail
    return None


def _ports(graph: Graph, node_id: str, inputs: bool) -> list[str]:
    try:
        op = registry.get(graph.nodes[node_id].op)
        return op.input_names(graph.nodes[node_id].attrs) if inputs else op.output_names()
    except (GraphError, KeyError, TypeError, ValueError):
        return []


def test_wire_checks_give_the_verdicts_of_wiring_a_copy_and_annotating_it():
    """Random documents (those the incremental annotation test builds): every sampled wire,
    and every wire re-routed from its input, judged without a copy as with one."""
    from tests.ir.test_incremental_annotation import _graph, _one_edit

    rng = random.Random(7)
    verdicts: dict[str, int] = {}
    for _ in range(60):
        graph = _graph()
        for _ in range(rng.randint(0, 12)):
            _one_edit(graph, rng)
        if graph.find_cycle() is not None:
            continue
        note = annotate(graph)
        wires = [(f"{s}:{p}", f"{d}:{q}") for s in graph.nodes for p in _ports(graph, s, False)
                 for d in graph.nodes for q in _ports(graph, d, True)]
        fed = {str(e.dst) for e in graph.edges}
        free = [w for w in wires if w[1] not in fed]
        sample = rng.sample(free, k=min(len(free), 30)) + rng.sample(wires, k=min(len(wires), 10))
        for src, dst in sample:
            expected = _reference_check(graph, src, dst)
            assert check_connection(graph, src, dst, note) == expected, (src, dst)
            verdicts[_kind(expected)] = verdicts.get(_kind(expected), 0) + 1
        for picked in rng.sample(graph.edges, k=min(len(graph.edges), 4)):
            for src, dst in rng.sample(free, k=min(len(free), 4)) + [
                    (w[0], str(picked.dst)) for w in rng.sample(wires, k=min(len(wires), 3))]:
                if src == str(picked.src) and dst == str(picked.dst):
                    continue
                expected = _reference_check(graph, src, dst, without=picked)
                got = check_connection(graph, src, dst, note, without=picked)
                assert got == expected, (src, dst, str(picked))
                verdicts["picked " + _kind(expected)] = verdicts.get(
                    "picked " + _kind(expected), 0) + 1
    assert min(verdicts.get(k, 0) for k in ("fine", "shape", "fed", "cycle", "dtype",
                                            "picked fine", "picked shape")) >= 10, verdicts


def _kind(verdict: str | None) -> str:
    if verdict is None:
        return "fine"
    for words, kind in (("already fed", "fed"), ("cycle", "cycle"), ("feed itself", "self"),
                        ("has no", "port"), ("gives", "dtype")):
        if words in verdict:
            return kind
    return "shape"
