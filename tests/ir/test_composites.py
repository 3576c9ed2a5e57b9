"""Expanding composite nodes of a document into primitives and collapsing them back."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.graph.model import Graph, PortRef
from nodestudio.ir.composites import collapse_group, expand_all, expand_node
from nodestudio.ir.convert import from_document
from nodestudio.ir.reference import evaluate
from nodestudio.ops import all_ops, registry
from nodestudio.ops.registry import INT

RNG = np.random.default_rng(3)
B = 5


def _floats(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape)


# Inputs (shape, dtype, value) and attributes for each composite; a composite missing here gets
# generic inputs: (B, 4) floats, or (B,) int labels for int ports.
FIXTURES: dict[str, tuple[dict[str, tuple], dict]] = {
    "dense": ({"x": ((None, 4), "float32", _floats(B, 4)),
               "W": ((4, 3), "float32", _floats(4, 3)), "b": ((3,), "float32", _floats(3))}, {}),
    "dropout": ({"x": ((None, 4), "float32", _floats(B, 4))}, {"p": 0.3, "seed": 11}),
    "batch_norm": ({"x": ((None, 4), "float32", _floats(B, 4)),
                    "gamma": ((4,), "float32", _floats(4, low=0.5, high=2)),
                    "beta": ((4,), "float32", _floats(4)),
                    "running_mean": ((4,), "float32", _floats(4)),
                    "running_var": ((4,), "float32", _floats(4, low=0.5, high=2))},
                   {"momentum": 0.3, "eps": 1e-3}),
    "softmax_cross_entropy": ({"logits": ((None, 3), "float32", _floats(B, 3)),
                               "labels": ((None,), "int32", np.array([0, 2, 1, 1, 0]))}, {}),
    "classification_error": ({"scores": ((None, 3), "float32", _floats(B, 3)),
                              "labels": ((None,), "int32", np.array([0, 2, 1, 1, 0]))}, {}),
    "binary_cross_entropy": ({"prediction": ((None, 3), "float32", _floats(B, 3, low=.1, high=.9)),
                              "target": ((None, 3), "float32", _floats(B, 3, low=0, high=1))},
                             {}),
    "conv2d_layer": ({"x": ((None, 2, 7, 6), "float32", _floats(B, 2, 7, 6))},
                     {"filters": 3, "kernel_size": [3, 2], "stride": [2, 1], "padding": [1, 0],
                      "activation": "tanh"}),
    "l1_penalty": ({"w": ((4, 3), "float32", _floats(4, 3))}, {"weight": 0.5}),
    "l2_penalty": ({"w": ((4, 3), "float32", _floats(4, 3))}, {"weight": 0.25}),
}

COMPOSITES = sorted(op.name for op in all_ops() if op.is_composite)


def fixture(op) -> tuple[dict[str, tuple], dict]:
    if op.name in FIXTURES:
        return FIXTURES[op.name]
    ports = {}
    for p in op.inputs:
        if p.dtype == INT:
            ports[p.name] = ((None,), INT, np.array([0, 1, 2, 3, 0]))
        else:
            ports[p.name] = ((None, 4), "float32", _floats(B, 4, low=0.1, high=0.9))
    return ports, {}


def document(op_name: str, attrs: dict | None = None) -> tuple[Graph, dict[str, np.ndarray]]:
    """in_<port> inputs -> the composite 'comp' -> a 'neg' consumer per output, every output of
    both exposed as a graph output; returns the document and the input values by node id."""
    op = next(o for o in all_ops() if o.name == op_name)
    ports, default_attrs = fixture(op)
    g = Graph()
    feeds = {}
    for i, (port, (shape, dtype, value)) in enumerate(ports.items()):
        g.add_node("input", {"shape": list(shape), "dtype": dtype}, id=f"in_{port}",
                   position=(0, 100 * i))
        feeds[f"in_{port}"] = value
    g.add_node(op_name, dict(default_attrs if attrs is None else attrs), id="comp",
               position=(300, 50))
    for port in ports:
        g.connect(f"in_{port}:out", f"comp:{port}")
    for i, out in enumerate(op.output_names()):
        g.add_node("neg", id=f"after_{out}", position=(600, 100 * i))
        g.connect(f"comp:{out}", f"after_{out}:x")
        g.set_output(out, f"comp:{out}")
        g.set_output(f"neg_{out}", f"after_{out}:out")
    g.metadata["note"] = "composite test"
    return g, feeds


def run(g: Graph, feeds: dict[str, np.ndarray], mode: str = "train") -> dict[str, np.ndarray]:
    loaded = from_document(g)
    names = sorted(loaded.outputs)
    values = evaluate([loaded.outputs[n] for n in names],
                      {loaded.inputs[k]: v for k, v in feeds.items()}, mode=mode)
    return dict(zip(names, values, strict=True))


def test_every_composite_has_a_fixture_that_builds():
    for name in COMPOSITES:
        g, feeds = document(name)
        run(g, feeds)  # raises if the fixture does not fit the op


@pytest.mark.parametrize("op_name", COMPOSITES)
def test_expand_then_collapse_restores_the_document(op_name):
    original, feeds = document(op_name)
    g = original.copy()
    inner = expand_node(g, "comp")
    assert "comp" not in g.nodes and inner
    assert all(i.startswith("comp/") and g.nodes[i].group == "comp" for i in inner)
    assert all(g.nodes[i].position is not None for i in inner)
    assert g.groups["comp"]["op"] == op_name
    # primitives only, and the switches that keep an op's two modes (batch norm, dropout)
    assert all(g.nodes[i].op not in COMPOSITES or g.nodes[i].op == "mode_switch" for i in inner)
    assert g != original
    collapsed = collapse_group(g, "comp")
    assert collapsed == original.nodes["comp"]
    assert g == original, g.describe_difference(original)
    assert list(g.nodes) == list(original.nodes)  # even the node order is restored


@pytest.mark.parametrize("mode", ["train", "infer"])
@pytest.mark.parametrize("op_name", COMPOSITES)
def test_expanded_document_computes_the_same_numbers(op_name, mode):
    """In both modes: batch norm expanded on the canvas still normalises by the running
    averages at inference, dropout is still the identity there."""
    g, feeds = document(op_name)
    expected = run(g, feeds, mode)
    expand_node(g, "comp")
    got = run(g, feeds, mode)
    assert got.keys() == expected.keys()
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{op_name}: {name}")


@pytest.mark.parametrize("op_name", COMPOSITES)
def test_expanded_document_survives_a_file_and_collapses(op_name):
    original, feeds = document(op_name)
    g = original.copy()
    expand_node(g, "comp")
    reloaded = fileformat.loads(fileformat.dumps(g))
    assert reloaded == g
    collapse_group(reloaded, "comp")
    assert reloaded == original, reloaded.describe_difference(original)


@pytest.mark.parametrize("op_name, attrs, mode", [
    ("dropout", {"p": 0.3}, "infer"),            # the identity: the output *is* the input
    ("dropout", {"p": 0.0}, "train"),
    ("dropout", {"p": 0.3, "mode": "infer"}, "train"),
    ("batch_norm", {}, "infer"),                 # running averages pass straight through
])
def test_passthrough_expansions(op_name, attrs, mode):
    original, feeds = document(op_name, attrs)
    expected = run(original, feeds, mode)
    g = original.copy()
    expand_node(g, "comp", mode=mode)
    got = run(g, feeds, mode)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)
    if op_name == "dropout":
        assert g.incoming("after_out") == {"x": PortRef("in_x", "out")}
        assert g.outputs["out"] == PortRef("in_x", "out")
    collapse_group(g, "comp")
    assert g == original, g.describe_difference(original)


def test_expansion_records_the_boundary():
    g, _ = document("dense")
    inner = expand_node(g, "comp")
    assert inner == ["comp/matmul_1", "comp/add_1"]
    record = g.groups["comp"]
    assert record["inputs"]["x"] == {"from": "in_x:out", "to": ["comp/matmul_1:a"]}
    assert record["outputs"]["out"]["from"] == "comp/add_1:out"
    assert record["outputs"]["out"]["to"] == ["after_out:x"]
    assert g.incoming("after_out") == {"x": PortRef("comp/add_1", "out")}
    assert g.outputs["out"] == PortRef("comp/add_1", "out")


def test_listeners_hear_the_expansion():
    g, _ = document("dense")
    events = []
    g.subscribe(lambda ev, payload: events.append(ev))
    expand_node(g, "comp")
    assert "node_removed" in events and events.count("node_added") == 2
    assert events.count("edge_added") == 5  # x, W -> matmul; matmul, b -> add; add -> neg


def test_collapse_keeps_a_consumer_added_to_an_inner_output():
    g, _ = document("dense")
    expand_node(g, "comp")
    g.add_node("tanh", id="extra")
    g.connect("comp/add_1:out", "extra:x")
    collapse_group(g, "comp")
    assert g.incoming("extra") == {"x": PortRef("comp", "out")}


def test_collapse_refuses_an_inner_value_used_outside():
    g, _ = document("dense")
    expand_node(g, "comp")
    g.add_node("tanh", id="peek")
    g.connect("comp/matmul_1:out", "peek:x")
    before = g.copy()
    with pytest.raises(GraphError, match="none of its outputs") as exc:
        collapse_group(g, "comp")
    assert (exc.value.node, exc.value.port) == ("comp/matmul_1", "out")
    assert g == before  # nothing changed


def test_the_group_id_stays_reserved_while_expanded():
    g, _ = document("dense")
    expand_node(g, "comp")
    assert g.add_node("comp").id == "comp_1"


def test_expand_errors():
    g, _ = document("dense")
    with pytest.raises(GraphError, match="not a composite") as exc:
        expand_node(g, "after_out")
    assert exc.value.node == "after_out"
    g.disconnect("comp:W")
    with pytest.raises(GraphError, match="missing input") as exc:
        expand_node(g, "comp")
    assert (exc.value.node, exc.value.port) == ("comp", "W")
    with pytest.raises(GraphError, match="no expanded group") as exc:
        collapse_group(g, "comp")
    with pytest.raises(ValueError):
        expand_node(g, "comp", mode="sideways")


def test_expand_all_expands_everything_and_numbers_hold():
    g = fileformat.load(__import__("pathlib").Path(__file__).parent.parent / "data" /
                        "graph_v1.json")
    original = g.copy()
    feeds = {"x": RNG.standard_normal((4, 4)), "labels": np.array([2, 1, 0, 1])}
    expected = run(g, feeds)
    assert sorted(expand_all(g)) == ["hidden", "logits", "loss"]
    got = run(g, feeds)
    for name in expected:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-12, err_msg=name)
    for group in list(g.groups):
        collapse_group(g, group)
    assert g == original, g.describe_difference(original)


@pytest.mark.parametrize("op_name", COMPOSITES)
def test_expand_then_collapse_gives_the_same_file_bytes(op_name):
    g, _ = document(op_name)
    first = f"after_{registry.get(op_name).output_names()[0]}"
    g.add_node("tanh", id="late")  # a wire after the composite's in the edge list
    g.connect(f"{first}:out", "late:x")
    before = fileformat.dumps(g)
    expand_node(g, "comp")
    collapse_group(g, "comp")
    assert fileformat.dumps(g) == before


def test_deep_mlp_expanded_and_collapsed_is_the_same_file():
    path = __import__("pathlib").Path(__file__).parents[2] / "resources/examples/deep_mlp.json"
    g = fileformat.load(path)
    before = fileformat.dumps(g)
    layers = [k for k, n in g.nodes.items() if registry.get(n.op).is_composite]
    assert len(layers) >= 8  # dense, batch norm and dropout twice; the loss, the error
    for node_id in layers:
        expand_node(g, node_id)
    for node_id in reversed(layers):
        collapse_group(g, node_id)
    assert fileformat.dumps(g) == before
    for node_id in layers:  # and collapsing in the order of expansion
        expand_node(g, node_id)
    for node_id in layers:
        collapse_group(g, node_id)
    assert fileformat.dumps(g) == before


def test_batch_norm_expands_to_both_modes_sharing_what_they_have_in_common():
    g, _ = document("batch_norm")
    inner = expand_node(g, "comp")
    ops = [g.nodes[i].op for i in inner]
    assert ops.count("mode_switch") == 3  # out, running_mean_next, running_var_next
    assert ops.count("mean") == 2  # batch mean and variance: the training branch only
    assert ops.count("reshape") == 6  # gamma and beta once; the running averages; mean, var
    switch = g.incoming("comp/mode_switch_2")
    assert switch["infer"] == PortRef("in_running_mean", "out")  # unchanged at inference
    assert g.groups["comp"]["mode"] == "auto"
    # a mode given explicitly expands that mode alone, as before
    h, _ = document("batch_norm")
    assert "mode_switch" not in [h.nodes[i].op for i in expand_node(h, "comp", mode="train")]


def test_dropout_pinned_to_one_mode_needs_no_switch():
    g, _ = document("dropout", {"p": 0.3, "mode": "infer"})
    assert expand_node(g, "comp") == []  # the identity: a wire from x to the consumers
    assert g.incoming("after_out") == {"x": PortRef("in_x", "out")}
