"""The ops added for tinygrad's test_ops gaps, checked against PyTorch (values and gradients,
special values included) through the public builders, on the float64 reference and on the
OpenCL device. The conformance suite checks each op against its own reference; this file checks
that the reference means what PyTorch means."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tf

import nodestudio as ns
from nodestudio.ir.reference import evaluate

RNG = np.random.default_rng(11)
X = RNG.standard_normal((4, 5)) * 2
X[0, :3] = [np.nan, np.inf, -np.inf]
X[1, :3] = [0.5, 0.5, -0.5]  # ties for min, the clip bounds
W = RNG.uniform(0.5, 1.5, (4, 5))

# name: (nodestudio builder, torch function), both of one (4, 5) input
CASES = {
    "sin": (ns.sin, torch.sin),
    "cos": (ns.cos, torch.cos),
    "erf": (ns.erf, torch.erf),
    "gelu": (ns.gelu, lambda t: tf.gelu(t, approximate="none")),
    "elu": (lambda x: ns.elu(x, 0.7), lambda t: tf.elu(t, 0.7)),
    "clip": (lambda x: ns.clip(x, -0.5, 0.5), lambda t: torch.clamp(t, -0.5, 0.5)),
    "clip_lo_only": (lambda x: ns.clip(x, 0.0, None), lambda t: torch.clamp(t, min=0.0)),
    "min_axis1": (lambda x: ns.min(x, axis=1), lambda t: torch.amin(t, dim=1)),
    "min_all": (ns.min, torch.amin),
    "var_axis0": (lambda x: ns.var(x, axis=0), lambda t: torch.var(t, dim=0, correction=0)),
    "var_ddof1_keep": (lambda x: ns.var(x, axis=1, keepdims=True, ddof=1),
                       lambda t: torch.var(t, dim=1, keepdim=True, correction=1)),
    "std_all": (ns.std, lambda t: torch.std(t, correction=0)),
    "std_ddof1": (lambda x: ns.std(x, axis=0, ddof=1), lambda t: torch.std(t, dim=0)),
    "logsumexp_axis1": (lambda x: ns.logsumexp(x, axis=1),
                        lambda t: torch.logsumexp(t, dim=1)),
    "logsumexp_all_keep": (lambda x: ns.logsumexp(x, keepdims=True),
                           lambda t: torch.logsumexp(t.reshape(-1), 0).reshape(1, 1)),
    "pad": (lambda x: ns.pad(x, [(1, 2), (3, 0)]), lambda t: tf.pad(t, (3, 0, 1, 2))),
    "flip": (lambda x: ns.flip(x, 1), lambda t: torch.flip(t, (1,))),
    "flip_all": (ns.flip, lambda t: torch.flip(t, (0, 1))),
}


def _inputs(name: str) -> np.ndarray:
    """Special values where PyTorch and NumPy agree on them; finite values elsewhere."""
    if name.startswith(("var", "std", "logsumexp")):
        value = X.copy()
        value[0, :3] = [1.0, 2.0, -1.0]  # special values: see the logsumexp test below
        return value
    return X


def _weights(shape):
    return np.resize(W.reshape(-1), shape)


def _torch(fn, value, weights):
    t = torch.tensor(value, requires_grad=True)
    out = fn(t)
    (out * torch.tensor(_weights(out.shape))).sum().backward()
    return out.detach().numpy(), t.grad.numpy()


def _ours(fn, value, weights, device: bool):
    x = ns.tensor("x", value.shape)
    out = fn(x)
    g = ns.grad(ns.sum(out * ns.constant(_weights(out.shape))), x)
    if device:
        got = ns.function([x], [out, g])(value.astype(np.float32))
        return [np.asarray(v, np.float64) for v in got]
    return evaluate([out, g], {x: value})


def _same(got, want, what, rtol):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
    finite = np.isfinite(want)
    np.testing.assert_array_equal(got[~finite & ~np.isnan(want)], want[~finite & ~np.isnan(want)],
                                  err_msg=what)
    np.testing.assert_allclose(got[finite], want[finite], rtol=rtol, atol=rtol, err_msg=what)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("device", [False, pytest.param(True, marks=pytest.mark.opencl)])
def test_new_ops_match_pytorch(name, device):
    ours, theirs = CASES[name]
    value = _inputs(name)
    want_out, want_grad = _torch(theirs, value, W)
    got_out, got_grad = _ours(ours, value, W, device)
    rtol = 2e-5 if device else 1e-10
    _same(got_out, want_out, f"{name} forward", rtol)
    _same(got_grad, want_grad, f"{name} gradient", 5 * rtol)


def test_logsumexp_at_infinities_matches_pytorch():
    rows = np.array([[-np.inf, -np.inf, -np.inf], [np.inf, 1.0, 2.0], [-np.inf, 0.0, 1.0],
                     [np.nan, 1.0, 2.0], [1000.0, 1000.0, -1000.0]])
    x = ns.matrix("x")
    got = evaluate([ns.logsumexp(x, axis=1)], {x: rows})[0]
    want = torch.logsumexp(torch.tensor(rows), dim=1).numpy()
    _same(got, want, "logsumexp", 1e-12)


def test_clip_with_symbolic_bounds_sends_the_gradient_to_the_bound_that_applies():
    x, lo, hi = ns.vector("x"), ns.scalar("lo"), ns.scalar("hi")
    value = np.array([-2.0, 0.0, 3.0, np.nan])
    out = ns.clip(x, lo, hi)
    grads = ns.grad(ns.sum(out), [x, lo, hi])
    got = evaluate([out, *grads], {x: value, lo: -1.0, hi: 1.0})
    np.testing.assert_array_equal(got[0], [-1.0, 0.0, 1.0, np.nan])
    np.testing.assert_array_equal(got[1], [0.0, 1.0, 0.0, 1.0])
    assert got[2] == 1.0 and got[3] == 1.0


def test_clip_refuses_lo_above_hi():
    with pytest.raises(ns.ShapeError, match="lo <= hi"):
        ns.clip(ns.vector("x"), 2.0, 1.0)


@pytest.mark.opencl
def test_pad_and_flip_with_a_free_batch_dimension_on_opencl():
    """Padding the known axis of a batch (the gradient too); padding the free axis itself
    works forwards (concatenate's gradient needs the size along its axis)."""
    x = ns.tensor("x", (None, 3))
    padded = ns.pad(x, [(0, 0), (2, 1)])
    both = ns.pad(x, [(1, 0), (2, 1)])
    flipped = ns.flip(x, 0)
    assert padded.shape == (None, 6) and both.shape == (None, 6)
    columns = np.array([1.0, 2.0, 4.0])
    g = ns.grad(ns.sum(padded * ns.constant(np.arange(6.0))) +
                ns.sum(flipped * ns.constant(columns)), x)
    fn = ns.function([x], [both, flipped, g])
    for rows in (2, 5):
        value = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3)
        got_pad, got_flip, got_g = fn(value)
        np.testing.assert_array_equal(got_pad, np.pad(value, [(1, 0), (2, 1)]))
        np.testing.assert_array_equal(got_flip, value[::-1])
        np.testing.assert_array_equal(got_g, np.tile([2.0, 3.0, 4.0], (rows, 1)) + columns)


