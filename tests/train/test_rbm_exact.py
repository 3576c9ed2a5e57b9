"""The RBM layer against exact figures: a 6-visible, 4-hidden RBM whose 64 visible (and 16
hidden) states can all be enumerated.

* the data term of the gradient (the gradient of -mean F(v0)) equals its exact value;
* the model term estimated by long Gibbs chains, CD-k with a large k and PCD after burn-in,
  matches the exact model expectation: 20,000 CD chains (or 4,000 PCD particles over 30
  draws) give a Monte Carlo standard error of about 0.003 on each entry of E[v h^T] (values
  in [0, 1], variance <= 1/4); the tolerance is 0.02, more than six standard errors, and
  the chains mix in far fewer steps than they are given for weights of this size;
* CD-1 (and CD-3, PCD-2) on the device matches a NumPy float64 CD fed the same Philox draws.

Bernoulli and Gaussian visible units alike. The gradient of the layer's `cost` is
(model term - data term), so model term = grad(cost) + data term.
"""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.ir.layers import make_layer
from nodestudio.ops import registry
from tests.train import rbm_reference as ref

pytestmark = pytest.mark.opencl

V, H = 6, 4
MODEL_TOL = 0.02


def _rbm(visible="bernoulli", k=1, persistent=False, particles=1, seed=7, rows=None):
    rng = np.random.default_rng(3)
    x = ns.tensor("v", (rows, V))
    node, params = make_layer(registry.get("rbm_layer"), [x],
                              {"hidden": H, "visible": visible, "k": k,
                               "persistent": persistent, "particles": particles,
                               "seed": seed}, f"rbm_{visible}_{k}_{persistent}")
    # weights large enough that the model differs clearly from the independent one
    params["W"].set_value(rng.normal(0.0, 0.6, (V, H)))
    params["vbias"].set_value(rng.normal(0.0, 0.5, V))
    params["hbias"].set_value(rng.normal(0.0, 0.5, H))
    return x, node, params


def _values(params):
    return [params[n].get_value().astype(np.float64) for n in ("W", "vbias", "hbias")]


def _data(visible, n, seed=5):
    rng = np.random.default_rng(seed)
    if visible == "bernoulli":
        return (rng.random((n, V)) < 0.4).astype(np.float32)
    return rng.normal(0.5, 1.0, (n, V)).astype(np.float32)


def _grads(node, params):
    wrt = [params["W"], params["vbias"], params["hbias"]]
    hidden, cost, recon, free_energy, chain_next = node.outputs
    return ns.grad(cost, wrt), ns.grad(ns.mean(free_energy), wrt), recon


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_the_data_term_equals_its_exact_value(visible):
    x, node, params = _rbm(visible)
    _, data_grads, _ = _grads(node, params)
    v0 = _data(visible, 50)
    got = ns.function([x], data_grads)(v0)
    exact = ref.data_terms(v0.astype(np.float64), *_values(params), visible)
    for g, want, name in zip(got, exact, ("W", "vbias", "hbias")):
        np.testing.assert_allclose(-g, want, atol=2e-6, rtol=1e-5, err_msg=name)


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_cd_k_with_long_chains_estimates_the_exact_model_term(visible):
    chains, k = 20_000, 25
    x, node, params = _rbm(visible, k=k)
    cost_grads, _, _ = _grads(node, params)
    v0 = _data(visible, chains)
    got = ns.function([x], cost_grads)(v0)
    values = _values(params)
    data = ref.data_terms(v0.astype(np.float64), *values, visible)
    exact = ref.exact_model_terms(*values, visible)
    for g, d, want, name in zip(got, data, exact, ("W", "vbias", "hbias")):
        estimate = g + d  # grad(cost) = model term - data term
        np.testing.assert_allclose(estimate, want, atol=MODEL_TOL, err_msg=name)
    # and the model term really differs from the data term: the check has teeth
    assert np.abs(exact[0] - data[0]).max() > 5 * MODEL_TOL


@pytest.mark.parametrize("visible", ["bernoulli", "gaussian"])
def test_pcd_after_burn_in_estimates_the_exact_model_term(visible):
    particles, k, burn_in, draws = 4_000, 5, 6, 30
    x, node, params = _rbm(visible, k=k, persistent=True, particles=particles)
    cost_grads, _, _ = _grads(node, params)
    chain = params["chain"]
    assert chain.default_update is not None  # the declared state, bound by the registry alone
    step = ns.function([x], cost_grads, updates=[(chain, chain.default_update)])
    v0 = _data(visible, 64)
    values = _values(params)
    data = ref.data_terms(v0.astype(np.float64), *values, visible)
    for _ in range(burn_in):
        step(v0)
    sums = [np.zeros_like(d) for d in data]
    for _ in range(draws):
        for total, g in zip(sums, step(v0)):
            total += g
    exact = ref.exact_model_terms(*values, visible)
    for total, d, want, name in zip(sums, data, exact, ("W", "vbias", "hbias")):
        np.testing.assert_allclose(total / draws + d, want, atol=MODEL_TOL, err_msg=name)
    assert not np.allclose(chain.get_value(), 0.0)  # the particles moved


@pytest.mark.parametrize("visible, k, persistent", [
    ("bernoulli", 1, False), ("bernoulli", 3, False), ("bernoulli", 2, True),
    ("gaussian", 1, False), ("gaussian", 2, True)])
def test_cd_matches_a_numpy_float64_cd_fed_the_same_random_numbers(visible, k, persistent):
    particles = 9 if persistent else 1
    x, node, params = _rbm(visible, k=k, persistent=persistent, particles=particles)
    cost_grads, _, recon = _grads(node, params)
    chain = params["chain"]
    chain.set_value(_data(visible, particles, seed=17))
    fn = ns.function([x], [*cost_grads, recon, node.outputs[1]],
                     updates=[(chain, chain.default_update)])
    values = _values(params)
    base = 7  # the layer's seed
    for call in range(3):  # the draws advance with the call index, and the chain with them
        v0 = _data(visible, 12, seed=call)
        start = chain.get_value().astype(np.float64) if persistent else None
        *got, got_recon, got_cost = fn(v0)
        want, vk = ref.cd_gradients(v0.astype(np.float64), *values, visible, k, base, call,
                                    chain=start)
        for g, w, name in zip(got, want, ("W", "vbias", "hbias")):
            np.testing.assert_allclose(g, w, atol=1e-5, rtol=1e-4,
                                       err_msg=f"{name}, call {call}")
        v = v0.astype(np.float64)
        want_cost = (ref.free_energy(v, *values, visible).mean()
                     - ref.free_energy(vk, *values, visible).mean())
        np.testing.assert_allclose(got_cost, want_cost, rtol=1e-5, atol=1e-5)
        if persistent:
            np.testing.assert_allclose(chain.get_value(), vk, atol=1e-5)
        else:
            np.testing.assert_allclose(got_recon, ref.reconstruction(v, *values, visible,
                                                                     base, call),
                                       rtol=1e-5)
