"""What the canvas shows about a document that is being edited: the type of every output port
(wire labels such as `B x 800`), each node's problem, parameter counts, and whether a new wire
would be valid. Pure Python over the registry and the IR; no Qt, no OpenCL.

A half-built graph is normal while editing, so `annotate` never raises: nodes that cannot be
built carry their GraphError, and the nodes downstream of them are listed as blocked.

`annotate(graph)` builds the IR of the whole document. A document being edited keeps an
`Annotator` instead, fed with the document's events: after an edit it rebuilds the nodes whose
op, attributes, inputs or stored values changed, and their consumers only while the outcome (built
or not, output types) keeps changing; the rest is reused. Its result equals `annotate(graph)`
(tests/ir/test_incremental_annotation.py checks that after every step of random edit sequences).
"""

from __future__ import annotations

import copy
import heapq
import math
from collections import ChainMap
from dataclasses import dataclass, field
from typing import Any

from nodestudio.errors import CycleError, GraphError, ShapeError
from nodestudio.graph.model import (
    Edge,
    Graph,
    PortLike,
    PortRef,
    Successors,
    as_port,
    path_in,
)
from nodestudio.ir.convert import Loaded, build_node, from_document, incoming_index
from nodestudio.ir.expr import Apply, Variable
from nodestudio.ir.layers import param_key
from nodestudio.ops import registry
from nodestudio.ops.registry import OpDef, TensorType, accepts, port_dtype_text


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
        return _cycle_annotation(graph, exc)
    return annotation_of(graph, loaded)


def _cycle_annotation(graph: Graph, exc: CycleError) -> Annotation:
    note = Annotation()
    note.errors[exc.cycle[0]] = exc
    note.blocked = set(graph.nodes) - {exc.cycle[0]}
    return note


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
    incoming = incoming_index(graph)
    for node_id in graph.nodes:
        if node_id in note.parameter_nodes:
            continue
        used = sum(note.params[src.node] for src in incoming.get(node_id, {}).values()
                   if src.node in note.parameter_nodes)
        used += owned_by.get(node_id, 0)
        if used:
            note.params[node_id] = used
    return note


def _shells(outs: tuple[Variable, ...]) -> tuple[Variable, ...]:
    """Stand-ins for a node's outputs with the same names and types, and nothing behind them:
    consumers are built from types (and name ports in messages), so the annotation need not
    keep the IR of the whole document, or the arrays of its parameters, alive."""
    if not outs:
        return outs
    owner = outs[0].owner
    return Apply(owner.op, (), {}, owner.name, [v.type for v in outs]).outputs


_ABSENT = object()


