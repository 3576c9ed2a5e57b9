"""Ops that move data without arithmetic: reshapes (views, no kernel), transpose, concatenate,
slice, one-hot, and matrix multiply."""

from __future__ import annotations

import math

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops.registry import (
    ANY_FLOAT,
    FLOAT,
    GRADIENTS,
    INT,
    AttrDef,
    OpDef,
    PortDef,
    TensorType,
    float_of,
    promote,
    register,
)
from nodestudio.ops.shapes import broadcast_shapes, fmt, normalise_axes, size

X = (PortDef("x"),)


# --- reshape family (views of the input buffer) ------------------------------------------------
def _reshape_shape(types, attrs):
    (x,) = types
    target = list(attrs["shape"])
    if sum(1 for d in target if d == -1) > 1 or any(d is not None and d < -1 for d in target):
        raise ShapeError(f"bad target shape {tuple(target)}: at most one -1, no other negatives")
    known_in = size(x.shape)
    rest = math.prod(d for d in target if d not in (-1, None))
    if -1 in target:
        i = target.index(-1)
        if known_in is not None:
            if rest == 0 or known_in % rest:
                raise ShapeError(f"cannot reshape {fmt(x.shape)} to {tuple(attrs['shape'])}",
                                 port="x")
            target[i] = known_in // rest
        else:
            target[i] = None
    elif known_in is not None and None not in target and known_in != rest:
        raise ShapeError(f"cannot reshape {fmt(x.shape)} ({known_in} elements) to "
                         f"{tuple(target)} ({rest} elements)", port="x")
    return [TensorType(x.dtype, tuple(target))]


def _reshape_grad(F, ins, outs, gs, at):
    return [F.apply("reshape_like", gs[0], ins[0])]


register(OpDef("reshape", "Tensor", "same values in a new shape (-1: inferred)", X,
               attrs=(AttrDef("shape", "shape", (-1,), "target shape; one entry may be -1",
                              low=-1),),
               shape=_reshape_shape, reference=lambda x, shape: np.reshape(x, shape),
               kernel="view", grad=_reshape_grad,
               label=lambda at: "→ " + fmt(at["shape"])))

register(OpDef("reshape_like", "Tensor", "x in the shape of `like`",
               (PortDef("x"), PortDef("like")),
               shape=lambda types, at: [TensorType(types[0].dtype, types[1].shape)],
               reference=lambda x, like: np.reshape(x, like.shape), kernel="view",
               grad=lambda F, ins, outs, gs, at: [F.apply("reshape_like", gs[0], ins[0]), None]))


def _expand_shape(types, attrs):
    (x,) = types
    if attrs["axes"] is None:
        raise ShapeError("expand_dims needs the axes to insert")
    ndim = x.ndim + len(attrs["axes"])
    axes = normalise_axes(attrs["axes"], ndim)
    dims = iter(x.shape)
    return [TensorType(x.dtype, tuple(1 if i in axes else next(dims) for i in range(ndim)))]


def _squeeze_shape(types, attrs):
    (x,) = types
    axes = normalise_axes(attrs["axes"], x.ndim)
    for a in axes:
        if x.shape[a] not in (1, None):
            raise ShapeError(f"cannot squeeze axis {a} of size {x.shape[a]}", port="x")
    return [TensorType(x.dtype, tuple(d for i, d in enumerate(x.shape) if i not in axes))]


_AXES = (AttrDef("axes", "axes", (0,), "axes"),)
register(OpDef("expand_dims", "Tensor", "insert size-1 axes", X, attrs=_AXES,
               shape=_expand_shape, kernel="view",
               reference=lambda x, axes: np.expand_dims(x, tuple(axes)),
               grad=lambda F, ins, outs, gs, at: [F.squeeze(gs[0], at["axes"])]))
register(OpDef("squeeze", "Tensor", "remove size-1 axes", X, attrs=_AXES,
               shape=_squeeze_shape, kernel="view",
               reference=lambda x, axes: np.squeeze(x, tuple(normalise_axes(axes, x.ndim))),
               grad=lambda F, ins, outs, gs, at: [F.apply("reshape_like", gs[0], ins[0])]))


# --- transpose -------------------------------------------------------------------------------
def _transpose_shape(types, attrs):
    (x,) = types
    if attrs["axes"] is None or len(attrs["axes"]) != x.ndim:
        raise ShapeError(f"axes {attrs['axes']} are not a permutation of {x.ndim} axes", port="x")
    axes = tuple(a % x.ndim for a in attrs["axes"]) if x.ndim else ()
    if sorted(axes) != list(range(x.ndim)) or any(not -x.ndim <= a < x.ndim
                                                   for a in attrs["axes"]):
        raise ShapeError(f"axes {attrs['axes']} are not a permutation of {x.ndim} axes", port="x")
    return [TensorType(x.dtype, tuple(x.shape[a] for a in axes))]


register(OpDef("transpose", "Tensor", "permute axes", X,
               attrs=(AttrDef("axes", "axes", (1, 0), "new order of the axes"),),
               shape=_transpose_shape, reference=lambda x, axes: np.transpose(x, axes),
               kernel="layout",
               grad=lambda F, ins, outs, gs, at: [F.transpose(gs[0], _inverse(at["axes"]))]))


