"""The NumPy float64 reference interpreter: the living definition of what a graph computes,
and the oracle the OpenCL results are tested against."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nodestudio.errors import GraphError, MissingInputError, ShapeError
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import Apply, Variable, check_free_broadcast, toposort
from nodestudio.ir.shared import device_array
from nodestudio.ops.registry import FLOATS, INTS


def host_dtype(dtype: str) -> type:
    return np.float64 if dtype in FLOATS else np.int64


def source_value(node: Apply, feeds: Mapping[Variable, Any]) -> np.ndarray:
    """The value of an input, constant or parameter node, in float64 / int64."""
    var = node.outputs[0]
    dtype = host_dtype(var.dtype)
    if node.op.name == "input":
        if var not in feeds:
            raise MissingInputError(f"no value given for input {node.name!r}")
        raw = feeds[var]
        if var.dtype in INTS:  # refused or converted exactly, as on the device
            raw = device_array(raw, var.dtype, f"input {node.name!r}")
        value = np.asarray(raw, dtype=dtype)
        check_input_shape(var, value.shape)
        return value
    if node.op.name == "constant":
        return np.asarray(node.data if node.data is not None else
                          np.full(node.attrs["shape"], node.attrs["value"]), dtype=dtype)
    if node.op.name == "parameter":
        if var in feeds:  # givens / tests may override a parameter
            return np.asarray(feeds[var], dtype=dtype)
        return np.asarray(node.data.get_value(), dtype=dtype)
    raise GraphError(f"{node.op.name!r} is not a source op", node=node.name)


def check_input_shape(var: Variable, shape: tuple[int, ...]) -> None:
    declared = var.shape
    if len(shape) != len(declared) or any(d is not None and d != s
                                          for d, s in zip(declared, shape)):
        pretty = tuple("B" if d is None else d for d in declared)
        raise ShapeError(f"expects shape {pretty}, got {shape}", node=var.name)


def evaluate(outputs: Sequence[Variable], feeds: Mapping[Variable, Any] | None = None,
             mode: str = "infer", call_index: int = 0) -> list[np.ndarray]:
    """Compute `outputs` in float64. `call_index` drives the random streams."""
    feeds = feeds or {}
    prim = expand(list(outputs), mode)
    values: dict[int, np.ndarray] = {}
    for node in toposort(prim):
        if not node.inputs and node.op.kernel == "source":
            values[id(node.outputs[0])] = source_value(node, feeds)
            continue
        args = [values[id(v)] for v in node.inputs]
        if node.op.is_elementwise:
            check_free_broadcast(node, [a.shape for a in args])
        attrs = dict(node.attrs)
        if node.op.variadic:
            attrs.pop("n", None)
            attrs["n"] = len(args)
        if node.op.stateful:
            attrs["_call"] = call_index
        try:
            with np.errstate(all="ignore"):
                result = node.op.reference(*args, **attrs)
        except (ValueError, IndexError, TypeError) as exc:
            raise GraphError(f"reference evaluation failed: {exc}", node=node.name) from exc
        results = result if isinstance(result, tuple) else (result,)
        for var, value in zip(node.outputs, results):
            values[id(var)] = np.asarray(value, dtype=host_dtype(var.dtype))
    return [values[id(v)] for v in prim]
