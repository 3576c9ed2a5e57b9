"""The core-API pieces Theano code relies on: cast and device types, shared borrow, function
In / name / allow_input_downcast, Variable methods, %, round, switch, truthiness, grad with
consider_constant, disconnected_grad and pickling models that hold shared variables."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

import nodestudio as ns

pytestmark = pytest.mark.opencl

RNG = np.random.default_rng(5)


def test_cast_between_device_types_and_clear_refusal_of_other_types():
    x = ns.vector("x")
    i = ns.cast(x, "int32")
    f = ns.function([x], [i, ns.cast(i, np.float32) * 0.5, ns.cast(x, "int64"),
                          ns.cast(x, "uint8")])
    as_int, back, wide, small = f(np.array([2.7, -2.7, 0.4, 7.0], np.float32))
    np.testing.assert_array_equal(as_int, [2, -2, 0, 7])  # truncation toward zero, as NumPy
    assert as_int.dtype == np.int32 and wide.dtype == np.int64 and small.dtype == np.int32
    np.testing.assert_array_equal(wide, [2, -2, 0, 7])
    np.testing.assert_array_equal(back, [1.0, -1.0, 0.0, 3.5])
    assert ns.cast(x, "float32") is x
    assert ns.cast(x, "float64").dtype == "float64"  # tests/ops/test_float64.py: the values
    with pytest.raises(ns.GraphError, match="cast of 'x'.*complex128 is not a device type"):
        ns.cast(x, "complex128")


def test_shared_borrow_is_accepted_and_values_are_always_copied():
    value = np.arange(6.0).reshape(2, 3)
    s = ns.shared(value, "s", borrow=True)
    value[0, 0] = 100.0  # the caller's array is not the variable's
    assert s.get_value(borrow=True)[0, 0] == 0.0
    got = s.get_value(borrow=True)
    got[0, 1] = 50.0
    assert s.get_value()[0, 1] == 1.0
    s.set_value(np.ones((2, 3)), borrow=True)
    f = ns.function([], ns.sum(s))
    assert float(f()) == 6.0
    labels = ns.shared(np.array([1, 2], np.int64), "labels")  # int64 that fits: int32
    assert labels.dtype == "int32"
    counter = ns.shared(0, "counter")
    assert counter.dtype == "int32" and counter.shape == ()


def test_in_defaults_name_and_allow_input_downcast():
    x, lr, k = ns.vector("x"), ns.scalar("lr"), ns.iscalar("k")
    f = ns.function([x, ns.In(lr, value=0.5), ns.In(k, value=2, name="steps")], x * lr * k,
                    name="scaled")
    v = np.array([1.0, 2.0], np.float32)
    np.testing.assert_allclose(f(v), [1.0, 2.0])
    np.testing.assert_allclose(f(v, 0.25), [0.5, 1.0])
    np.testing.assert_allclose(f(v, steps=3), [1.5, 3.0])
    assert "scaled" in repr(f)
    with pytest.raises(ns.MissingInputError, match="function 'scaled': no value given.*'x'"):
        f()
    with pytest.raises(ns.InputValueError, match="not a whole number"):
        f(v, 1.0, 2.5)  # a fraction into an int input: refused without the flag
    g = ns.function([x, k], x * k, allow_input_downcast=True)
    np.testing.assert_allclose(g(np.array([1.0, 2.0]), 2.9), [2.0, 4.0])  # float64 and 2.9 -> 2
    with pytest.raises(ns.InputValueError, match="outside int32"):
        g(v, 2.0**40)


def test_variable_methods_match_numpy():
    v = RNG.standard_normal((3, 4, 1)).astype(np.float32)
    x = ns.tensor("x", (3, 4, 1))
    m = ns.tensor("m", (4, 2))
    mv = RNG.standard_normal((4, 2)).astype(np.float32)
    outs = {
        "sum": (x.sum(axis=1), v.sum(axis=1)), "mean": (x.mean(), v.mean()),
        "max": (x.max(axis=0), v.max(axis=0)), "min": (x.min(axis=(0, 1)), v.min(axis=(0, 1))),
        "reshape": (x.reshape((4, 3)), v.reshape(4, 3)),
        "reshape_shape_of": (x.reshape((ns.shape_of(x)[1], -1)), v.reshape(4, -1)),
        "flatten": (x.flatten(), v.flatten()), "flatten2": (x.flatten(2), v.reshape(3, -1)),
        "dimshuffle": (x.dimshuffle(1, "x", 0), v[:, :, 0].T[:, None, :]),
        "T": (m.T, mv.T), "dot": (x.flatten(2).dot(m), v.reshape(3, 4) @ mv),
        "norm1": (m.norm(1), np.abs(mv).sum()), "norm2": (m.norm(2, axis=0),
                                                          np.sqrt((mv ** 2).sum(0))),
        "norm3": (m.norm(3), (np.abs(mv) ** 3).sum() ** (1 / 3)),
    }
    f = ns.function([x, m], [o for o, _ in outs.values()])
    for (label, (_, want)), got in zip(outs.items(), f(v, mv)):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6, err_msg=label)
    with pytest.raises(ns.ShapeError, match="only size-1 axes"):
        x.dimshuffle(0, 2)


def test_mod_round_switch_follow_python_and_theano():
    a = np.array([7.5, -7.5, 7.5, -7.5, 0.0], np.float32)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0], np.float32)
    ia, ib = np.array([7, -7, 7, -7, 5], np.int32), np.array([3, 3, -3, -3, 0], np.int32)
    x, y, i, j = ns.vector("x"), ns.vector("y"), ns.ivector("i"), ns.ivector("j")
    halves = np.array([0.5, 1.5, 2.5, -0.5, -2.5, 2.4], np.float32)
    h = ns.vector("h")
    f = ns.function([x, y, i, j, h], [x % y, i % j, i // j, (i + 1) % 4, ns.round(h),
                                      ns.round(h, "half_to_even"),
                                      ns.switch(x > 0, x, y), 7 % i])
    fmod, imod, idiv, counter, away, even, sw, rmod = f(a, b, ia, ib, halves)
    np.testing.assert_allclose(fmod, np.mod(a, b))
    np.testing.assert_array_equal(imod, [1, 2, -2, -1, 0])  # Python's signs; 0 for % 0
    np.testing.assert_array_equal(idiv, [2, -3, -3, 2, 0])
    np.testing.assert_array_equal(counter, (ia + 1) % 4)
    assert imod.dtype == np.int32 and counter.dtype == np.int32
    np.testing.assert_array_equal(away, [1.0, 2.0, 3.0, -1.0, -3.0, 2.0])
    np.testing.assert_array_equal(even, np.round(halves))
    np.testing.assert_array_equal(sw, np.where(a > 0, a, b))
    np.testing.assert_array_equal(rmod, np.mod(7, ia))


def test_truthiness_as_in_theano():
    x, y = ns.scalar("x"), ns.scalar("y")
    assert bool(x) and bool(x + y)  # `if var:` checks existence
    with pytest.raises(TypeError, match="no truth value until the graph runs"):
        bool(x < y)
    with pytest.raises(TypeError, match="ns.where"):
        if x > 0:
            pass
    with pytest.raises(TypeError):
        iter(x)


def test_grad_consider_constant_and_disconnected_grad_match_torch_detach():
    v = RNG.standard_normal(5)
    x = ns.vector("x")
    inner = ns.tanh(x)
    cost = ns.sum(inner * ns.exp(x))
    g_const = ns.grad(cost, x, consider_constant=[inner])
    g_stop = ns.grad(ns.sum(ns.disconnected_grad(ns.tanh(x)) * ns.exp(x)), x)
    g_full = ns.grad(cost, x)
    f = ns.function([x], [g_const, g_stop, g_full])
    t = torch.tensor(v, requires_grad=True)
    (want_const,) = torch.autograd.grad((torch.tanh(t).detach() * torch.exp(t)).sum(), t)
    (want_full,) = torch.autograd.grad((torch.tanh(t) * torch.exp(t)).sum(), t)
    got_const, got_stop, got_full = f(v.astype(np.float32))
    np.testing.assert_allclose(got_const, want_const.numpy(), rtol=1e-5)
    np.testing.assert_allclose(got_stop, want_const.numpy(), rtol=1e-5)
    np.testing.assert_allclose(got_full, want_full.numpy(), rtol=1e-5)
    np.testing.assert_array_equal(ns.grad(ns.sum(ns.disconnected_grad(x) * 2.0), x).eval(
        {x: v.astype(np.float32)}), np.zeros(5))


def test_disconnected_grad_costs_no_kernel():
    x = ns.tensor("x", (4, 3))
    w = ns.tensor("w", (3, 2))
    f = ns.function([x, w], ns.dot(ns.disconnected_grad(ns.tanh(x)), w))
    f(np.ones((4, 3), np.float32), np.ones((3, 2), np.float32))
    assert not any("stop_gradient" in node for k in f.kernels() for node in k.nodes)


class _Classifier:
    """A tutorial-style model: symbolic input and prediction, parameters in shared variables."""

    def __init__(self, x, n_in, n_out):
        self.W = ns.shared(np.zeros((n_in, n_out)), name="W", borrow=True)
        self.b = ns.shared(np.zeros(n_out), name="b", borrow=True)
        self.p_y_given_x = ns.softmax(ns.dot(x, self.W) + self.b)
        self.y_pred = ns.argmax(self.p_y_given_x, axis=1)
        self.params = [self.W, self.b]
        self.input = x


def test_a_pickled_model_carries_its_values_and_rebuilds_its_graphs():
    x, y = ns.matrix("x"), ns.ivector("y")
    model = _Classifier(x, 4, 3)
    cost = -ns.mean(ns.log(model.p_y_given_x)[ns.arange(ns.shape_of(y)[0]), y])
    step = ns.function([x, y], cost, updates=[(p, p - 0.5 * ns.grad(cost, p))
                                              for p in model.params])
    xv = RNG.standard_normal((8, 4)).astype(np.float32)
    yv = RNG.integers(0, 3, 8).astype(np.int32)
    for _ in range(3):
        step(xv, yv)  # the trained values live on the device
    before = ns.function([x], model.y_pred)(xv)
    blob = pickle.dumps(model)
    assert b"__kernel" not in blob and len(blob) < 4000
    loaded = pickle.loads(blob)
    np.testing.assert_array_equal(loaded.W.get_value(), model.W.get_value())
    assert loaded.params[0] is loaded.W  # the graph's W is the attribute's W
    predict = ns.function([loaded.input], loaded.y_pred)
    np.testing.assert_array_equal(predict(xv), before)
    loaded.b.set_value(np.array([0.0, 0.0, 1e6]))  # a loaded model has its own values
    assert (predict(xv) == 2).all() and not (ns.function([x], model.y_pred)(xv) == 2).all()
    with pytest.raises(TypeError, match="does not pickle"):
        pickle.dumps(predict)


class _InputVariable(ns.Variable):
    """A compatibility layer's own input type (nodestudio.theano makes one)."""

    __slots__ = ()


def test_pickling_keeps_a_variable_subclass_and_shared_default_updates():
    plain = ns.matrix("x")
    node = plain.owner
    x = _InputVariable(node, 0, plain.type)
    node.outputs = (x,)
    count = ns.shared(0, "count")
    count.default_update = count + 1
    y = ns.sum(x) + ns.cast(count, "float32")
    loaded_x, loaded_y, loaded_count = pickle.loads(pickle.dumps((x, y, count)))
    assert type(loaded_x) is _InputVariable and loaded_x.owner.outputs[0] is loaded_x
    assert loaded_count.default_update is not None
    f = ns.function([loaded_x], loaded_y, training=True)  # applies the default update
    assert float(f(np.ones((2, 2), np.float32))) == 4.0
    assert int(loaded_count.get_value()) == 1 and int(count.get_value()) == 0
