"""A batch of 0 examples through the API: random expressions (Hypothesis) over inputs whose
batch axis is fed with size 0 either run, giving the float64 reference's (empty, zero, NaN or
-inf) results, or end in a NodeStudioError that names the node. Nothing else may escape (a bare
ValueError from the matmul planner, a NumPy warning in the reference, a driver error)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nodestudio as ns
from nodestudio.errors import GraphError, NodeStudioError, ShapeError
from nodestudio.ir.autodiff import grad
from nodestudio.ir.reference import evaluate
from tests.ir.test_random_graphs import RECIPES, Graph, _outputs, _pick, r_slice

pytestmark = pytest.mark.opencl

EXAMPLES = min(40, settings.default.max_examples)


def r_slice_any(data, pool):
    """r_slice draws start < stop, which an axis of size 0 cannot give: slice those whole."""
    v = _pick(data, pool)
    if 0 in v.shape:
        return ns.slice(v, [(None, None, data.draw(st.integers(1, 2), label="step"))])
    return r_slice(data, [v])


def r_classify(data, pool):
    """A loss, an error rate or an argmax over a batch: the usual consumers of a batch axis."""
    v = _pick(data, pool)
    if v.ndim != 2:
        return ns.sum(v)
    labels = ns.argmax(ns.tanh(v), axis=1)
    kind = data.draw(st.sampled_from(["loss", "error", "argmax", "one_hot"]), label="classify")
    if kind == "loss":
        return ns.softmax_cross_entropy(v, labels)
    if kind == "error":
        return ns.classification_error(v, labels)
    if kind == "argmax":
        return ns.argmax(v, axis=data.draw(st.sampled_from([0, 1]), label="axis")) * 1.0
    return ns.one_hot(labels, 3)


EMPTY_RECIPES = [r for r in RECIPES if r is not r_slice] + [r_slice_any, r_classify]


def draw_empty_batch_graph(data, max_ops: int = 12) -> Graph:
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    inputs, values = [], []
    for i in range(data.draw(st.integers(1, 3), label="n_inputs")):
        rest = tuple(data.draw(st.sampled_from([1, 2, 3]), label="dim")
                     for _ in range(data.draw(st.integers(0, 2), label="ndim")))
        free = data.draw(st.booleans(), label="free_batch")  # (None, ...) fed 0, or (0, ...)
        if not free:  # a declared dimension of 0 is refused on every path, naming the field
            with pytest.raises(GraphError, match=rf"node 'in{i}': attribute 'shape': "
                                                 r"dimension 0 must be a whole number from 1"):
                ns.tensor(f"in{i}", (0,) + rest)
        inputs.append(ns.tensor(f"in{i}", (None,) + rest))
        values.append(rng.uniform(-1.5, 1.5, (0,) + rest))
    graph = Graph(inputs, values, list(inputs))
    graph.pool.append(ns.tanh(inputs[0]))
    for _ in range(data.draw(st.integers(0, max_ops), label="n_ops")):
        recipe = data.draw(st.sampled_from(EMPTY_RECIPES), label="recipe")
        try:
            graph.pool.append(recipe(data, graph.pool))
        except NodeStudioError as exc:
            assert str(exc).strip()
    return graph


def _run_both(outputs, inputs, values, feeds, mode):
    """(device results or the NodeStudioError, reference results or the NodeStudioError)."""
    try:
        got = ns.function(inputs, outputs, training=mode == "train")(
            *[v.astype(np.float32) for v in values])
    except NodeStudioError as exc:
        assert str(exc).strip()
        got = exc
    try:
        want = evaluate(outputs, feeds, mode=mode)
    except NodeStudioError as exc:
        want = exc
    return got, want


def _compare(got, want, what):
    if isinstance(got, NodeStudioError) or isinstance(want, NodeStudioError):
        # one side may refuse what the other computes (the reference has no argmax of
        # nothing); a device error must be a located one
        if isinstance(got, NodeStudioError):
            assert isinstance(got, GraphError) and got.node, f"{what}: {got!r}"
        return
    for g, w in zip(got, want):
        assert g.shape == w.shape, f"{what}: device {g.shape}, reference {w.shape}"
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4, err_msg=what)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=settings.default.derandomize)
@given(st.data())
def test_a_batch_of_zero_runs_or_is_refused_with_a_located_error(data):
    graph = draw_empty_batch_graph(data)
    outputs = _outputs(data, graph)
    got, want = _run_both(outputs, graph.inputs, graph.values, graph.feeds, "infer")
    _compare(got, want, "forward")
    cost = ns.sum(outputs[0] * 1.0)
    floats = [v for v in graph.inputs if v.dtype == "float32"]
    try:
        grads = grad(cost, floats)
    except NodeStudioError:
        return
    got, want = _run_both([cost, *grads], graph.inputs, graph.values, graph.feeds, "train")
    _compare(got, want, "gradients")


def test_matmul_with_a_zero_size_dimension():
    x, W = ns.matrix("x"), ns.matrix("W")
    f = ns.function([x, W], [ns.dot(x, W), ns.grad(ns.sum(ns.dot(x, W)), W)])
    rng = np.random.default_rng(0)
    weights = rng.standard_normal((3, 4)).astype(np.float32)
    out, dW = f(np.zeros((0, 3), np.float32), weights)  # a batch of 0
    assert out.shape == (0, 4) and dW.shape == (3, 4)
    np.testing.assert_array_equal(dW, np.zeros((3, 4)))  # a sum over no examples
    out, _ = f(np.zeros((2, 0), np.float32), np.zeros((0, 4), np.float32))  # k = 0
    np.testing.assert_array_equal(out, np.zeros((2, 4)))


def test_a_training_step_on_no_examples_changes_nothing():
    x, y = ns.matrix("x"), ns.ivector("y")
    W = ns.shared(np.ones((3, 2), np.float32), "W")
    loss = ns.softmax_cross_entropy(ns.dot(x, W), y)
    step = ns.function([x, y], loss, updates=[(W, W - 0.1 * ns.grad(loss, W))])
    assert np.isnan(step(np.zeros((0, 3), np.float32), np.zeros(0, np.int32)))  # mean of none
    np.testing.assert_array_equal(W.get_value(), np.ones((3, 2)))


def test_argmax_along_an_empty_axis_is_refused_naming_the_node():
    x = ns.matrix("x")
    f = ns.function([x], ns.argmax(x, axis=0))
    with pytest.raises(ShapeError, match=r"node 'argmax_\d+', port 'x': argmax along axis 0 "
                                         r"of size 0"):
        f(np.zeros((0, 3), np.float32))
    np.testing.assert_array_equal(ns.function([x], ns.argmax(x, axis=1))(
        np.zeros((0, 3), np.float32)), np.zeros(0))  # no rows: no indices, fine


def test_max_and_mean_of_nothing_agree_with_the_reference():
    x = ns.matrix("x")
    outs = [ns.max(x, axis=0), ns.mean(x, axis=0), ns.sum(x, axis=0), ns.softmax(x, axis=0)]
    got = ns.function([x], outs)(np.zeros((0, 2), np.float32))
    want = evaluate(outs, {x: np.zeros((0, 2))})  # no "Mean of empty slice" warning either
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    assert got[0].tolist() == [-np.inf, -np.inf] and np.isnan(got[1]).all()
