"""The classic Theano examples, run on OpenCL through the public API."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns

pytestmark = pytest.mark.opencl


def test_polynomial_eval_and_gradients():
    x, y = ns.scalar("x"), ns.scalar("y")
    z = x ** 2 + y ** 3
    assert z.eval({x: 2, y: 2}) == pytest.approx(12)
    assert ns.grad(z, x).eval({x: 2, y: 2}) == pytest.approx(4)
    assert ns.grad(z, y).eval({x: 2, y: 2}) == pytest.approx(12)
    gx, gy = ns.grad(z, [x, y])
    f = ns.function([x, y], [z, gx, gy])
    assert [float(v) for v in f(1.5, -2)] == pytest.approx([1.5 ** 2 - 8, 3.0, 12.0])


def test_function_of_two_scalars():
    x, y = ns.scalar("x"), ns.scalar("y")
    f = ns.function([x, y], x ** 2 + y ** 3)
    assert f(2, 3) == pytest.approx(31)
    assert f(x=2, y=3) == pytest.approx(31)


def _quadratic_form():
    W, v = ns.matrix("W"), ns.vector("v")
    q = ns.dot(v, ns.dot(W, v))
    return W, v, q


DOT_FREE_DIMS = ("ns.dot of ns.vector / ns.matrix inputs (free dimensions) builds reshape "
                 "nodes with None in the target shape (nodestudio/ir/build.py, dot), which "
                 "neither the reference nor the lowering can resolve")


def test_quadratic_form_value_and_gradients():
    W, v, q = _quadratic_form()
    Wv, vv = np.array([[1, 0], [1, 1]], np.float32), np.array([3, 5], np.float32)
    gW, gv = ns.grad(q, [W, v])
    f = ns.function([W, v], [q, gW, gv])
    value, dW, dv = f(Wv, vv)
    assert float(value) == pytest.approx(49)
    np.testing.assert_allclose(dW, [[9, 15], [15, 25]], rtol=1e-6)
    np.testing.assert_allclose(dv, [11, 13], rtol=1e-6)
    assert q.eval({W: Wv, v: vv}) == pytest.approx(49)


def test_quadratic_form_with_known_shapes():
    """The same example with fixed-size inputs (works while the free-dims case above does not)."""
    W, v = ns.tensor("W", (2, 2)), ns.tensor("v", (2,))
    q = ns.dot(v, ns.dot(W, v))
    gW, gv = ns.grad(q, [W, v])
    f = ns.function([W, v], [q, gW, gv])
    value, dW, dv = f([[1, 0], [1, 1]], [3, 5])
    assert float(value) == pytest.approx(49)
    np.testing.assert_allclose(dW, [[9, 15], [15, 25]], rtol=1e-6)
    np.testing.assert_allclose(dv, [11, 13], rtol=1e-6)


def test_shared_counter_advances_once_per_call():
    a = ns.shared(0.0, "counter")
    step = ns.function([], a, updates=[(a, a + 1)])
    assert [float(step()) for _ in range(4)] == [0.0, 1.0, 2.0, 3.0]  # outputs before updates
    assert float(a.get_value()) == 4.0
    a.set_value(10.0)
    assert float(step()) == 10.0
    assert float(a.get_value()) == 11.0


INT_COUNTER = ("a Python int literal becomes a float32 constant (nodestudio/ir/expr.py, "
               "constant), so `a + 1` on an int32 shared variable is float32 and the update is "
               "refused")


def test_integer_shared_counter():
    a = ns.shared(0, "icounter")
    step = ns.function([], a, updates=[(a, a + 1)])
    assert [int(step()) for _ in range(3)] == [0, 1, 2]
    assert int(a.get_value()) == 3


def test_accumulator_with_an_input():
    state = ns.shared(0.0, "state")
    inc = ns.scalar("inc")
    accumulate = ns.function([inc], state, updates=[(state, state + inc)])
    assert float(accumulate(1)) == 0.0
    assert float(accumulate(300)) == 1.0
    assert float(state.get_value()) == 301.0


def _logistic_data(n=64, feats=8, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, feats)).astype(np.float32)
    y = rng.integers(0, 2, n).astype(np.float32)
    w0 = (0.5 * rng.standard_normal(feats)).astype(np.float32)
    return x, y, w0


def test_logistic_regression_tutorial():
    data_x, data_y, w0 = _logistic_data()
    x, y = ns.matrix("x"), ns.vector("y")
    w = ns.shared(w0, "w")
    b = ns.shared(0.0, "b")
    p_1 = ns.sigmoid(ns.dot(x, w) - b)
    prediction = p_1 > 0.5
    xent = -y * ns.log(p_1) - (1 - y) * ns.log(1 - p_1)
    cost = ns.mean(xent) + 0.01 * ns.sum(w ** 2)
    gw, gb = ns.grad(cost, [w, b])
    train = ns.function([x, y], [prediction, xent],
                        updates=[(w, w - 0.1 * gw), (b, b - 0.1 * gb)])
    predict = ns.function([x], prediction)

    # the same algorithm in NumPy float64
    X, Y = data_x.astype(np.float64), data_y.astype(np.float64)
    w_np, b_np = w0.astype(np.float64), 0.0
    costs = []
    for _ in range(20):
        p = 1.0 / (1.0 + np.exp(-(X @ w_np - b_np)))
        xent_np = -Y * np.log(p) - (1 - Y) * np.log(1 - p)
        costs.append(xent_np.mean() + 0.01 * np.sum(w_np ** 2))
        gw_np = X.T @ (p - Y) / len(Y) + 0.02 * w_np
        gb_np = -np.mean(p - Y)
        pred, xent_cl = train(data_x, data_y)
        np.testing.assert_allclose(xent_cl, xent_np, atol=1e-4, rtol=1e-4)
        np.testing.assert_array_equal(pred, (p > 0.5).astype(np.float32))
        w_np, b_np = w_np - 0.1 * gw_np, b_np - 0.1 * gb_np
        np.testing.assert_allclose(w.get_value(), w_np, atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(b.get_value(), b_np, atol=1e-4, rtol=1e-4)
    assert costs[-1] < costs[0]
    assert all(later <= earlier + 1e-9 for earlier, later in zip(costs, costs[1:]))
    p = 1.0 / (1.0 + np.exp(-(X @ w_np - b_np)))
    np.testing.assert_array_equal(predict(data_x), (p > 0.5).astype(np.float32))
