"""Indexing and the small ops Theano-style code needs: symbolic slices whose start is an integer
computed on the device (the minibatch idiom `data[i * bs:(i + 1) * bs]`), integer-array indexing
(`take`, `gather`), `arange_like` and `shape_dim` (sizes that follow a value), `cast`, `round`,
`mod`, `floor`, and `stop_gradient`.

Index conventions, shared by the references and the kernels (`kernels/indexing.cl`):
  * a negative index counts from the end, as in Python (-1 is the last element);
  * `dynamic_slice`'s window has a length fixed when the graph is built; its start, after the
    negative wrap, is clamped so that the window lies inside the axis (the device never reads
    outside a buffer; the API refuses an out-of-range start on the host where it can compute it);
  * `take` and `gather` give 0 for an index outside [-n, n) (a kernel cannot raise), and their
    gradients add the incoming gradient at every position an index names (repeats add up).
"""

from __future__ import annotations

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops.elementwise import elementwise, unary
from nodestudio.ops.registry import (
    ANY_INT,
    DTYPES,
    FLOATS,
    GRADIENTS,
    INT,
    INT64,
    AttrDef,
    OpDef,
    PortDef,
    TensorType,
    float_of,
    register,
)
from nodestudio.ops.shapes import elementwise_type, fmt, normalise_axes

X = (PortDef("x"),)
_AXIS = AttrDef("axis", "int", 0, "axis indexed")


def _axis(attrs, ndim: int, port: str = "x") -> int:
    if ndim == 0:
        raise ShapeError("cannot index a 0-d value", port=port)
    return normalise_axes((attrs["axis"],), ndim, port)[0]


def _wrap(index, n: int):
    """Python's negative indices; out-of-range entries flagged."""
    index = np.asarray(index, np.int64)
    wrapped = np.where(index < 0, index + n, index)
    return wrapped, (wrapped >= 0) & (wrapped < n)


def _compatible(a, b) -> bool:
    return a is None or b is None or a == b


# --- cast, round, floor, mod, stop_gradient --------------------------------------------------
def _cast_shape(types, attrs):
    return [TensorType(attrs["dtype"], types[0].shape)]


def _cast_ref(x, dtype):
    """Float to int truncates toward zero; NaN gives 0 and what lies beyond the integer type
    its bounds (OpenCL's saturating conversion, the same on every device). int64 to int32
    saturates too. The oracle keeps floats in float64 whatever the target."""
    if dtype in FLOATS:
        return np.asarray(x, np.float64)
    info = np.iinfo(np.int64 if dtype == INT64 else np.int32)
    x = np.asarray(x)
    if x.dtype.kind in "iub":
        return np.clip(x.astype(np.int64), info.min, info.max)
    x = np.trunc(np.nan_to_num(np.asarray(x, np.float64), nan=0.0))
    if dtype == INT64:  # float64 cannot hold int64's bounds exactly: compare before converting
        out = np.where(x >= 2.0**63, info.max, np.where(x < -2.0**63, info.min, 0))
        inside = (x < 2.0**63) & (x >= -2.0**63)
        return np.where(inside, np.where(inside, x, 0).astype(np.int64), out).astype(np.int64)
    return np.clip(x, info.min, info.max).astype(np.int64)


def _cast_grad(F, ins, outs, gs, at):
    # to a float type the gradient passes (autodiff casts it back to the input's float type)
    return [gs[0] if at["dtype"] in FLOATS else None]


register(OpDef("cast", "Math", "x converted to another element type (float to int truncates "
               "toward zero; NaN gives 0, values beyond the integer type its bounds)", X,
               attrs=(AttrDef("dtype", "choice", INT, "element type", choices=DTYPES),),
               shape=_cast_shape, reference=_cast_ref, kernel="elementwise", expr="a",
               grad=_cast_grad, label=lambda at: at["dtype"], extra={"int_ok": True}))

elementwise("round", "Math", "nearest whole number, halves away from zero (Theano's default "
            "round; NumPy's round goes to even)", "round(a)",
            lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5),
            unary(lambda F, x, o, g, at: F.zeros_like(x)))
elementwise("floor", "Math", "largest whole number <= x", "floor(a)", np.floor,
            unary(lambda F, x, o, g, at: F.zeros_like(x)))


def _mod_ref(a, b):
    with np.errstate(all="ignore"):
        return np.mod(a, b)