def _inverse(axes) -> tuple[int, ...]:
    """The permutation that undoes `axes` (negative axes allowed)."""
    ndim = len(axes)
    return tuple(int(i) for i in np.argsort([a % ndim for a in axes]))


# --- concatenate and slice ---------------------------------------------------------------------
def _concat_shape(types, attrs):
    if not types:
        raise ShapeError("concatenate needs at least one input")
    first = types[0]
    axis = normalise_axes((attrs["axis"],), first.ndim, "x0")[0]
    total: int | None = 0
    for i, t in enumerate(types):
        if t.ndim != first.ndim or any(a != b and None not in (a, b) for j, (a, b) in
                                       enumerate(zip(t.shape, first.shape)) if j != axis):
            raise ShapeError(f"shape {fmt(t.shape)} does not fit x0 {fmt(first.shape)} "
                             f"outside axis {axis}", port=f"x{i}")
        total = None if total is None or t.shape[axis] is None else total + t.shape[axis]
    shape = list(first.shape)
    shape[axis] = total
    return [TensorType(promote(*(t.dtype for t in types)), tuple(shape))]


def _concat_grad(F, ins, outs, gs, at):
    axis = normalise_axes((at["axis"],), ins[0].ndim)[0]
    grads, start = [], 0
    for x in ins:
        if x.shape[axis] is None:
            raise ShapeError("the gradient of concatenate needs a known size along its axis",
                             port=f"x{len(grads)}")
        spec = [(None, None, None)] * axis + [(start, start + x.shape[axis], 1)]
        grads.append(F.slice(gs[0], spec))
        start += x.shape[axis]
    return grads


register(OpDef("concatenate", "Tensor", "join inputs along an axis", (PortDef("x"),),
               attrs=(AttrDef("axis", "int", 0, "axis to join along"),
                      AttrDef("n", "int", 2, "number of inputs", low=1, high=64)),
               shape=_concat_shape, variadic=True, kernel="layout", grad=_concat_grad,
               reference=lambda *xs, axis, n: np.concatenate(xs, axis=axis)))


def slice_index(slices) -> tuple[slice, ...]:
    return tuple(slice(*s) for s in slices)


def _valid_slices(slices) -> bool:
    def part(v):
        return v is None or (isinstance(v, (int, np.integer)) and not isinstance(v, bool))
    return isinstance(slices, (list, tuple)) and all(
        isinstance(s, (list, tuple)) and len(s) == 3 and all(part(v) for v in s) for s in slices)


def _slice_shape(types, attrs):
    x = types[0]
    if not _valid_slices(attrs["slices"]):
        raise ShapeError(f"slices must be (start, stop, step) triples of integers or None, "
                         f"got {attrs['slices']!r}")
    if len(attrs["slices"]) > x.ndim:
        raise ShapeError(f"{len(attrs['slices'])} slices for a {x.ndim}-d input", port="x")
    shape = list(x.shape)
    for axis, spec in enumerate(attrs["slices"]):
        if len(spec) != 3:
            raise ShapeError(f"slice for axis {axis} must be (start, stop, step), got {spec}")
        if spec[2] == 0:
            raise ShapeError(f"slice step for axis {axis} must not be zero")
        dim = x.shape[axis]
        shape[axis] = None if dim is None else len(range(*slice(*spec).indices(dim)))
    return [TensorType(x.dtype, tuple(shape))]


def _slice_grad(F, ins, outs, gs, at):
    """g placed back where the window came from. A negative step reads its axis backwards:
    g reversed along it lands in the same places read forwards (unslice takes positive steps)."""
    x, g = ins[0], gs[0]
    forwards, reverse = [], []
    for axis, spec in enumerate(at["slices"]):
        if spec[2] is None or spec[2] > 0:
            forwards.append(tuple(spec))
            reverse.append((None, None, None))
            continue
        reverse.append((None, None, -1))
        if tuple(spec) == (None, None, -1):
            forwards.append((None, None, None))
            continue
        if x.shape[axis] is None:
            raise ShapeError(f"the gradient of a slice with step {spec[2]} needs a known size "
                             f"along axis {axis}", port="x")
        picked = range(*slice(*spec).indices(x.shape[axis]))
        forwards.append((picked[-1], picked[0] + 1, -spec[2]) if picked else (0, 0, 1))
    if any(r != (None, None, None) for r in reverse):
        g = F.slice(g, reverse)
    return [F.apply("unslice", g, x, slices=tuple(forwards))]


_SLICES = (AttrDef("slices", "any", (), "(start, stop, step) per leading axis; None: default"),)
register(OpDef("slice", "Tensor", "a strided window of x (NumPy basic slicing; a negative step "
               "reads backwards)", X,
               attrs=_SLICES, shape=_slice_shape, kernel="layout",
               reference=lambda x, slices: x[slice_index(slices)].copy(), grad=_slice_grad))


