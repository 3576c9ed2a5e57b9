"""The Theano names of nodestudio.theano: types, tensor functions and nnet, against NumPy and
PyTorch (float64), run on OpenCL."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.theano import TheanoCompatError

pytestmark = pytest.mark.opencl

RNG = np.random.RandomState(7)


def test_config_floatX_is_float32_and_refuses_other_types():
    assert theano.config.floatX == "float32"
    with pytest.raises(TheanoCompatError, match=r"floatX = 'float16'.*docs/THEANO.md"):
        theano.config.floatX = "float16"
    assert theano.config.floatX == "float32"


@pytest.mark.parametrize("make, ndim, dtype", [
    (T.lscalar, 0, "int64"), (T.iscalar, 0, "int32"), (T.scalar, 0, "float32"),
    (T.ivector, 1, "int32"), (T.lvector, 1, "int64"), (T.vector, 1, "float32"),
    (T.matrix, 2, "float32"), (T.dmatrix, 2, "float64"), (T.imatrix, 2, "int32"),
    (T.tensor3, 3, "float32"), (T.tensor4, 4, "float32"), (T.dtensor4, 4, "float64"),
    (T.bvector, 1, "int32"), (T.fmatrix, 2, "float32")])
def test_type_constructors_map_to_device_dtypes(make, ndim, dtype):
    v = make("v")
    assert (v.ndim, v.dtype, v.name) == (ndim, dtype, "v")


def test_tensor_type_call_makes_an_input_with_broadcastable_axes():
    t = T.TensorType("float64", (False, True))
    v = t("v")
    assert v.shape == (None, 1) and v.dtype == "float64"
    with pytest.raises(TheanoCompatError, match="complex64"):
        T.TensorType("complex64", (False,))


def test_unsupported_features_name_themselves_and_the_docs():
    x = T.matrix("x")
    with pytest.raises(TheanoCompatError, match=r"symbolic n_steps.*docs/THEANO.md"):
        theano.scan(lambda h: h, outputs_info=[x], n_steps=T.iscalar())
    with pytest.raises(TheanoCompatError, match="taps"):
        theano.scan(lambda h: h, outputs_info=[dict(initial=x, taps=[-2])], n_steps=2)
    with pytest.raises(TheanoCompatError, match="multinomial"):
        theano.sandbox.rng_mrg.MRG_RandomStreams(1).multinomial(pvals=x)


def _run(inputs, outputs, *values):
    return theano.function(inputs, outputs)(*values)


def test_elementwise_and_reductions_against_numpy():
    x, y = T.matrix("x"), T.matrix("y")
    a = RNG.uniform(0.1, 2.0, (4, 5)).astype(np.float32)
    b = RNG.uniform(-1.0, 1.0, (4, 5)).astype(np.float32)
    outs = _run([x, y], [T.exp(x), T.log(x), T.tanh(y), T.sqrt(x), T.sqr(y), T.abs_(y),
                         T.maximum(x, y), T.switch(T.gt(y, 0), x, y), T.clip(y, -0.5, 0.25),
                         T.neq(T.argmax(x, axis=1), T.argmax(y, axis=1)),
                         T.mean(x), T.sum(y, axis=0), T.max(x, axis=1), T.min(y, axis=1),
                         T.argmax(x), T.dot(x, y.T), T.flatten(T.stack([x, y]), 2),
                         T.mean(x, axis=[0, 1])], a, b)
    want = [np.exp(a), np.log(a), np.tanh(b), np.sqrt(a), b ** 2, np.abs(b),
            np.maximum(a, b), np.where(b > 0, a, b), np.clip(b, -0.5, 0.25),
            (a.argmax(1) != b.argmax(1)).astype(np.float32), a.mean(), b.sum(0), a.max(1),
            b.min(1), a.argmax(), a @ b.T, np.stack([a, b]).reshape(2, 20), a.mean()]
    for got, expected in zip(outs, want):
        np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-6)


def test_nnet_functions_against_pytorch():
    x, t = T.matrix("x"), T.matrix("t")
    y = T.ivector("y")
    a = RNG.randn(6, 4).astype(np.float32)
    labels = RNG.randint(0, 4, 6).astype(np.int32)
    target = RNG.uniform(0, 1, (6, 4)).astype(np.float32)
    p = T.nnet.softmax(T.dot(x, theano.shared(np.eye(4, dtype=np.float32))))  # 4 classes
    outs = _run([x, t, y], [T.nnet.sigmoid(x), p, T.nnet.relu(x), T.nnet.relu(x, 0.1),
                            T.nnet.binary_crossentropy(T.nnet.sigmoid(x), t),
                            T.nnet.categorical_crossentropy(p, y),
                            T.nnet.categorical_crossentropy(p, t)], a, target, labels)
    xt, tt = torch.tensor(a, dtype=torch.float64), torch.tensor(target, dtype=torch.float64)
    pt = torch.softmax(xt, 1)
    want = [torch.sigmoid(xt), pt, torch.relu(xt), torch.nn.functional.leaky_relu(xt, 0.1),
            torch.nn.functional.binary_cross_entropy(torch.sigmoid(xt), tt, reduction="none"),
            torch.nn.functional.nll_loss(torch.log(pt), torch.tensor(labels, dtype=torch.long),
                                         reduction="none"),
            -(tt * torch.log(pt)).sum(1)]
    for got, expected in zip(outs, want):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-5, atol=1e-6)


def test_grad_matches_pytorch_and_nnet_sigmoid_is_one_object():
    assert theano.tensor.nnet.sigmoid is T.nnet.sigmoid  # mlp.py compares activations by identity
    W = theano.shared(RNG.randn(3, 2).astype(np.float32), name="W")
    x = T.matrix("x")
    cost = T.mean(T.nnet.softplus(T.dot(x, W)))
    gW = T.grad(cost=cost, wrt=W)
    xv = RNG.randn(5, 3).astype(np.float32)
    got = _run([x], gW, xv)
    Wt = torch.tensor(W.get_value(), dtype=torch.float64, requires_grad=True)
    torch.nn.functional.softplus(torch.tensor(xv, dtype=torch.float64) @ Wt).mean().backward()
    np.testing.assert_allclose(got, Wt.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_function_takes_an_ordered_dict_of_updates_and_ignores_mode():
    from collections import OrderedDict

    c = theano.shared(np.float32(1.0), name="c")
    f = theano.function([], c, updates=OrderedDict([(c, c * 2.0)]), mode="FAST_RUN")
    assert [float(f()) for _ in range(3)] == [1.0, 2.0, 4.0]
    with pytest.raises(TheanoCompatError, match="bogus"):
        theano.function([], c, bogus=1)
