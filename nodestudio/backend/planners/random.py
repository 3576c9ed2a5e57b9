"""The random family (uniform numbers from counter-based Philox): kernels/uniform.cl and
random.cl. A draw used only by elementwise nodes is fused into their kernel instead
(ir/fusion.py, backend/elementwise.py)."""

from __future__ import annotations

import math
import os

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    FamilyNode,
    index_type,
    launch,
)
from nodestudio.backend.templates import load_source, render


def random_options() -> str:
    """Build options for a source with uniform.cl: pyopencl's Random123 headers on the
    include path."""
    import pyopencl

    return f'-I "{os.path.join(os.path.dirname(pyopencl.__file__), "cl")}"'


def plan(node: FamilyNode) -> Plan:
    """in0 only gives the shape and is not read."""
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    name = "random_uniform_philox"
    source = load_source("uniform.cl") + render("random.cl", idx=index_type(n_out), n_out=n_out,
                    seed=f"{int(node.attrs.get('seed', 0)) & 0xFFFFFFFF}u", name=name)
    return Plan((launch(name, source, n_out, ("out0", "call_index"), node.gpu,
                         random_options()),))
