"""Reductions built from others: min, variance, standard deviation and log-sum-exp. Composites,
so their shape rule, reference and gradient come from their expansion (max, mean, sum, exp,
log), and they need no kernel of their own."""

from __future__ import annotations

import math

import numpy as np

from nodestudio.ops.reductions import AXIS_ATTRS, _label
from nodestudio.ops.registry import AttrDef, OpDef, PortDef, register
from nodestudio.ops.shapes import normalise_axes

X = (PortDef("x"),)


def _min(F, ins, at, mode):
    """-max(-x): NaN if any element is NaN, +inf over no elements, and tied minima share the
    gradient evenly, all as max."""
    (x,) = ins
    return [-F.max(-x, axis=at["axis"], keepdims=at["keepdims"])]


register(OpDef("min", "Reduce", "minimum over axes (tied minima share the gradient evenly); NaN "
               "if any element is NaN, inf over no elements", X, attrs=AXIS_ATTRS,
               expand=_min, label=_label))


def _var(F, x, at):
    axes = normalise_axes(at["axis"], x.ndim)
    centred = x - F.mean(x, axis=at["axis"], keepdims=True)
    squares = F.square(centred)
    ddof = at["ddof"]
    if ddof == 0:
        return F.mean(squares, axis=at["axis"], keepdims=at["keepdims"])
    total = F.sum(squares, axis=at["axis"], keepdims=at["keepdims"])
    dims = [x.shape[a] for a in axes]
    if all(d is not None for d in dims):
        return total / float(math.prod(dims) - ddof)  # 0 for n == ddof: inf or NaN, as NumPy
    count = F.sum(F.ones_like(x), axis=at["axis"], keepdims=at["keepdims"])  # a free dimension
    return total / (count - float(ddof))


_DDOF = AttrDef("ddof", "int", 0, "delta degrees of freedom: the sum of squares is divided by "
                "n - ddof (0: the population variance, NumPy's default; 1: the sample variance)",
                low=0)
register(OpDef("var", "Reduce", "variance over axes, mean((x - mean(x))²) for ddof 0", X,
               attrs=(*AXIS_ATTRS, _DDOF), expand=lambda F, ins, at, mode: [_var(F, ins[0], at)],
               label=_label))
register(OpDef("std", "Reduce", "standard deviation over axes, sqrt(var)", X,
               attrs=(*AXIS_ATTRS, _DDOF),
               expand=lambda F, ins, at, mode: [F.sqrt(_var(F, ins[0], at))], label=_label))


def _logsumexp(F, ins, at, mode):
    """log(sum(exp(x))) computed as m + log(sum(exp(x - m))), m the maximum, so that large x
    does not overflow; m is taken as 0 where it is infinite (all -inf: -inf; any +inf: +inf),
    as PyTorch does."""
    (x,) = ins
    axes = normalise_axes(at["axis"], x.ndim)
    peak = F.max(x, axis=at["axis"], keepdims=True)
    shift = F.where(F.eq(F.abs(peak), np.inf), 0.0, peak)
    total = F.sum(F.exp(x - shift), axis=at["axis"], keepdims=True)
    out = F.log(total) + shift
    if not at["keepdims"] and axes:
        out = F.squeeze(out, axes)
    return [out]


register(OpDef("logsumexp", "Reduce", "log(sum(exp(x))) over axes, computed stably", X,
               attrs=AXIS_ATTRS, expand=_logsumexp, label=_label))
