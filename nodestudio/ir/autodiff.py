"""Reverse-mode differentiation that builds the backward graph out of ordinary ops.

A topological sort, then a reversed walk: each node's gradient rule (from the registry) turns the
gradients of its outputs into gradients of its inputs. Fan-out gradients are summed, and
broadcasting is undone here, in one place, by summing over the broadcast axes (`build.sum_to`).
Only nodes on a path from `wrt` to the cost are visited. Backward nodes are named
"grad/<forward node>/..." so the canvas can show which forward node each one belongs to.
"""

from __future__ import annotations

from collections.abc import Sequence

from nodestudio.errors import GraphError
from nodestudio.ir import build
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import Variable, as_variable, constant, is_float, name_scope, toposort


def grad(cost: Variable, wrt: Variable | Sequence[Variable]) -> Variable | list[Variable]:
    """d cost / d wrt as symbolic variables (one, or a list matching `wrt`)."""
    single = isinstance(wrt, Variable)
    targets = [wrt] if single else [as_variable(w) for w in wrt]  # type: ignore[union-attr]
    if cost.ndim != 0:
        raise GraphError(f"grad needs a scalar cost, got shape {cost.shape}", node=cost.name)
    for w in targets:
        if not is_float(w):
            raise GraphError("cannot differentiate with respect to an integer value", node=w.name)
    primal_cost, *primal_wrt = expand([cost, *targets], "train")
    grads = _backward(primal_cost, primal_wrt)
    return grads[0] if single else grads


def _backward(cost: Variable, wrt: list[Variable]) -> list[Variable]:
    order = toposort([cost])
    # Only propagate through nodes that depend on some wrt variable.
    wrt_ids = {id(w) for w in wrt}
    depends: set[int] = set()
    for node in order:
        if any(id(v) in wrt_ids or id(v.owner) in depends for v in node.inputs) or \
                any(id(o) in wrt_ids for o in node.outputs):
            depends.add(id(node))
    pending: dict[int, list[Variable]] = {id(cost): [constant(1.0, name="grad/seed")]}
    totals: dict[int, Variable] = {}

    for node in reversed(order):
        out_grads = [_total(v, pending, totals) for v in node.outputs]
        if id(node) not in depends or all(g is None for g in out_grads) or not node.inputs:
            continue
        if node.op.grad is None:
            continue  # not differentiable (comparisons, argmax, ...): no gradient flows
        with name_scope(f"grad/{node.name}/"):
            out_grads = [g if g is not None else build.zeros_like(v)
                         for g, v in zip(out_grads, node.outputs)]
            in_grads = node.op.grad(build, list(node.inputs), list(node.outputs), out_grads,
                                    node.attrs)
            for var, g in zip(node.inputs, in_grads):
                if g is None or not is_float(var) or (id(var.owner) not in depends
                                                      and id(var) not in wrt_ids):
                    continue
                g = as_variable(g)
                if g.shape != var.shape:
                    g = build.sum_to(g, var.shape)
                pending.setdefault(id(var), []).append(g)

    results = []
    for w in wrt:
        g = _total(w, pending, totals)
        results.append(g if g is not None else build.zeros_like(w))
    return results


def _total(var: Variable, pending: dict[int, list[Variable]], totals: dict[int, Variable]):
    """The summed gradient of `var` (fan-out contributions added once, on first use)."""
    if id(var) in totals:
        return totals[id(var)]
    parts = pending.get(id(var))
    if not parts:
        return None
    total = parts[0]
    with name_scope(f"grad/{var.owner.name}/"):
        for part in parts[1:]:
            total = total + part
    totals[id(var)] = total
    return total
