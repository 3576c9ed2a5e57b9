"""Symbolic indexing on the device: the minibatch idiom inside givens, constant and computed
slices, integer indices, advanced indexing and gather, with their gradients; checked against
NumPy (float64) and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio as ns

pytestmark = pytest.mark.opencl

RNG = np.random.default_rng(11)


def test_minibatch_idiom_slices_a_shared_dataset_by_an_index_input():
    data = RNG.standard_normal((23, 5)).astype(np.float32)
    labels = RNG.integers(0, 3, 23).astype(np.float64)  # float labels, cast as the course does
    data_x, data_y = ns.shared(data, "data_x"), ns.shared(labels, "data_y")
    index, bs = ns.iscalar("index"), 4
    x, y = ns.matrix("x"), ns.ivector("y")
    W = ns.shared(RNG.standard_normal((5, 3)) * 0.1, "W")
    p = ns.softmax(ns.dot(x, W))
    cost = -ns.mean(ns.log(p)[ns.arange(ns.shape_of(y)[0]), y])
    step = ns.function([index], cost, updates=[(W, W - 0.5 * ns.grad(cost, W))],
                       givens={x: data_x[index * bs:(index + 1) * bs],
                               y: ns.cast(data_y, "int32")[index * bs:(index + 1) * bs]})
    w = torch.tensor(W.get_value(), dtype=torch.float64, requires_grad=True)
    for i in [0, 3, 4, 1]:  # 23 rows: batches 0..4
        xb = torch.tensor(data[i * bs:(i + 1) * bs], dtype=torch.float64)
        yb = torch.tensor(labels[i * bs:(i + 1) * bs].astype(np.int64))
        want = torch.nn.functional.cross_entropy(xb @ w, yb)
        (gw,) = torch.autograd.grad(want, w)
        got = step(i)
        assert float(got) == pytest.approx(want.item(), rel=1e-5)
        with torch.no_grad():
            w -= 0.5 * gw
        np.testing.assert_allclose(W.get_value(), w.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_a_window_past_the_end_is_refused_on_the_host_with_a_clear_error():
    data_x = ns.shared(np.zeros((10, 2), np.float32), "data_x")
    index, x = ns.iscalar("index"), ns.matrix("x")
    f = ns.function([index], ns.sum(x), givens={x: data_x[index * 4:(index + 1) * 4]},
                    name="test_model")
    assert float(f(1)) == 0.0
    with pytest.raises(IndexError, match=r"'test_model'.*\[8:12\] of 'data_x'.*10 entries"):
        f(2)
    with pytest.raises(IndexError, match="does not fit"):
        f(-5)  # -20 from the end of 10 rows


def test_negative_computed_start_counts_from_the_end():
    x, k = ns.vector("x"), ns.iscalar("k")
    v = np.arange(10, dtype=np.float32)
    f = ns.function([x, k], x[k:k + 3])
    np.testing.assert_array_equal(f(v, -4), v[-4:-1])
    np.testing.assert_array_equal(f(v, 2), v[2:5])


def test_a_slice_length_that_does_not_simplify_is_refused_when_built():
    x, i, j = ns.vector("x"), ns.iscalar("i"), ns.iscalar("j")
    with pytest.raises(IndexError, match=r"\[i:j\] of 'x' must be known"):
        x[i:j]
    with pytest.raises(IndexError, match="step 1"):
        x[i:i + 2:2]
    assert x[2 * i + 1:2 * (i + 3)].shape == (5,)
    assert x[i - 3:i].shape == (3,)


def test_constant_slices_int_indices_and_negative_steps_match_numpy():
    v = RNG.standard_normal((6, 5)).astype(np.float32)
    x = ns.tensor("x", (6, 5))
    cases = {"x[0]": (x[0], v[0]), "x[:, 1]": (x[:, 1], v[:, 1]), "x[-1, -2]": (x[-1, -2],
             v[-1, -2]), "x[1:5:2, ::-2]": (x[1:5:2, ::-2], v[1:5:2, ::-2]),
             "x[::-1]": (x[::-1], v[::-1]), "x[None, 2, ..., None]": (x[None, 2, ..., None],
                                                                      v[None, 2, ..., None])}
    f = ns.function([x], [c[0] for c in cases.values()])
    for (label, (_, want)), got in zip(cases.items(), f(v)):
        np.testing.assert_array_equal(got, want, err_msg=label)
    with pytest.raises(IndexError, match="out of bounds"):
        x[6]


def test_gradients_of_slices_scatter_into_zeros_like_torch():
    v = RNG.standard_normal((7, 4))
    x, k = ns.tensor("x", (7, 4)), ns.iscalar("k")
    w = RNG.standard_normal((2, 4))
    cost = ns.sum(x[k:k + 2] * ns.constant(w)) + ns.sum(ns.square(x[::-2, 1])) + ns.sum(x[3])
    f = ns.function([x, k], ns.grad(cost, x))
    t = torch.tensor(v, requires_grad=True)
    want_cost = (t[5:7] * torch.tensor(w)).sum() + (t.flip(0)[::2, 1] ** 2).sum() + t[3].sum()
    (want,) = torch.autograd.grad(want_cost, t)
    np.testing.assert_allclose(f(v.astype(np.float32), 5), want.numpy(), rtol=1e-5, atol=1e-6)


def test_negative_log_likelihood_by_advanced_indexing_matches_torch():
    logits = RNG.standard_normal((9, 4))
    labels = RNG.integers(0, 4, 9)
    s, y = ns.matrix("s"), ns.ivector("y")
    p = ns.softmax(s)
    nll = -ns.mean(ns.log(p)[ns.arange(ns.shape_of(y)[0]), y])
    f = ns.function([s, y], [nll, ns.grad(nll, s)])
    t = torch.tensor(logits, requires_grad=True)
    want = torch.nn.functional.nll_loss(torch.log_softmax(t, 1), torch.tensor(labels))
    (g,) = torch.autograd.grad(want, t)
    got, got_g = f(logits.astype(np.float32), labels.astype(np.int32))
    assert float(got) == pytest.approx(want.item(), rel=1e-5)
    np.testing.assert_allclose(got_g, g.numpy(), rtol=1e-4, atol=1e-6)


def test_pairs_of_index_vectors_take_and_gather_match_numpy_and_torch():
    v = RNG.standard_normal((5, 6))
    x = ns.tensor("x", (5, 6))
    rows, cols = np.array([4, 0, 0, -1]), np.array([1, 5, 5, 2])
    idx = RNG.integers(0, 6, (5, 3))
    gathered = ns.gather(x, 1, idx.astype(np.int32))
    cost = ns.sum(x[rows, cols] * ns.constant([1.0, 2.0, 3.0, 4.0])) + ns.sum(gathered)
    f = ns.function([x], [x[rows, cols], ns.take(x, [3, 3, -6], axis=1), gathered,
                          ns.grad(cost, x)])
    picked, taken, got_gather, grad = f(v.astype(np.float32))
    np.testing.assert_allclose(picked, v[rows, cols], rtol=1e-6)
    np.testing.assert_allclose(taken, np.take(v, [3, 3, 0], axis=1), rtol=1e-6)
    t = torch.tensor(v, requires_grad=True)
    want_gather = torch.gather(t, 1, torch.tensor(idx))
    np.testing.assert_allclose(got_gather, want_gather.detach().numpy(), rtol=1e-6)
    want_cost = (t[rows, cols] * torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)).sum()
    (want,) = torch.autograd.grad(want_cost + want_gather.sum(), t)
    np.testing.assert_allclose(grad, want.numpy(), rtol=1e-5)  # repeats (0, 5) add up


def test_set_and_inc_subtensor_with_constant_and_computed_positions():
    v = RNG.standard_normal((4, 5)).astype(np.float32)
    x, k = ns.matrix("x"), ns.iscalar("k")
    flipped = ns.set_subtensor(x[:, k], 1 - x[:, k])  # the RBM's pseudo-likelihood bit flip
    bumped = ns.inc_subtensor(x[1:3, ::2], 10.0)
    cost = ns.sum(flipped * flipped) + ns.sum(bumped)
    f = ns.function([x, k], [flipped, bumped, ns.grad(cost, x)])
    got_flip, got_bump, grad = f(v, 3)
    want = v.copy()
    want[:, 3] = 1 - v[:, 3]
    np.testing.assert_allclose(got_flip, want, rtol=1e-6)
    want = v.copy()
    want[1:3, ::2] += 10
    np.testing.assert_allclose(got_bump, want, rtol=1e-6)
    t = torch.tensor(v.astype(np.float64), requires_grad=True)
    flip_t = t.clone()
    flip_t[:, 3] = 1 - t[:, 3]
    bump_t = t.clone()
    bump_t[1:3, ::2] += 10
    (want_g,) = torch.autograd.grad((flip_t ** 2).sum() + bump_t.sum(), t)
    np.testing.assert_allclose(grad, want_g.numpy(), rtol=1e-5, atol=1e-6)
    with pytest.raises(ns.GraphError, match="indexed variable"):
        ns.set_subtensor(x, 0.0)


def test_arange_follows_a_free_dimension_and_shape_dims_are_values():
    x = ns.matrix("x")
    n, m = ns.shape_of(x)
    f = ns.function([x], [ns.arange(n), n * m, ns.arange(2, 9, 3)])
    r, nm, fixed = f(np.zeros((4, 3), np.float32))
    np.testing.assert_array_equal(r, np.arange(4))
    assert int(nm) == 12 and r.dtype == np.int32
    np.testing.assert_array_equal(fixed, [2, 5, 8])
    with pytest.raises(ns.GraphError, match="known when the graph is built"):
        ns.arange(ns.iscalar("count"))


def test_a_start_read_from_a_shared_variable_is_clamped_on_the_device():
    v = np.arange(12, dtype=np.float32).reshape(6, 2)
    x = ns.matrix("x")
    start = ns.shared(0, "start")
    window = x[start:start + 3]
    f = ns.function([x], [window, ns.grad(ns.sum(window * 2.0), x)])
    for s, first in [(1, 1), (5, 3), (-2, 3), (-5, 1), (-40, 0)]:
        start.set_value(s)
        got, grad = f(v)
        np.testing.assert_array_equal(got, v[first:first + 3], err_msg=f"start {s}")
        want = np.zeros_like(v)
        want[first:first + 3] = 2.0
        np.testing.assert_array_equal(grad, want, err_msg=f"start {s}")
