"""The conv-net chapter (LeNet: conv2d + pool_2d layers, a tanh layer, softmax) and logistic
regression by conjugate gradients (scipy.optimize.fmin_cg over one parameter vector), through
nodestudio.theano beside PyTorch: same initial weights, same batches."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import torch

import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.theano.tensor.nnet import conv2d
from nodestudio.theano.tensor.signal import pool
from tests.theano.twins import assert_costs_close, error_rate, param, sgd_step, small_mnist, t64

pytestmark = pytest.mark.opencl
F = torch.nn.functional


def test_lenet_matches_pytorch():
    xtr, ytr, xte, yte = small_mnist()
    xtr, ytr = xtr[:300], ytr[:300]
    rng = np.random.RandomState(23455)
    batch, k0, k1, hidden, lr = 50, 4, 6, 32, 0.1
    shapes = [(k0, 1, 5, 5), (k1, k0, 5, 5)]
    conv_w = [rng.uniform(-0.2, 0.2, s).astype(np.float32) for s in shapes]
    W2 = rng.uniform(-0.1, 0.1, (k1 * 16, hidden)).astype(np.float32)
    W3 = rng.uniform(-0.1, 0.1, (hidden, 10)).astype(np.float32)

    index, x, y = T.lscalar(), T.matrix("x"), T.ivector("y")
    data_x, data_y = theano.shared(xtr, borrow=True), theano.shared(ytr)
    layer = x.reshape((batch, 1, 28, 28))
    params = []
    for w, shape, image in zip(conv_w, shapes, [(batch, 1, 28, 28), (batch, k0, 12, 12)]):
        W = theano.shared(w, borrow=True)
        b = theano.shared(np.zeros(shape[0], np.float32), borrow=True)
        out = conv2d(input=layer, filters=W, filter_shape=shape, input_shape=image)
        pooled = pool.pool_2d(input=out, ws=(2, 2), ignore_border=True)
        layer = T.tanh(pooled + b.dimshuffle("x", 0, "x", "x"))
        params += [W, b]
    tW2, tb2 = theano.shared(W2), theano.shared(np.zeros(hidden, np.float32))
    tW3, tb3 = theano.shared(W3), theano.shared(np.zeros(10, np.float32))
    h = T.tanh(T.dot(layer.flatten(2), tW2) + tb2)
    p = T.nnet.softmax(T.dot(h, tW3) + tb3)
    params += [tW2, tb2, tW3, tb3]
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    grads = T.grad(cost, params)
    train = theano.function([index], cost,
                            updates=[(q, q - lr * g) for q, g in zip(params, grads)],
                            givens={x: data_x[index * batch:(index + 1) * batch],
                                    y: data_y[index * batch:(index + 1) * batch]})
    ours = [float(train(i)) for i in range(len(xtr) // batch)]
    test = theano.function([x, y], T.mean(T.neq(T.argmax(p, axis=1), y)))
    ours_err = np.mean([float(test(xte[i:i + batch], yte[i:i + batch]))
                        for i in range(0, len(xte), batch)])

    tp = [param(conv_w[0]), param(np.zeros(k0)), param(conv_w[1]), param(np.zeros(k1)),
          param(W2), param(np.zeros(hidden)), param(W3), param(np.zeros(10))]

    def logits(xb):
        a = xb.reshape(-1, 1, 28, 28)
        for w, b in ((tp[0], tp[1]), (tp[2], tp[3])):
            conv = F.conv2d(a, torch.flip(w, (2, 3)))  # Theano's conv2d is a true convolution
            a = torch.tanh(F.max_pool2d(conv, 2) + b.view(1, -1, 1, 1))
        return torch.tanh(a.flatten(1) @ tp[4] + tp[5]) @ tp[6] + tp[7]

    theirs = [sgd_step(tp, F.cross_entropy(logits(t64(xtr[i * batch:(i + 1) * batch])),
                                           torch.tensor(ytr[i * batch:(i + 1) * batch],
                                                        dtype=torch.long)), lr)
              for i in range(len(xtr) // batch)]
    assert_costs_close(ours, theirs)
    with torch.no_grad():
        assert abs(ours_err - error_rate(logits(t64(xte)), yte)) <= 0.01


def test_logistic_regression_by_conjugate_gradients_matches_pytorch():
    xtr, ytr, xte, yte = small_mnist()
    n_in, n_out, batch = 784, 10, 200
    theta = theano.shared(np.zeros(n_in * n_out + n_out, np.float32), name="theta", borrow=True)
    W = theta[0:n_in * n_out].reshape((n_in, n_out))
    b = theta[n_in * n_out:n_in * n_out + n_out]
    offset, x, y = T.lscalar(), T.matrix(), T.ivector()
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y]).mean()
    data_x, data_y = theano.shared(xtr), theano.shared(ytr)
    givens = {x: data_x[offset:offset + batch], y: data_y[offset:offset + batch]}
    batch_cost = theano.function([offset], cost, givens=givens, name="batch_cost")
    batch_grad = theano.function([offset], T.grad(cost, theta), givens=givens, name="batch_grad")
    errors = theano.function([x, y], T.mean(T.neq(T.argmax(p, axis=1), y)))
    offsets = range(0, len(xtr), batch)

    def ours_f(value):
        theta.set_value(value.astype(np.float32), borrow=True)
        return float(np.mean([batch_cost(o) for o in offsets]))

    def ours_g(value):
        theta.set_value(value.astype(np.float32), borrow=True)
        return np.mean([batch_grad(o) for o in offsets], axis=0).astype(np.float64)

    xt, yt = t64(xtr), torch.tensor(ytr, dtype=torch.long)

    def torch_fg(value):
        th = param(value)
        c = F.cross_entropy(xt @ th[:n_in * n_out].view(n_in, n_out) + th[n_in * n_out:], yt)
        c.backward()
        return float(c.detach()), th.grad.numpy()

    visited = []
    best = scipy.optimize.fmin_cg(f=ours_f, x0=np.zeros(n_in * n_out + n_out), fprime=ours_g,
                                  callback=visited.append, disp=0, maxiter=4)
    assert len(visited) == 4
    for value in visited:  # the same cost and gradient wherever the optimizer went
        c, g = torch_fg(value)
        assert ours_f(value) == pytest.approx(c, rel=0.01)
        np.testing.assert_allclose(ours_g(value), g, rtol=0.01, atol=2e-5)
    theirs = scipy.optimize.fmin_cg(f=lambda v: torch_fg(v)[0], fprime=lambda v: torch_fg(v)[1],
                                    x0=np.zeros(n_in * n_out + n_out), disp=0, maxiter=4)
    theta.set_value(best.astype(np.float32))
    ours_err = float(errors(xte, yte))
    th = t64(theirs)
    theirs_err = error_rate(t64(xte) @ th[:n_in * n_out].view(n_in, n_out) + th[n_in * n_out:],
                            yte)
    assert abs(ours_err - theirs_err) <= 0.01
