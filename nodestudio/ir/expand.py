"""Rewriting composites into their primitive ops.

Each Apply remembers its expansion per mode ("train" / "infer"), so expanding the same graph twice
(once for `grad`, once for `function`) yields the very same primitive nodes and no duplicated work.
Primitive nodes whose inputs did not change are kept as they are; those downstream of a composite
are rebuilt under the same name, so node identities stay readable and stable.
"""

from __future__ import annotations

from collections.abc import Sequence

from nodestudio.ir import build
from nodestudio.ir.expr import Variable, make_apply, name_scope, toposort

MODES = ("train", "infer")


def expand(outputs: Sequence[Variable], mode: str = "train") -> list[Variable]:
    """The primitive-only counterparts of `outputs`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    for node in toposort(outputs):
        if mode in node.expansion:
            continue
        new_inputs = [_mapped(v, mode) for v in node.inputs]
        if node.op.is_composite:
            with name_scope(f"{node.name}/"):
                result = node.op.expand(build, new_inputs, node.attrs, mode)
            # a composite may expand to one of its own inputs (dropout at inference)
            node.expansion[mode] = tuple(_mapped(v, mode) if v.owner.expansion else v
                                         for v in result)
        elif all(a is b for a, b in zip(new_inputs, node.inputs)):
            node.expansion[mode] = node.outputs
        else:
            attrs = {k: v for k, v in node.attrs.items() if k != "n" or not node.op.variadic}
            clone = make_apply(node.op, new_inputs, attrs, node.name, node.data)
            node.expansion[mode] = clone.outputs
            clone.expansion[mode] = clone.outputs
    return [_mapped(v, mode) for v in outputs]


def _mapped(var: Variable, mode: str) -> Variable:
    return var.owner.expansion[mode][var.index]
