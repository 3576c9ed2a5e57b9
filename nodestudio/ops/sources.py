"""Nodes that bring values into the graph: inputs, constants and parameters."""

from __future__ import annotations

from nodestudio.ops.init import INITIALISERS
from nodestudio.ops.registry import DTYPES, FLOAT, AttrDef, OpDef, PortDef, TensorType, register
from nodestudio.ops.shapes import fmt


def _declared(types, attrs):
    return [TensorType(attrs["dtype"], tuple(attrs["shape"]))]


_SHAPE = AttrDef("shape", "shape", (), "shape; None for a dimension given at run time")
_DTYPE = AttrDef("dtype", "choice", FLOAT, "element type", choices=DTYPES)

INPUT_ROLES = ("auto", "features", "labels")
# The widest spread an initialiser may be asked for: far beyond any useful weight, and small
# enough that every draw (a normal one reaches ~40 std) stays a finite float32.
MAX_SPREAD = 1e30


def _input_label(at) -> str:
    role = at.get("role", "auto")
    return fmt(at["shape"]) + ("" if role == "auto" else f" · {role}")


register(OpDef("input", "Inputs", "a value supplied at each call (data, labels)", (),
               attrs=(_SHAPE, _DTYPE,
                      AttrDef("role", "choice", "auto", "what training feeds here: the "
                              "dataset's features or its labels (auto: by name and type)",
                              choices=INPUT_ROLES)),
               shape=_declared, kernel="source", label=_input_label))
register(OpDef("constant", "Inputs", "a fixed value", (),
               attrs=(_SHAPE, _DTYPE, AttrDef("value", "float", 0.0, "value of every element "
                                                "(may be -inf or inf: a mask)", finite=False)),
               shape=_declared, kernel="source", label=lambda at: f"{at['value']:g}"))
register(OpDef("parameter", "Inputs", "a learned value kept on the device between calls", (),
               attrs=(_SHAPE, _DTYPE,
                      AttrDef("init", "choice", "glorot_tanh", "initialiser", choices=INITIALISERS),
                      AttrDef("std", "float", 0.01, "standard deviation (normal)", low=0.0,
                              high=MAX_SPREAD),
                      AttrDef("scale", "float", 0.05, "half-width a of U(-a, a) (uniform)",
                              low=0.0, high=MAX_SPREAD),
                      AttrDef("value", "float", 0.0, "value (constant)"),
                      AttrDef("seed", "int", 0, "initialiser seed", low=0),
                      AttrDef("trainable", "bool", True, "updated by optimizers")),
               shape=_declared, kernel="source",
               label=lambda at: f"{fmt(at['shape'])} {at['init']}"))

NO_INPUTS: tuple[PortDef, ...] = ()
