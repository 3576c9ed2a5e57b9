"""float64 and int64 as device types: values against NumPy in float64 (to ~1e-12), gradients
against central differences of the device's own float64 cost (to 1e-8), int64 arithmetic
beyond 2**31, promotion rules, and the clear refusals (a device without double, ops that
compute in float32 only). float32 graphs keep their kernel sources."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.backend import device as device_module
from nodestudio.errors import DeviceError, InputValueError, ShapeError

pytestmark = pytest.mark.opencl

RNG = np.random.default_rng(64)
F64 = "float64"


def _close(got, want, rtol=1e-12, atol=1e-12):
    got = np.asarray(got)
    assert got.dtype == np.float64, got.dtype
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def _needs_fp64():
    if not device_module.runtime().has_fp64:
        pytest.skip("the OpenCL device has no double precision")


# --- inputs, shared values, cast --------------------------------------------------------------


def test_inputs_and_shared_values_keep_float64_and_defaults_stay_float32():
    x = ns.matrix("x", dtype=F64)
    assert x.dtype == F64 and ns.matrix("y").dtype == "float32"
    assert ns.tensor("t", (None, 3), dtype="int64").dtype == "int64"
    value = RNG.standard_normal((3, 4))
    w = ns.shared(value, "w", dtype=F64)
    assert w.dtype == F64 and w.get_value().dtype == np.float64
    np.testing.assert_array_equal(w.get_value(), value)  # no rounding through float32
    assert ns.shared(value, "w32").dtype == "float32"  # the default is unchanged
    tiny = 1.0 + 1e-12
    f = ns.function([x], (x + w) * tiny)
    _close(f(value), (value + value) * tiny, rtol=0, atol=0)


def test_cast_to_and_from_all_four_types():
    x = ns.vector("x", dtype=F64)
    values = np.array([1.0 + 1e-10, -2.7, 2.0**40 + 0.5, np.nan, -1e300])
    to32, to_i32, to_i64 = ns.cast(x, "float32"), ns.cast(x, "int32"), ns.cast(x, "int64")
    back = ns.cast(to32, F64)
    i64_to_f64, i64_to_i32 = ns.cast(to_i64, F64), ns.cast(to_i64, "int32")
    f = ns.function([x], [to32, to_i32, to_i64, back, i64_to_f64, i64_to_i32])
    f32, i32, i64, b64, i64f, i64i = f(values)
    assert (f32.dtype, i32.dtype, i64.dtype) == (np.float32, np.int32, np.int64)
    np.testing.assert_array_equal(f32[:2], values[:2].astype(np.float32))
    assert f32[4] == -np.inf  # beyond float32: the conversion's infinity
    np.testing.assert_array_equal(i32, [1, -2, 2**31 - 1, 0, -2**31])  # saturating
    np.testing.assert_array_equal(i64, [1, -2, 2**40, 0, -2**63])
    np.testing.assert_array_equal(b64[:2], values[:2].astype(np.float32).astype(np.float64))
    _close(i64f, [1.0, -2.0, 2.0**40, 0.0, -2.0**63], rtol=0, atol=0)
    np.testing.assert_array_equal(i64i, [1, -2, 2**31 - 1, 0, -2**31])
    assert ns.cast(x, np.float64) is x


# --- elementwise, reductions, softmax ---------------------------------------------------------


def test_elementwise_matches_numpy_in_float64():
    x, y = ns.matrix("x", dtype=F64), ns.matrix("y", dtype=F64)
    a = RNG.uniform(0.5, 2.0, (7, 33))
    b = RNG.standard_normal((7, 33))
    outs = [x * 0.1 + y / 3.0, ns.exp(y) - ns.log(x), ns.tanh(y) * ns.sqrt(x),
            ns.sigmoid(y), ns.softplus(y), x ** 2.5, x ** 3, ns.maximum(x, y),
            ns.gelu(y), ns.clip(y, -0.3, 0.7), ns.abs(y), ns.gt(x, y)]
    got = ns.function([x, y], outs)(a, b)
    from scipy.special import erf
    want = [a * 0.1 + b / 3.0, np.exp(b) - np.log(a), np.tanh(b) * np.sqrt(a),
            1.0 / (1.0 + np.exp(-b)), np.log1p(np.exp(b)), a ** 2.5, a ** 3, np.maximum(a, b),
            0.5 * b * (1.0 + erf(b / np.sqrt(2.0))), np.clip(b, -0.3, 0.7), np.abs(b),
            (a > b).astype(np.float64)]
    for g, w in zip(got, want):
        _close(g, w, rtol=1e-13, atol=1e-15)


def test_float64_with_float32_promotes_as_numpy():
    x, y = ns.vector("x", dtype=F64), ns.vector("y")
    assert (x + y).dtype == F64 and (y * 2.0).dtype == "float32"
    i, j = ns.vector("i", dtype="int64"), ns.ivector("j")
    assert (i + j).dtype == "int64" and (i + 1).dtype == "int64"
    assert (y + i).dtype == "float32"  # an integer never widens a float
    a, b = RNG.standard_normal(5), RNG.standard_normal(5).astype(np.float32)
    (s,) = ns.function([x, y], [x + y])(a, b)
    _close(s, a + b.astype(np.float64), rtol=0, atol=0)


@pytest.mark.parametrize("shape, axis", [
    ((5, 300), 1), ((300, 40), 0), ((4, 20000), None), ((3, 17, 9), (0, 2)), ((64,), None),
    ((2, 3, 50), -1)])
def test_reductions_match_numpy_in_float64(shape, axis):
    x = ns.tensor("x", (None,) * len(shape), dtype=F64)
    v = RNG.standard_normal(shape) + 1e-9 * RNG.standard_normal(shape)
    outs = [ns.sum(x, axis=axis), ns.mean(x, axis=axis), ns.max(x, axis=axis)]
    if axis is not None and not isinstance(axis, tuple):
        outs.append(ns.argmax(x, axis=axis))
    got = ns.function([x], outs)(v)
    np_axis = axis if axis is not None else None
    _close(got[0], np.sum(v, axis=np_axis), rtol=1e-12, atol=1e-11)
    _close(got[1], np.mean(v, axis=np_axis), rtol=1e-12, atol=1e-13)
    _close(got[2], np.max(v, axis=np_axis), rtol=0, atol=0)
    if len(got) > 3:
        np.testing.assert_array_equal(got[3], np.argmax(v, axis=axis))


def test_a_float64_sum_resolves_what_float32_cannot():
    x = ns.vector("x", dtype=F64)
    v = np.full(1000, 1.0 + 2.0**-40)
    total = ns.function([x], ns.sum(x))(v)
    assert total - 1000.0 == pytest.approx(1000 * 2.0**-40, rel=1e-6)


@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax_match_numpy_in_float64(axis):
    x = ns.matrix("x", dtype=F64)
    v = RNG.standard_normal((6, 130)) * 5.0
    sm, lsm = ns.function([x], [ns.softmax(x, axis=axis), ns.log_softmax(x, axis=axis)])(v)
    shifted = v - v.max(axis=axis, keepdims=True)
    want_log = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
    _close(lsm, want_log, rtol=1e-12, atol=1e-12)
    _close(sm, np.exp(want_log), rtol=1e-12, atol=1e-15)


# --- matmul -----------------------------------------------------------------------------------


@pytest.mark.parametrize("m, k, n", [(1, 1, 1), (7, 33, 10), (64, 300, 65), (3, 5000, 2),
                                     (130, 17, 200)])
def test_matmul_matches_numpy_in_float64(m, k, n):
    a, b = ns.matrix("a", dtype=F64), ns.matrix("b", dtype=F64)
    av, bv = RNG.standard_normal((m, k)), RNG.standard_normal((k, n))
    outs = [ns.dot(a, b), ns.matmul(b, a, trans_a=True, trans_b=True)]
    got, got_t = ns.function([a, b], outs)(av, bv)
    _close(got, av @ bv, rtol=1e-12, atol=1e-12 * np.sqrt(k))
    _close(got_t, bv.T @ av.T, rtol=1e-12, atol=1e-12 * np.sqrt(k))


def test_batched_matmul_and_a_float32_operand_promote_to_float64():
    a = ns.tensor("a", (None, 45, 65), dtype=F64)
    w = ns.shared(RNG.standard_normal((65, 20)).astype(np.float32), "w32")
    b = ns.tensor("b", (None, 65, 30), dtype=F64)
    assert ns.dot(a, w).dtype == F64
    av, bv = RNG.standard_normal((3, 45, 65)), RNG.standard_normal((3, 65, 30))
    by_w, batched = ns.function([a, b], [ns.dot(a, w), ns.matmul(a, b)])(av, bv)
    _close(by_w, av @ w.get_value().astype(np.float64), rtol=1e-12, atol=1e-12)
    _close(batched, av @ bv, rtol=1e-12, atol=1e-12)


# --- layout and indexing ----------------------------------------------------------------------


def test_slicing_indexing_and_layout_in_float64():
    x = ns.tensor("x", (12, 7), dtype=F64)
    i = ns.iscalar("i")
    idx, lab = ns.ivector("idx"), ns.ivector("lab")
    v = RNG.standard_normal((12, 7)) + 1e-13
    rows = np.array([3, 0, 11, 3], np.int32)
    labels = RNG.integers(0, 7, 12).astype(np.int32)
    outs = [x[1:9:2, ::-1], x.T, ns.concatenate([x, x * 2.0], axis=1), x[i * 3:(i + 1) * 3],
            x[idx], ns.log_softmax(x)[ns.arange(12), lab],
            ns.set_subtensor(x[2:4], 0.5), ns.reshape(x, (7, 12))]
    got = ns.function([x, i, idx, lab], outs)(v, 2, rows, labels)
    lsm = v - v.max(1, keepdims=True)
    lsm = lsm - np.log(np.exp(lsm).sum(1, keepdims=True))
    placed = v.copy()
    placed[2:4] = 0.5
    want = [v[1:9:2, ::-1], v.T, np.concatenate([v, v * 2.0], axis=1), v[6:9], v[rows],
            lsm[np.arange(12), labels], placed, v.reshape(7, 12)]
    for g, w in zip(got, want):
        _close(g, w, rtol=0, atol=1e-15)


def test_int64_labels_index_float64_values():
    p = ns.matrix("p", dtype=F64)
    y = ns.tensor("y", (None,), dtype="int64")
    v = RNG.uniform(0.1, 1.0, (5, 4))
    labels = np.array([3, 0, 1, 1, 2], np.int64)
    cost = -ns.mean(ns.log(p)[ns.arange(ns.shape_of(y)[0]), y])
    got = ns.function([p, y], cost)(v, labels)
    assert got == pytest.approx(-np.mean(np.log(v[np.arange(5), labels])), rel=1e-14)


# --- gradients: exact checks ------------------------------------------------------------------


def test_gradients_in_float64_match_central_differences_to_1e_8():
    """A small classifier computed in float64 on the device: its symbolic gradients agree with
    central differences of the same device cost to 1e-8 (in float32 such a check reaches
    ~1e-3 at best)."""
    x = ns.matrix("x", dtype=F64)
    y = ns.ivector("y")
    W = ns.shared(RNG.standard_normal((6, 5)) * 0.5, "W", dtype=F64)
    b = ns.shared(RNG.standard_normal(5) * 0.1, "b", dtype=F64)
    V = ns.shared(RNG.standard_normal((5, 3)) * 0.5, "V", dtype=F64)
    h = ns.tanh(ns.dot(x, W) + b)
    logits = ns.dot(h, V) + ns.sum(ns.square(h), axis=1, keepdims=True) * 0.1
    cost = ns.softmax_cross_entropy(logits, y) + 1e-3 * ns.sum(W ** 2) + ns.mean(
        ns.max(ns.sigmoid(h), axis=1))
    params = [W, b, V]
    grads = ns.function([x, y], ns.grad(cost, params))
    cost_of = ns.function([x, y], cost)
    xv = RNG.standard_normal((8, 6))
    yv = RNG.integers(0, 3, 8).astype(np.int32)
    symbolic = grads(xv, yv)
    step = 1e-5
    for param, g in zip(params, symbolic):
        assert g.dtype == np.float64
        base = param.get_value()
        numeric = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            for sign in (1, -1):
                moved = base.copy()
                moved[index] += sign * step
                param.set_value(moved)
                numeric[index] += sign * cost_of(xv, yv) / (2 * step)
        param.set_value(base)
        np.testing.assert_allclose(g, numeric, rtol=1e-8, atol=1e-9)


def test_a_float32_parameter_in_a_float64_graph_gets_a_float32_gradient():
    x = ns.vector("x", dtype=F64)
    w = ns.shared(np.array([0.5, -1.0, 2.0], np.float32), "w")
    cost = ns.sum(x * w)
    (g,) = ns.grad(cost, [w])
    assert cost.dtype == F64 and g.dtype == "float32"
    step = ns.function([x], cost, updates=[(w, w - 0.5 * g)])
    step(np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(w.get_value(), [0.0, -2.0, 0.5])


# --- int64 ------------------------------------------------------------------------------------


def test_int64_arithmetic_beyond_int32():
    a, b = ns.vector("a", dtype="int64"), ns.vector("b", dtype="int64")
    av = np.array([2**40, -(2**35) + 7, 3, 2**62], np.int64)
    bv = np.array([3, 2**20, -(2**33), 1], np.int64)
    outs = [a + b, a * 4, a - b * 2, ns.mod(a, 7), ns.int_div(a, 5), a + 2**41, -a]
    got = ns.function([a, b], outs)(av, bv)
    want = [av + bv, av * 4, av - bv * 2, av % 7, av // 5, av + 2**41, -av]
    for g, w in zip(got, want):
        assert g.dtype == np.int64
        np.testing.assert_array_equal(g, w)


def test_int64_inputs_refuse_what_they_cannot_hold():
    a = ns.vector("a", dtype="int64")
    f = ns.function([a], a + 1)
    np.testing.assert_array_equal(f([2**50]), [2**50 + 1])
    with pytest.raises(InputValueError, match=r"input 'a'.*2\.5.*int64"):
        f(np.array([1.0, 2.5]))
    with pytest.raises(InputValueError, match="outside int64's range"):
        f([2**64])


# --- refusals ---------------------------------------------------------------------------------


def test_a_device_without_double_refuses_a_float64_graph_naming_value_and_device(monkeypatch):
    monkeypatch.setattr(device_module.Runtime, "has_fp64", property(lambda self: False))
    x = ns.vector("x", dtype=F64)
    f = ns.function([x], ns.exp(x))
    with pytest.raises(DeviceError, match=r"input 'x' is float64, and .* has no double "
                                          r"precision \(cl_khr_fp64\).*ns.cast"):
        f(np.ones(3))
    w = ns.shared(np.ones(2), "w64", dtype=F64)
    with pytest.raises(DeviceError, match="parameter 'w64' is float64"):
        ns.function([], w * 2.0)()
    n = ns.vector("n", dtype="int64")  # int64 needs no extension
    np.testing.assert_array_equal(ns.function([n], n * 2)(np.array([2**40])), [2**41])


def test_ops_that_compute_in_float32_refuse_float64_naming_node_and_port():
    x = ns.tensor("x", (None, 1, 8, 8), dtype=F64)
    w = ns.shared(np.ones((2, 1, 3, 3), np.float32), "w")
    with pytest.raises(ShapeError, match=r"node 'conv2d_\d+', port 'x': conv2d computes in "
                                         r"float32, "
                                         r"got float64 from 'x'; cast the input with "
                                         r"ns.cast\(x, 'float32'\)"):
        ns.op("conv2d", x, w)
    with pytest.raises(ShapeError, match="port 'x': max_pool2d computes in float32"):
        ns.op("max_pool2d", x)
    y = ns.cast(x, "float32")  # the cast the message asks for works
    assert ns.op("conv2d", y, w).dtype == "float32"


def test_matmul_op_of_mixed_floats_names_the_float32_operand():
    a, b = ns.matrix("a", dtype=F64), ns.matrix("b")
    with pytest.raises(ShapeError, match=r"port 'b': matmul of float64 and float32"):
        ns.op("matmul", a, b)


# --- float32 unchanged ------------------------------------------------------------------------


def test_float32_kernels_have_no_double_and_float64_buffers_are_twice_as_large():
    x32, x64 = ns.matrix("x"), ns.matrix("x", dtype=F64)
    v = RNG.standard_normal((16, 40))
    for x, word in ((x32, 4), (x64, 8)):
        f = ns.function([x], [ns.softmax(ns.tanh(x) * 0.5), ns.sum(x, axis=0),
                              ns.dot(x, x.T)])
        f(v)
        sources = "\n".join(k.source for k in f.kernels())
        assert ("double" in sources) == (word == 8)
        assert ("cl_khr_fp64" in sources) == (word == 8)
        assert f._last.device_bytes() >= word * v.size  # noqa: SLF001
        assert f._last.lowered.slots[0].nbytes == word * v.size  # noqa: SLF001
