"""The augment family (random_affine: rotation and scaling on the device): kernels/augment.cl."""

from __future__ import annotations

import math

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    FamilyNode,
    index_type,
    launch,
)
from nodestudio.backend.planners.random import random_options
from nodestudio.backend.templates import render


def plan(node: FamilyNode) -> Plan:
    """random_affine: one work-item per output pixel; angle and scale drawn in the kernel."""
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    at = node.attrs
    seed = int(at.get("seed", 0))
    name = "random_affine_bilinear"
    source = render("augment.cl", idx=index_type(n_out), n_out=n_out,
                    height=int(at["height"]), width=int(at["width"]),
                    seed=f"{seed & 0xFFFFFFFF}u", seed1=f"{(seed + 1) & 0xFFFFFFFF}u",
                    max_rad=f"{float(at['max_degrees']) * math.pi / 180.0!r}f",
                    max_scale=f"{float(at['max_scale'])!r}f", name=name)
    return Plan((launch(name, source, n_out, ("in0", "out0", "call_index"), node.gpu,
                         random_options()),))
