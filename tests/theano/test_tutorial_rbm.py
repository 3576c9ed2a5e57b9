"""The RBM chapter (CD-k and PCD-k through scan, the free-energy cost) and its use in a DBN,
through nodestudio.theano, beside PyTorch with the randomness made equal: the PyTorch side
draws the very numbers the device draws, from the NumPy reference of its Philox generator
(nodestudio/ops/philox.py): site s of a RandomStreams has the seed its `_site_seed` gives, a
draw outside scan is philox.uniform(size, seed, call), a site inside a k-step scan draws
(k, ...) at once and step t takes row t."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.ops import philox
from nodestudio.theano.sandbox.rng_mrg import MRG_RandomStreams
from tests.theano.twins import assert_costs_close, param, small_mnist, t64

pytestmark = pytest.mark.opencl
SEED = 4321


class RBM:
    def __init__(self, x, n_visible, n_hidden, W, theano_rng):
        self.input, self.theano_rng = x, theano_rng
        self.W = theano.shared(W, name="W")
        self.hbias = theano.shared(np.zeros(n_hidden, np.float32), name="hbias")
        self.vbias = theano.shared(np.zeros(n_visible, np.float32), name="vbias")
        self.params = [self.W, self.hbias, self.vbias]

    def free_energy(self, v):
        wx_b = T.dot(v, self.W) + self.hbias
        return -T.sum(T.log(1 + T.exp(wx_b)), axis=1) - T.dot(v, self.vbias)

    def _sample(self, pre):
        mean = T.nnet.sigmoid(pre)
        return [pre, mean, self.theano_rng.binomial(size=mean.shape, n=1, p=mean,
                                                     dtype=theano.config.floatX)]

    def gibbs_hvh(self, h):
        v = self._sample(T.dot(h, self.W.T) + self.vbias)
        return v + self._sample(T.dot(v[2], self.W) + self.hbias)

    def cost_updates(self, lr, k, persistent=None):
        _, _, ph_sample = self._sample(T.dot(self.input, self.W) + self.hbias)
        start = ph_sample if persistent is None else persistent
        (pre_v, _, v_samples, _, _, h_samples), updates = theano.scan(
            self.gibbs_hvh, outputs_info=[None] * 5 + [start], n_steps=k)
        chain_end = v_samples[-1]
        cost = T.mean(self.free_energy(self.input)) - T.mean(self.free_energy(chain_end))
        grads = T.grad(cost, self.params, consider_constant=[chain_end])
        for g, p in zip(grads, self.params):
            updates[p] = p - g * T.cast(lr, dtype=theano.config.floatX)
        if persistent is not None:
            updates[persistent] = h_samples[-1]
        z = T.nnet.sigmoid(pre_v[-1])
        recon = T.mean(T.sum(self.input * T.log(z) + (1 - self.input) * T.log(1 - z), axis=1))
        return cost, recon, updates


class TorchRBM:
    """The same RBM in float64, drawing the device's Philox numbers."""

    def __init__(self, W, n_visible, n_hidden, k):
        self.W, self.hb, self.vb = param(W), param(np.zeros(n_hidden)), param(np.zeros(n_visible))
        seeds = MRG_RandomStreams(SEED)
        self.seeds = [seeds._site_seed() for _ in range(3)]  # ph, then v and h in the scan
        self.k = k

    def uniforms(self, site: int, shape, call: int, steps: int | None = None):
        full = (steps, *shape) if steps else shape
        u = philox.uniform(int(np.prod(full)), self.seeds[site], call).reshape(full)
        return torch.tensor(u, dtype=torch.float64)

    def free_energy(self, v):
        return -torch.log(1 + torch.exp(v @ self.W + self.hb)).sum(1) - v @ self.vb

    def step(self, x, call, lr, chain=None):
        B = x.shape[0]
        H, V = self.hb.shape[0], self.vb.shape[0]
        with torch.no_grad():
            h = chain if chain is not None else (
                self.uniforms(0, (B, H), call) < torch.sigmoid(x @ self.W + self.hb)).double()
            uv, uh = self.uniforms(1, (B, V), call, self.k), self.uniforms(2, (B, H), call, self.k)
            for t in range(self.k):
                pre_v = h @ self.W.T + self.vb
                v = (uv[t] < torch.sigmoid(pre_v)).double()
                h = (uh[t] < torch.sigmoid(v @ self.W + self.hb)).double()
        cost = self.free_energy(x).mean() - self.free_energy(v).mean()
        params = [self.W, self.hb, self.vb]
        for p in params:
            p.grad = None
        cost.backward()
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
            z = torch.sigmoid(pre_v)
            recon = (x * torch.log(z) + (1 - x) * torch.log(1 - z)).sum(1).mean()
        return float(cost.detach()), float(recon), h


