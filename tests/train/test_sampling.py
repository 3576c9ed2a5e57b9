"""The studio's Gibbs sampler (nodestudio/train/sampling.py) against a NumPy float64 sampler fed
the same Philox numbers, and its chains' statistics against the exact model distribution."""

from __future__ import annotations

import math

import numpy as np
import pytest

from nodestudio.ops import philox
from nodestudio.ops.rbm import draw_seed
from nodestudio.train.sampling import GibbsSampler, SamplingError
from tests.train import rbm_reference as ref


def _rbm(visible: str, n_visible: int = 6, n_hidden: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    W = rng.normal(0.0, 0.8, (n_visible, n_hidden)).astype(np.float32)
    b = rng.normal(0.0, 0.5, n_visible).astype(np.float32)
    c = rng.normal(0.0, 0.5, n_hidden).astype(np.float32)
    return W, b, c


def _start(visible: str, n: int, n_visible: int = 6, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if visible == "gaussian":
        return rng.normal(0.0, 1.0, (n, n_visible)).astype(np.float32)
    return (rng.random((n, n_visible)) < 0.5).astype(np.float32)


@pytest.mark.parametrize("visible, steps", [("bernoulli", 1), ("bernoulli", 4),
                                            ("gaussian", 3)])
def test_chains_match_numpy_float64_fed_the_same_philox_draws(visible, steps):
    W, b, c = _rbm(visible)
    sampler = GibbsSampler(visible, seed=11)
    v = _start(visible, 7)
    p64 = [a.astype(np.float64) for a in (W, b, c)]
    want_v = v.astype(np.float64)
    for call in range(3):  # the chains go on from where the last frame left them
        frame = sampler.run(v, W, b, c, steps)
        assert frame.call == call
        mean = None
        for step in range(steps):
            got, mean = _one_step(want_v, *p64, visible, step, call)
            want_v = got
        np.testing.assert_allclose(frame.samples, want_v, atol=1e-4, err_msg=f"call {call}")
        np.testing.assert_allclose(frame.means, mean, atol=1e-5, err_msg=f"call {call}")
        v = frame.samples
    if visible == "bernoulli":
        assert set(np.unique(frame.samples)) <= {0.0, 1.0}


def _one_step(v, W, b, c, visible, step, call):
    ph = ref.sigmoid(v @ W + c)
    h = (ref.uniforms(ph.shape, draw_seed(11, "h", step), call) < ph).astype(float)
    pre = h @ W.T + b
    mean = pre if visible == "gaussian" else ref.sigmoid(pre)
    u1 = ref.uniforms(mean.shape, draw_seed(11, "v", step), call)
    if visible == "bernoulli":
        return (u1 < mean).astype(float), mean
    u2 = ref.uniforms(mean.shape, draw_seed(11, "n", step), call)
    return mean + np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2), mean


def test_reconstruction_matches_numpy_float64_fed_the_same_draws():
    W, b, c = _rbm("bernoulli")
    sampler = GibbsSampler("bernoulli", seed=5)
    sampler.run(_start("bernoulli", 3), W, b, c, 2)  # a run first: the call index moves on
    x = _start("bernoulli", 9, seed=4)
    got = sampler.reconstruct(x, W, b, c)
    x64, W64, b64, c64 = (a.astype(np.float64) for a in (x, W, b, c))
    ph = ref.sigmoid(x64 @ W64 + c64)
    u = philox.uniform(math.prod(ph.shape), draw_seed(5, "r", 0), 1).reshape(ph.shape)
    want = ref.sigmoid((u < ph).astype(float) @ W64.T + b64)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_long_chains_sample_the_exact_model_distribution():
    """The visible marginals of many chains after burn-in match the enumerated E[v]."""
    W, b, c = _rbm("bernoulli", seed=2)
    _, exact_v, _ = ref.exact_model_terms(*(a.astype(np.float64) for a in (W, b, c)))
    sampler = GibbsSampler("bernoulli", seed=3)
    v = _start("bernoulli", 2000)
    v = sampler.run(v, W, b, c, 50).samples  # burn-in
    total = np.zeros(6)
    for _ in range(10):
        v = sampler.run(v, W, b, c, 5).samples
        total += v.mean(axis=0)
    np.testing.assert_allclose(total / 10, exact_v, atol=0.02)


def test_bad_input_is_named():
    W, b, c = _rbm("bernoulli")
    sampler = GibbsSampler()
    with pytest.raises(SamplingError, match=r"N x 6"):
        sampler.run(np.zeros((2, 5)), W, b, c)
    with pytest.raises(SamplingError, match="hbias"):
        sampler.run(np.zeros((2, 6)), W, b, np.zeros(3))
    with pytest.raises(SamplingError, match="Gibbs steps"):
        sampler.run(np.zeros((2, 6)), W, b, c, 0)
    with pytest.raises(SamplingError, match="visible units"):
        GibbsSampler("poisson")
