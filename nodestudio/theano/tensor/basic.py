"""Theano's tensor functions (`T.dot`, `T.mean`, `T.cast`, `T.switch`, ...) mapped onto the core
API. Most are NodeStudio's own builders under Theano's names and argument spellings; the rest
are written here from core ops (docs/THEANO.md lists each mapping)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import nodestudio as ns
from nodestudio.ir import build
from nodestudio.ir.expr import Variable, as_variable
from nodestudio.theano._support import TheanoCompatError
from nodestudio.theano.tensor.types import device_dtype

# --- elementwise ------------------------------------------------------------------------------


def exp(x): return ns.exp(x)
def log(x): return ns.log(x)
def log1p(x): return ns.log1p(x)
def expm1(x): return ns.expm1(x)
def sqrt(x): return ns.sqrt(x)
def sqr(x): return ns.square(x)
def tanh(x): return ns.tanh(x)
def abs_(x): return ns.abs(x)
def sgn(x): return ns.sign(x)
def neg(x): return -as_variable(x)
def pow(x, y): return as_variable(x) ** y  # noqa: A001  (Theano's name)
def maximum(x, y): return ns.maximum(x, y)
def minimum(x, y): return ns.minimum(x, y)
def eq(a, b): return ns.eq(a, b)
def neq(a, b): return ns.neq(a, b)
def lt(a, b): return ns.lt(a, b)
def le(a, b): return ns.le(a, b)
def gt(a, b): return ns.gt(a, b)
def ge(a, b): return ns.ge(a, b)
def switch(cond, ift, iff): return ns.where(cond, ift, iff)
def zeros_like(x, dtype=None): return build.zeros_like(as_variable(x))
def ones_like(x, dtype=None): return build.ones_like(as_variable(x))


square = sqr
abs = abs_  # noqa: A001


def erf(x): return ns.erf(x)
def sin(x): return ns.sin(x)
def cos(x): return ns.cos(x)


def clip(x, a_min, a_max):
    """Theano's clip: x limited to [a_min, a_max] (ns.clip where the core API has it)."""
    try:
        return ns.clip(x, a_min, a_max)
    except TheanoCompatError:
        return ns.minimum(ns.maximum(x, a_min), a_max)


def round(x, mode: str | None = None):  # noqa: A001  (Theano's name)
    """Theano rounds half away from zero by default ('half_away_from_zero') and to even with
    mode='half_to_even'."""
    return ns.round(x) if mode is None else ns.round(x, mode=mode)


def cast(x, dtype: str):
    """T.cast to any of the device types (float64 where the device has double; int8 / int16 /
    uint8 / bool become int32)."""
    return ns.cast(x, device_dtype(dtype))


def arange(start, stop=None, step=1, dtype=None):
    fn = ns.arange
    if stop is None:
        return fn(start) if step == 1 else fn(0, start, step)
    return fn(start, stop, step)


def set_subtensor(x, y, inplace: bool = False, tolerate_inplace_aliasing: bool = False):
    return ns.set_subtensor(x, y)


def inc_subtensor(x, y, inplace: bool = False, set_instead_of_inc: bool = False,
                  tolerate_inplace_aliasing: bool = False):
    if set_instead_of_inc:
        return set_subtensor(x, y)
    return ns.inc_subtensor(x, y)


# --- reductions -------------------------------------------------------------------------------


def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(x, axis=None, dtype=None, keepdims: bool = False, acc_dtype=None):  # noqa: A001
    return ns.sum(x, axis=_axis(axis), keepdims=keepdims)


def mean(x, axis=None, dtype=None, keepdims: bool = False, acc_dtype=None):
    return ns.mean(x, axis=_axis(axis), keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    return ns.max(x, axis=_axis(axis), keepdims=keepdims)


def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    try:
        fn = ns.min
    except TheanoCompatError:
        return -ns.max(-as_variable(x), axis=_axis(axis), keepdims=keepdims)
    return fn(x, axis=_axis(axis), keepdims=keepdims)


def argmax(x, axis=None, keepdims: bool = False):
    """Theano's argmax over all elements when axis is None (of the flattened tensor)."""
    x = as_variable(x)
    if axis is None:
        x, axis = flatten(x, 1), 0
    return ns.argmax(x, axis=axis, keepdims=keepdims)


def argmin(x, axis=None, keepdims: bool = False):
    return argmax(-as_variable(x), axis=axis, keepdims=keepdims)


def var(x, axis=None, keepdims: bool = False):
    return ns.var(x, axis=_axis(axis), keepdims=keepdims)


def std(x, axis=None, keepdims: bool = False):
    return ns.std(x, axis=_axis(axis), keepdims=keepdims)


def prod(x, axis=None, keepdims: bool = False):
    raise TheanoCompatError("T.prod", "take ns.exp(ns.sum(ns.log(x))) for positive x")


# --- linear algebra and structure -------------------------------------------------------------


def dot(a, b): return ns.dot(a, b)
def transpose(x, axes=None): return ns.transpose(x, axes)
def concatenate(tensors: Sequence[Any], axis: int = 0): return ns.concatenate(list(tensors), axis)


def stack(tensors: Sequence[Any], axis: int = 0):
    return ns.concatenate([ns.expand_dims(t, axis) for t in tensors], axis)


def reshape(x, newshape, ndim=None):
    x = as_variable(x)
    if hasattr(x, "reshape"):  # the variable method, where the core API has one
        return x.reshape(newshape)
    return ns.reshape(x, newshape)


def flatten(x, ndim: int = 1, outdim: int | None = None):
    """Keep the first ndim - 1 axes and fold the rest into one (Theano's flatten)."""
    x = as_variable(x)
    ndim = outdim if outdim is not None else ndim
    if not 1 <= ndim <= x.ndim:
        raise TheanoCompatError(f"flatten to {ndim} dimensions of a {x.ndim}-d tensor")
    kept, folded = x.shape[:ndim - 1], x.shape[ndim - 1:]
    if None not in folded:
        return ns.reshape(x, [*(-1 if d is None else d for d in kept), math.prod(folded)])
    if sum_free(kept) == 0:
        return ns.reshape(x, [*kept, -1])
    raise TheanoCompatError(f"flatten of {x.type} to {ndim} dimensions with more than one "
                            "free dimension")


def sum_free(dims) -> int:
    return len([d for d in dims if d is None])


def shape(x) -> Any:
    return as_variable(x).shape


def grad(cost, wrt, consider_constant=None, disconnected_inputs: str = "raise",
         add_names: bool = True, known_grads=None, return_disconnected: str = "zero",
         null_gradients: str = "raise"):
    """T.grad / theano.grad: ns.grad, with consider_constant through the core API."""
    if known_grads is not None:
        raise TheanoCompatError("grad(known_grads=...)")
    if isinstance(wrt, tuple):
        wrt = list(wrt)
    return ns.grad(cost, wrt, consider_constant=list(consider_constant or ()))


def as_tensor_variable(x, name=None, ndim=None) -> Variable:
    return as_variable(x)
