"""Conversion between the editable document (`nodestudio.graph.model.Graph`) and the IR.

`to_document` walks IR variables into a document (what "show this model in the studio" and
saving a Python-built model do); `from_document` builds IR variables from a document (what
running or compiling a canvas does). Values round-trip: parameter arrays become shared variables
and come back through `get_value()`, constant arrays travel in `graph.values`.

The document may be wrong in ways the IR cannot be: unknown ops, ports that do not exist,
unconnected inputs, cycles. Each becomes a GraphError naming the node and port; with
`strict=False` such nodes, and everything downstream of them, are skipped and listed instead, so
the canvas can still show types for the part of the graph that works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodestudio.errors import GraphError
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.limits import array_size_problem
from nodestudio.graph.model import Edge, Graph, Node, PortRef
from nodestudio.ir.expr import Apply, Variable, make_apply, toposort
from nodestudio.ir.layers import bind_default_updates, layer_params, make_layer, param_key
from nodestudio.ir.shared import SharedVariable, shared
from nodestudio.ops import registry
from nodestudio.ops.init import initial_value
from nodestudio.ops.registry import FLOAT, FLOATS, INT, OpDef

# =============================================================================================
# IR -> document
# =============================================================================================

def to_document(outputs: Mapping[str, Variable], layout: bool = True) -> Graph:
    """A document holding everything `outputs` depend on. Node ids are the Apply names (made
    unique with a suffix); composites stay single nodes; arrays go to `graph.values`. With
    `layout`, nodes are placed as the studio's auto-layout would (graph/layout.py)."""
    graph, _ = ir_to_graph(outputs)
    if layout:
        for node_id, position in layered_positions(graph).items():
            graph.nodes[node_id].position = position
    return graph


def ir_to_graph(outputs: Mapping[str, Variable], reserved: frozenset[str] = frozenset()
                ) -> tuple[Graph, dict[Apply, str]]:
    """`to_document` without positions, that also returns the node id given to each Apply;
    ids in `reserved` are not used (the composite expansion keeps clear of the ids already in
    a document)."""
    order = toposort(list(outputs.values()))
    owned = _owned_parameters(order)
    order = [node for node in order if node not in owned]
    ids = _unique_ids(order, reserved)
    graph = Graph()
    for node in order:
        node_id = ids[node]
        graph.nodes[node_id] = Node(node_id, node.op.name, dict(node.attrs))
        ports = node.op.input_names(node.attrs)
        for port, var in zip(ports, node.inputs[:len(ports)]):
            graph.edges.append(_edge(ids[var.owner], var, node_id, port))
        value = stored_value(node)
        if value is not None:
            graph.values[node_id] = value
        for param, var in layer_params(node.outputs[0]).items():
            graph.values[param_key(node_id, param)] = np.asarray(var.get_value())
    for name, var in outputs.items():
        graph.outputs[name] = PortRef(ids[var.owner], var.port)
    return graph, ids


def _owned_parameters(order: Sequence[Apply]) -> set[Apply]:
    """The parameter nodes that layers own: their values travel with the layer, not as nodes.
    One also used elsewhere (tied weights) cannot be written: say so."""
    owned: dict[Apply, Apply] = {}
    for node in order:
        for var in layer_params(node.outputs[0]).values():
            owned[var.owner] = node
    for node in order:
        for var in node.inputs[:len(node.op.input_names(node.attrs))]:
            if var.owner in owned:
                raise GraphError(f"parameter {var.name!r} of layer {owned[var.owner].name!r} is "
                                 "also used here; share weights through explicit parameter "
                                 "nodes (ns.shared) instead", node=node.name)
    return set(owned)


def _edge(src_id: str, var: Variable, dst_id: str, port: str) -> Edge:
    return Edge(PortRef(src_id, var.port), PortRef(dst_id, port))


def _unique_ids(order: Sequence[Apply], reserved: frozenset[str]) -> dict[Apply, str]:
    """Apply names as node ids; a repeated name gets _2, _3 ... avoiding every other name."""
    taken = set(reserved) | {n.name for n in order}
    used: set[str] = set(reserved)
    ids: dict[Apply, str] = {}
    for node in order:
        name = node.name or node.op.name
        if name in used:
            k = 2
            while f"{name}_{k}" in taken or f"{name}_{k}" in used:
                k += 1
            name = f"{name}_{k}"
        used.add(name)
        ids[node] = name
    return ids


def stored_value(node: Apply) -> np.ndarray | None:
    """The array a document must keep for this node: a parameter's current value, or a
    constant's data unless its attributes already say it (a scalar `value`)."""
    if node.op.name == "parameter" and node.data is not None:
        return np.asarray(node.data.get_value())
    if node.op.name == "constant" and node.data is not None:
        data = np.asarray(node.data)
        implied = ("value" in node.attrs and data.size == 1
                   and data.shape == tuple(node.attrs.get("shape", ()))
                   and data.reshape(-1)[0] == node.attrs["value"])
        return None if implied else data.copy()
    return None


