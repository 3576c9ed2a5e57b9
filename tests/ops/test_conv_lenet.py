"""LeNet (Theano's convolutional_mlp) end to end on the device: the loss and every parameter
after a few SGD steps against the same network in PyTorch (float64), at a small batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio as ns

pytestmark = pytest.mark.opencl
F = torch.nn.functional


def _params(rng):
    shapes = [(6, 1, 5, 5), (6,), (8, 6, 5, 5), (8,), (128, 32), (32,), (32, 10), (10,)]
    return [(rng.standard_normal(s) * 0.2).astype(np.float32) for s in shapes]


def test_lenet_sgd_steps_match_pytorch():
    rng = np.random.default_rng(0)
    init = _params(rng)
    x_val = rng.random((5, 1, 28, 28)).astype(np.float32)
    y_val = rng.integers(0, 10, 5).astype(np.int32)

    shared = [ns.shared(p.copy(), f"p{i}") for i, p in enumerate(init)]
    w1, b1, w2, b2, w3, b3, w4, b4 = shared
    x, y = ns.tensor("x", (None, 1, 28, 28)), ns.ivector("y")
    h1 = ns.tanh(ns.max_pool2d(ns.conv2d(x, w1)) + ns.reshape(b1, (1, 6, 1, 1)))
    h2 = ns.tanh(ns.max_pool2d(ns.conv2d(h1, w2)) + ns.reshape(b2, (1, 8, 1, 1)))
    h3 = ns.tanh(ns.dot(ns.reshape(h2, (-1, 128)), w3) + b3)
    cost = ns.softmax_cross_entropy(ns.dot(h3, w4) + b4, y)
    grads = ns.grad(cost, shared)
    step = ns.function([x, y], cost, updates=[(p, p - 0.1 * g) for p, g in zip(shared, grads)])

    tp = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in init]
    xt, yt = torch.tensor(x_val, dtype=torch.float64), torch.tensor(y_val).long()
    opt = torch.optim.SGD(tp, lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        t1 = torch.tanh(F.max_pool2d(F.conv2d(xt, tp[0]), 2) + tp[1].view(1, 6, 1, 1))
        t2 = torch.tanh(F.max_pool2d(F.conv2d(t1, tp[2]), 2) + tp[3].view(1, 8, 1, 1))
        t3 = torch.tanh(t2.reshape(-1, 128) @ tp[4] + tp[5])
        loss = F.cross_entropy(t3 @ tp[6] + tp[7], yt)
        loss.backward()
        opt.step()
        got = step(x_val, y_val)
        np.testing.assert_allclose(got, loss.item(), rtol=1e-4)
    for mine, theirs in zip(shared, tp):
        np.testing.assert_allclose(mine.get_value(), theirs.detach().numpy(), atol=2e-5)
