"""The restricted Boltzmann machine layer: `rbm_layer`, a composite that owns its parameters.

Energies (unit-variance visibles for the Gaussian case, as in Hinton's practical guide):

    Bernoulli-Bernoulli  E(v, h) = -v.b - h.c - v W h
    Gaussian-Bernoulli   E(v, h) = |v - b|^2 / 2 - h.c - v W h

with W (visible x hidden), b = `vbias`, c = `hbias`. Summing h out gives the free energy

    F(v) = -v.b - sum_j softplus(c_j + (v W)_j)         (Bernoulli)
    F(v) = |v - b|^2 / 2 - sum_j softplus(c_j + (v W)_j)  (Gaussian)

and p(h_j = 1 | v) = sigmoid(c_j + (v W)_j); p(v_i = 1 | h) = sigmoid(b_i + (W h)_i), or
v_i ~ N(b_i + (W h)_i, 1).

The expansion is what contrastive divergence computes, so the canvas can open it: from the data
v0 (CD-k) or from the persistent chain (PCD, `persistent`), k Gibbs steps v -> sampled h ->
sampled v, every draw on the device from Philox (`random_uniform_like`, Gaussian noise by
Box-Muller from two uniform streams); then the cost

    cost = mean F(v0) - mean F(stop_gradient(v_k))

whose gradient with respect to W, b and c is the CD (or PCD) estimate of the negative
log-likelihood's gradient: the data term minus the model term. SGD on `cost` with any optimizer
is CD-k training (train/strategies/cd.py adds the monitoring).

Outputs: `hidden` = p(h | v0), what a stack feeds on; `cost`; `recon`, the one-step
reconstruction error from the data (v0 -> sampled h0 -> p(v | h0): cross-entropy summed over the
visible units for Bernoulli visibles, squared error for Gaussian ones, mean over the batch);
`free_energy` F(v0) per example; `chain_next` (hidden), the chain after the k steps, the
declared update of the owned `chain` parameter (its particles, non-trainable). Without
`persistent` the chain is one row that is never read and `chain_next` is the chain itself.

Draws: each step's streams have their own seed, `draw_seed(base, kind, step)` with `base` the
layer's `seed` (-1: a stream of its own, from the node's name, as dropout's) and kind "h"
(hidden samples), "v" (visible samples, the first Box-Muller stream for Gaussians), "n" (the
second Box-Muller stream) or "d" (the hidden sample of the data for `recon` under PCD); the
counter is (element index, call index) as for every random op, so a host reimplementation
draws the same numbers (tests/train/test_rbm_exact.py).
"""

from __future__ import annotations

import math
import zlib

from nodestudio.errors import ShapeError
from nodestudio.ops.registry import FLOAT, AttrDef, OpDef, ParamDef, PortDef, register

VISIBLE_UNITS = ("bernoulli", "gaussian")
RBM_INITS = ("glorot_sigmoid", "normal")


def draw_seed(base: int, kind: str, step: int) -> int:
    """The Philox seed of one stream of draws: `kind` at Gibbs step `step` (from 0)."""
    return zlib.crc32(f"{base}:{kind}{step}".encode()) % 2**31


def _visible(types, attrs) -> int:
    v = types[0]
    if v.ndim != 2 or v.shape[1] is None:
        raise ShapeError(f"an RBM layer needs a batch of rows with a known width (B x "
                         f"visible), got {v}", port="v")
    return v.shape[1]


def _chain_shape(types, attrs) -> tuple[int, int]:
    return (attrs["particles"] if attrs["persistent"] else 1, _visible(types, attrs))


def free_energy(F, v, W, vbias, hbias, visible: str, pre=None):
    """F(v) per row; `pre` = v @ W + hbias when already computed."""
    pre = F.matmul(v, W) + hbias if pre is None else pre
    hidden_term = F.sum(F.softplus(pre), axis=1)
    if visible == "gaussian":
        return 0.5 * F.sum(F.square(v - vbias), axis=1) - hidden_term
    return -F.matmul(v, vbias) - hidden_term  # v.b per row: one gemm, not a product and a sum


def sample_hidden(F, v, W, hbias, seed: int, pre=None):
    """(p(h | v), a sample of h) with uniforms from stream `seed`."""
    p = F.sigmoid(F.matmul(v, W) + hbias if pre is None else pre)
    return p, F.lt(F.random_uniform_like(p, seed=seed), p)


def visible_mean(F, h, W, vbias, visible: str):
    """(pre-activation b + h W^T, mean of p(v | h))."""
    pre = F.matmul(h, W, trans_b=True) + vbias
    return pre, (pre if visible == "gaussian" else F.sigmoid(pre))


def sample_visible(F, mean, visible: str, base: int, step: int):
    """A sample of v given its mean: Bernoulli, or the mean plus N(0, 1) noise drawn by
    Box-Muller, sqrt(-2 log(1 - u1)) cos(2 pi u2) (1 - u1 lies in (0, 1])."""
    u1 = F.random_uniform_like(mean, seed=draw_seed(base, "v", step))
    if visible == "bernoulli":
        return F.lt(u1, mean)
    u2 = F.random_uniform_like(mean, seed=draw_seed(base, "n", step))
    noise = F.sqrt(-2.0 * F.log(1.0 - u1)) * F.cos((2.0 * math.pi) * u2)
    return mean + noise


