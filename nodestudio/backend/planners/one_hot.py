"""The one-hot family: kernels/one_hot.cl."""

from __future__ import annotations

import math

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    FamilyNode,
    index_type,
    launch,
)
from nodestudio.backend.templates import render


def plan(node: FamilyNode) -> Plan:
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    name = "one_hot_expand"
    source = render("one_hot.cl", idx=index_type(n_out), n_out=n_out,
                    depth=int(node.attrs["depth"]), name=name)
    return Plan((launch(name, source, n_out, ("in0", "out0"), node.gpu),))
