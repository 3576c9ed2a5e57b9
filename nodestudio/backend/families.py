"""The one place that says which planner generates the kernels of an op.

Every op's `OpDef.kernel` names its family ("elementwise" and "view" aside): `FAMILIES` maps
each family to its planner module under `nodestudio.backend.planners`, each with a `plan(node)`
and its own template in `kernels/`. A planner module that serves several ops (layout) keeps a
table of its own from op to planner. Adding a family is one line here; adding an op to a family
is `kernel="<family>"` in its OpDef (and, for layout, one entry in its table).

Modules are imported on first use, so a graph without convolutions never loads conv's code.
"""

from __future__ import annotations

import importlib
from dataclasses import replace

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    FamilyNode,
    as_double,
    in_double,
    with_fp64_pragma,
)
from nodestudio.errors import ShapeError
from nodestudio.ops import get

FAMILIES: dict[str, str] = {  # OpDef.kernel -> module of nodestudio.backend.planners
    "reduce": "reduce",      # sum, mean, max, argmax            kernels/reduce.cl
    "softmax": "softmax",    # softmax, log_softmax              kernels/softmax.cl
    "layout": "layout",      # transpose, slice, concatenate...  kernels/layout.cl
    "one_hot": "one_hot",    #                                   kernels/one_hot.cl
    "random": "random",      # random_uniform_like               kernels/random.cl
    "augment": "augment",    # random_affine                     kernels/augment.cl
    "matmul": "matmul",      # matmul (backend/gemm.py)          kernels/gemm_*.cl
    "conv": "conv",          # conv2d and its gradients          kernels/conv.cl + gemm
    "pool": "pool",          # max / avg pooling and gradients   kernels/pool.cl
    "indexing": "indexing",  # dynamic_slice, take, gather...    kernels/indexing.cl
}


# How the families compute in float64. "prologue": the template is written in `float` and all
# the node's floats are of one type, so a float64 node's source goes through `as_double` (the
# element type as a prologue; a float32 node's source is untouched) and its scratch buffers
# are of double width. "typed": the template takes each buffer's C type (`double`, `long`)
# from the planner, float32 and float64 may meet in one node, and a source that uses double
# gets the cl_khr_fp64 pragma. The other families' ops take float32 only (their ports say
# so, and the graph builder refuses float64 naming node and port); the check below is the
# backstop.
FLOAT64_FAMILIES = {"reduce": "prologue", "softmax": "prologue", "matmul": "prologue",
                    "layout": "typed", "indexing": "typed"}


def plan_node(family: str, node: FamilyNode) -> Plan:
    """The launches computing `node` with the planner of `family`."""
    if family not in FAMILIES:
        raise ValueError(f"no kernel family {family!r} (op {node.op!r}); known: "
                         f"{sorted(FAMILIES)}")
    double = in_double(node)
    if double and family not in FLOAT64_FAMILIES:
        raise ShapeError(f"{node.op} computes in float32 (no float64 kernel); cast its input "
                         f"with ns.cast(x, 'float32')")
    module = importlib.import_module(f"nodestudio.backend.planners.{FAMILIES[family]}")
    plan = module.plan(node)
    if not double:
        return plan
    if FLOAT64_FAMILIES[family] == "typed":
        return replace(plan, launches=tuple(replace(x, source=with_fp64_pragma(x.source))
                                            for x in plan.launches))
    return Plan(tuple(replace(x, source=as_double(x.source)) for x in plan.launches),
                2 * plan.scratch_bytes, tuple(2 * b for b in plan.more_scratch))


def plan_family(op: str, attrs: dict, in_shapes: list[tuple[int, ...]], in_dtypes: list[str],
                out_shapes: list[tuple[int, ...]], out_dtypes: list[str],
                device_is_gpu: bool) -> Plan:
    """The launches computing `op` for these concrete shapes and dtypes ("float32" / "int32"),
    by the family its registry entry names."""
    node = FamilyNode(op, dict(attrs), [tuple(s) for s in in_shapes], list(in_dtypes),
                      [tuple(s) for s in out_shapes], list(out_dtypes), bool(device_is_gpu))
    return plan_node(get(op).kernel or "", node)
