"""float64 and int64 through the compatibility layer: floatX = 'float64' where the device has
double (refused, naming the device, where it has not), T.dmatrix / T.lscalar / T.lvector as
float64 / int64 values, int64 labels and minibatch indices beside int32 ops, T.cast to every
device type, and theano.shared keeping floatX."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.backend import device as device_module
from nodestudio.theano import TheanoCompatError
from nodestudio.theano.tensor.shared_randomstreams import RandomStreams

pytestmark = pytest.mark.opencl

RNG = np.random.default_rng(11)


@pytest.fixture
def float64_x():
    if not device_module.runtime().has_fp64:
        pytest.skip("the OpenCL device has no double precision")
    theano.config.floatX = "float64"
    yield
    theano.config.floatX = "float32"


def test_floatx_float64_makes_float64_inputs_shared_values_and_draws(float64_x):
    x = T.matrix("x")
    assert x.dtype == "float64" and T.fmatrix("f").dtype == "float32"
    w = theano.shared(np.asarray(RNG.standard_normal((4, 3)), dtype=theano.config.floatX), "w")
    assert w.dtype == "float64"
    assert theano.shared(np.ones(3, np.float32)).dtype == "float32"  # its own type kept
    u = RandomStreams(3).uniform(size=(5,))
    assert u.dtype == "float64"
    f = theano.function([x], T.dot(x, w))
    xv = RNG.standard_normal((2, 4))
    got = f(xv)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, xv @ w.get_value(), rtol=1e-13)


def test_shared_float64_values_default_to_float32():
    assert theano.shared(np.zeros(3)).dtype == "float32"
    assert theano.shared(np.zeros(3, np.int64)).dtype == "int32"


def test_floatx_float64_on_a_device_without_double_names_the_device(monkeypatch):
    monkeypatch.setattr(device_module.Runtime, "has_fp64", property(lambda self: False))
    label = device_module.runtime().info.label
    with pytest.raises(TheanoCompatError, match=r"floatX = 'float64'.*" + label[:20]):
        theano.config.floatX = "float64"
    assert theano.config.floatX == "float32"


def test_dmatrix_logistic_regression_step_with_int64_labels_and_index():
    """The tutorial's minibatch idiom with T.lscalar (int64) as the index and T.lvector labels:
    they meet int32 ops (the window's start, the gather of log-probabilities) as int32."""
    if not device_module.runtime().has_fp64:
        pytest.skip("the OpenCL device has no double precision")
    data = RNG.standard_normal((20, 5))
    labels = RNG.integers(0, 3, 20)
    data_x = theano.shared(data.astype(np.float32), "data_x")
    data_y = theano.shared(labels.astype(np.int64), "data_y")
    index, x, y = T.lscalar("index"), T.dmatrix("x"), T.lvector("y")
    assert (index.dtype, x.dtype, y.dtype) == ("int64", "float64", "int64")
    W = theano.shared(np.zeros((5, 3)), "W")  # float64 values: floatX (float32)
    p = T.nnet.softmax(T.dot(x, W))
    cost = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    assert cost.dtype == "float64"
    g = T.grad(cost, W)
    assert g.dtype == "float32"
    bs = 4
    step = theano.function([index], cost, updates=[(W, W - 0.5 * g)],
                           givens={x: T.cast(data_x[index * bs:(index + 1) * bs], "float64"),
                                   y: T.cast(data_y[index * bs:(index + 1) * bs], "int64")})
    first = step(np.int64(2))
    assert first == pytest.approx(np.log(3.0), rel=1e-12)
    # the update against NumPy: gradient of the mean NLL at W = 0
    xb, yb = data[8:12].astype(np.float32).astype(np.float64), labels[8:12]
    onehot = np.eye(3)[yb]
    want = -0.5 * xb.T @ (np.full((4, 3), 1.0 / 3.0) - onehot) / 4
    np.testing.assert_allclose(W.get_value(), want, rtol=1e-6, atol=1e-7)


def test_cast_to_int64_and_float64_keeps_what_int32_and_float32_cannot():
    if not device_module.runtime().has_fp64:
        pytest.skip("the OpenCL device has no double precision")
    x = T.dvector("x")
    f = theano.function([x], [T.cast(x, "int64"), T.cast(x, "int32"), T.cast(x, "float32")])
    big, small, f32 = f(np.array([2.0**40 + 1.0, 1.0 + 1e-12]))
    np.testing.assert_array_equal(big, [2**40 + 1, 1])
    np.testing.assert_array_equal(small, [2**31 - 1, 1])
    assert f32.dtype == np.float32 and f32[1] == np.float32(1.0)
