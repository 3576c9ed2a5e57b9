"""The matmul family: the generated SGEMM of `backend/gemm.py` (kernels/gemm_cpu.cl on CPUs,
kernels/gemm_gpu.cl + gemm_gpu_sum.cl on GPUs), its operands bound to the node's buffers."""

from __future__ import annotations

from collections.abc import Mapping

from nodestudio.backend import gemm
from nodestudio.backend.launch import Launch, Plan
from nodestudio.backend.planners.common import FamilyNode

ITEM_BYTES = 4


def bind_gemm(plan: gemm.GemmPlan, roles: Mapping[str, str]) -> tuple[Launch, ...]:
    """The gemm's launches with its operand names ("A", "B", "C", "scratch") renamed to the
    roles of the plan they join (`roles`, e.g. {"A": "in0", "B": "in1", "C": "out0"})."""
    names = {"scratch": "scratch", **roles}
    return tuple(Launch(x.kernel, x.source, x.options, x.global_size, x.local_size,
                        tuple(names[r] for r in x.args)) for x in plan.launches)


def plan(node: FamilyNode) -> Plan:
    """One gemm; batch axes (NumPy matmul broadcasting) are the grid's third dimension, so a
    batch is one launch whatever its size, and an operand broadcast over the batch is read in
    place rather than copied."""
    ta, tb = node.attrs["trans_a"], node.attrs["trans_b"]
    a, b = node.in_shapes
    m, k = (a[-1], a[-2]) if ta else a[-2:]
    n = b[-2] if tb else b[-1]
    batch = gemm.Batch.broadcast(a[:-2], b[:-2]) if len(a) > 2 or len(b) > 2 else gemm.Batch()
    g = gemm.plan_gemm(m, n, k, trans_a=ta, trans_b=tb, variant=gemm.gemm_variant_for(node.gpu),
                       batch=batch)
    return Plan(bind_gemm(g, {"A": "in0", "B": "in1", "C": "out0"}),
                g.scratch_floats * ITEM_BYTES)
