"""The Theano idioms the tutorials use, each through nodestudio.theano (the core pieces behind
them are tested in tests/api/; these check the Theano spellings reach them)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

import nodestudio.theano as theano
import nodestudio.theano.tensor as T

pytestmark = pytest.mark.opencl
RNG = np.random.RandomState(11)


def test_minibatch_givens_with_an_index_and_the_labels_gather():
    data = RNG.randn(40, 3).astype(np.float32)
    labels = RNG.randint(0, 3, 40)
    shared_x = theano.shared(data, borrow=True)
    shared_y = T.cast(theano.shared(labels.astype(theano.config.floatX), borrow=True), "int32")
    index, x, y = T.lscalar(), T.matrix("x"), T.ivector("y")
    p = T.nnet.softmax(x)
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    bs = 8
    f = theano.function(inputs=[index], outputs=[nll, y.shape[0]], name="nll",
                        givens={x: shared_x[index * bs:(index + 1) * bs],
                                y: shared_y[index * bs:(index + 1) * bs]})
    for i in range(5):
        rows = data[i * bs:(i + 1) * bs].astype(np.float64)
        probs = np.exp(rows) / np.exp(rows).sum(1, keepdims=True)
        want = -np.log(probs[np.arange(bs), labels[i * bs:(i + 1) * bs]]).mean()
        got, n = f(i)
        assert float(got) == pytest.approx(want, rel=1e-5) and int(n) == bs
    assert shared_x.get_value(borrow=True).shape[0] // bs == 5


def test_in_defaults_and_shared_values_set_with_borrow():
    x, lr = T.scalar("x"), T.scalar("lr")
    w = theano.shared(np.float32(2.0), name="w")
    step = theano.function([x, theano.In(lr, value=0.5)], w * x,
                           updates=[(w, w - lr * x)], name="step")
    assert float(step(1.0)) == 2.0 and float(w.get_value()) == pytest.approx(1.5)
    assert float(step(1.0, 0.25)) == pytest.approx(1.5)
    w.set_value(np.float32(4.0), borrow=True)
    assert float(step(2.0)) == pytest.approx(8.0)


def test_variable_methods_truthiness_mod_round_switch_clip_and_set_subtensor():
    x = T.matrix("x")
    b = theano.shared(np.arange(3, dtype=np.float32), name="b")
    assert bool(x) and bool(b)  # `if not input:` in rbm.py tests that an input was given
    i = theano.shared(0, name="i")
    flipped = T.set_subtensor(x[:, i], 1 - x[:, i])
    outs = [x.sum(), x.mean(axis=0), x.reshape((3, 4)).flatten(2), x.T.dot(x),
            (x + b.dimshuffle("x", 0)).norm(2), T.round(x * 2.0), T.switch(x > 0, x, 0 * x),
            T.clip(x, -0.5, 0.5), flipped, (i + 1) % 3]
    f = theano.function([x], outs, updates=[(i, (i + 1) % 3)])
    a = np.round(RNG.randn(4, 3), 1).astype(np.float32)
    got = f(a)
    want_flip = a.copy()
    want_flip[:, 0] = 1 - a[:, 0]
    want = [a.sum(), a.mean(0), a.reshape(3, 4), a.T @ a, np.linalg.norm(a + np.arange(3)),
            np.sign(a * 2) * np.floor(np.abs(a * 2) + 0.5), np.where(a > 0, a, 0),
            np.clip(a, -0.5, 0.5), want_flip, 1]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    assert int(i.get_value()) == 1


def test_consider_constant_and_disconnected_grad_stop_the_gradient():
    w = theano.shared(np.float32(3.0), name="w")
    frozen = w * 2.0
    g1 = T.grad(frozen * w, w, consider_constant=[frozen])
    g2 = theano.grad(theano.gradient.disconnected_grad(w * 2.0) * w, w)
    g3 = T.grad(frozen * w, w)
    assert [float(v) for v in theano.function([], [g1, g2, g3])()] == [6.0, 6.0, 12.0]


class _Model:
    def __init__(self, x):
        self.W = theano.shared(RNG.randn(3, 2).astype(np.float32), name="W", borrow=True)
        self.input = x
        self.y_pred = T.argmax(T.dot(x, self.W), axis=1)


def test_a_pickled_model_comes_back_with_its_values_and_predicts(tmp_path):
    model = _Model(T.matrix("x"))
    model.W.set_value(np.array([[1, 0], [0, 1], [0, 0]], np.float32))
    path = tmp_path / "best_model.pkl"
    with open(path, "wb") as f:
        pickle.dump(model, f)
    with open(path, "rb") as f:
        loaded = pickle.load(f)
    np.testing.assert_array_equal(loaded.W.get_value(), model.W.get_value())
    predict = theano.function(inputs=[loaded.input], outputs=loaded.y_pred)
    np.testing.assert_array_equal(predict(np.array([[2, 1, 0], [0, 3, 9]], np.float32)), [0, 1])
