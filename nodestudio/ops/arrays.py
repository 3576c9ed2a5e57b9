"""Rearranging values: padding with zeros and reversing axes. Composites over concatenate and
slice (a slice with step -1 reverses), so they need no kernel of their own."""

from __future__ import annotations

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops.registry import INT, AttrDef, OpDef, PortDef, register
from nodestudio.ops.shapes import normalise_axes

X = (PortDef("x"),)


def _widths(value, ndim: int) -> list[tuple[int, int]]:
    """(before, after) per leading axis, checked; the axes not named are not padded."""
    def whole(v):
        return isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 0
    if not isinstance(value, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 and all(whole(v) for v in p)
            for p in value):
        raise ShapeError(f"widths must be (before, after) pairs of whole numbers >= 0, one per "
                         f"leading axis, got {value!r}")
    if len(value) > ndim:
        raise ShapeError(f"{len(value)} (before, after) pairs for a {ndim}-d input", port="x")
    return [(int(b), int(a)) for b, a in value]


def _zeros_block(F, x, axis: int, width: int):
    """Zeros shaped as x but `width` long along `axis`; of x's dtype."""
    dtype = np.int64 if x.dtype == INT else np.float64
    others = [d for i, d in enumerate(x.shape) if i != axis]
    if None not in others:
        shape = tuple(width if i == axis else d for i, d in enumerate(x.shape))
        return F.as_variable(np.zeros(shape, dtype))
    # a free dimension: zeros of x's shape, 1 long along the axis, broadcast to the width
    if x.shape[axis] == 0:
        raise ShapeError(f"pad cannot widen the empty axis {axis} of an input with a free "
                         "dimension", port="x")
    first = F.slice(x, [(None, None, None)] * axis + [(0, 1, 1)])
    first = F.expand_dims(F.squeeze(first, (axis,)), (axis,))  # declared 1 long, not free
    stretch = F.as_variable(np.zeros(tuple(width if i == axis else 1
                                           for i in range(x.ndim)), dtype))
    return F.zeros_like(first) * stretch


def _pad(F, ins, at, mode):
    (x,) = ins
    for axis, (before, after) in enumerate(_widths(at["widths"], x.ndim)):
        parts = ([_zeros_block(F, x, axis, before)] if before else []) + [x] + \
            ([_zeros_block(F, x, axis, after)] if after else [])
        if len(parts) > 1:
            x = F.concatenate(parts, axis=axis)
    return [x]


register(OpDef("pad", "Tensor", "x with zeros added before and after along its leading axes "
               "(NumPy's pad, mode constant)", X,
               attrs=(AttrDef("widths", "any", ((1, 1),), "(before, after) per leading axis"),),
               expand=_pad, label=lambda at: " ".join(f"{b}|{a}" for b, a in at["widths"])
               if isinstance(at["widths"], (list, tuple)) else "?"))


def _flip(F, ins, at, mode):
    (x,) = ins
    axes = normalise_axes(at["axes"], x.ndim)
    if not axes:
        return [x]
    spec = [(None, None, -1) if i in axes else (None, None, None) for i in range(max(axes) + 1)]
    return [F.slice(x, spec)]


register(OpDef("flip", "Tensor", "x with the order of its elements reversed along axes (all: "
               "none named), as NumPy's flip: a slice with step -1", X,
               attrs=(AttrDef("axes", "axes", None, "axes to reverse (none: all)"),),
               expand=_flip,
               label=lambda at: "all" if at["axes"] is None else
               "axis " + ",".join(map(str, at["axes"]))))
