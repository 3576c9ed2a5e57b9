"""Conjugate gradient and L-BFGS on the device reach SciPy's own optimum of an L2-penalised
softmax regression (200 samples, 10 features, 3 classes), computed in float64 NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.train import ParameterVector, minimize_fullbatch

N, D, K = 200, 10, 3
L2 = 1e-2  # makes the optimum unique (softmax is otherwise invariant to shifting b)


def _data():
    rng = np.random.default_rng(11)
    X = rng.normal(size=(N, D))
    W_true = rng.normal(size=(D, K))
    y = np.argmax(X @ W_true + rng.gumbel(size=(N, K)), axis=1)  # noisy: not separable
    return X.astype(np.float32), y.astype(np.int32)


def _numpy_loss(theta, X, y):
    """The same loss in float64, with its gradient, for SciPy's reference run."""
    W, b = theta[:D * K].reshape(D, K), theta[D * K:]
    z = X @ W + b
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    loss = -logp[np.arange(N), y].mean() + L2 * (np.sum(W ** 2) + np.sum(b ** 2))
    d = np.exp(logp)
    d[np.arange(N), y] -= 1
    d /= N
    grad = np.concatenate([(X.T @ d + 2 * L2 * W).ravel(), d.sum(axis=0) + 2 * L2 * b])
    return loss, grad


@pytest.fixture(scope="module")
def problem():
    scipy_optimize = pytest.importorskip("scipy.optimize")
    X, y = _data()
    X64 = X.astype(np.float64)
    best = scipy_optimize.minimize(_numpy_loss, np.zeros(D * K + K), args=(X64, y), jac=True,
                                   method="L-BFGS-B",
                                   options={"maxiter": 1000, "gtol": 1e-12, "ftol": 1e-15})
    return X, y, float(best.fun)


def _model():
    W, b = ns.shared(np.zeros((D, K)), "W"), ns.shared(np.zeros(K), "b")
    X, y = ns.tensor("X", (N, D)), ns.ivector("y")
    cost = ns.softmax_cross_entropy(ns.dot(X, W) + b, y) + ns.l2_penalty(W, L2) \
        + ns.l2_penalty(b, L2)
    return cost, [W, b], [X, y]


@pytest.mark.opencl
@pytest.mark.parametrize("method", ["cg", "lbfgs"])
def test_reaches_scipys_optimum(problem, method):
    Xv, yv, optimum = problem
    cost, params, inputs = _model()
    seen = []
    result = minimize_fullbatch(cost, params, inputs, [Xv, yv], method=method, max_iter=300,
                                tol=1e-7, callback=lambda k, c: seen.append((k, c)))
    assert result.fun == pytest.approx(optimum, abs=1e-4)
    assert result.history[0] == pytest.approx(np.log(K), rel=1e-6)  # zeros: uniform softmax
    assert len(result.history) == result.nit + 1 and seen[-1] == (result.nit, result.history[-1])
    assert result.history[-1] <= result.history[0] - 0.3
    assert result.nfev >= result.nit
    # the parameters hold the answer, and it is the optimum in float64 too
    theta = ParameterVector(params).get()
    np.testing.assert_array_equal(theta, result.x)
    assert _numpy_loss(theta, Xv.astype(np.float64), yv)[0] == pytest.approx(optimum, abs=1e-4)


def test_parameter_vector_round_trip():
    a, b = ns.shared(np.arange(6.0).reshape(2, 3), "a"), ns.shared(np.array([7.0]), "b")
    vector = ParameterVector([a, b])
    assert vector.size == 7
    np.testing.assert_array_equal(vector.get(), np.arange(8.0)[[0, 1, 2, 3, 4, 5, 7]])
    vector.set(np.arange(10.0, 17.0))
    np.testing.assert_array_equal(a.get_value(), [[10, 11, 12], [13, 14, 15]])
    np.testing.assert_array_equal(b.get_value(), [16])


def test_arguments_are_checked():
    cost, params, inputs = _model()
    with pytest.raises(ValueError, match="method"):
        minimize_fullbatch(cost, params, inputs, [None, None], method="newton")
    with pytest.raises(ValueError, match="scalar"):
        minimize_fullbatch(params[0] * 2.0, params, inputs, [None, None])
    with pytest.raises(ValueError, match="value"):
        minimize_fullbatch(cost, params, inputs, [None])
