"""A NumPy float64 RBM: exact expectations by enumeration (small RBMs) and CD-k / PCD-k fed
the device's own random numbers (nodestudio.ops.philox, the streams of ops/rbm.py)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from nodestudio.ops import philox
from nodestudio.ops.rbm import draw_seed


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def softplus(a):
    return np.logaddexp(0.0, a)


def states(n: int) -> np.ndarray:
    """All 2**n binary vectors, one per row."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n)))


def free_energy(v, W, b, c, visible="bernoulli"):
    hidden = softplus(v @ W + c).sum(axis=1)
    if visible == "gaussian":
        return 0.5 * ((v - b) ** 2).sum(axis=1) - hidden
    return -(v @ b) - hidden


def data_terms(v, W, b, c, visible="bernoulli"):
    """The gradient of -mean F(v) (the data term of the log-likelihood gradient) for W, b, c."""
    ph = sigmoid(v @ W + c)
    db = (v - b).mean(axis=0) if visible == "gaussian" else v.mean(axis=0)
    return v.T @ ph / len(v), db, ph.mean(axis=0)


def exact_model_terms(W, b, c, visible="bernoulli"):
    """E_model[v p(h|v)^T], E[v] (or E[v - b]), E[h]: by enumerating the visible states
    (Bernoulli), or the hidden ones with v integrated out (Gaussian: v | h ~ N(b + W h, 1),
    p(h) proportional to exp(c.h + |b + W h|^2 / 2 - |b|^2 / 2))."""
    if visible == "bernoulli":
        v = states(W.shape[0])
        logp = -free_energy(v, W, b, c)
        p = np.exp(logp - logp.max())
        p /= p.sum()
        ph = sigmoid(v @ W + c)
        return (v * p[:, None]).T @ ph, p @ v, p @ ph
    h = states(W.shape[1])
    mean = b + h @ W.T
    logp = h @ c + 0.5 * (mean ** 2).sum(axis=1)
    p = np.exp(logp - logp.max())
    p /= p.sum()
    return (mean * p[:, None]).T @ h, p @ (mean - b), p @ h


def uniforms(shape, seed: int, call: int) -> np.ndarray:
    return philox.uniform(math.prod(shape), seed, call).reshape(shape)


def gibbs_chain(v, W, b, c, visible, k, base, call, first_pre_h=None):
    """k Gibbs steps from v with the device's draws; returns (v_k, (pre_v1, mean_v1))."""
    first = None
    for step in range(k):
        ph = sigmoid(v @ W + c)
        h = (uniforms(ph.shape, draw_seed(base, "h", step), call) < ph).astype(float)
        pre_v = h @ W.T + b
        mean_v = pre_v if visible == "gaussian" else sigmoid(pre_v)
        u1 = uniforms(mean_v.shape, draw_seed(base, "v", step), call)
        if visible == "bernoulli":
            v = (u1 < mean_v).astype(float)
        else:
            u2 = uniforms(mean_v.shape, draw_seed(base, "n", step), call)
            v = mean_v + np.sqrt(-2.0 * np.log(1.0 - u1)) * np.cos(2.0 * np.pi * u2)
        if first is None:
            first = (pre_v, mean_v)
    return v, first


def cd_gradients(v0, W, b, c, visible="bernoulli", k=1, base=0, call=0, chain=None):
    """The gradient of cost = mean F(v0) - mean F(v_k) for W, b, c (CD-k, or PCD-k from
    `chain`), and the chain's next value, with the draws the device makes on call `call`."""
    start = v0 if chain is None else chain
    vk, _ = gibbs_chain(start, W, b, c, visible, k, base, call)
    dW0, db0, dc0 = data_terms(v0, W, b, c, visible)
    dWk, dbk, dck = data_terms(vk, W, b, c, visible)
    return (dWk - dW0, dbk - db0, dck - dc0), vk


def reconstruction(v0, W, b, c, visible, base, call):
    """The layer's `recon` for CD (the chain's first step from the data)."""
    _, (pre, mean) = gibbs_chain(v0, W, b, c, visible, 1, base, call)
    if visible == "gaussian":
        return float(((v0 - mean) ** 2).sum(axis=1).mean())
    return float((softplus(pre) - v0 * pre).sum(axis=1).mean())
