"""Reductions over axes, and softmax / log-softmax along one axis."""

from __future__ import annotations

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops.registry import INT, AttrDef, OpDef, PortDef, TensorType, float_of, register
from nodestudio.ops.shapes import normalise_axes, reduced_shape

AXIS_ATTRS = (AttrDef("axis", "axes", None, "axes to reduce (none: all)"),
              AttrDef("keepdims", "bool", False, "keep reduced axes with size 1"))


def _reduce_shape(types, attrs):
    (x,) = types
    axes = normalise_axes(attrs["axis"], x.ndim)
    return [TensorType(float_of(x.dtype), reduced_shape(x.shape, axes, attrs["keepdims"]))]


def _kept(F, g, attrs, ndim):
    """The output gradient with the reduced axes put back as size-1 axes."""
    if attrs["keepdims"]:
        return g
    axes = normalise_axes(attrs["axis"], ndim)
    return F.expand_dims(g, axes) if axes else g


def _np_axis(attrs, ndim):
    return normalise_axes(attrs["axis"], ndim)


def _label(attrs):
    return "all" if attrs["axis"] is None else "axis " + ",".join(map(str, attrs["axis"]))


register(OpDef(
    "sum", "Reduce", "sum over axes", (PortDef("x"),), attrs=AXIS_ATTRS, shape=_reduce_shape,
    reference=lambda x, axis, keepdims: np.sum(x, axis=_np_axis({"axis": axis}, x.ndim),
                                               keepdims=keepdims),
    kernel="reduce", extra={"reduce": "sum"}, label=_label,
    grad=lambda F, ins, outs, gs, at: [F.broadcast_like(_kept(F, gs[0], at, ins[0].ndim), ins[0])]))

def _mean_ref(x, axis, keepdims):
    """sum / count: NaN over no elements (a batch of 0), as on the device, without np.mean's
    "Mean of empty slice" warning."""
    axes = _np_axis({"axis": axis}, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sum(x, axis=axes, keepdims=keepdims) / np.float64(count)


register(OpDef(
    "mean", "Reduce", "mean over axes", (PortDef("x"),), attrs=AXIS_ATTRS, shape=_reduce_shape,
    reference=_mean_ref,
    kernel="reduce", extra={"reduce": "mean"}, label=_label,
    grad=lambda F, ins, outs, gs, at: [F.broadcast_like(
        _kept(F, gs[0], at, ins[0].ndim), ins[0],
        divide_by_axes=normalise_axes(at["axis"], ins[0].ndim))]))


def _max_grad(F, ins, outs, gs, at):
    """Tied maxima share the gradient evenly (PyTorch's amax and full max): the total that
    flows back is the output's gradient, whatever the ties. A NaN maximum matches no element:
    0 / 0, NaN, as PyTorch has it."""
    x = ins[0]
    peak = F.broadcast_like(_kept(F, outs[0], at, x.ndim), x)
    hits = F.eq(x, peak)
    count = F.sum(hits, axis=at["axis"], keepdims=True)
    share = F.broadcast_like(_kept(F, gs[0], at, x.ndim), x) / F.broadcast_like(count, x)
    return [share * hits]


register(OpDef(
    "max", "Reduce", "maximum over axes (tied maxima share the gradient evenly, as PyTorch's "
    "amax); NaN if any element is NaN, -inf over no elements", (PortDef("x"),),
    attrs=AXIS_ATTRS, shape=_reduce_shape,
    reference=lambda x, axis, keepdims: np.max(
        np.asarray(x, np.float64), axis=_np_axis({"axis": axis}, x.ndim), keepdims=keepdims,
        initial=-np.inf),
    kernel="reduce", extra={"reduce": "max"}, label=_label, grad=_max_grad))


def _argmax_shape(types, attrs):
    (x,) = types
    if x.ndim == 0:
        raise ShapeError("argmax needs at least one axis", port="x")
    axes = normalise_axes((attrs["axis"],), x.ndim)
    if x.shape[axes[0]] == 0:  # known once a batch of 0 is fed: no index to give
        raise ShapeError(f"argmax along axis {attrs['axis']} of size 0: an empty axis has no "
                         f"largest element (x has shape {x.shape})", port="x")
    return [TensorType(INT, reduced_shape(x.shape, axes, attrs["keepdims"]))]


def _argmax_ref(x, axis, keepdims):
    return np.argmax(x, axis=axis, keepdims=keepdims).astype(np.int64)


register(OpDef(
    "argmax", "Reduce", "index of the largest element along an axis (first one on ties)",
    (PortDef("x"),), attrs=(AttrDef("axis", "int", -1, "axis"), AXIS_ATTRS[1]),
    shape=_argmax_shape, reference=_argmax_ref, kernel="reduce", extra={"reduce": "argmax"},
    label=lambda at: f"axis {at['axis']}"))


def _softmax_shape(types, attrs):
    (x,) = types
    if x.ndim == 0:
        raise ShapeError("softmax needs at least one axis", port="x")
    normalise_axes((attrs["axis"],), x.ndim)
    return [TensorType(float_of(x.dtype), x.shape)]


def _softmax_ref(x, axis):
    x = np.asarray(x, np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True, initial=-np.inf))  # -inf: an empty axis
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_ref(x, axis):
    x = np.asarray(x, np.float64)
    shifted = x - np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def _softmax_grad(F, ins, outs, gs, at):
    out, g = outs[0], gs[0]
    return [out * (g - F.sum(g * out, axis=at["axis"], keepdims=True))]


def _log_softmax_grad(F, ins, outs, gs, at):
    out, g = outs[0], gs[0]
    return [g - F.exp(out) * F.sum(g, axis=at["axis"], keepdims=True)]


_AXIS = (AttrDef("axis", "int", -1, "axis the probabilities sum over"),)
register(OpDef("softmax", "Activation", "exp(x) / sum(exp(x)) along an axis, computed stably",
               (PortDef("x"),), attrs=_AXIS, shape=_softmax_shape, reference=_softmax_ref,
               kernel="softmax", grad=_softmax_grad))
register(OpDef("log_softmax", "Activation", "log of softmax, computed stably",
               (PortDef("x"),), attrs=_AXIS, shape=_softmax_shape, reference=_log_softmax_ref,
               kernel="softmax", extra={"log": True}, grad=_log_softmax_grad))
