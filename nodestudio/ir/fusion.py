"""Grouping a scheduled primitive graph into kernels.

Elementwise nodes with the same output shape are fused into one kernel when the values between
them are used only inside the group (the classic producer-into-consumer rule, applied in reverse
topological order, which can never create a cycle between groups). Scalar constants are inlined
into the fused expression instead of being passed as buffers. Views (reshapes) need no kernel.

A uniform draw (`random_uniform_like`) joins the group of its elementwise consumers the same
way: a counter-based number is a function of its element index, so the fused kernel computes it
where it is used (a Bernoulli sample `u < p` is one kernel, not a draw, a buffer and a compare).
Its input only gives the shape and is not read.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nodestudio.ir.expr import Apply, Variable


@dataclass
class Group:
    """One kernel (or none, for views and sources): the nodes it covers in execution order."""

    kind: str  # "elementwise", "matmul", "view", "source" or a kernel family name
    nodes: list[Apply]
    inputs: list[Variable] = field(default_factory=list)  # values read from buffers
    outputs: list[Variable] = field(default_factory=list)  # values written to buffers

    @property
    def names(self) -> list[str]:
        return [n.name for n in self.nodes]


def is_fusable_draw(node: Apply) -> bool:
    """A uniform draw an elementwise kernel can compute in place (see the module docstring):
    an op of the `random` kernel family, whose element i is Philox of (i, call, seed)."""
    return node.op.kernel == "random"


def is_inline_constant(var: Variable) -> bool:
    node = var.owner
    return node.op.name == "constant" and var.ndim == 0


def fuse(order: Sequence[Apply], shapes: Mapping[int, tuple[int, ...]],
         required: Sequence[Variable]) -> list[Group]:
    """Partition `order` (a topological schedule) into groups, themselves in a valid order.

    `shapes` maps id(variable) to its concrete shape; `required` are the values that must be
    materialised whatever their consumers (function outputs and update values)."""
    consumers: dict[int, list[Apply]] = {}
    for node in order:
        for var in node.inputs:
            consumers.setdefault(id(var), []).append(node)
    required_ids = {id(v) for v in required}

    group_of: dict[int, int] = {}  # id(Apply) -> group index
    members: list[list[Apply]] = []
    for node in reversed(order):
        if id(node) in group_of or not node.op.is_elementwise:
            continue
        index = len(members)
        group_of[id(node)] = index
        members.append([node])
        shape = shapes[id(node.outputs[0])]
        frontier = [node]
        while frontier:
            current = frontier.pop()
            for var in current.inputs:
                producer = var.owner
                fusable = producer.op.is_elementwise or is_fusable_draw(producer)
                if (id(producer) in group_of or not fusable
                        or shapes[id(var)] != shape or id(var) in required_ids):
                    continue
                if all(group_of.get(id(c)) == index for c in consumers[id(var)]):
                    group_of[id(producer)] = index
                    members[index].append(producer)
                    if not is_fusable_draw(producer):  # a draw's input is not read
                        frontier.append(producer)

    position = {id(node): i for i, node in enumerate(order)}
    groups: list[Group] = []
    for node in order:
        if id(node) in group_of:
            # A group runs where its root (its last node) stood: every external input is
            # computed by then, and only the root's value leaves the group.
            index = group_of[id(node)]
            if members[index][0] is not node:
                continue
            nodes = sorted(members[index], key=lambda n: position[id(n)])
            groups.append(_elementwise_group(nodes, consumers, required_ids))
        else:
            kind = node.op.kernel or "source"
            if node.op.name == "constant" and node.outputs[0].ndim == 0:
                kind = "source"
            groups.append(Group(kind, [node], [v for v in node.inputs],
                                list(node.outputs)))
    return groups


def _elementwise_group(nodes: list[Apply], consumers: Mapping[int, list[Apply]],
                       required_ids: set[int]) -> Group:
    inside = {id(n) for n in nodes}
    inputs: list[Variable] = []
    seen: set[int] = set()
    for node in nodes:
        for var in () if is_fusable_draw(node) else node.inputs:
            if id(var.owner) not in inside and id(var) not in seen and not is_inline_constant(var):
                seen.add(id(var))
                inputs.append(var)
    outputs = [n.outputs[0] for n in nodes
               if id(n.outputs[0]) in required_ids
               or any(id(c) not in inside for c in consumers.get(id(n.outputs[0]), []))]
    return Group("elementwise", nodes, inputs, outputs)
