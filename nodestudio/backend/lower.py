"""Lowering a primitive graph, for concrete input shapes, into an `Executable`.

Steps: concrete shape inference, fusion into kernel groups, a launch plan per group (fused
elementwise code, the matmul generator, or a kernel family), then buffer assignment by liveness:
temporaries come from a pool and are reused once their last reader has run; views (reshapes) alias
their input's buffer; inputs, constants and function results get buffers of their own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from nodestudio.backend.elementwise import plan_elementwise
from nodestudio.backend.launch import Launch, Plan
from nodestudio.backend.planners.common import FamilyNode
from nodestudio.errors import ShapeError
from nodestudio.ir.expr import Apply, Variable, check_free_broadcast, infer
from nodestudio.ir.fusion import Group, fuse
from nodestudio.ir.shared import device_array
from nodestudio.ops.registry import ITEM_BYTES, TensorType

MIN_BYTES = 4  # no buffer is empty: an empty value still gets a word


@dataclass
class Slot:
    """A device buffer: `kind` is temp, input, constant, parameter or result."""

    index: int
    nbytes: int
    kind: str
    source: Apply | None = None  # the input / constant / parameter node it holds
    node: str = ""  # the node whose value it was made for (a temp is reused by others later)


@dataclass
class Step:
    launch: Launch
    group: Group
    bindings: tuple[int | str, ...]  # slot index per kernel argument, or "call_index"


@dataclass
class LoweredGraph:
    steps: list[Step]
    slots: list[Slot]
    slot_of: dict[int, int]  # id(Variable) -> slot index
    shapes: dict[int, tuple[int, ...]]
    groups: list[Group]
    update_copies: list[tuple[int, int]] = field(default_factory=list)  # (from slot, to slot)


def concrete_shapes(order: Sequence[Apply], feeds: Mapping[int, tuple[int, ...]]
                    ) -> dict[int, tuple[int, ...]]:
    """Shapes of every value for these input shapes (`feeds`: id(input var) -> shape)."""
    shapes: dict[int, tuple[int, ...]] = {}
    for node in order:
        if node.op.kernel == "source":
            var = node.outputs[0]
            if node.op.name == "input":
                shapes[id(var)] = tuple(feeds[id(var)])
            elif node.op.name == "parameter":
                shapes[id(var)] = tuple(node.data.shape)
            else:
                shapes[id(var)] = tuple(node.attrs["shape"])
            continue
        types = [TensorType(v.dtype, shapes[id(v)]) for v in node.inputs]
        if node.op.is_elementwise:
            check_free_broadcast(node, [shapes[id(v)] for v in node.inputs])
        for var, t in zip(node.outputs, infer(node.op, types, node.attrs, node.name)):
            if any(d is None for d in t.shape):
                raise ShapeError(f"output shape {t.shape} is not determined by the inputs",
                                 node=node.name)
            shapes[id(var)] = tuple(t.shape)  # type: ignore[arg-type]
    return shapes


def plan_group(group: Group, shapes: Mapping[int, tuple[int, ...]], is_gpu: bool,
               name: str) -> Plan:
    if group.kind == "elementwise":
        return plan_elementwise(group, shapes, name)
    from nodestudio.backend import families  # planners load their templates lazily
    node = group.nodes[0]
    try:
        return families.plan_node(group.kind, FamilyNode(
            node.op.name, dict(node.attrs), [shapes[id(v)] for v in node.inputs],
            [v.dtype for v in node.inputs], [shapes[id(v)] for v in node.outputs],
            [v.dtype for v in node.outputs], is_gpu))
    except ShapeError as exc:
        if exc.node is None:
            raise ShapeError(exc.detail, node=node.name) from None
        raise


def lower(order: Sequence[Apply], results: Sequence[Variable], updates: Sequence[Variable],
          feeds: Mapping[int, tuple[int, ...]], is_gpu: bool) -> LoweredGraph:
    shapes = concrete_shapes(order, feeds)
    required = [*results, *updates]
    groups = fuse(order, shapes, required)
    slots: list[Slot] = []
    slot_of: dict[int, int] = {}

    def new_slot(var_bytes: int, kind: str, node: str, source: Apply | None = None) -> int:
        slots.append(Slot(len(slots), max(var_bytes, MIN_BYTES), kind, source, node))
        return len(slots) - 1

    def nbytes(var: Variable) -> int:
        return math.prod(shapes[id(var)]) * ITEM_BYTES[var.dtype]

    # Sources first: they are alive for the whole call.
    for group in groups:
        if group.kind == "source":
            node = group.nodes[0]
            slot_of[id(node.outputs[0])] = new_slot(nbytes(node.outputs[0]), node.op.name,
                                                    node.name, node)

    # Last reader of every value, through views.
    # Kernel names and sources depend only on what is computed, never on node names or
    # positions, so identical kernels hit the program cache across graphs.
    plans = [plan_group(g, shapes, is_gpu, f"fused_{_slug(g)}")
             if g.kind not in ("source", "view") else None for g in groups]
    base: dict[int, int] = {}  # id(view var) -> id(base var)
    last_use: dict[int, int] = {}
    for step, group in enumerate(groups):
        if group.kind == "view":
            base[id(group.outputs[0])] = base.get(id(group.inputs[0]), id(group.inputs[0]))
        for var in group.inputs:
            last_use[base.get(id(var), id(var))] = step
    keep = {base.get(id(v), id(v)) for v in required}

    pool: list[int] = []  # free temp slots
    steps: list[Step] = []
    for index, (group, plan) in enumerate(zip(groups, plans)):
        if group.kind == "source":
            continue
        if group.kind == "view":
            slot_of[id(group.outputs[0])] = slot_of[id(group.inputs[0])]
            continue
        assert plan is not None
        for var in group.outputs:
            kind = "result" if id(var) in keep else "temp"
            slot_of[id(var)] = _take(pool, slots, nbytes(var)) if kind == "temp" else None
            if slot_of[id(var)] is None:
                slot_of[id(var)] = new_slot(nbytes(var), kind, var.owner.name)
        scratch: dict[str, int] = {}
        for role, size in plan.scratch_sizes.items():
            taken = _take(pool, slots, size)
            if taken is None:
                taken = new_slot(size, "temp", f"{group.nodes[-1].name} ({role})")
            scratch[role] = taken
        for launch in plan.launches:
            steps.append(Step(launch, group, tuple(_bind(role, group, slot_of, scratch)
                                                   for role in launch.args)))
        pool.extend(scratch.values())
        for var in {id(v): v for v in group.inputs}.values():
            root = base.get(id(var), id(var))
            slot = slot_of[root] if root in slot_of else slot_of[id(var)]
            if last_use.get(root) == index and root not in keep and slots[slot].kind == "temp":
                pool.append(slot)
        for var in group.outputs:  # values nobody reads (dead ends) go straight back
            if id(var) not in last_use and id(var) not in keep:
                pool.append(slot_of[id(var)])
    return LoweredGraph(steps, slots, slot_of, shapes, groups)


def _take(pool: list[int], slots: list[Slot], size: int) -> int | None:
    """Best-fit reuse of a free temporary, so big buffers are not wasted on small values."""
    fits = [s for s in pool if slots[s].nbytes >= size]
    if not fits:
        return None
    best = min(fits, key=lambda s: slots[s].nbytes)
    pool.remove(best)
    return best


def _bind(role: str, group: Group, slot_of: Mapping[int, int],
          scratch: Mapping[str, int]) -> int | str:
    if role == "call_index":
        return role
    if role.startswith("scratch"):
        return scratch[role]
    if role.startswith("in"):
        return slot_of[id(group.inputs[int(role[2:])])]
    if role.startswith("out"):
        return slot_of[id(group.outputs[int(role[3:])])]
    raise ValueError(f"unknown kernel argument role {role!r}")


def _slug(group: Group) -> str:
    ops = [n.op.name for n in group.nodes]
    text = "_".join(dict.fromkeys(ops))[:40]
    return "".join(c if c.isalnum() else "_" for c in text)


def host_array(value: object, var: Variable) -> np.ndarray:
    """The value of an input or constant node as its device buffer holds it (float32 / int32);
    a value the dtype cannot hold exactly raises an InputValueError naming the node."""
    return device_array(value, var.dtype, f"{var.owner.op.name} {var.name!r}")
