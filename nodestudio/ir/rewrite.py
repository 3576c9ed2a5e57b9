"""Graph rewrites on the IR: substituting expressions for variables (`givens`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from nodestudio.errors import GraphError, ShapeError
from nodestudio.ir.expr import Variable, as_variable, make_apply, toposort


def substitute(outputs: Sequence[Variable], replacements: Mapping[Variable, object]
               ) -> list[Variable]:
    """`outputs` with each key of `replacements` replaced by its value (types must agree)."""
    mapping: dict[int, Variable] = {}
    for old, new in replacements.items():
        if not isinstance(old, Variable):
            raise GraphError(f"givens: the key {old!r} ({type(old).__name__}) is not a "
                             "variable; givens maps variables of the graph (ns.vector(...), "
                             "shared variables) to the expressions that stand for them")
        try:
            new_var = as_variable(new)
        except TypeError as exc:
            raise GraphError(f"givens: {exc}", node=old.name) from None
        clash = any(a is not None and b is not None and a != b
                    for a, b in zip(old.shape, new_var.shape))
        if new_var.dtype != old.dtype or new_var.ndim != old.ndim or clash:
            raise ShapeError(f"givens: {new_var.name!r} {new_var.type} cannot stand for "
                             f"{old.name!r} {old.type}", node=old.name)
        mapping[id(old)] = new_var
    for node in toposort(list(outputs)):
        if any(id(o) in mapping for o in node.outputs):
            continue
        inputs = [mapping.get(id(v), v) for v in node.inputs]
        if all(a is b for a, b in zip(inputs, node.inputs)):
            continue
        attrs = {k: v for k, v in node.attrs.items() if not (k == "n" and node.op.variadic)}
        clone = make_apply(node.op, inputs, attrs, node.name, node.data)
        for old, new in zip(node.outputs, clone.outputs):
            mapping[id(old)] = new
    return [mapping.get(id(v), v) for v in outputs]
