"""Kernel fusion, buffer reuse by liveness, and the compiled-program cache."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.backend import cache
from nodestudio.backend.device import runtime

pytestmark = pytest.mark.opencl

RNG = np.random.default_rng(42)


def _dense_layer(batch=5, n_in=7, n_out=3):
    x = ns.matrix("x")
    W = ns.shared(RNG.standard_normal((n_in, n_out)).astype(np.float32), "W")
    b = ns.shared(RNG.standard_normal(n_out).astype(np.float32), "b")
    h = x @ W
    y = ns.tanh(h + b)
    return x, W, b, h, y, RNG.standard_normal((batch, n_in)).astype(np.float32)


def test_dense_tanh_forward_is_one_matmul_plus_at_most_one_kernel():
    x, W, b, h, y, value = _dense_layer()
    fn = ns.function([x], y)
    got = fn(value)
    np.testing.assert_allclose(got, np.tanh(value @ W.get_value() + b.get_value()),
                               atol=1e-5, rtol=1e-5)
    reports = fn.kernels()
    matmul_name = h.owner.name
    with_matmul = [r for r in reports if matmul_name in r.nodes]
    assert len(with_matmul) == 1, [(r.name, r.nodes) for r in reports]
    assert len(reports) <= 2, [(r.name, r.nodes) for r in reports]
    covered = {n for r in reports for n in r.nodes}
    assert {matmul_name, y.owner.name, y.owner.inputs[0].owner.name} <= covered
    for r in reports:
        assert r.name in r.source and "__kernel" in r.source


def test_ten_elementwise_ops_are_one_kernel():
    x = ns.tensor("x", (None, 9))
    y = x
    chain = [ns.tanh, ns.sigmoid, ns.square, lambda v: -v, ns.exp, ns.softplus,
             lambda v: v * 2.0, ns.abs, ns.sqrt, lambda v: v + 0.5]
    for op in chain:
        y = op(y)
    fn = ns.function([x], y)
    value = RNG.standard_normal((4, 9)).astype(np.float32)
    ref = ns.reference_eval([y], {x: value})[0]
    np.testing.assert_allclose(fn(value), ref, atol=1e-5, rtol=1e-5)
    reports = fn.kernels()
    assert len(reports) == 1, [(r.name, r.nodes) for r in reports]
    assert len(reports[0].nodes) == 10
    assert "const float t9" in reports[0].source  # ten values kept in registers


def test_elementwise_value_used_twice_is_computed_once():
    x = ns.vector("x")
    t = ns.tanh(x)
    y = t * t + t
    fn = ns.function([x], y)
    value = RNG.standard_normal(17).astype(np.float32)
    np.testing.assert_allclose(fn(value), np.tanh(value) ** 2 + np.tanh(value), rtol=1e-5)
    assert len(fn.kernels()) == 1


def test_buffers_are_reused_by_liveness():
    n, steps = 16, 8
    x = ns.tensor("x", (n, n))
    h = x
    for i in range(steps):
        W = ns.shared((RNG.standard_normal((n, n)) / np.sqrt(n)).astype(np.float32), f"W{i}")
        h = ns.tanh(h @ W) * 0.9
    fn = ns.function([x], h)
    value = RNG.standard_normal((n, n)).astype(np.float32)
    want = ns.reference_eval([h], {x: value})[0]
    np.testing.assert_allclose(fn(value), want, atol=1e-5, rtol=1e-4)
    lowered = fn._last.lowered
    values = len(lowered.slot_of)  # every value the call touches
    slots = lowered.slots
    temps = [s for s in slots if s.kind == "temp"]
    assert values >= 2 * steps + steps + 1  # matmul outputs, fused tanh*0.9 outputs, W, x
    assert len(slots) < values
    # a chain needs at most a producer and a consumer alive at once (plus gemm scratch)
    assert len(temps) <= 3, [(s.index, s.kind, s.nbytes) for s in slots]
    assert sum(s.kind == "result" for s in slots) == 1


def test_second_identical_function_does_not_rebuild():
    x, W, b, h, y, value = _dense_layer(batch=6, n_in=5, n_out=4)
    first = ns.function([x], y)
    out1 = first(value)
    builds = cache.stats["builds"]
    hits = cache.stats["memory_hits"]
    second = ns.function([x], y)
    out2 = second(value)
    assert cache.stats["builds"] == builds
    assert cache.stats["memory_hits"] > hits
    np.testing.assert_array_equal(out1, out2)


def test_structurally_identical_graph_reuses_programs():
    def build():
        x = ns.tensor("x", (5, 11))
        return x, ns.exp(ns.tanh(x) * 3.0)

    x1, y1 = build()
    ns.function([x1], y1)(np.zeros((5, 11), np.float32))
    builds = cache.stats["builds"]
    x2, y2 = build()
    ns.function([x2], y2)(np.zeros((5, 11), np.float32))
    assert cache.stats["builds"] == builds


def test_disk_cache_serves_a_cleared_memory_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NODESTUDIO_CACHE_DIR", str(tmp_path))
    x = ns.tensor("x", (3, 13))
    y = ns.sigmoid(x) * 7.0 - 1.0
    value = RNG.standard_normal((3, 13)).astype(np.float32)
    want = ns.function([x], y)(value)
    assert list(tmp_path.glob("*.bin")), "the first build writes a binary"
    cache.clear_memory()
    builds, disk = cache.stats["builds"], cache.stats["disk_hits"]
    got = ns.function([x], y)(value)
    assert cache.stats["builds"] == builds
    assert cache.stats["disk_hits"] == disk + 1
    np.testing.assert_array_equal(got, want)


def test_corrupt_disk_cache_entry_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("NODESTUDIO_CACHE_DIR", str(tmp_path))
    x = ns.tensor("x", (2, 19))
    y = ns.softplus(x) + 0.25
    value = RNG.standard_normal((2, 19)).astype(np.float32)
    want = ns.function([x], y)(value)
    for path in tmp_path.glob("*.bin"):
        path.write_bytes(b"not a binary")
    cache.clear_memory()
    builds = cache.stats["builds"]
    np.testing.assert_array_equal(ns.function([x], y)(value), want)
    assert cache.stats["builds"] == builds + 1


BAD_SOURCE = """
__kernel void broken(__global float* out)
{
    out[get_global_id(0)] = undefined_identifier_xyz + ;
}
"""


def test_broken_kernel_raises_kernel_build_error_with_device_and_log():
    rt = runtime()
    with pytest.raises(ns.KernelBuildError) as info:
        cache.build(rt, BAD_SOURCE, "", "broken")
    err = info.value
    assert err.kernel == "broken" and err.source == BAD_SOURCE
    assert err.device == rt.info.label
    assert rt.info.name in str(err) and "'broken'" in str(err)
    assert err.log.strip() and err.log.strip() in str(err)
    assert "undefined_identifier_xyz" in err.log or "error" in err.log.lower()
    with pytest.raises(ns.KernelBuildError):  # failures are not cached as programs
        cache.build(rt, BAD_SOURCE, "", "broken")


def test_updates_are_simultaneous_swaps():
    p = ns.shared(np.ones(2, np.float32), "p_swap")
    q = ns.shared(np.zeros(2, np.float32), "q_swap")
    exchange = ns.function([], [], updates=[(p, q), (q, p)])
    exchange()
    np.testing.assert_array_equal(p.get_value(), [0, 0])
    np.testing.assert_array_equal(q.get_value(), [1, 1])
    exchange()
    np.testing.assert_array_equal(p.get_value(), [1, 1])


def test_two_updates_from_one_value():
    b = ns.shared(np.zeros(3, np.float32), "b_twice")
    c = ns.shared(np.zeros(3, np.float32), "c_twice")
    x = ns.vector("x")
    e = b + x
    step = ns.function([x], e, updates=[(b, e), (c, e)])
    for i in range(1, 4):
        np.testing.assert_array_equal(step(np.ones(3, np.float32)), np.full(3, i))
        np.testing.assert_array_equal(b.get_value(), np.full(3, i))
        np.testing.assert_array_equal(c.get_value(), np.full(3, i))


def test_bernoulli_sample_is_one_kernel_with_the_reference_draws():
    """u < p with u a uniform draw: the draw is computed inside the elementwise kernel, with
    the same numbers as the reference generator, new on each call."""
    from nodestudio.ops import philox
    p = ns.tensor("p_sample", (None, 37))
    probs = ns.sigmoid(p)
    sample = ns.lt(ns.random_uniform_like(probs, seed=11), probs)
    fn = ns.function([p], sample)
    value = RNG.standard_normal((6, 37)).astype(np.float32)
    want_p = 1.0 / (1.0 + np.exp(-value.astype(np.float64)))
    for call in range(3):
        got = fn(value)
        u = philox.uniform(value.size, 11, call).reshape(value.shape)
        decided = np.abs(u - want_p) > 1e-5  # a float32 sigmoid may round across u
        np.testing.assert_array_equal(got[decided], (u < want_p)[decided])
    reports = fn.kernels()
    assert len(reports) == 1, [(r.name, r.nodes) for r in reports]
    assert sample.owner.inputs[0].owner.name in reports[0].nodes


def test_a_draw_read_outside_elementwise_kernels_keeps_its_own_kernel():
    from nodestudio.ops import philox
    x = ns.tensor("x_draw", (None, 5))
    u = ns.random_uniform_like(x, seed=4)
    fn = ns.function([x], [u, ns.sum(u * 2.0)])
    got_u, got_sum = fn(np.zeros((3, 5), np.float32))
    want = philox.uniform(15, 4, 0).reshape(3, 5)
    np.testing.assert_array_equal(got_u, want.astype(np.float32))
    assert got_sum == pytest.approx(2 * want.sum(), rel=1e-6)
    assert any(r.nodes == [u.owner.name] for r in fn.kernels())


def test_a_swapped_parameter_is_rebound_in_every_kernel_that_reads_it():
    """Updates swap buffers; each kernel reading the parameter must see the new one on the
    next call, and again after undo_updates puts the old one back."""
    w = ns.shared(np.zeros((4, 3), np.float32), "w_rebound")
    x = ns.matrix("x_rebound")
    out = [ns.sum(x @ w), ns.sum(ns.exp(w)), ns.max(w)]
    step = ns.function([x], out, updates=[(w, w + 1.0)])
    ones = np.ones((2, 4), np.float32)
    for i in range(3):
        got = step(ones)
        np.testing.assert_allclose(got, [2 * 12 * i, 12 * np.exp(i), i], rtol=1e-5)
    assert step.undo_updates()
    np.testing.assert_array_equal(w.get_value(), np.full((4, 3), 2.0))
    np.testing.assert_allclose(step(ones), [2 * 12 * 2, 12 * np.exp(2), 2], rtol=1e-5)


def test_softplus_keeps_float32_accuracy_over_its_whole_range():
    """softplus's tail log(1 + e^-|a|) is a series, not a call to log (kernels/elementwise.cl):
    within a few float32 roundings of the float64 value from -100 (e^-100) to 100."""
    x = ns.vector("x_softplus")
    fn = ns.function([x], ns.softplus(x))
    value = np.concatenate([np.linspace(-100, 100, 40001), [0.0, 1e-30, -1e-30, 1e-8, 88.0,
                                                          -87.0, -103.0]]).astype(np.float32)
    want = np.logaddexp(0.0, value.astype(np.float64))
    got = fn(value).astype(np.float64)
    normal = want > 1e-37  # float32 normal range
    np.testing.assert_allclose(got[normal], want[normal], rtol=5e-7, atol=0)
    special = fn(np.array([np.inf, -np.inf, np.nan], np.float32))
    assert special[0] == np.inf and special[1] == 0.0 and np.isnan(special[2])


def test_log_and_log1p_keep_opencls_accuracy_over_the_float_range():
    """log and log1p are computed from the exponent and a series (kernels/elementwise.cl), not
    by PoCL's one-element-at-a-time log: within OpenCL's 3 ulp of the float64 value from the
    smallest subnormal to the largest float, and IEEE's answers at 0, negatives, inf, NaN."""
    rng = np.random.default_rng(3)
    x = ns.vector("x_log")
    fn = ns.function([x], [ns.log(x), ns.log1p(x)])
    wide = np.concatenate([np.exp(rng.uniform(-103, 88.7, 100_000)), rng.uniform(0.5, 2, 20_000),
                           1 + rng.uniform(-1e-4, 1e-4, 5_000), [1e-45, 1e-40, 1.1754942e-38,
                                                               3.4028235e38, 1.0, 2.0]])
    value = wide.astype(np.float32)
    got_log, _ = fn(value)
    want = np.log(value.astype(np.float64))
    ulps = np.abs(got_log - want) / np.spacing(np.abs(want).astype(np.float32))
    assert ulps[want != 0].max() <= 3.0
    assert set(got_log[value == 1.0].tolist()) == {0.0}  # exactly
    near = np.concatenate([rng.uniform(-0.999, 10, 50_000), rng.uniform(-1e-6, 1e-6, 5_000),
                           [1e-30, -1e-30, 0.0]]).astype(np.float32)
    _, got_log1p = fn(near)
    want = np.log1p(near.astype(np.float64))
    np.testing.assert_allclose(got_log1p, want, rtol=4e-7, atol=0)
    special = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan], np.float32)
    logs, log1ps = fn(special)
    np.testing.assert_array_equal(logs[:2], [-np.inf, -np.inf])
    assert np.isnan(logs[2]) and logs[3] == np.inf and np.isnan(logs[4]) and np.isnan(logs[5])
    np.testing.assert_array_equal(log1ps[:4], [0.0, -0.0, -np.inf, np.inf])
    assert np.isnan(log1ps[4]) and np.isnan(log1ps[5])


