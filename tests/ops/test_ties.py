"""Gradients at ties, by rule and against PyTorch: a max reduction splits the gradient evenly
among tied maxima (torch.amax), maximum / minimum give half to each side of a tie and all of it
to both where NaN makes the comparison false (torch.maximum / torch.minimum)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio as ns
from nodestudio.ir.reference import evaluate

TIED = np.array([[1.0, 3.0, 3.0, -1.0, 3.0],
                 [2.0, 2.0, 0.0, 1.0, -4.0],
                 [5.0, 1.0, 1.0, 1.0, 0.0]])
WEIGHTS = np.array([[0.5, -1.0, 2.0, 1.5, 0.75],
                    [1.0, 2.0, -0.5, 1.0, 3.0],
                    [-2.0, 1.0, 0.5, 0.25, 1.0]])
A = np.array([1.0, 2.0, 3.0, -0.0, np.nan, 1.0, np.inf, np.nan])
B = np.array([1.0, 1.0, 4.0, 0.0, 1.0, np.nan, np.inf, np.nan])


def _torch(fn, *values):
    tensors = [torch.tensor(v, requires_grad=True) for v in values]
    fn(*tensors).backward()
    return [t.grad.numpy() for t in tensors]


def _same(got, want, what):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    np.testing.assert_allclose(got, want, rtol=1e-6, err_msg=what)


@pytest.mark.parametrize("axis", [None, 0, 1, (0, 1)])
@pytest.mark.parametrize("device", [False, pytest.param(True, marks=pytest.mark.opencl)])
def test_max_splits_the_gradient_evenly_among_tied_maxima(axis, device):
    x = ns.matrix("x")
    peak = ns.max(x, axis=axis)
    weights = None
    if peak.ndim == 1:
        weights = WEIGHTS[0, :3] if axis == 1 else WEIGHTS[0]
        cost = ns.sum(peak * ns.constant(weights))
    else:
        cost = ns.sum(peak) * 1.5
    g = ns.grad(cost, x)
    got = (ns.function([x], g)(TIED.astype(np.float32)) if device
           else evaluate([g], {x: TIED})[0])
    dims = None if axis is None else axis

    def peer(t):
        m = torch.amax(t, dim=dims) if dims is not None else torch.amax(t)
        return (m * torch.tensor(weights)).sum() if weights is not None else m.sum() * 1.5
    (want,) = _torch(peer, TIED)
    _same(got, want, f"max over {axis}")
    if axis == 1:  # row 0 has three tied maxima: a third each; the total stays the weight
        np.testing.assert_allclose(got[0], [0, weights[0] / 3, weights[0] / 3, 0,
                                            weights[0] / 3])


@pytest.mark.parametrize("name", ["maximum", "minimum"])
@pytest.mark.parametrize("device", [False, pytest.param(True, marks=pytest.mark.opencl)])
def test_maximum_and_minimum_split_ties_in_half_as_pytorch(name, device):
    a, b = ns.vector("a"), ns.vector("b")
    weights = np.linspace(0.5, 2.0, len(A))
    cost = ns.sum(getattr(ns, name)(a, b) * ns.constant(weights))
    ga, gb = ns.grad(cost, [a, b])
    if device:
        got = ns.function([a, b], [ga, gb])(A.astype(np.float32), B.astype(np.float32))
    else:
        got = evaluate([ga, gb], {a: A, b: B})
    want = _torch(lambda s, t: (getattr(torch, name)(s, t) * torch.tensor(weights)).sum(), A, B)
    for g, w, side in zip(got, want, "ab"):
        _same(g, w, f"{name} gradient wrt {side}")
    assert got[0][0] == got[1][0] == weights[0] / 2  # the tie 1 vs 1: half each
