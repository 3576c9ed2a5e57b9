"""What the canvas shows about a document that is being edited: the type of every output port
(wire labels such as `B x 800`), each node's problem, parameter counts, and whether a new wire
would be valid. Pure Python over the registry and the IR; no Qt, no OpenCL.

A half-built graph is normal while editing, so `annotate` never raises: nodes that cannot be
built carry their GraphError, and the nodes downstream of them are listed as blocked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nodestudio.errors import CycleError, GraphError, ShapeError
from nodestudio.graph.history import capture
from nodestudio.graph.model import Graph, PortLike, PortRef, as_port
from nodestudio.ir.convert import Loaded, from_document
from nodestudio.ops import registry
from nodestudio.ops.registry import TensorType


@dataclass
class Annotation:
    types: dict[PortRef, TensorType] = field(default_factory=dict)  # every built output port
    errors: dict[str, GraphError] = field(default_factory=dict)  # node id -> its own problem
    blocked: set[str] = field(default_factory=set)  # nodes downstream of a problem
    params: dict[str, int] = field(default_factory=dict)  # node id -> parameters it owns or uses
    parameter_nodes: set[str] = field(default_factory=set)  # typed `parameter` nodes
    owned: dict[str, TensorType] = field(default_factory=dict)  # "layer/W" -> its type

    @property
    def total_params(self) -> int:
        return (sum(self.params[node] for node in self.parameter_nodes)
                + sum(math.prod(t.shape) for t in self.owned.values()))

    def status(self, node_id: str) -> str:
        """"error", "blocked" or "ok" (the canvas badge)."""
        if node_id in self.errors:
            return "error"
        return "blocked" if node_id in self.blocked else "ok"


def annotate(graph: Graph) -> Annotation:
    try:
        loaded = from_document(graph, strict=False)
    except CycleError as exc:  # only a document assembled by hand can hold one
        note = Annotation()
        note.errors[exc.cycle[0]] = exc
        note.blocked = set(graph.nodes) - {exc.cycle[0]}
        return note
    return annotation_of(graph, loaded)


def annotation_of(graph: Graph, loaded: Loaded) -> Annotation:
    """The annotation of a document whose IR is already built (strict or not)."""
    note = Annotation()
    note.errors = dict(loaded.errors)
    note.blocked = set(graph.nodes) - set(loaded.variables) - set(note.errors)
    for node_id, outs in loaded.variables.items():
        op = registry.get(graph.nodes[node_id].op)
        for port, var in zip(op.output_names(), outs):
            note.types[PortRef(node_id, port)] = var.type
    for node_id, node in graph.nodes.items():
        if node.op == "parameter" and PortRef(node_id, "out") in note.types:
            note.parameter_nodes.add(node_id)
            note.params[node_id] = math.prod(note.types[PortRef(node_id, "out")].shape)
    note.owned = {key: var.type for key, var in loaded.shared.items() if key not in graph.nodes}
    owned_by: dict[str, int] = {}
    for key, t in note.owned.items():
        layer = key.rpartition("/")[0]
        owned_by[layer] = owned_by.get(layer, 0) + math.prod(t.shape)
    for node_id in graph.nodes:
        if node_id in note.parameter_nodes:
            continue
        used = sum(note.params[src.node] for src in graph.incoming(node_id).values()
                   if src.node in note.parameter_nodes)
        used += owned_by.get(node_id, 0)
        if used:
            note.params[node_id] = used
    return note


def check_connection(graph: Graph, src: PortLike, dst: PortLike,
                     note: Annotation | None = None) -> str | None:
    """Why wiring output `src` to input `dst` would be invalid, or None when it is fine."""
    src, dst = as_port(src), as_port(dst)
    if src.node not in graph.nodes or dst.node not in graph.nodes:
        return "one end of the wire is not in the graph"
    src_node, dst_node = graph.nodes[src.node], graph.nodes[dst.node]
    if src.node == dst.node:
        return f"'{src.node}' cannot feed itself"
    try:
        src_op, dst_op = registry.get(src_node.op), registry.get(dst_node.op)
    except GraphError as exc:
        return exc.detail
    if src.port not in src_op.output_names():
        return f"'{src_node.op}' has no output port '{src.port}'"
    inputs = dst_op.input_names(dst_node.attrs)
    if dst.port not in inputs:
        return f"'{dst_node.op}' has no input port '{dst.port}'"
    fed = graph.incoming(dst.node).get(dst.port)
    if fed is not None:
        return f"'{dst.node}.{dst.port}' is already fed by '{fed}'; delete that wire first"
    path = graph.path(dst.node, src.node)
    if path is not None:
        return "this wire would close a cycle: " + " -> ".join([src.node, *path])
    note = annotate(graph) if note is None else note
    src_type = note.types.get(src)
    port_def = next((p for p in dst_op.inputs if p.name == dst.port), None)
    if src_type is not None and port_def is not None and port_def.dtype is not None \
            and port_def.dtype != src_type.dtype:
        return (f"'{dst_node.op}.{dst.port}' takes {port_def.dtype}; "
                f"'{src}' gives {src_type.dtype}")
    if src_type is None or any(p not in graph.incoming(dst.node) for p in inputs
                               if p != dst.port):
        return None  # the shapes can only be checked once every input is wired
    trial = capture(graph).to_graph()  # arrays shared, not copied
    trial.connect(src, dst)
    error = annotate(trial).errors.get(dst.node)
    if isinstance(error, ShapeError) or (error is not None and error.port is not None):
        return error.detail
    return None
