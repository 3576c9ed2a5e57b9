"""Random streams (one stream per call site, new numbers per call, on the device) and scan
(unrolled at build time) of nodestudio.theano."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio as ns
import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.theano.sandbox.rng_mrg import MRG_RandomStreams
from nodestudio.theano.tensor.shared_randomstreams import RandomStreams

pytestmark = pytest.mark.opencl


def _random_kernels(f) -> int:
    return sum("random" in k.name for k in f.kernels())


@pytest.mark.parametrize("streams", [RandomStreams, MRG_RandomStreams])
def test_each_call_site_draws_its_own_stream_and_each_call_new_numbers(streams):
    rng = streams(1234)
    mask = rng.binomial(size=(50, 200), n=1, p=0.3, dtype=theano.config.floatX)
    u = rng.uniform(size=(50, 200), low=-2.0, high=3.0)
    u2 = rng.uniform(size=(50, 200), low=-2.0, high=3.0)  # same arguments, another site
    f = theano.function([], [mask, u, u2])
    m1, a1, b1 = f()
    m2, a2, _ = f()
    assert set(np.unique(m1)) == {0.0, 1.0} and abs(m1.mean() - 0.3) < 0.015
    assert -2.0 <= a1.min() and a1.max() < 3.0 and abs(a1.mean() - 0.5) < 0.05
    assert not np.array_equal(a1, b1) and abs(np.corrcoef(a1.ravel(), b1.ravel())[0, 1]) < 0.03
    assert not np.array_equal(m1, m2) and not np.array_equal(a1, a2)
    again = streams(1234)  # the same seed and call order give the same numbers
    g = theano.function([], again.binomial(size=(50, 200), n=1, p=0.3, dtype="float32"))
    np.testing.assert_array_equal(g(), m1)


def test_binomial_takes_its_shape_from_p_and_n_counts_trials():
    rng = RandomStreams(5)
    x = T.matrix("x")
    p = T.nnet.sigmoid(x)
    sample = rng.binomial(size=p.shape, n=1, p=p, dtype="float32")
    counts = rng.binomial(size=p.shape, n=4, p=p, dtype="float32")
    xv = np.tile(np.array([-30.0, 0.0, 30.0], np.float32), (4000, 1))
    s, c = theano.function([x], [sample, counts])(xv)
    np.testing.assert_array_equal(s[:, 0], 0.0)
    np.testing.assert_array_equal(s[:, 2], 1.0)
    assert abs(s[:, 1].mean() - 0.5) < 0.03 and abs(c[:, 1].mean() - 2.0) < 0.06
    assert set(np.unique(c[:, 1])) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_normal_has_the_asked_mean_and_spread():
    z = theano.function([], RandomStreams(3).normal(size=(400, 250), avg=1.5, std=2.0))()
    assert abs(z.mean() - 1.5) < 0.03 and abs(z.std() - 2.0) < 0.03


def test_scan_recurrence_with_sequences_and_non_sequences_against_numpy():
    x0 = T.vector("x0")
    W = theano.shared(np.random.RandomState(0).randn(3, 3).astype(np.float32) * 0.5, name="W")
    seq_fixed = ns.tensor("seq", (6, 3))

    def step(s_t, h, w):
        return T.tanh(T.dot(h, w) + s_t)

    hs, updates = theano.scan(step, sequences=seq_fixed, outputs_info=x0, non_sequences=W)
    assert not updates and hs.shape == (6, 3)
    f = theano.function([x0, seq_fixed], [hs, hs[-1]])
    x0v = np.array([0.1, -0.2, 0.3], np.float32)
    sv = np.random.RandomState(1).randn(6, 3).astype(np.float32)
    got, last = f(x0v, sv)
    h, want = x0v.astype(np.float64), []
    for t in range(6):
        h = np.tanh(h @ W.get_value() + sv[t])
        want.append(h)
    np.testing.assert_allclose(got, np.array(want), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(last, want[-1], rtol=1e-5, atol=1e-6)


def test_indexing_a_scan_output_gives_the_step_itself_and_gradients_flow_like_pytorch():
    W = theano.shared(np.random.RandomState(2).randn(4, 4).astype(np.float32) * 0.4, name="W")
    x = T.matrix("x")
    outs, _ = theano.scan(lambda h: T.nnet.sigmoid(T.dot(h, W)), outputs_info=[x], n_steps=5)
    last = outs[-1]
    assert last is outs.steps[4] and outs[0] is outs.steps[0]
    with pytest.raises(IndexError):
        outs[5]
    cost = T.sum(last ** 2)
    g = theano.function([x], T.grad(cost, W))
    xv = np.random.RandomState(3).randn(3, 4).astype(np.float32)
    Wt = torch.tensor(W.get_value(), dtype=torch.float64, requires_grad=True)
    h = torch.tensor(xv, dtype=torch.float64)
    for _ in range(5):
        h = torch.sigmoid(h @ Wt)
    (h ** 2).sum().backward()
    np.testing.assert_allclose(g(xv), Wt.grad.numpy(), rtol=1e-4, atol=1e-6)


def test_random_draws_inside_scan_take_one_kernel_per_site_and_differ_per_step():
    rng = MRG_RandomStreams(11)
    v0 = T.matrix("v0")

    def gibbs(v):
        h_mean = T.nnet.sigmoid(v * 0.0)
        h = rng.binomial(size=h_mean.shape, n=1, p=h_mean, dtype="float32")
        v_mean = T.nnet.sigmoid(h * 0.0 + 1.0)
        return [h_mean, h, v_mean, rng.binomial(size=v_mean.shape, n=1, p=v_mean,
                                                 dtype="float32")]

    (_, hs, _, vs), updates = theano.scan(gibbs, outputs_info=[None, None, None, v0],
                                          n_steps=30)
    assert dict(updates) == {}
    f = theano.function([v0], [hs, vs[-1]])
    h, last = f(np.ones((8, 16), np.float32))
    assert _random_kernels(f) == 2  # two sites, thirty steps
    kernels = f.kernels()  # every step runs the same programs (its row is a value, not source)
    rows = [k for k in kernels if "dynamic_slice" in k.name]
    assert len(rows) == 60 and len({k.source for k in rows}) == 1
    assert len({k.source for k in kernels}) <= 15
    assert abs(h.mean() - 0.5) < 0.03
    assert np.mean(h[1:] == h[:-1]) < 0.6  # each step its own numbers
    assert abs(last.mean() - 1 / (1 + np.exp(-1.0))) < 0.15
    h2, _ = f(np.ones((8, 16), np.float32))
    assert not np.array_equal(h, h2)


def test_a_long_scan_stacks_all_its_steps():
    """rbm.py samples with 1000 steps: more than one concatenate node takes."""
    x = T.vector("x")
    outs, _ = theano.scan(lambda h: h + 1.0, outputs_info=[x], n_steps=150)
    got, last = theano.function([x], [outs, outs[-1]])(np.zeros(2, np.float32))
    np.testing.assert_array_equal(got, np.repeat(np.arange(1, 151, dtype=np.float32), 2)
                                  .reshape(150, 2))
    np.testing.assert_array_equal(last, [150.0, 150.0])
