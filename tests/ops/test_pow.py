"""`x ** c` with a constant exponent: what it lowers to, its values at every special value
(against NumPy float64) and its gradients (against PyTorch); and the general `pow` op's
gradients at the edges (0 ** x, x ** 0, negative bases), also against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio as ns
from nodestudio.ir.reference import evaluate

BASES = np.array([-3.0, -2.0, -1.5, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0,
                  np.inf, -np.inf, np.nan])
EXPONENTS = [0, 1, 2, 3, 4, 5, 7, -1, -2, -3, -4, -5, 0.5, -0.5, 1.5, 2.5, -2.5, 0.3, 1 / 3]


@pytest.mark.parametrize("exponent, op_name", [
    (2, "square"), (2.0, "square"), (np.float32(2.0), "square"), (3, "mul"), (4, "square"),
    (0, "ones_like"), (-1, "div"), (-2, "pow_scalar"), (0.5, "sqrt"), (-0.5, "pow_scalar"),
    (2.5, "pow_scalar"), (7, "pow_scalar"), (-1.5, "pow_scalar")])
def test_constant_exponents_take_the_fast_path(exponent, op_name):
    x = ns.matrix("x")
    assert (x ** exponent).owner.op.name == op_name
    assert ns.pow(x, exponent).owner.op.name == op_name
    assert (x ** ns.constant(float(exponent))).owner.op.name == op_name  # a 0-d constant too
    assert x ** 1 is x


def test_symbolic_exponents_and_integer_bases_keep_the_general_op():
    x, y = ns.matrix("x"), ns.matrix("y")
    assert (x ** y).owner.op.name == "pow"
    assert (2.0 ** x).owner.op.name == "pow"
    assert (x ** ns.constant([2.0, 3.0])).owner.op.name == "pow"  # not 0-d: it broadcasts
    assert (ns.ivector("i") ** 2).owner.op.name == "pow"  # an integer base: float pow, as before


def _expected(exponent, values=None):
    """NumPy's power, except that -inf, a negative base, gives NaN for a non-integer exponent
    (as sqrt(-inf) does; C's pow says inf or 0)."""
    with np.errstate(all="ignore"):
        want = np.power(BASES, np.float64(exponent)) if values is None else values
    if not float(exponent).is_integer():
        want = np.where(BASES == -np.inf, np.nan, want)
    return want


@pytest.mark.parametrize("exponent", EXPONENTS)
def test_constant_power_values_match_numpy_at_special_values(exponent):
    x = ns.vector("x")
    got = evaluate([x ** exponent], {x: BASES})[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(_expected(exponent)))
    np.testing.assert_allclose(got, _expected(exponent), rtol=1e-12)


@pytest.mark.opencl
def test_constant_powers_on_opencl_match_numpy_at_special_values():
    x = ns.vector("x")
    fn = ns.function([x], [x ** c for c in EXPONENTS])
    for c, got in zip(EXPONENTS, fn(BASES.astype(np.float32))):
        want = _expected(c)
        assert np.array_equal(np.isnan(got), np.isnan(want)), (c, got, want)
        same_sign_zero = np.signbit(got[want == 0]) == np.signbit(want[want == 0])
        assert same_sign_zero.all(), (c, got, want)
        np.testing.assert_allclose(got, want, rtol=2e-6, err_msg=f"x ** {c}")


def _torch_grads(fn, *values):
    tensors = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    fn(*tensors).sum().backward()
    return [t.grad.numpy() for t in tensors]


@pytest.mark.parametrize("exponent", EXPONENTS)
def test_constant_power_gradients_match_pytorch(exponent):
    x = ns.vector("x")
    (g,) = evaluate([ns.grad(ns.sum(x ** exponent), [x])[0]], {x: BASES})
    # x ** 0.5 is sqrt, whose gradient at -0.0 is 1 / (2 * -0.0) = -inf (torch.sqrt's too)
    peer = torch.sqrt if exponent == 0.5 else (lambda t: t ** exponent)
    want = _expected(exponent, _torch_grads(peer, BASES)[0])
    np.testing.assert_array_equal(np.isnan(g), np.isnan(want), err_msg=f"x ** {exponent}")
    np.testing.assert_allclose(g, want, rtol=1e-12, err_msg=f"x ** {exponent}")


EDGE_A = np.array([0.0, 0.0, 0.0, 0.0, -0.0, np.inf, np.inf, -2.0, -2.0, -2.0, 2.0, 0.5, 3.0])
EDGE_B = np.array([2.0, 0.5, 0.0, -1.0, 1.5, 0.0, 2.0, 0.5, 2.0, 0.0, 0.0, -1.5, 1.0])


def test_pow_gradient_edges_match_pytorch():
    """0 ** x is flat in x for x >= 0, x ** 0 is flat in x everywhere (0 and inf included), a
    negative base gives NaN for the exponent's gradient: PyTorch's rule, which the old
    log|a| formula broke (-inf / NaN at 0, finite values for negative bases)."""
    a, b = ns.vector("a"), ns.vector("b")
    ga, gb = ns.grad(ns.sum(a ** b), [a, b])
    got_a, got_b = evaluate([ga, gb], {a: EDGE_A, b: EDGE_B})
    want_a, want_b = _torch_grads(torch.pow, EDGE_A, EDGE_B)
    for got, want, what in ((got_a, want_a, "base"), (got_b, want_b, "exponent")):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
        np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=what)
    assert got_b[0] == 0.0 and got_b[1] == 0.0  # d(0 ** x)/dx at x > 0
    assert got_a[2] == 0.0 and got_a[5] == 0.0  # d(x ** 0)/dx at x = 0 and inf
    assert np.isnan(got_b[7])  # (-2) ** 0.5 w.r.t. 0.5


@pytest.mark.opencl
def test_pow_gradient_edges_on_opencl():
    a, b = ns.vector("a"), ns.vector("b")
    ga, gb = ns.grad(ns.sum(a ** b), [a, b])
    got_a, got_b = ns.function([a, b], [ga, gb])(EDGE_A.astype(np.float32),
                                                 EDGE_B.astype(np.float32))
    want_a, want_b = _torch_grads(torch.pow, EDGE_A, EDGE_B)
    for got, want, what in ((got_a, want_a, "base"), (got_b, want_b, "exponent")):
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=what)
        np.testing.assert_allclose(got, want, rtol=1e-5, err_msg=what)


@pytest.mark.opencl
@pytest.mark.parametrize("exponent", [5.0, 63.0, -6.0, 2.5, -2.5, 31.5, 64.0, -65.0, 100.5,
                                      0.3, -1 / 3, 1e6])
def test_pow_scalar_kernel_paths_match_numpy(exponent):
    """pow_scalar's three kernel paths (products of squares, pown, exp2 / log2) against NumPy,
    on bases near 1 so that large exponents stay finite, and on the special values."""
    x = ns.vector("x")
    fn = ns.function([x], ns.pow(x, exponent))
    near_one = np.linspace(0.9, 1.1, 9)
    for values in (near_one, -near_one, BASES):
        got = fn(values.astype(np.float32))
        with np.errstate(all="ignore"):
            want = np.power(values.astype(np.float32).astype(np.float64), exponent)
            if not float(exponent).is_integer():
                want = np.where(values == -np.inf, np.nan, want)
            want = want.astype(np.float32).astype(np.float64)  # beyond float32: inf
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=str(values))
        np.testing.assert_allclose(got, want, rtol=5e-6 * max(1.0, abs(exponent) / 8),
                                   err_msg=f"x ** {exponent} at {values}")