@pytest.mark.parametrize("k, persistent", [(1, False), (3, True)])
def test_rbm_cd_and_pcd_through_scan_match_pytorch_with_the_same_random_numbers(k, persistent):
    xtr = small_mnist()[0][:200]
    n_hidden, batch, lr = 24, 20, 0.1
    W0 = np.random.RandomState(5).uniform(-0.1, 0.1, (784, n_hidden)).astype(np.float32)
    x = T.matrix("x")
    rbm = RBM(x, 784, n_hidden, W0, MRG_RandomStreams(SEED))
    chain = theano.shared(np.zeros((batch, n_hidden), np.float32), name="chain") \
        if persistent else None
    cost, recon, updates = rbm.cost_updates(lr, k, chain)
    train = theano.function([x], [cost, recon], updates=updates, name="train_rbm")
    ours = np.array([train(xtr[i:i + batch]) for i in range(0, len(xtr), batch)],
                    dtype=np.float64)

    twin = TorchRBM(W0, 784, n_hidden, k)
    state = torch.zeros(batch, n_hidden, dtype=torch.float64) if persistent else None
    theirs = []
    for call, i in enumerate(range(0, len(xtr), batch)):
        c, r, h = twin.step(t64(xtr[i:i + batch]), call, lr, state)
        state = h if persistent else None
        theirs.append((c, r))
    theirs = np.array(theirs)
    assert_costs_close(ours[:, 1], theirs[:, 1])  # reconstruction cross-entropy
    # the free-energy difference is small and signed: compare it on the scale of its terms
    assert np.max(np.abs(ours[:, 0] - theirs[:, 0])) < 0.01 * np.abs(theirs[:, 1]).mean()
    np.testing.assert_allclose(rbm.W.get_value(), twin.W.detach().numpy(), atol=2e-3)
    if persistent:
        np.testing.assert_array_equal(chain.get_value(), state.numpy())


def test_dbn_pretrains_with_cd_and_finetunes_like_pytorch():
    """One RBM layer pretrained with CD-1 (equal random numbers), then the sigmoid layer it
    shares its weights with and a logistic layer finetuned by SGD."""
    from tests.theano.twins import error_rate, sgd_step

    xtr, ytr, xte, yte = small_mnist()
    n_hidden, batch = 32, 20
    W0 = np.random.RandomState(9).uniform(-0.1, 0.1, (784, n_hidden)).astype(np.float32)
    x, y = T.matrix("x"), T.ivector("y")
    rbm = RBM(x, 784, n_hidden, W0, MRG_RandomStreams(SEED))
    cost, recon, updates = rbm.cost_updates(0.05, 1)
    pretrain = theano.function([x], recon, updates=updates)
    ours_pre = [float(pretrain(xtr[i:i + batch])) for i in range(0, 200, batch)]
    hidden = T.nnet.sigmoid(T.dot(x, rbm.W) + rbm.hbias)  # the DBN's layer shares W, hbias
    W_top = theano.shared(np.zeros((n_hidden, 10), np.float32))
    b_top = theano.shared(np.zeros(10, np.float32))
    p = T.nnet.softmax(T.dot(hidden, W_top) + b_top)
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    params = [rbm.W, rbm.hbias, W_top, b_top]
    finetune = theano.function([x, y], nll, updates=[
        (q, q - 0.1 * g) for q, g in zip(params, T.grad(nll, params))])
    ours_fine = [float(finetune(xtr[i:i + batch], ytr[i:i + batch]))
                 for i in range(0, len(xtr), batch)]
    ours_err = float(theano.function([x, y], T.mean(T.neq(T.argmax(p, axis=1), y)))(xte, yte))

    twin = TorchRBM(W0, 784, n_hidden, 1)
    theirs_pre = [twin.step(t64(xtr[i:i + batch]), call, 0.05)[1]
                  for call, i in enumerate(range(0, 200, batch))]
    assert_costs_close(ours_pre, theirs_pre)
    tW, tb = param(np.zeros((n_hidden, 10))), param(np.zeros(10))
    tparams = [twin.W, twin.hb, tW, tb]

    def logits(v):
        return torch.sigmoid(v @ twin.W + twin.hb) @ tW + tb

    theirs_fine = [sgd_step(tparams, torch.nn.functional.cross_entropy(
        logits(t64(xtr[i:i + batch])), torch.tensor(ytr[i:i + batch], dtype=torch.long)), 0.1)
        for i in range(0, len(xtr), batch)]
    assert_costs_close(ours_fine, theirs_fine)
    with torch.no_grad():
        assert abs(ours_err - error_rate(logits(t64(xte)), yte)) <= 0.01