# Python's (and Theano's) mod: the result takes the sign of b. fmod is exact; one correction.
_FMOD = "fmod(a, b)"
elementwise("mod", "Math", "a mod b with the sign of b (Python's %); NaN when b is 0",
            f"(({_FMOD} != 0.0f && (({_FMOD} < 0.0f) != (b < 0.0f))) ? {_FMOD} + b : {_FMOD})",
            _mod_ref,
            lambda F, ins, outs, gs, at: [gs[0], -gs[0] * (ins[0] - outs[0]) / ins[1]],
            inputs=(PortDef("a"), PortDef("b")))


def _int_mod_ref(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.mod(a, safe))


def _int_shape(types, attrs):
    return [elementwise_type(types, ["a", "b"], int_ok=True)]


_IMOD = "(a % b)"
_INT_PAIR = (PortDef("a", dtype=ANY_INT), PortDef("b", dtype=ANY_INT))
register(OpDef("int_mod", "Math", "integer a mod b with the sign of b (Python's %); 0 when b is "
               "0 (as NumPy)", _INT_PAIR,
               shape=_int_shape, reference=_int_mod_ref, kernel="elementwise",
               expr=f"((b == 0) ? 0 : (({_IMOD} != 0 && (({_IMOD} < 0) != (b < 0))) ? "
                    f"{_IMOD} + b : {_IMOD}))", extra={"int_ok": True}))


def _int_div_ref(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, np.int64), np.asarray(b, np.int64))
    safe = np.where(b == 0, 1, b)
    return np.where(b == 0, 0, np.floor_divide(a, safe))


register(OpDef("int_div", "Math", "integer a // b rounded toward minus infinity (Python's //); "
               "0 when b is 0 (as NumPy)", _INT_PAIR,
               shape=_int_shape, reference=_int_div_ref, kernel="elementwise",
               expr=f"((b == 0) ? 0 : (({_IMOD} != 0 && ((a < 0) != (b < 0))) ? "
                    "a / b - 1 : a / b))", extra={"int_ok": True}))

register(OpDef("stop_gradient", "Math", "x unchanged; no gradient flows back through it "
               "(Theano's disconnected_grad, consider_constant). A view: no kernel", X,
               shape=lambda types, at: [types[0]], reference=lambda x: np.array(x, copy=True),
               kernel="view"))


# --- sizes that follow a value -----------------------------------------------------------------
def _shape_dim_ref(x, axis):
    return np.int64(np.shape(x)[axis])


register(OpDef("shape_dim", "Tensor", "the size of x along an axis, as an int32 scalar (known "
               "when the graph runs: Theano's x.shape[i])", X, attrs=(_AXIS,),
               shape=lambda types, at: (_axis(at, types[0].ndim), [TensorType(INT, ())])[1],
               reference=_shape_dim_ref, kernel="indexing",
               label=lambda at: f"axis {at['axis']}"))


def _arange_like_shape(types, attrs):
    x = types[0]
    return [TensorType(INT, (x.shape[_axis(attrs, x.ndim)],))]


register(OpDef("arange_like", "Tensor", "0, 1, ..., n - 1 with n the size of x along an axis "
               "(int32; Theano's arange(x.shape[i]))", X, attrs=(_AXIS,),
               shape=_arange_like_shape, kernel="indexing",
               reference=lambda x, axis: np.arange(np.shape(x)[axis], dtype=np.int64),
               label=lambda at: f"axis {at['axis']}"))


# --- dynamic slices ----------------------------------------------------------------------------
_LENGTH = AttrDef("length", "int", 1, "window length (fixed when the graph is built)", low=0,
                  high=1 << 30)


def dynamic_start(start: int, length: int, n: int) -> int:
    """The first index of the window as the kernels take it: Python's wrap, then clamped so
    that the window lies inside the axis."""
    start = int(start)
    if start < 0:
        start += n
    return max(0, min(start, n - length))


def _dynamic_slice_shape(types, attrs):
    x, start = types
    axis = _axis(attrs, x.ndim)
    if start.ndim != 0:
        raise ShapeError(f"the start must be an int32 scalar, got shape {fmt(start.shape)}",
                         port="start")
    n, length = x.shape[axis], attrs["length"]
    if n is not None and length > n:
        raise ShapeError(f"a window of {length} along axis {axis} does not fit in x "
                         f"{fmt(x.shape)}", port="x")
    shape = list(x.shape)
    shape[axis] = length
    return [TensorType(x.dtype, tuple(shape))]


def _dynamic_slice_ref(x, start, axis, length):
    axis = axis % x.ndim
    s = dynamic_start(start, length, x.shape[axis])
    index = [slice(None)] * x.ndim
    index[axis] = slice(s, s + length)
    return x[tuple(index)].copy()


