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

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import FamilyNode
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


def plan_node(family: str, node: FamilyNode) -> Plan:
    """The launches computing `node` with the planner of `family`."""
    if family not in FAMILIES:
        raise ValueError(f"no kernel family {family!r} (op {node.op!r}); known: "
                         f"{sorted(FAMILIES)}")
    module = importlib.import_module(f"nodestudio.backend.planners.{FAMILIES[family]}")
    return module.plan(node)


def plan_family(op: str, attrs: dict, in_shapes: list[tuple[int, ...]], in_dtypes: list[str],
                out_shapes: list[tuple[int, ...]], out_dtypes: list[str],
                device_is_gpu: bool) -> Plan:
    """The launches computing `op` for these concrete shapes and dtypes ("float32" / "int32"),
    by the family its registry entry names."""
    node = FamilyNode(op, dict(attrs), [tuple(s) for s in in_shapes], list(in_dtypes),
                      [tuple(s) for s in out_shapes], list(out_dtypes), bool(device_is_gpu))
    return plan_node(get(op).kernel or "", node)
