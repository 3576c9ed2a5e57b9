"""20 training steps of a small tanh MLP, NodeStudio (float32, OpenCL) against torch.optim
(float64, CPU), starting from the same parameters on the same data at a constant rate."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.train import make_optimizer

pytestmark = pytest.mark.opencl

N, D, H, K = 32, 5, 8, 3
STEPS = 20


def _data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(N, D)).astype(np.float32)
    y = rng.integers(0, K, size=N).astype(np.int32)
    init = [rng.normal(scale=0.5, size=s).astype(np.float32) for s in [(D, H), (H,), (H, K), (K,)]]
    return X, y, init


def _ours(name, hyper, lr, X, y, init):
    params = [ns.shared(a, n) for a, n in zip(init, ["W1", "b1", "W2", "b2"])]
    W1, b1, W2, b2 = params
    Xv, yv, lr_in = ns.tensor("X", (N, D)), ns.ivector("y"), ns.scalar("lr")
    cost = ns.softmax_cross_entropy(ns.dot(ns.tanh(ns.dot(Xv, W1) + b1), W2) + b2, yv)
    opt = make_optimizer(name, **hyper)
    train = ns.function([Xv, yv, lr_in], cost,
                        updates=opt.updates(params, ns.grad(cost, params), lr_in))
    for _ in range(STEPS):
        train(X, y, lr)
    return [p.get_value() for p in params]


def _torch(make, X, y, init):
    torch = pytest.importorskip("torch")
    params = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in init]
    W1, b1, W2, b2 = params
    Xt, yt = torch.tensor(X, dtype=torch.float64), torch.tensor(y, dtype=torch.long)
    opt = make(torch.optim, params)
    for _ in range(STEPS):
        opt.zero_grad()
        logits = torch.tanh(Xt @ W1 + b1) @ W2 + b2
        torch.nn.functional.cross_entropy(logits, yt).backward()
        opt.step()
    return [p.detach().numpy() for p in params]


CASES = {
    "sgd": ({}, 0.5, lambda o, p: o.SGD(p, lr=0.5)),
    # classic momentum is torch's v = mu v + g; w -= lr v with our v = -lr * torch's v
    "momentum": ({"momentum": 0.9}, 0.1, lambda o, p: o.SGD(p, lr=0.1, momentum=0.9)),
    "nesterov": ({"momentum": 0.9}, 0.1,
                 lambda o, p: o.SGD(p, lr=0.1, momentum=0.9, nesterov=True)),
    "adagrad": ({}, 0.1, lambda o, p: o.Adagrad(p, lr=0.1)),
    "rmsprop": ({}, 0.01, lambda o, p: o.RMSprop(p, lr=0.01)),
    "adam": ({}, 0.01, lambda o, p: o.Adam(p, lr=0.01)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_twenty_steps_match_torch(name):
    pytest.importorskip("torch")
    hyper, lr, make = CASES[name]
    X, y, init = _data()
    ours = _ours(name, hyper, lr, X, y, init)
    theirs = _torch(make, X, y, init)
    moved = max(np.abs(t - a).max() for t, a in zip(theirs, init))
    assert moved > 0.05  # the comparison means something: the parameters did move
    for label, a, b in zip(["W1", "b1", "W2", "b2"], ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=f"{name}: {label}")


def test_torch_defaults_are_ours():
    """The defaults we document as torch's are torch's (lr aside for SGD, which has none)."""
    torch = pytest.importorskip("torch")
    p = [torch.zeros(1, requires_grad=True)]
    adam = torch.optim.Adam(p).defaults
    ours = make_optimizer("adam")
    assert (ours.lr, (ours.beta1, ours.beta2), ours.eps) == (adam["lr"], adam["betas"],
                                                             adam["eps"])
    rms = torch.optim.RMSprop(p).defaults
    ours = make_optimizer("rmsprop")
    assert (ours.lr, ours.alpha, ours.eps) == (rms["lr"], rms["alpha"], rms["eps"])
    ada = torch.optim.Adagrad(p).defaults
    ours = make_optimizer("adagrad")
    assert (ours.lr, ours.eps, ours.initial_accumulator_value) == (
        ada["lr"], ada["eps"], ada["initial_accumulator_value"])