register(OpDef("dynamic_slice", "Tensor", "a window of fixed length along an axis whose start "
               "is an int32 value computed in the graph (x[i * n:(i + 1) * n]); a negative "
               "start counts from the end; the window is clamped inside the axis",
               (PortDef("x"), PortDef("start", dtype=INT)), attrs=(_AXIS, _LENGTH),
               shape=_dynamic_slice_shape, reference=_dynamic_slice_ref, kernel="indexing",
               grad=lambda F, ins, outs, gs, at: [
                   F.apply("dynamic_unslice", gs[0], ins[1], ins[0], axis=at["axis"]), None],
               label=lambda at: f"axis {at['axis']} × {at['length']}"))


def _dynamic_unslice_shape(types, attrs):
    g, start, like = types
    axis = _axis(attrs, like.ndim, "like")
    if start.ndim != 0:
        raise ShapeError("the start must be an int32 scalar", port="start")
    if g.ndim != like.ndim or any(not _compatible(a, b) for i, (a, b) in
                                  enumerate(zip(g.shape, like.shape)) if i != axis):
        raise ShapeError(f"g {fmt(g.shape)} is no window of like {fmt(like.shape)} along axis "
                         f"{axis}", port="g")
    if None not in (g.shape[axis], like.shape[axis]) and g.shape[axis] > like.shape[axis]:
        raise ShapeError(f"g {fmt(g.shape)} is longer than like {fmt(like.shape)} along axis "
                         f"{axis}", port="g")
    return [TensorType(g.dtype, like.shape)]


def _dynamic_unslice_ref(g, start, like, axis):
    axis = axis % like.ndim
    length = g.shape[axis]
    s = dynamic_start(start, length, like.shape[axis])
    out = np.zeros(like.shape, np.float64)
    index = [slice(None)] * like.ndim
    index[axis] = slice(s, s + length)
    out[tuple(index)] = g
    return out


register(OpDef("dynamic_unslice", GRADIENTS, "g placed into zeros shaped like `like` at the "
               "window dynamic_slice takes (its gradient)",
               (PortDef("g"), PortDef("start", dtype=INT), PortDef("like")), attrs=(_AXIS,),
               shape=_dynamic_unslice_shape, reference=_dynamic_unslice_ref, kernel="indexing",
               grad=lambda F, ins, outs, gs, at: [
                   F.apply("dynamic_slice", gs[0], ins[1], axis=at["axis"],
                           length=ins[0].shape[at["axis"]]), None, None]))


# --- integer-array indexing ------------------------------------------------------------------
def _take_shape(types, attrs):
    x, index = types
    axis = _axis(attrs, x.ndim)
    return [TensorType(x.dtype, (*x.shape[:axis], *index.shape, *x.shape[axis + 1:]))]


def _take_ref(x, index, axis):
    axis = axis % x.ndim
    wrapped, ok = _wrap(index, x.shape[axis])
    out = np.take(x, np.where(ok, wrapped, 0), axis=axis)
    mask = ok.reshape((1,) * axis + ok.shape + (1,) * (x.ndim - axis - 1))
    return np.where(mask, out, 0)


def _take_grad(F, ins, outs, gs, at):
    return [F.apply("take_grad", gs[0], ins[1], ins[0], axis=at["axis"]), None]


register(OpDef("take", "Tensor", "x indexed along an axis by an int32 array (NumPy take; "
               "x[idx] for axis 0); an index outside [-n, n) gives 0",
               (PortDef("x"), PortDef("index", dtype=INT)), attrs=(_AXIS,),
               shape=_take_shape, reference=_take_ref, kernel="indexing", grad=_take_grad,
               label=lambda at: f"axis {at['axis']}"))


def _take_grad_shape(types, attrs):
    g, index, like = types
    axis = _axis(attrs, like.ndim, "like")
    (want,) = _take_shape([like, index], attrs)
    if g.ndim != want.ndim or not all(_compatible(a, b) for a, b in zip(g.shape, want.shape)):
        raise ShapeError(f"g {fmt(g.shape)} does not match take of like {fmt(like.shape)} by "
                         f"index {fmt(index.shape)} along axis {axis}", port="g")
    return [TensorType(float_of(g.dtype), like.shape)]


def _take_grad_ref(g, index, like, axis):
    axis = axis % like.ndim
    n = like.shape[axis]
    wrapped, ok = _wrap(index, n)
    flat = wrapped.reshape(-1)
    g = np.asarray(g, np.float64).reshape(*like.shape[:axis], flat.size, *like.shape[axis + 1:])
    out = np.zeros(like.shape, np.float64)
    for k, (i, inside) in enumerate(zip(flat, ok.reshape(-1))):
        if inside:
            src = [slice(None)] * like.ndim
            dst = [slice(None)] * like.ndim
            src[axis], dst[axis] = k, int(i)
            out[tuple(dst)] += g[tuple(src)]
    return out