def reconstruction_error(F, v, pre, mean, visible: str):
    """Per-batch mean of the summed cross-entropy (stable form: softplus(a) - v a) or
    squared error of the reconstruction."""
    if visible == "gaussian":
        return F.mean(F.sum(F.square(v - mean), axis=1))
    return F.mean(F.sum(F.softplus(pre) - v * pre, axis=1))


def _rbm_layer(F, ins, at, mode):
    v0, W, vbias, hbias, chain = ins
    visible, k = at["visible"], at["k"]
    base = F.stream_seed(at["seed"])
    pre0 = F.matmul(v0, W) + hbias
    hidden = F.sigmoid(pre0)
    if at["persistent"]:
        _, h_data = sample_hidden(F, v0, W, hbias, draw_seed(base, "d", 0), pre=pre0)
        v = chain
    else:
        v = v0
    recon_parts = None
    for step in range(k):
        pre = pre0 if (step == 0 and not at["persistent"]) else None
        _, h = sample_hidden(F, v, W, hbias, draw_seed(base, "h", step), pre=pre)
        pre_v, mean_v = visible_mean(F, h, W, vbias, visible)
        if step == 0 and not at["persistent"]:
            recon_parts = (pre_v, mean_v)  # the chain's first step is the reconstruction
        v = sample_visible(F, mean_v, visible, base, step)
    if recon_parts is None:
        recon_parts = visible_mean(F, h_data, W, vbias, visible)
    recon = reconstruction_error(F, v0, *recon_parts, visible)
    fe0 = free_energy(F, v0, W, vbias, hbias, visible, pre=pre0)
    end = F.apply("stop_gradient", v)
    cost = F.mean(fe0) - F.mean(free_energy(F, end, W, vbias, hbias, visible))
    chain_next = end if at["persistent"] else chain
    return [hidden, cost, recon, fe0, chain_next]


def _weight_init(attrs) -> str:
    return attrs["init"]


def _label(at) -> str:
    method = f"PCD-{at['k']}" if at["persistent"] else f"CD-{at['k']}"
    units = "" if at["visible"] == "bernoulli" else ", gaussian"
    return f"{at['hidden']}, {method}{units}"


register(OpDef(
    "rbm_layer", "Layers",
    "a restricted Boltzmann machine that owns its weights W (visible x hidden), visible and "
    "hidden biases and, with persistent CD, its chain of particles: outputs p(h|v) "
    "('hidden', what a stack feeds on), the contrastive-divergence cost mean F(v0) - "
    "mean F(v_k) whose gradient is the CD-k (or PCD-k) update, the one-step reconstruction "
    "error and the free energy of each row; expand it to see the Gibbs chain",
    (PortDef("v", "a batch of visible vectors (B x visible)", dtype=FLOAT),),
    outputs=(PortDef("hidden", "p(h = 1 | v), B x hidden"),
             PortDef("cost", "mean F(v0) - mean F(v_k): minimise it to train by CD"),
             PortDef("recon", "one-step reconstruction error (cross-entropy or squared)"),
             PortDef("free_energy", "F(v) of each row"),
             PortDef("chain_next", hidden=True)),
    attrs=(AttrDef("hidden", "int", 500, "hidden units", low=1, high=1_000_000),
           AttrDef("visible", "choice", "bernoulli", "visible units: binary (bernoulli) or "
                   "real with unit variance (gaussian)", choices=VISIBLE_UNITS),
           AttrDef("k", "int", 1, "Gibbs steps per update (CD-k)", low=1, high=10_000),
           AttrDef("persistent", "bool", False, "persistent CD: the chain continues from "
                   "its last state instead of restarting at the data"),
           AttrDef("particles", "int", 20, "chains run by persistent CD", low=1,
                   high=1_000_000),
           AttrDef("init", "choice", "glorot_sigmoid", "how W is drawn: uniform within "
                   "4 sqrt(6 / (visible + hidden)) (the Theano tutorial's) or N(0, 0.01^2)",
                   choices=RBM_INITS),
           AttrDef("seed", "int", -1, "sampling stream seed (and added to the initialiser's "
                   "per-node seed); -1: a stream of its own, drawn from the node's name",
                   low=-1, special="own stream")),
    params=(ParamDef("W", lambda types, at: (_visible(types, at), at["hidden"]), _weight_init,
                     "weights, visible x hidden"),
            ParamDef("vbias", lambda types, at: (_visible(types, at),), lambda at: "zeros",
                     "visible biases"),
            ParamDef("hbias", lambda types, at: (at["hidden"],), lambda at: "zeros",
                     "hidden biases"),
            ParamDef("chain", _chain_shape, lambda at: "zeros",
                     "persistent chain: particles x visible (one unused row without "
                     "persistent CD)", trainable=False, update="chain_next")),
    expand=_rbm_layer, stateful=True, label=_label))


__all__ = ["RBM_INITS", "VISIBLE_UNITS", "draw_seed", "free_energy", "reconstruction_error",
           "sample_hidden", "sample_visible", "visible_mean"]
