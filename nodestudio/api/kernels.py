"""The kernels a compiled function launches, in the user's terms: what `nodestudio kernels`
prints and the studio's Kernels panel shows.

    rows = profile_kernels(fn, [x_value], user_nodes=graph_node_ops, runs=3)
    for row in rows: print(row.name, row.seconds, row.nodes, row.phase)

Each `KernelRow` is one launch of the lowered program, in launch order: the OpenCL kernel's
name and source, the IR nodes fused into it, and the user's nodes those belong to
(ir/names.py: "hidden/matmul_3" is node "hidden", "grad/hidden/matmul_3/..." its gradient), with
the phase: "forward", "backward" (the gradient of a node) or "update" (the optimizer's
arithmetic and anything else that is no node of the graph). Times come from OpenCL profiling
events on a queue of their own (`Function.profile`): the median of a few calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodestudio.api.function import Function
from nodestudio.backend.program import KernelReport
from nodestudio.ir.names import origin_of

PHASES = ("forward", "backward", "update")


@dataclass(frozen=True)
class KernelRow:
    index: int  # launch position in one call, from 0
    name: str  # the OpenCL kernel's name ("gemm_cpu_nn_128x800x784", "fused_add_tanh")
    nodes: tuple[str, ...]  # the user's nodes fused into it, in launch order, no repeats
    phase: str  # "forward", "backward" or "update" (see the module docstring)
    ir_nodes: tuple[str, ...]  # the IR nodes it computes, as the compiler names them
    source: str
    global_size: tuple[int, ...]
    seconds: float | None  # median time of a profiled call, None when not profiled


def kernel_rows(reports: Sequence[KernelReport], user_nodes: Mapping[str, str]
                ) -> list[KernelRow]:
    """`Function.kernels()` / `Function.profile()` reports, with each kernel's nodes named as
    the user's nodes (`user_nodes`: node id -> op, e.g. `{n.id: n.op for n in graph}`)."""
    rows = []
    for index, report in enumerate(reports):
        nodes: list[str] = []
        phases: set[str] = set()
        for ir_name in report.nodes:
            origin = origin_of(ir_name, user_nodes)
            if origin.node is None:
                phases.add("backward" if origin.gradient else "update")
                continue
            phases.add(origin.phase)
            if origin.node not in nodes:
                nodes.append(origin.node)
        # a kernel that mixes phases (a fused gradient and update) is shown in the later one
        phase = max(phases, key=PHASES.index) if phases else "update"
        rows.append(KernelRow(index, report.name, tuple(nodes), phase, tuple(report.nodes),
                              report.source, tuple(report.global_size), report.seconds))
    return rows


def profile_kernels(fn: Function, args: Sequence[Any], user_nodes: Mapping[str, str],
                    runs: int = 3) -> list[KernelRow]:
    """Call `fn(*args)` `runs` times with profiling (its updates are applied each time) and
    return its kernels in launch order with their median times."""
    return kernel_rows(fn.profile(*args, runs=runs), user_nodes)


def shares(rows: Sequence[KernelRow]) -> list[float]:
    """Each kernel's share of the summed kernel time, 0..1 (all 0 when nothing was timed)."""
    total = sum(row.seconds or 0.0 for row in rows)
    return [(row.seconds or 0.0) / total if total > 0 else 0.0 for row in rows]


__all__ = ["PHASES", "KernelRow", "kernel_rows", "profile_kernels", "shares"]