def _unslice_shape(types, attrs):
    g, like = types
    if _valid_slices(attrs["slices"]) and any(s[2] is not None and s[2] < 0
                                              for s in attrs["slices"]):
        raise ShapeError(f"unslice takes positive steps, got {attrs['slices']!r}")
    (window,) = _slice_shape([like], attrs)
    if len(g.shape) != len(window.shape) or any(
            a is not None and b is not None and a != b for a, b in zip(g.shape, window.shape)):
        raise ShapeError(f"g {fmt(g.shape)} does not match the slice {fmt(window.shape)} of "
                         f"like {fmt(like.shape)}", port="g")
    return [TensorType(float_of(g.dtype), like.shape)]


def _unslice_ref(g, like, slices):
    out = np.zeros(like.shape, dtype=np.float64)
    out[slice_index(slices)] = g
    return out


register(OpDef("unslice", GRADIENTS, "g placed into zeros shaped like `like` (slice's gradient)",
               (PortDef("g"), PortDef("like")), attrs=_SLICES, kernel="layout",
               shape=lambda types, at: _unslice_shape(types, at),
               reference=_unslice_ref,
               grad=lambda F, ins, outs, gs, at: [F.slice(gs[0], at["slices"]), None]))


# --- one-hot and matmul -----------------------------------------------------------------------
def _one_hot_ref(labels, depth):
    return (labels[..., None] == np.arange(depth)).astype(np.float64)


register(OpDef("one_hot", "Tensor", "1.0 at each label's index along a new last axis "
               "(labels out of range give a row of zeros)", (PortDef("labels", dtype=INT),),
               attrs=(AttrDef("depth", "int", 10, "number of classes", low=1, high=1 << 24),),
               shape=lambda types, at: [TensorType(FLOAT, (*types[0].shape, at["depth"]))],
               reference=_one_hot_ref, kernel="one_hot", label=lambda at: f"{at['depth']}"))


def _matmul_shape(types, attrs):
    """op(a) @ op(b) over the last two axes; leading (batch) axes broadcast as in NumPy's
    matmul, so (8, 45, 65) @ (8, 65, 100) is 8 products and (45, 65) @ (8, 65, 100) too."""
    a, b = types
    for port, t in (("a", a), ("b", b)):
        if t.ndim < 2:
            raise ShapeError(f"matmul needs inputs of at least 2 dimensions, got {fmt(t.shape)}",
                             port=port)
    m, ka = (a.shape[-1], a.shape[-2]) if attrs["trans_a"] else a.shape[-2:]
    kb, n = (b.shape[-1], b.shape[-2]) if attrs["trans_b"] else b.shape[-2:]
    if ka is not None and kb is not None and ka != kb:
        raise ShapeError(f"inner dimensions differ: a {fmt(a.shape)}"
                         f"{'ᵀ' if attrs['trans_a'] else ''} and b {fmt(b.shape)}"
                         f"{'ᵀ' if attrs['trans_b'] else ''}", port="b")
    batch = broadcast_shapes([a.shape[:-2], b.shape[:-2]], ["a", "b"])
    if a.dtype != b.dtype:  # ns.dot casts the float32 operand; a file's matmul must match
        raise ShapeError(f"matmul of {a.dtype} and {b.dtype}: cast the float32 operand with "
                         f"ns.cast(x, 'float64') first",
                         port="a" if a.dtype == FLOAT else "b")
    return [TensorType(a.dtype, (*batch, m, n))]


def _matmul_ref(a, b, trans_a, trans_b):
    return np.matmul(np.swapaxes(a, -1, -2) if trans_a else a,
                     np.swapaxes(b, -1, -2) if trans_b else b)


def _matmul_grad(F, ins, outs, gs, at):
    a, b, g = ins[0], ins[1], gs[0]
    ta, tb = at["trans_a"], at["trans_b"]
    if not ta and not tb:
        grads = [F.matmul(g, b, trans_b=True), F.matmul(a, g, trans_a=True)]
    elif ta and not tb:
        grads = [F.matmul(b, g, trans_b=True), F.matmul(a, g)]
    elif not ta and tb:
        grads = [F.matmul(g, b), F.matmul(g, a, trans_a=True)]
    else:
        grads = [F.matmul(b, g, trans_a=True, trans_b=True),
                 F.matmul(g, a, trans_a=True, trans_b=True)]
    # an operand broadcast over batch axes gets the sum over them
    return [grad if grad.ndim == x.ndim and grad.shape == x.shape else F.sum_to(grad, x.shape)
            for grad, x in zip(grads, (a, b))]


register(OpDef("matmul", "Linear algebra", "matrix product op(a) @ op(b), op = transpose or not; "
               "leading axes are batch axes, broadcast as in NumPy's matmul",
               (PortDef("a", dtype=ANY_FLOAT), PortDef("b", dtype=ANY_FLOAT)),
               attrs=(AttrDef("trans_a", "bool", False, "use aᵀ"),
                      AttrDef("trans_b", "bool", False, "use bᵀ")),
               shape=_matmul_shape, reference=_matmul_ref, kernel="matmul", grad=_matmul_grad,
               label=lambda at: ("aᵀ" if at["trans_a"] else "a") + " @ " +
               ("bᵀ" if at["trans_b"] else "b")))
