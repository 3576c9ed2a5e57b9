"""IR <-> document: the same numbers after a round trip, and errors that name node and port."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodestudio.errors import CycleError, GraphError, ShapeError
from nodestudio.graph import fileformat
from nodestudio.graph.model import Edge, Graph, PortRef
from nodestudio.ir import build as F
from nodestudio.ir.convert import from_document, to_document
from nodestudio.ir.expr import Apply, apply, constant
from nodestudio.ir.reference import evaluate
from nodestudio.ir.shared import SharedVariable, shared
from nodestudio.ops import get
from nodestudio.ops.registry import TensorType

DATA = Path(__file__).resolve().parent.parent / "data"


def inp(name, shape, dtype="float32"):
    node = Apply(get("input"), (), {"shape": shape, "dtype": dtype}, name,
                 [TensorType(dtype, shape)])
    return node.outputs[0]


def model():
    """A small network touching parameters, constants, composites with several outputs, a
    variadic op, a random op and two nodes that share a name."""
    rng = np.random.default_rng(0)
    x = inp("x", (None, 4))
    labels = inp("labels", (None,), "int32")
    W = shared(rng.standard_normal((4, 3)), "W")
    b = shared(rng.standard_normal(3), "b")
    gamma, beta = shared(np.ones(3) * 1.5, "gamma"), shared(np.full(3, 0.1), "beta")
    rmean, rvar = shared(np.zeros(3), "rmean"), shared(np.ones(3), "rvar")
    h = F.tanh(F.dense(x, W, b))
    bn, mean_next, var_next = apply("batch_norm", h, gamma, beta, rmean, rvar, momentum=0.2)
    d = F.dropout(bn, p=0.25, seed=7)
    offset = constant(np.array([[0.5, -1.0, 2.0]]), name="h")  # a second node named "h"
    both = F.concatenate([d + offset, F.sigmoid(d)], axis=1)
    tanh_named_h = apply("tanh", both, name="h")
    logits = F.dense(tanh_named_h, shared(rng.standard_normal((6, 3)), "W2"),
                     constant(np.zeros(3)))
    loss = apply("softmax_cross_entropy", logits, labels) + 0.01 * apply("l2_penalty", W)
    outputs = {"loss": loss, "logits": logits, "mean_next": mean_next, "var_next": var_next}
    feeds = {x: rng.standard_normal((5, 4)), labels: np.array([0, 1, 2, 1, 0])}
    return outputs, feeds


def evaluate_named(outputs, feeds_by_name, inputs, mode="train"):
    names = sorted(outputs)
    feeds = {inputs[k]: v for k, v in feeds_by_name.items()}
    values = evaluate([outputs[k] for k in names], feeds, mode=mode)
    return dict(zip(names, values, strict=True))


@pytest.mark.parametrize("mode", ["train", "infer"])
def test_ir_document_ir_gives_the_same_numbers(mode):
    outputs, feeds = model()
    by_name = {v.owner.name: value for v, value in feeds.items()}
    expected = evaluate_named(outputs, by_name, {v.owner.name: v for v in feeds}, mode)
    doc = to_document(outputs)
    loaded = from_document(doc)
    got = evaluate_named(loaded.outputs, by_name, loaded.inputs, mode)
    for name in expected:
        np.testing.assert_array_equal(got[name], expected[name], err_msg=name)
    # ... and through a file
    reloaded = from_document(fileformat.loads(fileformat.dumps(doc)))
    again = evaluate_named(reloaded.outputs, by_name, reloaded.inputs, mode)
    for name in expected:
        np.testing.assert_array_equal(again[name], expected[name], err_msg=name)


def test_document_shape_of_an_ir_model():
    outputs, _ = model()
    doc = to_document(outputs)
    ops = {n.id: n.op for n in doc.nodes.values()}
    assert ops["x"] == "input" and ops["W"] == "parameter"
    assert "dense" in ops.values() and "batch_norm" in ops.values()  # composites stay composite
    assert "matmul" not in ops.values()
    assert {"h", "h_2"} <= set(doc.nodes)  # the repeated name was made unique
    assert doc.outputs["mean_next"].port == "running_mean_next"
    assert all(n.position is not None for n in doc.nodes.values())
    assert doc == to_document(outputs)  # deterministic
    concat = next(n for n in doc.nodes.values() if n.op == "concatenate")
    assert set(doc.incoming(concat.id)) == {"x0", "x1"}


def test_shared_values_round_trip():
    outputs, _ = model()
    doc = to_document(outputs)
    loaded = from_document(doc)
    for name in ("W", "b", "gamma", "W2"):
        var = loaded.shared[name]
        assert isinstance(var, SharedVariable) and var.owner.name == name
        np.testing.assert_array_equal(var.get_value(), doc.values[name])
        assert var.get_value().dtype == np.float32
    # a value set on the IR comes back in the document
    loaded.shared["b"].set_value(np.array([1.0, 2.0, 3.0]))
    again = to_document(loaded.outputs)
    np.testing.assert_array_equal(again.values["b"], [1, 2, 3])
    assert again.nodes["W"].attrs == doc.nodes["W"].attrs


def test_constant_arrays_travel_in_values_and_scalars_in_attrs():
    c = constant(np.arange(6.0).reshape(2, 3), name="table")
    s = constant(2.5, name="two_and_a_half")
    doc = to_document({"y": c * s})
    assert "table" in doc.values and "two_and_a_half" not in doc.values
    loaded = from_document(doc)
    np.testing.assert_array_equal(evaluate([loaded.outputs["y"]])[0],
                                  np.arange(6.0).reshape(2, 3) * 2.5)


def test_canvas_parameters_without_values_are_initialised_from_their_attrs():
    g = Graph()
    g.add_node("parameter", {"shape": [3, 2], "init": "normal", "std": 0.5, "seed": 4}, id="P")
    g.add_node("parameter", {"shape": [2], "init": "constant", "value": 3.0}, id="Q")
    g.add_node("constant", {"shape": [2], "value": 1.5}, id="c")
    loaded = from_document(g)
    first = loaded.shared["P"].get_value()
    assert first.shape == (3, 2) and first.std() > 0
    np.testing.assert_array_equal(from_document(g).shared["P"].get_value(), first)  # seeded
    np.testing.assert_array_equal(loaded.shared["Q"].get_value(), [3, 3])
    np.testing.assert_array_equal(evaluate([loaded.variables["c"][0]])[0], [1.5, 1.5])


def test_value_shape_must_match_the_attribute():
    g = Graph()
    g.add_node("parameter", {"shape": [3]}, id="P")
    g.values["P"] = np.zeros(4, np.float32)
    with pytest.raises(GraphError, match=r"\(3,\).*\(4,\)") as exc:
        from_document(g)
    assert exc.value.node == "P"


def test_frozen_files_convert():
    v1 = from_document(fileformat.load(DATA / "graph_v1.json"))
    x = np.random.default_rng(1).standard_normal((4, 4))
    probs, loss = evaluate([v1.outputs["probs"], v1.outputs["loss"]],
                           {v1.inputs["x"]: x, v1.inputs["labels"]: np.array([0, 1, 2, 0])})
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert np.isfinite(loss) and loss > 0
    v0 = from_document(fileformat.load(DATA / "graph_v0.json"))
    assert v0.variables["rect"][0].owner.op.name == "abs"  # legacy name 'abs_rect' mapped
    (total,) = evaluate([v0.outputs["total"]], {v0.inputs["x"]: np.ones((2, 3))})
    assert total == pytest.approx(2.5)


# --- errors --------------------------------------------------------------------------------------
def small(op="tanh") -> Graph:
    g = Graph()
    g.add_node("input", {"shape": [None, 3]}, id="x")
    g.add_node(op, id="f")
    g.add_node("relu", id="r")
    g.add_node("exp", id="side")
    g.connect("x:out", "f:x")
    g.connect("f:out", "r:x")
    g.connect("x:out", "side:x")
    g.set_output("y", "r:out")
    g.set_output("z", "side:out")
    return g


def test_unknown_op_strict_names_the_node():
    with pytest.raises(GraphError, match="unknown op 'warp_drive'") as exc:
        from_document(small("warp_drive"))
    assert exc.value.node == "f" and "'f'" in str(exc.value)


def test_unknown_op_non_strict_skips_it_and_everything_downstream():
    loaded = from_document(small("warp_drive"), strict=False)
    assert set(loaded.variables) == {"x", "side"}
    assert set(loaded.outputs) == {"z"}
    assert len(loaded.skipped) == 3
    assert "unknown op 'warp_drive'" in loaded.skipped[0] and "'f'" in loaded.skipped[0]
    assert "node 'r': depends on skipped node 'f'" in loaded.skipped[1]
    assert "output 'y'" in loaded.skipped[2]


def test_missing_input_names_node_and_port():
    g = small()
    g.disconnect("f:x")
    with pytest.raises(GraphError, match="missing input") as exc:
        from_document(g)
    assert (exc.value.node, exc.value.port) == ("f", "x")
    assert "node 'f', port 'x'" in str(exc.value)
    loaded = from_document(g, strict=False)
    assert "missing input" in loaded.skipped[0] and set(loaded.outputs) == {"z"}


def test_wrong_port_names_are_reported():
    g = small()
    g.disconnect("f:x")
    g.connect("x:out", "f:input")
    with pytest.raises(GraphError, match="no input port 'input'") as exc:
        from_document(g)
    assert (exc.value.node, exc.value.port) == ("f", "input")
    g = small()
    g.disconnect("r:x")
    g.connect("f:result", "r:x")
    with pytest.raises(GraphError, match="no output port 'result'") as exc:
        from_document(g)
    assert (exc.value.node, exc.value.port) == ("r", "x")


def test_edge_from_a_missing_node_is_reported():
    g = small()
    g.remove_node("x")
    g.edges.append(Edge(PortRef("ghost", "out"), PortRef("f", "x")))
    with pytest.raises(GraphError, match="no node 'ghost'") as exc:
        from_document(g)
    assert (exc.value.node, exc.value.port) == ("f", "x")


def test_attribute_errors_name_the_node():
    g = small("dropout")
    g.set_attrs("f", {"p": 5})
    with pytest.raises(GraphError, match="'p' must lie in") as exc:
        from_document(g)
    assert exc.value.node == "f"
    g.set_attrs("f", {"colour": "red"}, replace=True)
    with pytest.raises(GraphError, match="no attribute"):
        from_document(g)


def test_shape_errors_name_node_and_port():
    g = Graph()
    g.add_node("input", {"shape": [None, 3]}, id="x")
    g.add_node("parameter", {"shape": [4, 2]}, id="W")
    g.add_node("matmul", id="mm")
    g.connect("x:out", "mm:a")
    g.connect("W:out", "mm:b")
    with pytest.raises(ShapeError) as exc:
        from_document(g)
    assert (exc.value.node, exc.value.port) == ("mm", "b")


def test_cycle_is_refused_with_the_cycle_in_the_message():
    g = small()
    g.add_node("add", id="loop")
    g.edges.append(Edge(PortRef("r", "out"), PortRef("loop", "a")))
    g.edges.append(Edge(PortRef("loop", "out"), PortRef("f", "x2")))
    g.edges.append(Edge(PortRef("f", "out"), PortRef("loop", "b")))
    for strict in (True, False):
        with pytest.raises(CycleError) as exc:
            from_document(g, strict=strict)
        cycle = exc.value.cycle
        assert cycle[0] == cycle[-1] and set(cycle) <= {"f", "r", "loop"}
        assert " -> ".join(cycle) in str(exc.value)


# --- property: every cyclic document is refused --------------------------------------------------
UNARY = ["tanh", "relu", "exp", "neg"]
BINARY = ["add", "mul", "maximum"]


@st.composite
def cyclic_documents(draw) -> Graph:
    """A random DAG of unary/binary ops over one input, then one edge that closes a cycle."""
    g = Graph()
    g.add_node("input", {"shape": [2]}, id="in")
    n = draw(st.integers(1, 10))
    for i in range(n):
        op = draw(st.sampled_from(UNARY + BINARY))
        g.add_node(op, id=f"n{i}")
        earlier = ["in"] + [f"n{j}" for j in range(i)]
        for port in (["x"] if op in UNARY else ["a", "b"]):
            if draw(st.booleans()) or port != "b":
                g.edges.append(Edge(PortRef(draw(st.sampled_from(earlier)), "out"),
                                    PortRef(f"n{i}", port)))
    # close a cycle: from a node to one of its ancestors (or itself), into a fresh port
    late = draw(st.integers(0, n - 1))
    ancestors = _ancestors(g, f"n{late}") - {"in"}
    target = draw(st.sampled_from(sorted(ancestors | {f"n{late}"})))
    g.edges.append(Edge(PortRef(f"n{late}", "out"), PortRef(target, "back")))
    return g


def _ancestors(g: Graph, node: str) -> set[str]:
    seen: set[str] = set()
    stack = [node]
    while stack:
        for src in g.incoming(stack.pop()).values():
            if src.node not in seen:
                seen.add(src.node)
                stack.append(src.node)
    return seen


@settings(max_examples=100, deadline=None)
@given(cyclic_documents(), st.booleans())
def test_every_cyclic_document_is_refused(g, strict):
    with pytest.raises(CycleError) as exc:
        from_document(g, strict=strict)
    cycle = exc.value.cycle
    assert cycle[0] == cycle[-1]
    edges = {(e.src.node, e.dst.node) for e in g.edges}
    assert all((a, b) in edges for a, b in zip(cycle, cycle[1:], strict=False))
