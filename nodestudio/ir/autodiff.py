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


def grad(cost: Variable, wrt: Variable | Sequence[Variable],
         consider_constant: Sequence[Variable] | None = None) -> Variable | list[Variable]:
    """d cost / d wrt as symbolic variables (one, or a list matching `wrt`).

    `consider_constant`: variables treated as constants, so no gradient flows back through
    them (Theano's argument; `ns.disconnected_grad(x)` marks one inside the graph). A `wrt`
    that the cost does not reach gets a gradient of zeros."""
    single = isinstance(wrt, Variable)
    targets = [wrt] if single else [as_variable(w) for w in wrt]  # type: ignore[union-attr]
    if not isinstance(cost, Variable):
        raise GraphError(f"grad needs a symbolic cost, got {cost!r}")
    if cost.ndim != 0:
        raise GraphError(f"grad needs a scalar cost, got shape {cost.shape}", node=cost.name)
    for w in targets:
        if not is_float(w):
            raise GraphError("cannot differentiate with respect to an integer value", node=w.name)
    constants = [as_variable(c) for c in consider_constant or ()]
    primal = expand([cost, *targets, *constants], "train")
    primal_cost = primal[0]
    primal_wrt = primal[1:1 + len(targets)]
    grads = _backward(primal_cost, primal_wrt, {id(c) for c in primal[1 + len(targets):]})
    return grads[0] if single else grads


def _backward(cost: Variable, wrt: list[Variable], blocked: set[int] | None = None
              ) -> list[Variable]:
    blocked = blocked or set()
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
                if g is None or not is_float(var) or id(var) in blocked or (
                        id(var.owner) not in depends and id(var) not in wrt_ids):
                    continue
                g = as_variable(g)
                if g.shape != var.shape:
                    g = build.sum_to(g, var.shape)
                if g.dtype != var.dtype:  # float32 beside float64: each value's own type
                    g = build.apply("cast", g, dtype=var.dtype)
                pending.setdefault(id(var), []).append(g)

    results = []
    for w in wrt:
        g = _total(w, pending, totals)
        if g is None:  # the cost does not reach w (an autoencoder's b_prime under a
            # classifier's loss): zeros, named as the gradient of w's node
            with name_scope(f"grad/{w.owner.name if w.owner is not None else w.name}/"):
                g = build.zeros_like(w)
        results.append(g)
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
