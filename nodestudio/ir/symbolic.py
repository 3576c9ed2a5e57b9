"""Theano-style helpers over the registry: `cast`, `round`, `floor`, `mod`, `switch`,
`disconnected_grad`, symbolic sizes (`shape_of`, `arange`), and what the Variable methods
(`.dimshuffle`, `.flatten`, `.norm`, `.min`) build.

Device types are float32, int32, float64 and int64 (see docs/API.md, "Types"): `cast` maps
int64 (and uint32 / uint64) to int64, the smaller integer types and bool to int32, float16 to
float32, and refuses complex and text types, naming the variable.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nodestudio.errors import GraphError, ShapeError
from nodestudio.ir.expr import Variable, apply, as_variable, constant
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, FLOAT64, INT, INT64, INTS

# --- types ------------------------------------------------------------------------------------


def device_dtype(dtype: Any, what: str = "cast") -> str:
    """The device type standing for a NumPy / Theano dtype name: int64 for int64, uint32 and
    uint64 (uint64 beyond int64 saturates), int32 for the other integer and boolean types,
    float64 for float64, float32 for float32 / float16. Wider floats and complex types are
    refused. (Whether the device has float64 is checked when a graph is compiled.)"""
    try:
        kind = np.dtype(dtype)
    except TypeError:
        raise GraphError(f"{what}: {dtype!r} is not a dtype") from None
    if kind.kind in "biu":
        return INT64 if kind.itemsize == 8 or kind == np.uint32 else INT
    if kind == np.float32 or kind == np.float16:
        return FLOAT
    if kind == np.float64:
        return FLOAT64
    raise GraphError(f"{what}: {kind.name} is not a device type (float32, float64, int32 or "
                     "int64)")


def cast(x: Any, dtype: Any) -> Variable:
    """x as `dtype` (float -> int truncates toward zero). A cast to the type x already has
    returns x itself."""
    x = as_variable(x)
    target = device_dtype(dtype, f"cast of {x.name!r}")
    return x if x.dtype == target else apply("cast", x, dtype=target)


def round(x: Any, mode: str = "half_away_from_zero") -> Variable:  # noqa: A001
    """Nearest whole number; halves away from zero (Theano's default) or to even."""
    if mode == "half_away_from_zero":
        return apply("round", x)
    if mode == "half_to_even":
        x = as_variable(x)
        r = apply("round", x)
        tie = apply("equal", apply("abs", x - apply("floor", x)), 0.5)
        odd = apply("not_equal", apply("mod", r, 2.0), 0.0)
        return apply("where", tie * odd, r - apply("sign", x), r)
    raise GraphError(f"round: mode must be 'half_away_from_zero' or 'half_to_even', got {mode!r}")


def floor(x: Any) -> Variable:
    return apply("floor", x)


def mod(a: Any, b: Any) -> Variable:
    """a % b with the sign of b (Python's and Theano's rule); integers stay integers."""
    symbolic = [v for v in (a, b) if isinstance(v, Variable)]
    if symbolic and all(v.dtype in INTS for v in symbolic) and all(
            isinstance(v, Variable) or _is_int(v) for v in (a, b)):
        return apply("int_mod", _int(a), _int(b))
    return apply("mod", _float(a), _float(b))


def int_div(a: Any, b: Any) -> Variable:
    """a // b for integers (rounded toward minus infinity); floats: floor(a / b)."""
    symbolic = [v for v in (a, b) if isinstance(v, Variable)]
    if symbolic and all(v.dtype in INTS for v in symbolic) and all(
            isinstance(v, Variable) or _is_int(v) for v in (a, b)):
        return apply("int_div", _int(a), _int(b))
    return apply("floor", apply("div", a, b))


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _int(value: Any) -> Variable:
    return value if isinstance(value, Variable) else constant(value, dtype=INT)


def _float(value: Any) -> Any:
    if isinstance(value, Variable) and value.dtype in INTS:
        return apply("cast", value, dtype=FLOAT)
    return value


def switch(cond: Any, if_true: Any, if_false: Any) -> Variable:
    """Theano's switch: `if_true` where cond is non-zero, else `if_false` (ns.where)."""
    return apply("where", cond, if_true, if_false)


def disconnected_grad(x: Any) -> Variable:
    """x, through which no gradient flows (a view: costs nothing at run time)."""
    return apply("stop_gradient", x)


def minimum_over(x: Any, axis=None, keepdims: bool = False) -> Variable:
    """The smallest element over axes: the registry's `min` where it exists, else -max(-x)."""
    try:
        registry.get("min")
    except GraphError:
        return -apply("max", -as_variable(x), axis=axis, keepdims=keepdims)
    return apply("min", x, axis=axis, keepdims=keepdims)


# --- symbolic sizes ---------------------------------------------------------------------------


def shape_of(x: Any) -> tuple[Variable, ...]:
    """Theano's `x.shape`: one int32 scalar per axis, computed when the graph runs (a `shape_dim`
    node), so it follows a free dimension. `arange` and the random ops of nodestudio.theano
    recognise these and build values whose size follows x. (Variable.shape stays the static
    tuple, with None for free dimensions.)"""
    x = as_variable(x)
    return tuple(apply("shape_dim", x, axis=axis) for axis in range(x.ndim))


def dim_source(value: Any) -> tuple[Variable, int] | None:
    """(x, axis) when `value` is a dimension from `shape_of(x)`, else None."""
    if isinstance(value, Variable) and value.owner.op.name == "shape_dim":
        return value.owner.inputs[0], value.owner.attrs["axis"] % value.owner.inputs[0].ndim
    return None


def like_of(size: Any) -> Variable | None:
    """The variable x when `size` is `shape_of(x)` whole (or x.shape of a Variable whose shape
    is fully known: then None, the caller uses the integers)."""
    if isinstance(size, (tuple, list)) and size:
        sources = [dim_source(d) for d in size]
        if all(s is not None for s in sources):
            xs = {id(s[0]) for s in sources}  # type: ignore[index]
            axes = [s[1] for s in sources]  # type: ignore[index]
            if len(xs) == 1 and axes == list(range(len(size))) and \
                    len(size) == sources[0][0].ndim:  # type: ignore[index]
                return sources[0][0]  # type: ignore[index]
    return None


def arange(start: Any, stop: Any = None, step: Any = None, dtype: str = INT) -> Variable:
    """NumPy's arange with int32 values. `ns.arange(ns.shape_of(x)[0])` is a vector whose
    length follows x (an `arange_like` node); other bounds must be Python numbers."""
    if stop is None and step is None:
        source = dim_source(start)
        if source is not None:
            out = apply("arange_like", source[0], axis=source[1])
            return cast(out, device_dtype(dtype, "arange"))
    for bound in (start, stop, step):
        if isinstance(bound, Variable):
            raise GraphError("arange: the length must be known when the graph is built: give "
                             "numbers, or a size from ns.shape_of(x) as the only argument")
    values = np.arange(start, stop, step) if stop is not None else np.arange(start)
    target = device_dtype(dtype, "arange")
    return constant(values.astype(np.int64 if target in INTS else np.float64), dtype=target)


# --- what the Variable methods build ------------------------------------------------------------


def dimshuffle(x: Any, *pattern: Any) -> Variable:
    """Theano's dimshuffle: a permutation of x's axes, with 'x' inserting a size-1 axis; axes
    left out must have size 1 (or be free, checked when the graph runs)."""
    x = as_variable(x)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    kept = [p for p in pattern if p != "x"]
    for p in kept:
        if not isinstance(p, (int, np.integer)) or not 0 <= p < x.ndim:
            raise ShapeError(f"dimshuffle{pattern}: {p!r} is not an axis of a {x.ndim}-d value",
                             node=x.name)
    if len(set(kept)) != len(kept):
        raise ShapeError(f"dimshuffle{pattern}: an axis appears twice", node=x.name)
    dropped = [a for a in range(x.ndim) if a not in kept]
    for a in dropped:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"dimshuffle{pattern}: axis {a} of size {x.shape[a]} cannot be "
                             "dropped (only size-1 axes can)", node=x.name)
    out = apply("squeeze", x, axes=tuple(dropped)) if dropped else x
    remaining = [a for a in range(x.ndim) if a in kept]  # order of the axes after squeeze
    order = tuple(remaining.index(p) for p in kept)
    if order != tuple(range(len(order))):
        out = apply("transpose", out, axes=order)
    new = tuple(i for i, p in enumerate(pattern) if p == "x")
    return apply("expand_dims", out, axes=new) if new else out


