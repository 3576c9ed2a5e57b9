"""The backward graph as the Backward graph panel shows it (nodestudio/ir/backward_view.py):
which ops, grouped by which forward node, laid out in layers, with values that match a float64
NumPy backward pass written out by hand."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from nodestudio.graph import fileformat
from nodestudio.ir.autodiff import grad
from nodestudio.ir.backward_view import OP, SAVED, backward_view, evaluate_view
from nodestudio.ir.convert import from_document
from nodestudio.ir.reference import evaluate


def bn_graph_dict(hidden: int = 5) -> dict:
    """A 2-D toy classifier: x -> dense -> batch_norm -> tanh -> dense -> softmax xent."""
    def param(pid, shape, init, value=0.0, seed=0, trainable=True):
        return {"id": pid, "op": "parameter", "attrs": {
            "shape": shape, "dtype": "float32", "init": init, "value": value, "seed": seed,
            "trainable": trainable}}
    nodes = [
        {"id": "x", "op": "input", "attrs": {"shape": [None, 2], "dtype": "float32"}},
        param("W1", [2, hidden], "normal", seed=3), param("b1", [hidden], "zeros"),
        {"id": "hidden", "op": "dense", "attrs": {}},
        param("gamma", [hidden], "normal", seed=4), param("beta", [hidden], "normal", seed=5),
        param("rmean", [hidden], "zeros", trainable=False),
        param("rvar", [hidden], "constant", 1.0, trainable=False),
        {"id": "bn", "op": "batch_norm", "attrs": {"axis": 1, "eps": 1e-5, "momentum": 0.1}},
        {"id": "act", "op": "tanh", "attrs": {}},
        param("W2", [hidden, 2], "normal", seed=6), param("b2", [2], "zeros"),
        {"id": "logits", "op": "dense", "attrs": {}},
        {"id": "y", "op": "input", "attrs": {"shape": [None], "dtype": "int32"}},
        {"id": "loss", "op": "softmax_cross_entropy", "attrs": {}},
    ]
    edges = [("x:out", "hidden:x"), ("W1:out", "hidden:W"), ("b1:out", "hidden:b"),
             ("hidden:out", "bn:x"), ("gamma:out", "bn:gamma"), ("beta:out", "bn:beta"),
             ("rmean:out", "bn:running_mean"), ("rvar:out", "bn:running_var"),
             ("bn:out", "act:x"), ("act:out", "logits:x"), ("W2:out", "logits:W"),
             ("b2:out", "logits:b"), ("logits:out", "loss:logits"), ("y:out", "loss:labels")]
    return {"format": "nodestudio-graph", "version": 1, "nodes": nodes,
            "edges": [{"from": a, "to": b} for a, b in edges],
            "outputs": {"loss": "loss:loss"}, "values": {}, "groups": {}, "metadata": {}}


def bn_graph():
    return fileformat.loads(json.dumps(bn_graph_dict()))


@pytest.fixture
def built():
    graph = bn_graph()
    loaded = from_document(graph)
    params = [v for v in loaded.shared.values() if v.owner.attrs.get("trainable", True)]
    nodes = {nid: n.op for nid, n in graph.nodes.items()}
    return loaded, params, nodes


def batch(n: int = 7, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 2)), rng.integers(0, 2, size=n)


FORWARD_PRIMITIVES = ["mean", "sub", "square", "mean", "add", "sqrt", "div", "mul", "add"]


def test_batch_norm_selected_shows_its_nine_primitives_and_their_gradient_ops(built):
    loaded, params, nodes = built
    view = backward_view(loaded.outputs["loss"], params, nodes, ["bn"])
    ops = Counter(n.op for n in view.forward.nodes.values() if n.kind == OP)
    # the nine of the issue (mean, subtract, square, mean, add eps, sqrt, divide, scale, shift)
    # and the reshapes that broadcast gamma and beta over the batch
    assert ops == Counter(FORWARD_PRIMITIVES) + Counter({"reshape": 2})
    assert all(n.user_node == "bn" for n in view.forward.nodes.values() if n.kind == OP)
    assert list(view.forward.groups) == ["bn"]
    # every forward op has a gradient group of its own, but adding eps: its rule hands the
    # incoming gradient on unchanged, so it adds no op
    forward_ops = {k for k, n in view.forward.nodes.items() if n.kind == OP}
    eps_add = {v for u, v in view.forward.edges if view.forward.nodes[u].label == "const 1e-05"}
    assert [view.forward.nodes[k].op for k in eps_add] == ["add"]
    assert set(view.backward.groups) == forward_ops - eps_add
    grad_ops = Counter(n.op for n in view.backward.nodes.values() if n.kind == OP)
    # the division's rule (d/da = g / b, d/db = -g a / b^2), the square root's (g / (2 sqrt)),
    # the square's (2 x g), the means' (broadcast back), sums undoing broadcasting, the
    # fan-out sum at the centred value (used by square and by div) and the reshapes back
    # to the parameters' shapes
    for op, least in {"div": 3, "mul": 5, "neg": 2, "sum": 4, "broadcast_like": 2, "add": 1,
                      "reshape_like": 2}.items():
        assert grad_ops[op] >= least, (op, grad_ops)
    results = {n.result_of for n in view.backward.nodes.values() if n.result_of}
    assert results == {"gamma", "beta"}
    fan_out = [n for n in view.backward.nodes.values() if "fan-out" in n.role]
    assert len(fan_out) == 1 and view.forward.nodes[fan_out[0].forward].op == "sub"
    incoming = [n for n in view.backward.nodes.values() if n.kind == "incoming"]
    assert [n.user_node for n in incoming] == ["act"]  # d loss / d bn's output, from tanh


def test_values_match_a_handwritten_batch_norm_backward_and_the_reference(built):
    loaded, params, nodes = built
    loss = loaded.outputs["loss"]
    view = backward_view(loss, params, nodes)  # the whole graph
    xb, yb = batch()
    feeds = {loaded.inputs["x"]: xb, loaded.inputs["y"]: yb}
    values = evaluate_view(view, feeds)
    # the same gradients straight from autodiff and the reference interpreter
    by_name = dict(zip([p.name for p in params], evaluate(grad(loss, params), feeds, "train")))
    results = {n.result_of: values[("backward", k)] for k, n in view.backward.nodes.items()
               if n.result_of}
    assert set(results) == set(by_name)
    for name, value in results.items():
        np.testing.assert_allclose(value, by_name[name], rtol=1e-12, atol=1e-15)

    # by hand, in float64: the forward pass, then the textbook batch-norm backward
    p = {v.name: np.asarray(v.get_value(), dtype=np.float64) for v in loaded.shared.values()}
    h = xb @ p["W1"] + p["b1"]
    mu, var = h.mean(0), h.var(0)
    xhat = (h - mu) / np.sqrt(var + 1e-5)
    a = np.tanh(xhat * p["gamma"] + p["beta"])
    z = a @ p["W2"] + p["b2"]
    prob = np.exp(z - z.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    dz = (prob - np.eye(2)[yb]) / len(xb)
    dout = (dz @ p["W2"].T) * (1 - a ** 2)  # d loss / d bn's output
    dgamma, dbeta = (dout * xhat).sum(0), dout.sum(0)
    dxhat = dout * p["gamma"]
    dh = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / np.sqrt(var + 1e-5)
    np.testing.assert_allclose(results["gamma"], dgamma, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(results["beta"], dbeta, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(results["W1"], xb.T @ dh, rtol=1e-10, atol=1e-14)
    # the incoming gradient of the batch norm, as drawn: the gradient op of tanh feeding it
    bn_view = backward_view(loss, params, nodes, ["bn"])
    bn_values = evaluate_view(bn_view, feeds)
    (incoming,) = [k for k, n in bn_view.backward.nodes.items() if n.kind == "incoming"]
    np.testing.assert_allclose(bn_values[("backward", incoming)], dout, rtol=1e-10)
    # the centred value's fan-out sum is d loss / d (h - mean)
    (fan,) = [k for k, n in bn_view.backward.nodes.items() if "fan-out" in n.role]
    dcentred = dxhat / np.sqrt(var + 1e-5) - (dxhat * (h - mu)).sum(0) / (var + 1e-5) ** 1.5 \
        * (h - mu) / len(xb)
    np.testing.assert_allclose(bn_values[("backward", fan)], dcentred, rtol=1e-9, atol=1e-14)
    saved = {n.forward: bn_values[("backward", k)] for k, n in bn_view.backward.nodes.items()
             if n.kind == SAVED}
    assert any(np.allclose(v, xhat) for v in saved.values())  # the normalised value is kept


@pytest.mark.parametrize("selection", [None, ["bn"], ["hidden", "act"], ["loss"]])
def test_layout_is_layered_left_to_right_without_overlaps(built, selection):
    loaded, params, nodes = built
    view = backward_view(loaded.outputs["loss"], params, nodes, selection)
    for part in (view.forward, view.backward):
        assert part.nodes and part.edges
        for u, v in part.edges:  # every wire runs rightwards
            a, b = part.nodes[u], part.nodes[v]
            assert a.x + a.width < b.x, (u, v)
        cards = list(part.nodes.values())
        for i, a in enumerate(cards):
            for b in cards[i + 1:]:
                apart = (a.x + a.width <= b.x or b.x + b.width <= a.x or
                         a.y + a.height <= b.y or b.y + b.height <= a.y)
                assert apart, (a.id, b.id)
        for group in part.groups.values():  # frames hold their members
            gx, gy, gw, gh = group.rect
            for m in group.members:
                n = part.nodes[m]
                assert gx < n.x and n.x + n.width < gx + gw and gy < n.y and \
                    n.y + n.height < gy + gh


def test_backward_nodes_belong_to_the_forward_node_their_name_says(built):
    loaded, params, nodes = built
    view = backward_view(loaded.outputs["loss"], params, nodes, ["act"])
    assert [k for k, n in view.forward.nodes.items() if n.kind == OP] == ["act"]
    ops = sorted(n.op for n in view.backward.nodes.values() if n.kind == OP)
    assert ops == ["constant", "mul", "square", "sub"]  # g * (1 - tanh²)
    assert {n.forward for n in view.backward.nodes.values() if n.kind == OP} == {"act"}
    assert view.backward.groups["act"].title == "gradient of act"
    # tanh's output is what its rule reads back
    assert [n.forward for n in view.backward.nodes.values() if n.kind == SAVED] == ["act"]
