"""Conjugate gradient and L-BFGS on the device reach SciPy's own optimum of an L2-penalised
softmax regression (200 samples, 10 features, 3 classes), computed in float64 NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.ir.expr import toposort
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


def _model(dropout_mode=None, rows=N):
    """The penalised softmax regression; with `dropout_mode`, dropout (p 0.5) on the logits,
    which inference mode turns into the identity: the same objective."""
    W, b = ns.shared(np.zeros((D, K)), "W"), ns.shared(np.zeros(K), "b")
    X, y = ns.tensor("X", (rows, D)), ns.ivector("y")
    logits = ns.dot(X, W) + b
    if dropout_mode is not None:
        logits = ns.dropout(logits, p=0.5, seed=3, mode=dropout_mode)
    cost = ns.softmax_cross_entropy(logits, y) + ns.l2_penalty(W, L2) + ns.l2_penalty(b, L2)
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


@pytest.mark.opencl
@pytest.mark.parametrize("method", ["cg", "lbfgs"])
def test_dropout_is_off_in_the_objective_and_its_gradient(problem, method):
    # The gradient used to be taken in training mode (a new dropout mask per evaluation) while
    # the cost was measured in inference mode: line searches failed and CG / L-BFGS stopped
    # after a few iterations as "converged", far from the optimum.
    Xv, yv, optimum = problem
    cost, params, inputs = _model(dropout_mode="auto")
    result = minimize_fullbatch(cost, params, inputs, [Xv, yv], method=method, max_iter=300,
                                tol=1e-7)
    assert result.fun == pytest.approx(optimum, abs=1e-4)
    theta = ParameterVector(params).get()
    assert _numpy_loss(theta, Xv.astype(np.float64), yv)[0] == pytest.approx(optimum, abs=1e-4)


@pytest.mark.opencl
def test_a_cost_that_stays_random_is_refused_naming_the_node(problem):
    Xv, yv, _ = problem
    cost, params, inputs = _model(dropout_mode="train")
    dropout = next(n for n in toposort([cost]) if n.op.name == "dropout")
    with pytest.raises(ns.GraphError, match="draws new random numbers") as caught:
        minimize_fullbatch(cost, params, inputs, [Xv, yv], method="cg", max_iter=5)
    assert caught.value.node == dropout.name and "(dropout)" in str(caught.value)


def _mlp(with_dropout):
    """A tanh MLP for the Trainer, the same initial values every time; optionally with
    dropout on its hidden layer (the identity in inference mode)."""
    from nodestudio.train import Model
    rng = np.random.default_rng(5)
    x, labels = ns.tensor("x", (None, D)), ns.ivector("y")
    shared = {"W1": ns.shared(rng.normal(0, 0.3, (D, 32)), "W1"),
              "b1": ns.shared(np.zeros(32), "b1"),
              "W2": ns.shared(rng.normal(0, 0.3, (32, K)), "W2"),
              "b2": ns.shared(np.zeros(K), "b2")}
    hidden = ns.tanh(ns.dense(x, shared["W1"], shared["b1"]))
    if with_dropout:
        hidden = ns.dropout(hidden, p=0.5, seed=1)
    loss = ns.softmax_cross_entropy(ns.dense(hidden, shared["W2"], shared["b2"]), labels)
    return Model.from_loaded(type("Loaded", (), {
        "inputs": {"x": x, "y": labels}, "shared": shared, "outputs": {"loss": loss}})())


@pytest.mark.opencl
@pytest.mark.parametrize("method", ["cg", "lbfgs"])
def test_the_trainer_minimises_the_inference_mode_loss_of_a_graph_with_dropout(method):
    from nodestudio.data import Dataset, split_dataset
    from nodestudio.train import Trainer
    X, y = _data()
    data = split_dataset(Dataset(X, y, (D,), K, "gumbel"), valid_fraction=0.2, seed=0)
    runs = [Trainer(_mlp(with_dropout), data, method, epochs=6, fullbatch_iterations=5).run()
            for with_dropout in (True, False)]
    assert [h.stop_reason for h in runs] == ["epochs", "epochs"]
    losses = [[r.train_loss for r in h.epochs] for h in runs]
    assert all(b < a for a, b in zip(losses[0], losses[0][1:]))
    # dropout is off in the objective and in its gradient: the same steps as without it
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