def flatten(x: Any, ndim: int = 1) -> Variable:
    return apply("flatten", x, ndim=ndim)


def norm(x: Any, L: Any = 2, axis=None) -> Variable:  # noqa: N803  (Theano's name)
    """The L-norm over axes (all by default): L = 1 sum |x|, 2 the Euclidean, else
    (sum |x| ** L) ** (1 / L)."""
    x = as_variable(x)
    if L == 1:
        return apply("sum", apply("abs", x), axis=axis)
    if L == 2:
        return apply("sqrt", apply("sum", apply("square", x), axis=axis))
    if isinstance(L, (int, float)) and L > 0:
        return apply("pow", apply("sum", apply("pow", apply("abs", x), float(L)), axis=axis),
                     1.0 / L)
    raise GraphError(f"norm: L must be a positive number, got {L!r}", node=x.name)


def reshape(x: Any, shape: Sequence[Any], ndim: int | None = None) -> Variable:
    """Variable.reshape: integers, -1, or dimensions from ns.shape_of(x) of x itself."""
    x = as_variable(x)
    if isinstance(shape, (int, np.integer, Variable)):
        shape = (shape,)
    dims: list[int] = []
    for d in shape:
        if not isinstance(d, Variable):
            dims.append(int(d))
            continue
        static = _static_dim(d)
        if static is None and dim_source(d) is None:
            raise ShapeError("reshape: a target size must be a number, -1, or a size from "
                             "ns.shape_of(...)", node=x.name)
        dims.append(-1 if static is None else static)  # a free size: inferred (at most one)
    if ndim is not None and ndim != len(dims):
        raise ShapeError(f"reshape: ndim={ndim} but the shape has {len(dims)} entries",
                         node=x.name)
    return apply("reshape", x, shape=tuple(dims))


def _static_dim(d: Variable) -> int | None:
    source = dim_source(d)
    if source is not None:
        return source[0].shape[source[1]]
    if d.owner.op.name == "constant" and d.ndim == 0:
        return int(d.owner.attrs["value"])
    return None
