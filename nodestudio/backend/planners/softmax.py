"""The softmax family (softmax, log-softmax along one axis): kernels/softmax.cl."""

from __future__ import annotations

import math

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    FamilyNode,
    c_type,
    index_type,
    launch,
)
from nodestudio.backend.templates import render
from nodestudio.ops.shapes import normalise_axes


def plan(node: FamilyNode) -> Plan:
    shape = node.in_shapes[0]
    axis = normalise_axes((node.attrs.get("axis", -1),), len(shape))[0]
    outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    if outer * n * inner == 0:
        return Plan(())
    name = f"{node.op}_rows"
    source = render("softmax.cl", idx=index_type(outer * n * inner),
                    in_t=c_type(node.in_dtypes[0]), rows=outer * inner, n=n, inner=inner,
                    log=int(node.op == "log_softmax"), name=name)
    return Plan((launch(name, source, outer * inner, ("in0", "out0"), node.gpu),))