class Annotator:
    """The annotation of one live document, kept up to date by rebuilding what changed.

    Give it every event of the document (`observe`, e.g. `graph.subscribe(a.observe)`);
    `annotation()` brings it up to date and returns a fresh `Annotation` equal to
    `annotate(graph)`. Stored values are compared by identity on each update, so replacing
    `graph.values` entries needs no event. Changes made without events to nodes or edges are
    noticed by their count and answered with a rebuild of everything."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.rebuilt: set[str] = set()  # the nodes the last update built anew
        self._unchecked: set[str] = set()  # built anew since `stale_owned_values` last looked
        self._untaken: set[str] | None = None  # built anew since `take_changes` (None: all)
        self._reset()

    # --- events ---------------------------------------------------------------------------
    def observe(self, event: str, payload: Any) -> None:
        if event == "moved":
            return  # positions change no types
        self._note = None
        if event == "node_added":
            self._added(payload.id)
        elif event == "node_removed":
            self._removed(payload.id)
        elif event == "edge_added":
            self._edge_added(payload)
        elif event == "edge_removed":
            self._edge_removed(payload)
        elif event == "attrs_changed":
            self._dirty.add(payload[0])
        # "document_changed": stored values are compared on update; the rest is not annotated

    def _added(self, node_id: str) -> None:
        self._dirty.add(node_id)
        self._rank[node_id] = self._next_rank
        self._next_rank += 1
        if self._in_edges.get(node_id) or self._out_edges.get(node_id):
            self._ranks_valid = False  # edges that named it before it existed
        self._dirty.update(e.dst.node for e in self._out_edges.get(node_id, ()))
        if "/" in node_id:  # a node "layer/W" takes the key of an owned parameter
            self._dirty.add(node_id.rpartition("/")[0])

    def _removed(self, node_id: str) -> None:
        self._forget(node_id)
        self._memo.pop(node_id, None)
        self._rank.pop(node_id, None)
        self._dirty.discard(node_id)
        self._dirty.update(e.dst.node for e in self._out_edges.get(node_id, ()))
        if "/" in node_id:
            self._dirty.add(node_id.rpartition("/")[0])

    def _edge_added(self, edge: Edge) -> None:
        edges = self.graph.edges
        self._edge_count += 1
        self._out_edges.setdefault(edge.src.node, []).append(edge)
        self._in_edges.setdefault(edge.dst.node, []).append(edge)
        if not (edges and edges[-1] is edge):  # put back in the middle (undo): re-read order
            self._reorder.add(edge.dst.node)
        self._dirty.add(edge.dst.node)
        src, dst = self._rank.get(edge.src.node), self._rank.get(edge.dst.node)
        if src is not None and dst is not None and src >= dst:
            self._ranks_valid = False

    def _edge_removed(self, edge: Edge) -> None:
        self._edge_count -= 1
        for index, key in ((self._out_edges, edge.src.node), (self._in_edges, edge.dst.node)):
            edges = index.get(key)
            if edges is not None and edge in edges:
                edges.remove(edge)
        self._dirty.add(edge.dst.node)

    # --- results ----------------------------------------------------------------------------
    def annotation(self) -> Annotation:
        """Up to date with the document; a new object after every change."""
        if self._note is None:
            self._update()
        assert self._note is not None
        return self._note

    def take_changes(self) -> set[str] | None:
        """The nodes whose annotation (types of their outputs, status, problem, parameter
        count) may differ from what it was at the previous call; None: any node's (the first
        time, and after a rebuild of everything). For views that redraw only what changed."""
        self.annotation()
        changes, self._untaken = self._untaken, set()
        return changes

    def stale_owned_values(self) -> list[str]:
        """Keys of stored parameters that no longer fit their layer, among the layers built
        anew since the last call: the layer cannot be built with them, and without them it
        can, with other shapes (its `units` or its incoming width changed). Whoever edits
        drops them."""
        stale: list[str] = []
        graph = self.graph
        candidates, self._unchecked = self._unchecked & set(self._errors), set()
        for node_id in sorted(candidates):
            node = graph.nodes.get(node_id)
            try:
                op = registry.get(node.op) if node is not None else None
            except GraphError:
                continue
            keys = [] if op is None else [k for k in (param_key(node_id, p)
                                                      for p in op.param_names())
                                          if k in graph.values]
            if not keys:
                continue
            trial = Loaded(variables=ChainMap({}, self._variables))  # type: ignore[arg-type]
            values = {k: v for k, v in graph.values.items() if k not in keys}
            build_node(graph, node_id, self._incoming(node_id), ChainMap({}, self._ops),
                       trial, set(self._skipped), values=values)
            stale += [k for k in keys if k in trial.shared
                      and trial.shared[k].type.shape != tuple(graph.values[k].shape)]
        return stale

    # --- bookkeeping --------------------------------------------------------------------------
    def _reset(self) -> None:
        """Forget everything: the next update builds every node."""
        graph = self.graph
        self._note: Annotation | None = None
        self._in_edges: dict[str, list[Edge]] = {}
        self._out_edges: dict[str, list[Edge]] = {}
        for e in graph.edges:
            self._out_edges.setdefault(e.src.node, []).append(e)
            self._in_edges.setdefault(e.dst.node, []).append(e)
        self._edge_count = len(graph.edges)
        self._reorder: set[str] = set()
        self._rank: dict[str, int] = {n: i for i, n in enumerate(graph.nodes)}
        self._next_rank = len(self._rank)
        self._ranks_valid = False
        self._dirty: set[str] = set(graph.nodes)
        self._values_seen: dict[str, Any] = dict(graph.values)
        # what each node contributes, for the nodes built so far
        self._ops: dict[str, OpDef] = {}
        self._variables: dict[str, tuple[Variable, ...]] = {}
        self._skipped: set[str] = set()
        self._errors: dict[str, GraphError] = {}
        self._blocked: set[str] = set()
        self._types: dict[PortRef, TensorType] = {}
        self._ports: dict[str, list[PortRef]] = {}
        self._shared: dict[str, dict[str, TensorType]] = {}
        self._owned: dict[str, TensorType] = {}
        self._owned_by: dict[str, int] = {}
        self._params: dict[str, int] = {}
        self._parameter_nodes: set[str] = set()
        self._cycle: Annotation | None = None
        self._untaken = None
        self._memo: dict[str, tuple] = {}  # node id -> what its last build depended on and gave

    def _forget(self, node_id: str) -> None:
        self._ops.pop(node_id, None)
        self._variables.pop(node_id, None)
        self._skipped.discard(node_id)
        self._errors.pop(node_id, None)
        self._blocked.discard(node_id)
        for ref in self._ports.pop(node_id, ()):
            self._types.pop(ref, None)
        for key in self._shared.pop(node_id, {}):
            self._owned.pop(key, None)
        self._owned_by.pop(node_id, None)
        self._params.pop(node_id, None)
        self._parameter_nodes.discard(node_id)

    def _incoming(self, node_id: str) -> dict[str, PortRef]:
        """`graph.incoming(node_id)`, from the index (edges kept in document order)."""
        return {e.dst.port: e.src for e in self._in_edges.get(node_id, ())}

    def _outcome(self, node_id: str) -> object:
        """What consumers see of a node: whether it was built, and its output types."""
        if node_id not in self._ops:
            return node_id in self._skipped
        return tuple(self._types[ref] for ref in self._ports[node_id])

    # --- the update ---------------------------------------------------------------------------
    def _update(self) -> None:
        graph = self.graph
        if len(graph.edges) != self._edge_count or len(graph.nodes) != len(self._rank) \
                or not self._rank.keys() == graph.nodes.keys():
            self._reset()  # changed without events (or by a loader): start again
        self._read_order()
        self._compare_values()
        if not self._ranks_valid and not self._rerank():
            return  # a cycle: annotated whole, as `annotate` does
        if self._cycle is not None:  # the cycle is gone: everything is built anew
            self._reset()
            self._rerank()
        queue = [(self._rank[n], n) for n in self._dirty if n in graph.nodes]
        heapq.heapify(queue)
        self._dirty = set()
        done: set[str] = set()
        while queue:
            _, node_id = heapq.heappop(queue)
            if node_id in done:
                continue
            done.add(node_id)
            before = self._outcome(node_id) if node_id in self._ports or \
                node_id in self._skipped else _ABSENT
            self._forget(node_id)
            self._build(node_id)
            if self._outcome(node_id) != before:
                for edge in self._out_edges.get(node_id, ()):
                    if edge.dst.node in graph.nodes:
                        heapq.heappush(queue, (self._rank[edge.dst.node], edge.dst.node))
        self.rebuilt = done
        self._unchecked |= done
        if self._untaken is not None:
            self._untaken |= done
        self._note = Annotation(dict(self._types), dict(self._errors), set(self._blocked),
                                dict(self._params), set(self._parameter_nodes),
                                dict(self._owned))

    def _build(self, node_id: str) -> None:
        graph = self.graph
        incoming = self._incoming(node_id)
        skipped = self._skipped
        if any(src.node in skipped for src in incoming.values()):
            skipped.add(node_id)  # blocked, as `build_node` decides first (quick: a deleted
            self._blocked.add(node_id)  # node can block half the graph)
        else:
            built = self._recall(node_id, incoming)
            if isinstance(built, GraphError):
                skipped.add(node_id)
                self._errors[node_id] = built
            else:
                self._keep(node_id, *built)
                out = PortRef(node_id, "out")
                if graph.nodes[node_id].op == "parameter" and out in self._types:
                    self._parameter_nodes.add(node_id)
                    self._params[node_id] = math.prod(self._types[out].shape)
                    return
        used = sum(self._params[src.node] for src in incoming.values()
                   if src.node in self._parameter_nodes)
        used += self._owned_by.get(node_id, 0)
        if used:
            self._params[node_id] = used

    def _recall(self, node_id: str, incoming: dict[str, PortRef]) -> Any:
        """What building the node gives (its GraphError, or its op, output stand-ins and the
        types of the shared variables it made), remembered from its last build when nothing it
        depends on changed since: op, attributes, wires, the sources' ops and types, stored
        values. Undoing a deletion brings back what followed it without building it again."""
        graph = self.graph
        node = graph.nodes[node_id]
        sources = tuple((port, ref, self._ops.get(ref.node), self._types.get(ref))
                        for port, ref in incoming.items())
        values = tuple(graph.values.get(key) for key in self._value_keys(node_id, node.op))
        memo = self._memo.get(node_id)
        if memo is not None and memo[0] == node.op and memo[1] == node.attrs \
                and memo[2] == sources and len(memo[3]) == len(values) \
                and all(a is b for a, b in zip(memo[3], values)):
            return memo[4]
        loaded = Loaded(variables=self._variables)
        build_node(graph, node_id, incoming, self._ops, loaded, self._skipped)
        built: Any
        if node_id in loaded.errors:
            self._skipped.discard(node_id)  # `_build` marks it, built now or remembered
            built = loaded.errors[node_id]
        else:
            outs = _shells(self._variables[node_id])
            built = (self._ops[node_id], outs, {k: v.type for k, v in loaded.shared.items()})
        self._memo[node_id] = (node.op, copy.deepcopy(node.attrs), sources, values, built)
        return built

    @staticmethod
    def _value_keys(node_id: str, op_name: str) -> list[str]:
        """The stored values a node's build reads: its own, and a layer's parameters."""
        try:
            params = registry.get(op_name).param_names()
        except GraphError:
            params = []
        return [node_id, *(param_key(node_id, p) for p in params)]

    def _keep(self, node_id: str, op: OpDef, outs: tuple[Variable, ...],
              shared: dict[str, TensorType]) -> None:
        """Take in a built node: its op, output stand-ins, output types and owned parameters."""
        self._ops[node_id] = op
        self._variables[node_id] = outs
        ports = [PortRef(node_id, port) for port in op.output_names()]
        self._ports[node_id] = ports[:len(outs)]
        for ref, var in zip(ports, outs):
            self._types[ref] = var.type
        self._shared[node_id] = shared
        for key, t in shared.items():
            if key not in self.graph.nodes:  # a layer's own parameter ("layer/W")
                self._owned[key] = t
                layer = key.rpartition("/")[0]
                self._owned_by[layer] = self._owned_by.get(layer, 0) + math.prod(t.shape)

    def _read_order(self) -> None:
        """Incoming edges put back in the middle of the edge list: take their order from it."""
        if not self._reorder:
            return
        for node_id in self._reorder:
            self._in_edges[node_id] = []
        for e in self.graph.edges:
            if e.dst.node in self._reorder:
                self._in_edges[e.dst.node].append(e)
        self._reorder = set()

    def _compare_values(self) -> None:
        """Stored values replaced, added or removed since the last update: their node (a
        parameter or constant) or their layer ("layer/W") is built anew."""
        values, seen = self.graph.values, self._values_seen
        touched = [k for k, v in values.items() if seen.get(k, _ABSENT) is not v]
        if len(seen) + sum(k not in seen for k in touched) != len(values):
            touched += [k for k in seen if k not in values]
        nodes = self.graph.nodes
        for key in touched:
            for owner in (key, key.rpartition("/")[0]):
                if owner in nodes:
                    self._dirty.add(owner)
        if touched:
            self._values_seen = dict(values)

    def _rerank(self) -> bool:
        """Topological ranks of every node; False (and the whole-graph note) on a cycle."""
        nodes = self.graph.nodes
        indegree = {n: 0 for n in nodes}
        for n in nodes:
            for e in self._in_edges.get(n, ()):
                if e.src.node in nodes:
                    indegree[n] += 1
        ready = [n for n, d in indegree.items() if d == 0]
        rank: dict[str, int] = {}
        while ready:
            current = ready.pop()
            rank[current] = len(rank)
            for e in self._out_edges.get(current, ()):
                if e.dst.node in indegree:
                    indegree[e.dst.node] -= 1
                    if indegree[e.dst.node] == 0:
                        ready.append(e.dst.node)
        if len(rank) != len(nodes):
            try:
                self.graph.topological_order()
            except CycleError as exc:
                self._cycle = self._note = _cycle_annotation(self.graph, exc)
                self._dirty.update(nodes)
                self._untaken = None
                return False
        self._rank = rank
        self._next_rank = len(rank)
        self._ranks_valid = True
        return True


# --- wire checks ---------------------------------------------------------------------------------
def check_connection(graph: Graph, src: PortLike, dst: PortLike,
                     note: Annotation | None = None, without: Edge | None = None) -> str | None:
    """Why wiring output `src` to input `dst` would be invalid, or None when it is fine.
    `note` is the annotation of `graph` (computed when not given). `without`: judge as if
    that wire were deleted first (a wire picked up from its input and moved elsewhere).
    Nothing is copied: the destination is built alone on the known types of its inputs."""
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
    try:
        inputs = dst_op.input_names(dst_node.attrs, dst.node)
    except GraphError as exc:  # a variadic op's count out of range
        return exc.detail
    if dst.port not in inputs:
        return f"'{dst_node.op}' has no input port '{dst.port}'"
    succ = graph.successors(without)  # looked up as the path search goes: no whole table
    incoming = {e.dst.port: e.src for e in graph.edges.into(dst.node) if not _is(e, without)}
    fed = incoming.get(dst.port)
    if fed is not None:
        return f"'{dst.node}.{dst.port}' is already fed by '{fed}'; delete that wire first"
    path = path_in(succ, dst.node, src.node)
    if path is not None:
        return "this wire would close a cycle: " + " -> ".join([src.node, *path])
    if without is not None and not _removal_only_blocks(graph, without):
        trial = graph.copy()  # rare: the wire ends on a port its node does not have
        trial.disconnect(without)
        return check_connection(trial, src, dst)
    note = annotate(graph) if note is None else note
    # without the picked-up wire, its old destination misses an input: it and everything
    # downstream of it are not built
    cut = set() if without is None else _downstream(succ, without.dst.node)
    src_type = None if src.node in cut else note.types.get(src)
    port_def = next((p for p in dst_op.inputs if p.name == dst.port), None)
    if src_type is not None and port_def is not None and \
            not accepts(port_def.dtype, src_type.dtype):
        return (f"'{dst_node.op}.{dst.port}' takes {port_dtype_text(port_def.dtype)}; "
                f"'{src}' gives {src_type.dtype}")
    if src_type is None or any(p not in incoming for p in inputs if p != dst.port):
        return None  # the shapes can only be checked once every input is wired
    error = _trial_error(graph, dst.node, {**incoming, dst.port: src}, note, cut)
    if isinstance(error, ShapeError) or (error is not None and error.port is not None):
        return error.detail
    return None


def _trial_error(graph: Graph, node_id: str, incoming: dict[str, PortRef], note: Annotation,
                 cut: set[str]) -> GraphError | None:
    """The error of `node_id` built on `incoming`, its sources taken as `note` types them."""
    ops: dict[str, OpDef] = {}
    variables: dict[str, tuple[Variable, ...]] = {}
    skipped: set[str] = set()
    for ref in incoming.values():
        source = graph.nodes.get(ref.node)
        if source is None or ref.node in ops or ref.node in skipped:
            continue  # a missing node: the build names it
        if ref.node in cut or ref.node in note.errors or ref.node in note.blocked:
            skipped.add(ref.node)
            continue
        op = registry.get(source.op)
        types = [note.types.get(PortRef(ref.node, port)) for port in op.output_names()]
        if None in types:  # not built (a note older than the graph): as if skipped
            skipped.add(ref.node)
            continue
        ops[ref.node] = op
        variables[ref.node] = Apply(op, (), {}, ref.node, types).outputs
    loaded = Loaded(variables=variables)
    build_node(graph, node_id, incoming, ops, loaded, skipped)
    return loaded.errors.get(node_id)


def _is(edge: Edge, other: Edge | None) -> bool:
    """`edge == other`, quick for the common case of different destination nodes."""
    return other is not None and edge.dst.node == other.dst.node and edge == other


def _downstream(succ: Successors, start: str) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        for nxt in succ.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _removal_only_blocks(graph: Graph, edge: Edge) -> bool:
    """Deleting `edge` leaves its destination missing an input (so that node and everything
    downstream of it are simply not built): true unless the wire ends on a port its node does
    not have, or on a node that is not there."""
    node = graph.nodes.get(edge.dst.node)
    if node is None:
        return False
    try:
        return edge.dst.port in registry.get(node.op).input_names(node.attrs, node.id)
    except (GraphError, KeyError, TypeError, ValueError):
        return True  # an unknown op or unusable attributes: the node stays unbuilt
