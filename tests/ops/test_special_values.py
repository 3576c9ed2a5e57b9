"""NaN and +-inf through every op on the device, as the float64 reference (and PyTorch) has them.

For every registered op with a float input, one of its conformance cases (see
`tests/ops/test_conformance.py`) is run with NaN, +inf, -inf and 0 planted among its float
inputs: the device's outputs and gradients must hold NaN, +inf and -inf exactly where the
reference's do, and agree with it elsewhere. An op that swallows NaN (an `fmax` turning it into
0, a `sign` giving 0) would let a diverging model train on silently, so the divergence guard
never sees it. The parameters come from the registry: a new op is covered the day it exists.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.ir.autodiff import grad as ir_grad
from nodestudio.ir.reference import evaluate
from nodestudio.ops import all_ops, get
from nodestudio.ops.elementwise import NAN_SWALLOWING
from tests.ops.test_conformance import CASES, FLOAT, SOURCE, Case, _build, _wrt

SPECIALS = (np.nan, np.inf, -np.inf, 0.0)
ATOL, RTOL = 1e-4, 1e-3

# The case of an op that gets the special values, where the first device case with room for
# all four in each float input is not the right one: reductions, softmax and matmul where most
# outputs see no special value (so NaN must not leak into the others), whole images.
BASE: dict[str, str] = {
    "sum": "n33x7_axis0", "mean": "n33x7_axis0", "max": "n7x33_axis1_keep",
    "argmax": "axis2", "softmax": "n7x33_axis0", "log_softmax": "n33x7", "matmul": "NN_odd2",
    "random_affine": "images",  # NaN spreads to the pixels that read it
}


def _base_case(op_name: str) -> Case | None:
    entry = CASES[op_name]
    if entry == SOURCE:
        return None
    if op_name in BASE:
        return next(c for c in entry if c.id == BASE[op_name])
    floats = [c for c in entry if c.opencl and any(a.dtype == FLOAT for a in c.args)]
    roomy = [c for c in floats if all(int(np.prod(a.shape)) >= len(SPECIALS)
                                      for a in c.args if a.dtype == FLOAT)]
    return (roomy or floats or [None])[0]


def _params():
    params = []
    for op in all_ops():
        case = _base_case(op.name) if op.name in CASES else None
        if case is not None:
            params.append(pytest.param(op.name, case, id=f"{op.name}-{case.id}"))
    return params


PARAMS = _params()


def test_every_op_with_a_float_input_is_covered():
    covered = {name for name, *_ in (p.values for p in PARAMS)}
    for op in all_ops():
        floats = [c for c in CASES.get(op.name, ()) if c != SOURCE and isinstance(c, Case)
                  and any(a.dtype == FLOAT for a in c.args)]
        if floats:
            assert op.name in covered, f"{op.name} has float cases but no special-value case"


def test_nan_swallowing_c_functions_are_refused_in_op_expressions():
    """fmax / fmin (and OpenCL's max, min, sign, clamp, step) turn NaN into a number; the
    registry refuses them in elementwise expressions, so no op can reintroduce them."""
    for op in all_ops():
        if op.expr:
            for name in NAN_SWALLOWING:
                assert f"{name}(" not in op.expr.replace(" ", ""), (op.name, op.expr)
    from nodestudio.ops.elementwise import elementwise
    with pytest.raises(ValueError, match="fmax.*NaN"):
        elementwise("nan_eater_test", "Math", "doc", "fmax(a, 0.0f)", np.abs)


def _plant(values: np.ndarray, rng, offset: int) -> np.ndarray:
    """`values` with the special values at random places (as many as fit, starting at a
    different special per input so that a scalar input gets NaN in one place, inf in another)."""
    out = values.copy()
    flat = out.reshape(-1)
    places = rng.permutation(flat.size)
    for j, place in enumerate(places[:len(SPECIALS)]):
        flat[place] = SPECIALS[(j + offset) % len(SPECIALS)]
    return out


def _assert_same_specials(got: np.ndarray, want: np.ndarray, what: str) -> None:
    got = np.asarray(got)
    assert got.shape == want.shape, f"{what}: device shape {got.shape}, reference {want.shape}"
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    g64 = got.astype(np.float64)
    for label, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        differ = test(g64) != test(want)
        if differ.any():
            where = tuple(np.argwhere(differ)[0])
            raise AssertionError(f"{what}: {label} pattern differs, first at {where}: device "
                                 f"{g64[where]!r}, reference {want[where]!r} "
                                 f"({int(differ.sum())} of {differ.size} elements)")
    finite = np.isfinite(want)
    scale = max(1.0, float(np.abs(want[finite]).max())) if finite.any() else 1.0
    np.testing.assert_allclose(g64[finite], want[finite], rtol=RTOL, atol=ATOL * scale,
                               err_msg=what)


@pytest.mark.opencl
@pytest.mark.parametrize("op_name, case", PARAMS)
def test_nan_and_inf_propagate_as_in_the_reference(op_name, case):
    seed = zlib.crc32(f"special/{op_name}/{case.id}".encode())
    rng = np.random.default_rng(seed)
    inputs, outs = _build(op_name, case, [a.shape for a in case.args])
    values = []
    for i, arg in enumerate(case.args):
        v = np.asarray(arg.gen(rng, arg.shape))
        if arg.dtype == FLOAT:
            values.append(_plant(v.astype(np.float32).astype(np.float64), rng, i))
        else:
            values.append(v.astype(np.int32).astype(np.int64))
    feeds = dict(zip(inputs, values))
    op = get(op_name)
    wrt = _wrt(case)
    grads = []
    if wrt and (op.grad is not None or op.is_composite):
        cost = None
        for out in outs:
            if out.dtype == FLOAT:
                w = rng.uniform(0.5, 1.5, out.shape) * rng.choice([-1.0, 1.0], out.shape)
                term = ns.sum(out * ns.constant(w))
                cost = term if cost is None else cost + term
        if cost is not None:
            grads = ir_grad(cost, [inputs[i] for i in wrt])
    want = evaluate(outs, feeds, mode=case.mode) + (
        evaluate(grads, feeds, mode="train") if grads else [])
    fn = ns.function(inputs, [*outs, *grads], training=case.mode == "train")
    got = fn(*[v.astype(np.float32 if a.dtype == FLOAT else np.int32)
               for v, a in zip(values, case.args)])
    names = [f"output {o.name}" for o in outs] + [f"gradient wrt input {i}" for i in wrt]
    for g, w, name in zip(got, want, names):
        _assert_same_specials(g, w, f"{name} ({op_name}, {case.id})")
