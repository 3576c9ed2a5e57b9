"""Theano's symbolic types and constructors (`T.matrix`, `T.lscalar`, `T.tensor4`,
`T.TensorType`, ...) onto NodeStudio inputs.

NodeStudio's device types are float32, float64, int32 and int64: `dmatrix` / `dtype='float64'`
are float64, `fmatrix` float32, `matrix` floatX (float32 unless theano.config.floatX is set to
'float64'); `lscalar` / `lvector` / `dtype='int64'` are int64, the smaller integer types int32
(docs/THEANO.md). An int64 value given where an op takes int32 (an index, a label) is cast to
int32 by the graph builder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import nodestudio as ns
from nodestudio.ir.expr import Variable
from nodestudio.theano._support import TheanoCompatError

_TYPES = {"float16": "float32", "float32": "float32", "float64": "float64",
          "int8": "int32", "int16": "int32", "int32": "int32", "int64": "int64",
          "uint8": "int32", "uint16": "int32", "uint32": "int64", "bool": "int32"}


def device_dtype(dtype: str | None) -> str:
    """The NodeStudio dtype holding Theano's `dtype` (None or 'floatX': config.floatX)."""
    if dtype is None or dtype == "floatX":
        from nodestudio.theano.config import config
        return config.floatX
    try:
        return _TYPES[str(dtype)]
    except KeyError:
        raise TheanoCompatError(f"dtype {dtype!r}", "NodeStudio holds float32, float64, int32 "
                                "and int64 values") from None


class SymbolicShape(tuple):
    """`x.shape` of an input made by the T.* constructors: the static shape as a tuple (so
    code that iterates or compares it sees int / None), whose integer items are the static
    size where it is known and, for a free dimension, an int32 scalar computed when the graph
    runs (`ns.shape_of`), as Theano's `x.shape[0]` is. `variable` is x."""

    variable: Variable

    def __new__(cls, variable: Variable) -> SymbolicShape:
        shape = super().__new__(cls, variable.type.shape)
        shape.variable = variable
        return shape

    def __getitem__(self, index: Any) -> Any:
        static = tuple.__getitem__(self, index)
        if isinstance(index, (int, np.integer)) and static is None:
            return ns.shape_of(self.variable)[index]
        return static


class TensorVariable(Variable):
    """An input made by a T.* constructor: a Variable whose `.shape` is a SymbolicShape."""

    __slots__ = ()

    @property
    def shape(self) -> SymbolicShape:  # type: ignore[override]
        return SymbolicShape(self)


def _input(name: str | None, shape: tuple[int | None, ...], dtype: str) -> Variable:
    plain = ns.tensor(name, shape, dtype)
    node = plain.owner
    var = TensorVariable(node, 0, plain.type)
    node.outputs = (var,)
    return var


class TensorType:
    """`TensorType(dtype, broadcastable)(name)`: an input of len(broadcastable) dimensions,
    those marked True of size 1."""

    def __init__(self, dtype: str, broadcastable: Sequence[bool], name: str | None = None):
        self.dtype = device_dtype(dtype)
        self.broadcastable = tuple(bool(b) for b in broadcastable)
        self.name = name

    @property
    def ndim(self) -> int:
        return len(self.broadcastable)

    def __call__(self, name: str | None = None) -> Variable:
        shape = tuple(1 if b else None for b in self.broadcastable)
        return _input(name, shape, self.dtype)

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.broadcastable})"


def _maker(ndim: int, fixed: str | None):
    def make(name: str | None = None, dtype: str | None = None) -> Variable:
        return _input(name, (None,) * ndim, device_dtype(fixed or dtype))
    return make


scalar = _maker(0, None)
vector = _maker(1, None)
matrix = _maker(2, None)
tensor3 = _maker(3, None)
tensor4 = _maker(4, None)
fscalar, dscalar, iscalar, lscalar, bscalar, wscalar = (
    _maker(0, d) for d in ("float32", "float64", "int32", "int64", "int8", "int16"))
fvector, dvector, ivector, lvector, bvector, wvector = (
    _maker(1, d) for d in ("float32", "float64", "int32", "int64", "int8", "int16"))
fmatrix, dmatrix, imatrix, lmatrix, bmatrix, wmatrix = (
    _maker(2, d) for d in ("float32", "float64", "int32", "int64", "int8", "int16"))
ftensor3, dtensor3, itensor3, ltensor3 = (
    _maker(3, d) for d in ("float32", "float64", "int32", "int64"))
ftensor4, dtensor4, itensor4, ltensor4 = (
    _maker(4, d) for d in ("float32", "float64", "int32", "int64"))


def row(name: str | None = None, dtype: str | None = None) -> Variable:
    return _input(name, (1, None), device_dtype(dtype))


def col(name: str | None = None, dtype: str | None = None) -> Variable:
    return _input(name, (None, 1), device_dtype(dtype))


def tensor(dtype: str | None = None, broadcastable: Sequence[bool] = (),
           name: str | None = None) -> Variable:
    return TensorType(dtype or "floatX", broadcastable)(name)