# =============================================================================================
# document -> IR
# =============================================================================================

@dataclass
class Loaded:
    """The IR of a document. Keys are node ids, except `outputs` (the graph's output names)."""

    inputs: dict[str, Variable] = field(default_factory=dict)
    shared: dict[str, SharedVariable] = field(default_factory=dict)
    outputs: dict[str, Variable] = field(default_factory=dict)
    variables: dict[str, tuple[Variable, ...]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # "node 'x': reason", one per node left out
    errors: dict[str, GraphError] = field(default_factory=dict)  # node id -> why it was skipped


def from_document(graph: Graph, strict: bool = True) -> Loaded:
    """Build the IR of every node. Cycles always raise CycleError; other problems raise a
    GraphError naming node and port, or with `strict=False` skip the node and its dependents."""
    loaded = Loaded()
    ops: dict[str, OpDef] = {}
    skipped: set[str] = set()
    incoming = incoming_index(graph)
    for node_id in graph.topological_order():
        build_node(graph, node_id, incoming.get(node_id, {}), ops, loaded, skipped, strict)
    _bind_group_updates(graph, ops, loaded)
    for name, ref in graph.outputs.items():
        if ref.node in skipped:
            loaded.skipped.append(f"output {name!r}: its node {ref.node!r} was skipped")
            continue
        try:
            loaded.outputs[name] = _output_of(ref, ops, loaded, graph)
        except GraphError as exc:
            if strict:
                raise
            loaded.skipped.append(f"output {name!r}: {exc}")
    return loaded


def incoming_index(graph: Graph) -> dict[str, dict[str, PortRef]]:
    """{node id: `graph.incoming(node id)`} for every node with an incoming edge, in one pass."""
    index: dict[str, dict[str, PortRef]] = {}
    for e in graph.edges:
        index.setdefault(e.dst.node, {})[e.dst.port] = e.src
    return index


def build_node(graph: Graph, node_id: str, incoming: dict[str, PortRef],
               ops: dict[str, OpDef], loaded: Loaded, skipped: set[str],
               strict: bool = False, values: Mapping[str, np.ndarray] | None = None) -> None:
    """Build one node whose sources are built (or skipped) already: its outputs go to
    `loaded.variables` and its op to `ops`; or, when a source was skipped or (with
    `strict=False`) it cannot be built, it joins `skipped` with the reason in `loaded.skipped`
    (and its own GraphError in `loaded.errors`). `values` stand in for `graph.values`."""
    node = graph.nodes[node_id]
    upstream = sorted({src.node for src in incoming.values() if src.node in skipped})
    if upstream:
        skipped.add(node_id)
        loaded.skipped.append(f"node {node_id!r}: depends on skipped node "
                              f"{', '.join(map(repr, upstream))}")
        return
    try:
        op = registry.get(node.op, node=node_id)  # legacy names map to the current op
        outs = _build_node(graph.values if values is None else values, node, op, incoming,
                           ops, loaded)
    except GraphError as exc:
        exc = _naming(exc, node_id)
        if strict:
            raise exc from None
        skipped.add(node_id)
        loaded.skipped.append(str(exc))
        loaded.errors[node_id] = exc
        return
    ops[node_id] = op
    loaded.variables[node_id] = outs


def _naming(exc: GraphError, node_id: str) -> GraphError:
    """The error with the node it happened in named (a layer's initialiser, say, knows only
    the parameter's shape)."""
    if exc.node is not None:
        return exc
    try:
        named = type(exc)(exc.detail, node=node_id, port=exc.port)
    except TypeError:  # a subclass made differently
        named = GraphError(exc.detail, node=node_id, port=exc.port)
    named.__dict__.update({k: v for k, v in vars(exc).items()
                           if k not in ("node", "port", "detail")})
    return named


def _bind_group_updates(graph: Graph, ops: dict[str, OpDef], loaded: Loaded) -> None:
    """Running averages of an expanded composite keep their updates (ir/composites.py)."""
    for record in graph.groups.values():
        updates = record.get("updates") if isinstance(record, dict) else None
        for target, ref in (updates.items() if isinstance(updates, dict) else ()):
            var = loaded.shared.get(target)
            try:
                src = PortRef.parse(ref)
            except (ValueError, TypeError, AttributeError):
                continue  # a hand-edited record: the update is lost, the graph still runs
            if var is None or var.default_update is not None or src.node not in ops:
                continue
            names = ops[src.node].output_names()
            if src.port in names:
                var.default_update = loaded.variables[src.node][names.index(src.port)]


def _output_of(ref: PortRef, ops: dict[str, OpDef], loaded: Loaded,
               graph: Graph) -> Variable:
    if ref.node not in graph.nodes:
        raise GraphError("no such node", node=ref.node)
    names = ops[ref.node].output_names()
    if ref.port not in names:
        raise GraphError(f"op {ops[ref.node].name!r} has no output port {ref.port!r}; "
                         f"it has {', '.join(names)}", node=ref.node, port=ref.port)
    return loaded.variables[ref.node][names.index(ref.port)]


def _build_node(values: Mapping[str, np.ndarray], node: Node, op: OpDef,
                incoming: dict[str, PortRef], ops: dict[str, OpDef],
                loaded: Loaded) -> tuple[Variable, ...]:
    node_id = node.id
    attrs = op.normalise_attrs(node.attrs, node_id)  # attribute errors name the node
    ports = op.input_names(attrs, node_id)
    for port in incoming:
        if port not in ports:
            raise GraphError(f"op {op.name!r} has no input port {port!r}; its inputs are "
                             f"{', '.join(ports) or 'none'}", node=node_id, port=port)
    inputs: list[Variable] = []
    for port in ports:
        src = incoming.get(port)
        if src is None:
            raise GraphError("missing input: nothing is connected to this port",
                             node=node_id, port=port)
        if src.node not in ops:  # an edge appended by hand from a node that is not there
            raise GraphError(f"connected to {str(src)!r}, but there is no node {src.node!r}",
                             node=node_id, port=port)
        names = ops[src.node].output_names()
        if src.port not in names:
            raise GraphError(f"connected to {str(src)!r}, but op {ops[src.node].name!r} has no "
                             f"output port {src.port!r} (it has {', '.join(names)})",
                             node=node_id, port=port)
        inputs.append(loaded.variables[src.node][names.index(src.port)])

    if op.name == "parameter":
        var = _parameter(node, attrs, values.get(node_id))
        loaded.shared[node_id] = var
        return (var,)
    if op.name == "constant":
        const_attrs, data = _constant(node, attrs, values.get(node_id))
        return make_apply(op, [], const_attrs, node_id, data).outputs
    if op.params:  # a layer: its own parameters from the document's values or initialisers
        apply, params = make_layer(op, inputs, dict(node.attrs), node_id, values)
        for name, var in params.items():
            loaded.shared[param_key(node_id, name)] = var
        return apply.outputs
    apply = make_apply(op, inputs, dict(node.attrs), node_id)  # shape errors name node, port
    bind_default_updates(apply)
    if op.name == "input":
        loaded.inputs[node_id] = apply.outputs[0]
    return apply.outputs


def _host(dtype: str) -> type:
    return np.float64 if dtype in FLOATS else np.int64


def _value_attrs(node: Node, attrs: dict[str, Any], value: np.ndarray | None) -> dict[str, Any]:
    """Shape and dtype not written on the node are taken from its stored value; written ones
    must agree with it."""
    if value is None:
        if any(d is None for d in attrs["shape"]):
            raise GraphError(f"a {node.op} needs a fully known shape, got {attrs['shape']}",
                             node=node.id)
        return attrs
    attrs = dict(attrs)
    if "shape" not in node.attrs:  # checked as if written: no zero dimension, none too big
        attrs["shape"] = registry.get(node.op).attr("shape").check(tuple(value.shape), node.id)
    if "dtype" not in node.attrs:
        attrs["dtype"] = INT if value.dtype.kind in "iub" else FLOAT
    if tuple(attrs["shape"]) != tuple(value.shape):
        raise GraphError(f"attribute 'shape' is {tuple(attrs['shape'])} but the stored value "
                         f"has shape {tuple(value.shape)}", node=node.id)
    return attrs


def _constant(node: Node, attrs: dict[str, Any],
              value: np.ndarray | None) -> tuple[dict[str, Any], np.ndarray]:
    """Attributes and data of a constant; data in float64 / int64 as `expr.constant` keeps it."""
    attrs = _value_attrs(node, attrs, value)
    dtype = _host(attrs["dtype"])
    if value is None:  # made from its attributes: as big as they say, so check first
        problem = array_size_problem(attrs["shape"], 4, "the constant")
        if problem is not None:
            raise GraphError(problem, node=node.id)
    data = (np.full(attrs["shape"], attrs["value"], dtype=dtype) if value is None
            else np.array(value, dtype=dtype))
    return attrs, data


def _parameter(node: Node, attrs: dict[str, Any], value: np.ndarray | None) -> SharedVariable:
    attrs = _value_attrs(node, attrs, value)
    if value is None:  # a parameter drawn on the canvas: initialise it as its attrs say
        value = initial_value(attrs["init"], tuple(attrs["shape"]), seed=attrs["seed"],
                              std=attrs["std"], scale=attrs["scale"], value=attrs["value"],
                              name=node.id)
    # shared() picks int32 for integer arrays, float32 otherwise: cast so it agrees with attrs
    array = np.asarray(value, dtype=_host(attrs["dtype"]))
    return shared(array, name=node.id, init=attrs["init"], attrs=attrs)


__all__ = ["Loaded", "build_node", "from_document", "incoming_index", "ir_to_graph",
           "stored_value", "to_document"]
