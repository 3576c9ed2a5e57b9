"""The host's check of computed slice starts (`x[i * n:(i + 1) * n]`).

On the device a `dynamic_slice` window is clamped inside its axis, since a kernel cannot
raise. Where the start depends only on the call's inputs and on constants (the minibatch idiom:
an index passed to each call), `ns.function` computes it on the host too, from the same values,
and refuses a window that does not fit with an IndexError naming the value sliced, the start
and the axis size: the last partial batch of a dataset whose size is no multiple of the batch
would otherwise be silently shifted. A start that depends on shared variables or on other
device values is only clamped (documented in docs/API.md)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nodestudio.ir.expr import Apply, Variable, toposort
from nodestudio.ir.reference import source_value

_HOST_SOURCES = ("input", "constant")


@dataclass
class WindowCheck:
    node: Apply  # the dynamic_slice
    order: list[Apply]  # what computes its start, inputs and constants first


def host_window_checks(order: Sequence[Apply]) -> list[WindowCheck]:
    """The dynamic slices of a schedule whose start the host can compute."""
    checks = []
    for node in order:
        if node.op.name != "dynamic_slice":
            continue
        start = node.inputs[1]
        sub = toposort([start])
        if all(n.op.name in _HOST_SOURCES if n.op.kernel == "source"
               else (n.op.is_elementwise and not n.op.stateful) for n in sub):
            checks.append(WindowCheck(node, sub))
    return checks


def check_windows(checks: Sequence[WindowCheck], shapes: Mapping[int, tuple[int, ...]],
                  feeds: Mapping[Variable, np.ndarray], function: str | None) -> None:
    for check in checks:
        values: dict[int, np.ndarray] = {}
        for node in check.order:
            if node.op.kernel == "source":
                values[id(node.outputs[0])] = source_value(node, feeds)
                continue
            with np.errstate(all="ignore"):
                values[id(node.outputs[0])] = np.asarray(node.op.reference(
                    *[values[id(v)] for v in node.inputs], **node.attrs))
        node = check.node
        x = node.inputs[0]
        start = int(values[id(node.inputs[1])])
        axis = node.attrs["axis"] % x.ndim
        n = shapes[id(x)][axis]
        length = node.attrs["length"]
        first = start + n if start < 0 else start
        if not 0 <= first <= n - length:
            where = f"function {function!r}: " if function else ""
            raise IndexError(
                f"{where}the slice [{start}:{start + length}] of {x.name!r} along axis {axis} "
                f"does not fit its {n} entries (a slice with a computed start has the fixed "
                f"length {length}; a last, shorter batch is not taken: use "
                f"{n} // {length} batches)")
