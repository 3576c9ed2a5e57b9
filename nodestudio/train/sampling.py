"""Gibbs sampling from an RBM on the device: what the studio's RBM samples panel shows.

    sampler = GibbsSampler("bernoulli", seed=3)
    frame = sampler.run(v, W, vbias, hbias, steps=10)   # 10 Gibbs steps from the rows of v
    frame.samples, frame.means                          # v_k, and p(v | h_k-1) it was drawn from
    recon = sampler.reconstruct(x, W, vbias, hbias)     # p(v | h), h ~ p(h | x): x's reconstruction

One step is v -> h ~ p(h | v) -> v ~ p(v | h), the same ops as the `rbm_layer`'s chain
(ops/rbm.py: `sample_hidden`, `visible_mean`, `sample_visible`), compiled once per shape and
number of steps as an `ns.function` whose inputs are the rows and the RBM's parameters (the
current ones are passed at each call: the panel follows a run's weights as they change). The
chains' state is the caller's: feed `frame.samples` back to run them on (from the persistent
particles of PCD, or from data).

Draws: step s of a call draws its hidden uniforms from the Philox stream
`draw_seed(seed, "h", s)` and its visible ones from `draw_seed(seed, "v", s)` (and
`draw_seed(seed, "n", s)`, Box-Muller's second stream, for Gaussian visibles), with the counter
(element index, call index) of every random op; `call` is the sampler's count of runs (and
reconstructions, whose hidden sample uses the stream `draw_seed(seed, "r", 0)`), so a NumPy
float64 sampler fed `philox.uniform` with the same seeds and call draws the same numbers
(tests/train/test_sampling.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nodestudio.api.function import Function, function
from nodestudio.api.symbols import tensor
from nodestudio.ir import build as F
from nodestudio.ops.rbm import VISIBLE_UNITS, draw_seed, sample_hidden, sample_visible, visible_mean

MAX_STEPS = 10_000  # Gibbs steps of one call, at most (each is unrolled in the function)


class SamplingError(ValueError):
    """Arrays or settings the sampler cannot use; the message names which."""


@dataclass(frozen=True)
class GibbsFrame:
    """After `steps` Gibbs steps: the sampled visibles v_k (the chains' new state) and the
    mean of p(v | h) they were drawn from (what a picture of the samples shows: no
    salt-and-pepper noise), plus the call index the draws used."""

    samples: np.ndarray
    means: np.ndarray
    steps: int
    call: int


class GibbsSampler:
    """Compiled Gibbs chains of a Bernoulli-Bernoulli or Gaussian-Bernoulli RBM; see the module
    docstring. `calls` counts the runs so far (the Philox call index of the next one)."""

    def __init__(self, visible: str = "bernoulli", seed: int = 0):
        if visible not in VISIBLE_UNITS:
            raise SamplingError(f"visible units must be one of {VISIBLE_UNITS}, got "
                                f"{visible!r}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SamplingError(f"the sampling seed must be a whole number >= 0, got {seed!r}")
        self.visible, self.seed = visible, seed
        self.calls = 0
        self._compiled: dict[tuple, Function] = {}

    # --- the two computations -------------------------------------------------------------
    def run(self, v: np.ndarray, W: np.ndarray, vbias: np.ndarray, hbias: np.ndarray,
            steps: int = 1) -> GibbsFrame:
        """`steps` Gibbs steps from each row of `v` (chains x visible)."""
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or \
                not 1 <= steps <= MAX_STEPS:
            raise SamplingError(f"Gibbs steps must be a whole number from 1 to {MAX_STEPS}, "
                                f"got {steps!r}")
        v, W, vbias, hbias = self._check(v, W, vbias, hbias)
        fn = self._function(("run", int(steps), v.shape[1], W.shape[1]))
        call = self._next_call(fn)
        samples, means = fn(v, W, vbias, hbias)
        return GibbsFrame(np.asarray(samples), np.asarray(means), int(steps), call)

    def reconstruct(self, v: np.ndarray, W: np.ndarray, vbias: np.ndarray,
                    hbias: np.ndarray) -> np.ndarray:
        """p(v | h) with h ~ p(h | v): each row of `v` as the RBM reconstructs it (the mean,
        so an image shows it without sampling noise)."""
        v, W, vbias, hbias = self._check(v, W, vbias, hbias)
        fn = self._function(("reconstruct", 0, v.shape[1], W.shape[1]))
        self._next_call(fn)
        return np.asarray(fn(v, W, vbias, hbias)[0])

    # --- compiling --------------------------------------------------------------------------
    def _function(self, key: tuple) -> Function:
        fn = self._compiled.get(key)
        if fn is None:
            kind, steps, n_visible, n_hidden = key
            v = tensor("gibbs/v", (None, n_visible))
            W = tensor("gibbs/W", (n_visible, n_hidden))
            vbias = tensor("gibbs/vbias", (n_visible,))
            hbias = tensor("gibbs/hbias", (n_hidden,))
            if kind == "reconstruct":
                _, h = sample_hidden(F, v, W, hbias, draw_seed(self.seed, "r", 0))
                outputs = [visible_mean(F, h, W, vbias, self.visible)[1]]
            else:
                outputs = list(self._chain(v, W, vbias, hbias, steps))
            fn = function([v, W, vbias, hbias], outputs)
            self._compiled[key] = fn
        return fn

    def _chain(self, v, W, vbias, hbias, steps: int):
        mean = v
        for step in range(steps):
            _, h = sample_hidden(F, v, W, hbias, draw_seed(self.seed, "h", step))
            _, mean = visible_mean(F, h, W, vbias, self.visible)
            v = sample_visible(F, mean, self.visible, self.seed, step)
        return v, mean

    def _next_call(self, fn: Function) -> int:
        """Every compiled function draws with the sampler's call count: one sequence of
        draws over all of them, whatever the number of steps."""
        call = self.calls
        fn.calls = call
        self.calls += 1
        return call

    def _check(self, v, W, vbias, hbias) -> tuple[np.ndarray, ...]:
        arrays = {"v": v, "W": W, "vbias": vbias, "hbias": hbias}
        out = {name: np.asarray(a, dtype=np.float32) for name, a in arrays.items()}
        v, W, vbias, hbias = out["v"], out["W"], out["vbias"], out["hbias"]
        if W.ndim != 2:
            raise SamplingError(f"W must be visible x hidden, got shape {W.shape}")
        n_visible, n_hidden = W.shape
        if v.ndim != 2 or v.shape[1] != n_visible or len(v) == 0:
            raise SamplingError(f"the chains' starting rows must be N x {n_visible} (W is "
                                f"{n_visible} x {n_hidden}), got shape {v.shape}")
        if vbias.shape != (n_visible,):
            raise SamplingError(f"vbias must have {n_visible} values, got shape {vbias.shape}")
        if hbias.shape != (n_hidden,):
            raise SamplingError(f"hbias must have {n_hidden} values, got shape {hbias.shape}")
        for name, a in out.items():
            if not np.all(np.isfinite(a)):
                raise SamplingError(f"{name} holds NaN or Inf")
        return v, W, vbias, hbias


__all__ = ["GibbsFrame", "GibbsSampler", "MAX_STEPS", "SamplingError"]