@pytest.mark.parametrize("out_shape, shapes", [
    ((7, 40), [(40,), (7, 1), (7, 40)]),           # a bias, a column, a matrix
    ((3, 5, 33), [(5, 33), (3, 1, 33), (3, 5, 1)]),  # over the first, middle, last axis
    ((2, 3, 4, 64), [(3, 1, 64), (2, 1, 4, 1), ()]),
    ((6, 31), [(31,), (6, 1), (6, 31)]),           # rows too short: the 1-d grid
])
def test_broadcast_inputs_read_by_rows_and_columns_match_numpy(out_shape, shapes):
    """An input broadcast over the rows of a wide enough output is read at column c of a 2-d
    grid (no modulo); every broadcast pattern gives NumPy's answer."""
    xs = [ns.tensor(f"b{k}", s) for k, s in enumerate(shapes)]
    values = [RNG.standard_normal(s).astype(np.float32) for s in shapes]
    out = ns.tanh(xs[0] + xs[1]) * xs[2] - xs[1]
    fn = ns.function(xs, out)
    got = fn(*values)
    a, b, c = (v.astype(np.float64) for v in values)
    np.testing.assert_allclose(got, np.tanh(a + b) * c - b, rtol=1e-5, atol=1e-6)
    assert got.shape == out_shape
    [kernel] = fn.kernels()
    assert kernel.global_size == ((out_shape[-1], int(np.prod(out_shape[:-1])))
                                  if out_shape[-1] >= 32 else (int(np.prod(out_shape)),))