@pytest.mark.parametrize("step_slices, index", [
    (((None, None, -1),), np.s_[::-1]),
    (((5, 0, -2), (None, None, -1)), np.s_[5:0:-2, ::-1]),
    (((None, None, 2), (2, None, -2)), np.s_[::2, 2::-2]),
    (((-1, -8, -3),), np.s_[-1:-8:-3])])
@pytest.mark.parametrize("device", [False, pytest.param(True, marks=pytest.mark.opencl)])
def test_slices_with_negative_steps_match_numpy_and_pytorch_gradients(step_slices, index,
                                                                      device):
    value = np.arange(21.0).reshape(7, 3)
    x = ns.tensor("x", (7, 3))
    out = ns.slice(x, step_slices)
    weights = RNG.uniform(0.5, 1.5, value[index].shape)
    g = ns.grad(ns.sum(out * ns.constant(weights)), x)
    got = (ns.function([x], [out, g])(value.astype(np.float32)) if device
           else evaluate([out, g], {x: value}))
    np.testing.assert_array_equal(got[0], value[index])
    want = np.zeros_like(value)
    want[index] = weights
    np.testing.assert_allclose(got[1], want, rtol=1e-6)


@pytest.mark.parametrize("device", [False, pytest.param(True, marks=pytest.mark.opencl)])
def test_sums_and_softmax_over_0d_values_match_pytorch(device):
    s = ns.scalar("s")
    outs = [ns.sum(s), ns.sum(s, axis=0), ns.mean(s, axis=-1), ns.max(s, axis=0),
            ns.softmax(s), ns.log_softmax(s, axis=0), ns.logsumexp(s), ns.min(s, axis=0)]
    grads = [ns.grad(o * 2.0, s) for o in outs]
    got = (ns.function([s], outs + grads)(np.float32(1.25)) if device
           else evaluate(outs + grads, {s: 1.25}))
    t = torch.tensor(1.25, dtype=torch.float64, requires_grad=True)
    peers = [t.sum(), t.sum(0), t.mean(-1), t.amax(0), torch.softmax(t, 0),
             torch.log_softmax(t, 0), torch.logsumexp(t, 0), t.amin(0)]
    for i, peer in enumerate(peers):
        (grad,) = torch.autograd.grad(peer * 2.0, t)
        assert np.shape(got[i]) == ()
        np.testing.assert_allclose(float(got[i]), peer.item(), rtol=1e-6, err_msg=str(i))
        np.testing.assert_allclose(float(got[len(outs) + i]), grad.item(), rtol=1e-6,
                                   atol=1e-7, err_msg=f"gradient {i}")
