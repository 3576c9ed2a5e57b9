"""Each tutorial's model, written afresh through nodestudio.theano, trained for a short run
beside the same model in PyTorch (float64): same initial weights, same batches; the costs
agree within 1 % batch by batch and the test errors within 1 point.

Random corruption (dA, SdA) is compared at corruption level 0, which still runs the random
stream (a binomial with p = 1 keeps every pixel); RBM sampling is compared with the
randomness made equal: the PyTorch side draws the same Philox numbers from the NumPy
reference of the device generator (nodestudio/ops/philox.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.theano.sandbox.rng_mrg import MRG_RandomStreams
from tests.theano.twins import (
    assert_costs_close,
    error_rate,
    param,
    sgd_step,
    small_mnist,
    t64,
)

pytestmark = pytest.mark.opencl
F = torch.nn.functional


def _uniform_init(rng, n_in, n_out, scale=1.0):
    bound = scale * np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-bound, bound, (n_in, n_out)).astype(np.float32)


def _batches(n, batch):
    return [slice(i * batch, (i + 1) * batch) for i in range(n // batch)]


class Logistic:
    """softmax(x W + b) through the compat layer."""

    def __init__(self, x, n_in, n_out, W=None):
        self.W = theano.shared(np.zeros((n_in, n_out), np.float32) if W is None else W,
                               name="W")
        self.b = theano.shared(np.zeros(n_out, np.float32), name="b")
        self.p = T.nnet.softmax(T.dot(x, self.W) + self.b)
        self.params = [self.W, self.b]

    def nll(self, y):
        return T.mean(T.nnet.categorical_crossentropy(self.p, y))

    def errors(self, y):
        return T.mean(T.neq(T.argmax(self.p, axis=1), y))


def _train(train, xs, ys, batch, epochs=1):
    return [float(train(xs[s], ys[s])) for _ in range(epochs)
            for s in _batches(len(xs), batch)]


def test_logistic_regression_sgd_matches_pytorch():
    xtr, ytr, xte, yte = small_mnist()
    x, y = T.matrix("x"), T.ivector("y")
    model = Logistic(x, 784, 10)
    cost = model.nll(y)
    gW, gb = T.grad(cost, model.params)
    lr = 0.13
    train = theano.function([x, y], cost, updates=[(model.W, model.W - lr * gW),
                                                   (model.b, model.b - lr * gb)])
    test = theano.function([x, y], model.errors(y))
    ours = _train(train, xtr, ytr, 60, epochs=2)

    W, b = param(np.zeros((784, 10))), param(np.zeros(10))
    theirs = [sgd_step([W, b], F.cross_entropy(t64(xtr[s]) @ W + b,
                                               torch.tensor(ytr[s], dtype=torch.long)), lr)
              for _ in range(2) for s in _batches(len(xtr), 60)]
    assert_costs_close(ours, theirs)
    assert abs(float(test(xte, yte)) - error_rate(t64(xte) @ W + b, yte)) <= 0.01
    assert float(test(xte, yte)) < 0.3


def test_mlp_with_l1_l2_terms_matches_pytorch():
    xtr, ytr, xte, yte = small_mnist()
    rng = np.random.RandomState(1234)
    W1v, W2v = _uniform_init(rng, 784, 64), _uniform_init(rng, 64, 10)
    x, y = T.matrix("x"), T.ivector("y")
    W1 = theano.shared(W1v, name="W1")
    b1 = theano.shared(np.zeros(64, np.float32), name="b1")
    hidden = T.tanh(T.dot(x, W1) + b1)
    out = Logistic(hidden, 64, 10, W=W2v)
    params = [W1, b1, *out.params]
    l1 = T.sum(abs(W1)) + T.sum(abs(out.W))
    l2 = T.sum(W1 ** 2) + T.sum(out.W ** 2)
    cost = out.nll(y) + 0.0001 * l1 + 0.0001 * l2
    lr = 0.05
    grads = [T.grad(cost, p) for p in params]
    train = theano.function([x, y], cost,
                            updates=[(p, p - lr * g) for p, g in zip(params, grads)])
    test = theano.function([x, y], out.errors(y))
    ours = _train(train, xtr, ytr, 20)

    tW1, tb1, tW2, tb2 = param(W1v), param(np.zeros(64)), param(W2v), param(np.zeros(10))
    theirs = []
    for s in _batches(len(xtr), 20):
        logits = torch.tanh(t64(xtr[s]) @ tW1 + tb1) @ tW2 + tb2
        c = (F.cross_entropy(logits, torch.tensor(ytr[s], dtype=torch.long))
             + 0.0001 * (tW1.abs().sum() + tW2.abs().sum())
             + 0.0001 * ((tW1 ** 2).sum() + (tW2 ** 2).sum()))
        theirs.append(sgd_step([tW1, tb1, tW2, tb2], c, lr))
    assert_costs_close(ours, theirs)
    with torch.no_grad():
        want = error_rate(torch.tanh(t64(xte) @ tW1 + tb1) @ tW2 + tb2, yte)
    assert abs(float(test(xte, yte)) - want) <= 0.01


class DenoisingAutoencoder:
    """Tied weights, sigmoid units, cross-entropy reconstruction (the dA chapter)."""

    def __init__(self, rng, theano_rng, x, n_visible, n_hidden, W=None, bhid=None):
        self.W = W if W is not None else theano.shared(
            _uniform_init(rng, n_visible, n_hidden, 4.0), name="W")
        self.b = bhid if bhid is not None else theano.shared(
            np.zeros(n_hidden, np.float32), name="bhid")
        self.b_prime = theano.shared(np.zeros(n_visible, np.float32), name="bvis")
        self.x, self.theano_rng = x, theano_rng
        self.params = [self.W, self.b, self.b_prime]

    def cost_updates(self, corruption, lr):
        keep = self.theano_rng.binomial(size=self.x.shape, n=1, p=1 - corruption,
                                        dtype=theano.config.floatX)
        hidden = T.nnet.sigmoid(T.dot(keep * self.x, self.W) + self.b)
        z = T.nnet.sigmoid(T.dot(hidden, self.W.T) + self.b_prime)
        cost = T.mean(T.sum(T.nnet.binary_crossentropy(z, self.x), axis=1))
        grads = T.grad(cost, self.params)
        return cost, [(p, p - lr * g) for p, g in zip(self.params, grads)]


def _torch_da_cost(x, W, b, bp):
    z = torch.sigmoid(torch.sigmoid(x @ W + b) @ W.T + bp)
    return F.binary_cross_entropy(z, x, reduction="none").sum(1).mean()


def test_denoising_autoencoder_matches_pytorch_at_corruption_zero():
    xtr = small_mnist()[0]
    rng = np.random.RandomState(123)
    x = T.matrix("x")
    da = DenoisingAutoencoder(rng, MRG_RandomStreams(rng.randint(2 ** 30)), x, 784, 50)
    W0 = da.W.get_value()
    cost, updates = da.cost_updates(0.0, 0.1)
    train = theano.function([x], cost, updates=updates)
    ours = [float(train(xtr[s])) for s in _batches(len(xtr), 20)]
    W, b, bp = param(W0), param(np.zeros(50)), param(np.zeros(784))
    theirs = [sgd_step([W, b, bp], _torch_da_cost(t64(xtr[s]), W, b, bp), 0.1)
              for s in _batches(len(xtr), 20)]
    assert_costs_close(ours, theirs)
    np.testing.assert_allclose(da.W.get_value(), W.detach().numpy(), atol=2e-4)


def test_stacked_denoising_autoencoders_pretrain_and_finetune_match_pytorch():
    xtr, ytr, xte, yte = small_mnist()
    rng = np.random.RandomState(89677)
    theano_rng = MRG_RandomStreams(rng.randint(2 ** 30))
    x, y = T.matrix("x"), T.ivector("y")
    sizes = [784, 64, 32]
    layers, das, inp = [], [], x
    for n_in, n_out in zip(sizes, sizes[1:]):
        W = theano.shared(_uniform_init(rng, n_in, n_out, 4.0), name="W")
        b = theano.shared(np.zeros(n_out, np.float32), name="b")
        das.append(DenoisingAutoencoder(rng, theano_rng, inp, n_in, n_out, W=W, bhid=b))
        layers.append((W, b))
        inp = T.nnet.sigmoid(T.dot(inp, W) + b)
    top = Logistic(inp, sizes[-1], 10)
    initial = [(W.get_value(), b.get_value()) for W, b in layers]

    ours_pre = []
    for da in das:
        cost, updates = da.cost_updates(0.0, 0.05)
        pretrain = theano.function([x], cost, updates=updates)
        ours_pre.append([float(pretrain(xtr[s])) for s in _batches(len(xtr), 20)])
    params = [p for W, b in layers for p in (W, b)] + top.params
    cost = top.nll(y)
    grads = T.grad(cost, params)
    finetune = theano.function([x, y], cost,
                               updates=[(p, p - 0.1 * g) for p, g in zip(params, grads)])
    ours_fine = _train(finetune, xtr, ytr, 20)
    ours_err = float(theano.function([x, y], top.errors(y))(xte, yte))

    tl = [(param(W), param(b)) for W, b in initial]
    inp_fn = [lambda v: v]
    for i, (W, b) in enumerate(tl):
        bp = param(np.zeros(sizes[i]))
        below = inp_fn[-1]
        theirs = [sgd_step([W, b, bp], _torch_da_cost(below(t64(xtr[s])).detach(), W, b, bp),
                           0.05) for s in _batches(len(xtr), 20)]
        assert_costs_close(ours_pre[i], theirs)
        inp_fn.append(lambda v, W=W, b=b, below=below: torch.sigmoid(below(v) @ W + b))
    tW, tb = param(np.zeros((32, 10))), param(np.zeros(10))
    tparams = [p for W, b in tl for p in (W, b)] + [tW, tb]
    theirs_fine = [sgd_step(tparams, F.cross_entropy(inp_fn[-1](t64(xtr[s])) @ tW + tb,
                                                     torch.tensor(ytr[s], dtype=torch.long)),
                            0.1) for s in _batches(len(xtr), 20)]
    assert_costs_close(ours_fine, theirs_fine)
    with torch.no_grad():
        assert abs(ours_err - error_rate(inp_fn[-1](t64(xte)) @ tW + tb, yte)) <= 0.01