register(OpDef("take_grad", GRADIENTS, "zeros shaped like `like` with g added at the positions "
               "take read (its gradient; repeated indices add up)",
               (PortDef("g"), PortDef("index", dtype=INT), PortDef("like")), attrs=(_AXIS,),
               shape=_take_grad_shape, reference=_take_grad_ref, kernel="indexing",
               grad=lambda F, ins, outs, gs, at: [F.apply("take", gs[0], ins[1],
                                                          axis=at["axis"]), None, None]))


def _gather_shape(types, attrs):
    x, index = types
    axis = _axis(attrs, x.ndim)
    if index.ndim != x.ndim or any(not _compatible(a, b) for i, (a, b) in
                                   enumerate(zip(index.shape, x.shape)) if i != axis):
        raise ShapeError(f"index {fmt(index.shape)} must have the shape of x {fmt(x.shape)} "
                         f"except along axis {axis}", port="index")
    return [TensorType(x.dtype, index.shape)]


def _gather_ref(x, index, axis):
    axis = axis % x.ndim
    wrapped, ok = _wrap(index, x.shape[axis])
    return np.where(ok, np.take_along_axis(x, np.where(ok, wrapped, 0), axis=axis), 0)


register(OpDef("gather", "Tensor", "out[..., k, ...] = x[..., index[..., k, ...], ...] along "
               "an axis (torch.gather, NumPy take_along_axis); an index outside [-n, n) gives 0",
               (PortDef("x"), PortDef("index", dtype=INT)), attrs=(_AXIS,),
               shape=_gather_shape, reference=_gather_ref, kernel="indexing",
               grad=lambda F, ins, outs, gs, at: [
                   F.apply("gather_grad", gs[0], ins[1], ins[0], axis=at["axis"]), None],
               label=lambda at: f"axis {at['axis']}"))


def _gather_grad_shape(types, attrs):
    g, index, like = types
    (want,) = _gather_shape([like, index], attrs)
    if g.ndim != want.ndim or not all(_compatible(a, b) for a, b in zip(g.shape, want.shape)):
        raise ShapeError(f"g {fmt(g.shape)} does not have the shape of index "
                         f"{fmt(index.shape)}", port="g")
    return [TensorType(float_of(g.dtype), like.shape)]


def _gather_grad_ref(g, index, like, axis):
    axis = axis % like.ndim
    wrapped, ok = _wrap(index, like.shape[axis])
    out = np.zeros(like.shape, np.float64)
    g = np.broadcast_to(np.asarray(g, np.float64), index.shape)
    for pos in np.ndindex(*index.shape):
        if ok[pos]:
            dst = list(pos)
            dst[axis] = int(wrapped[pos])
            out[tuple(dst)] += g[pos]
    return out


register(OpDef("gather_grad", GRADIENTS, "zeros shaped like `like` with g added where gather "
               "read (its gradient; repeated indices add up)",
               (PortDef("g"), PortDef("index", dtype=INT), PortDef("like")), attrs=(_AXIS,),
               shape=_gather_grad_shape, reference=_gather_grad_ref, kernel="indexing",
               grad=lambda F, ins, outs, gs, at: [F.apply("gather", gs[0], ins[1],
                                                          axis=at["axis"]), None, None]))


# --- flatten (a view) ----------------------------------------------------------------------------
def _flatten_shape(types, attrs):
    (x,) = types
    ndim = attrs["ndim"]
    if ndim > max(x.ndim, 1):
        raise ShapeError(f"cannot flatten a {x.ndim}-d value to {ndim} dimensions", port="x")
    rest = x.shape[ndim - 1:]
    last = None if None in rest else int(np.prod(rest, dtype=np.int64))
    return [TensorType(x.dtype, (*x.shape[:ndim - 1], last))]


register(OpDef("flatten", "Tensor", "x with its trailing axes joined so that ndim remain "
               "(Theano's flatten)", X,
               attrs=(AttrDef("ndim", "int", 1, "dimensions kept", low=1, high=8),),
               shape=_flatten_shape, kernel="view",
               reference=lambda x, ndim: np.reshape(x, (*np.shape(x)[:ndim - 1], -1)),
               grad=lambda F, ins, outs, gs, at: [F.apply("reshape_like", gs[0], ins[0])],
               label=lambda at: f"{at['ndim']}-d"))
