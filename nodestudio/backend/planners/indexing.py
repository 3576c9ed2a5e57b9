"""Planner of the indexing family (`kernels/indexing.cl`): `shape_dim`, `arange_like`,
`dynamic_slice` / `dynamic_unslice`, `take` / `take_grad`, `gather` / `gather_grad`
(ops/indexing.py).

Every value is viewed as (outer, axis, inner) around the indexed axis, with the sizes baked into
the source as constants; one work-item per output element. The gradients of take and gather
are written as a gather over the indices (each output element sums the entries of g whose index
names it, in index order) rather than as a scatter with atomics: deterministic, and cheap for
the indexing the tutorials do (one index per row: K = 1).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nodestudio.backend.elementwise import linear_index
from nodestudio.backend.launch import Launch, Plan
from nodestudio.backend.planners.common import C_TYPES as _C_TYPES
from nodestudio.backend.planners.common import FamilyNode
from nodestudio.backend.templates import render

_KINDS = {"shape_dim": 1, "arange_like": 2, "dynamic_slice": 3, "dynamic_unslice": 4,
          "take": 5, "take_grad": 6, "gather": 7, "gather_grad": 8}
_INT_INDEX_LIMIT = 2**31 - 2**20


def _around(shape: tuple[int, ...], axis: int) -> tuple[int, int, int]:
    axis %= len(shape)
    return math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])


def _plan(node: Any, n: int, k: int, inner: int, args: tuple[str, ...]) -> Plan:
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    largest = max([n_out, *(math.prod(s) for s in node.in_shapes)])
    name = f"{node.op}_indexing"
    source = render("indexing.cl", idx="int" if largest < _INT_INDEX_LIMIT else "long",
                    n_out=n_out, out_t=_C_TYPES[node.out_dtypes[0]],
                    in_t=_C_TYPES[node.in_dtypes[0]] if node.in_dtypes else "float",
                    acc_t="double" if node.out_dtypes[0] == "float64" else "float",
                    n=n, k=k, inner=max(inner, 1), kind=_KINDS[node.op], name=name)
    group = min(256 if node.gpu else 64, 1 << max(n_out - 1, 0).bit_length())
    global_size = (-(-n_out // group) * group,)
    return Plan((Launch(name, source, "", global_size, (group,), args),))


def _plan_shape_dim(node: Any) -> Plan:
    """in0 only gives the size: not read."""
    return _plan(node, node.in_shapes[0][node.attrs["axis"] % len(node.in_shapes[0])], 1, 1,
                 ("out0",))


def _plan_arange_like(node: Any) -> Plan:
    return _plan(node, 1, 1, 1, ("out0",))


def _plan_dynamic_slice(node: Any) -> Plan:
    _, n, inner = _around(node.in_shapes[0], node.attrs["axis"])
    return _plan(node, n, node.attrs["length"], inner, ("in0", "in1", "out0"))


def _plan_dynamic_unslice(node: Any) -> Plan:
    """in2 (`like`) only gives the shape; an empty g leaves zeros."""
    g, like = node.in_shapes[0], node.in_shapes[2]
    _, n, inner = _around(like, node.attrs["axis"])
    k = g[node.attrs["axis"] % len(g)]
    if math.prod(g) == 0:
        return _fill_zeros(node) if math.prod(node.out_shapes[0]) else Plan(())
    return _plan(node, n, k, inner, ("in0", "in1", "out0"))


def _fill_zeros(node: Any) -> Plan:
    """An output of zeros: nothing to place (an empty g or no indices)."""
    n_out = math.prod(node.out_shapes[0])
    name = "zeros_indexing"
    source = render("elementwise.cl", name=name,
                    params=f"__global {_C_TYPES[node.out_dtypes[0]]}* restrict out0",
                    index=linear_index("int" if n_out < _INT_INDEX_LIMIT else "long", n_out),
                    body="    out0[i] = 0;")
    return Plan((Launch(name, source, "", (n_out,), None, ("out0",)),))


def _plan_take(node: Any) -> Plan:
    _, n, inner = _around(node.in_shapes[0], node.attrs["axis"])
    k = math.prod(node.in_shapes[1])
    if k == 0 or n == 0:
        return _fill_zeros(node) if math.prod(node.out_shapes[0]) else Plan(())
    return _plan(node, n, k, inner, ("in0", "in1", "out0"))


def _plan_take_grad(node: Any) -> Plan:
    _, n, inner = _around(node.in_shapes[2], node.attrs["axis"])
    k = math.prod(node.in_shapes[1])
    if k == 0 or math.prod(node.in_shapes[0]) == 0:
        return _fill_zeros(node) if math.prod(node.out_shapes[0]) else Plan(())
    return _plan(node, n, k, inner, ("in0", "in1", "out0"))


def _plan_gather(node: Any) -> Plan:
    axis = node.attrs["axis"]
    _, n, inner = _around(node.in_shapes[0], axis)
    k = node.in_shapes[1][axis % len(node.in_shapes[1])]
    if n == 0:
        return _fill_zeros(node) if math.prod(node.out_shapes[0]) else Plan(())
    return _plan(node, n, k, inner, ("in0", "in1", "out0"))


def _plan_gather_grad(node: Any) -> Plan:
    axis = node.attrs["axis"]
    _, n, inner = _around(node.in_shapes[2], axis)
    k = node.in_shapes[1][axis % len(node.in_shapes[1])]
    if math.prod(node.in_shapes[1]) == 0:
        return _fill_zeros(node) if math.prod(node.out_shapes[0]) else Plan(())
    return _plan(node, n, k, inner, ("in0", "in1", "out0"))


def plan(node: FamilyNode) -> Plan:
    return PLANNERS[node.op](node)


PLANNERS: dict[str, Callable[[Any], Plan]] = {
    "shape_dim": _plan_shape_dim, "arange_like": _plan_arange_like,
    "dynamic_slice": _plan_dynamic_slice, "dynamic_unslice": _plan_dynamic_unslice,
    "take": _plan_take, "take_grad": _plan_take_grad,
    "gather": _plan_gather, "gather_grad": _plan_gather_grad,
}
