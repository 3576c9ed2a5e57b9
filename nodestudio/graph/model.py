"""The editable graph document: what the canvas shows and edits, and what a graph file holds.

This layer is plain Python (no op registry, no IR): a node is an op *name* with attributes, an
edge joins an output port to an input port by name. Whether the ops exist and the wiring makes
sense is decided later, by `nodestudio.ir.convert`, so a canvas can hold (and a file can store) a
half-built or partly unknown graph.

The model enforces only what would make the document itself ambiguous: unique node ids, at most
one edge into an input port, and no cycles through `connect`. Every change goes through a method
that notifies subscribers, so the GUI can mirror the document without polling.
"""

from __future__ import annotations

import copy as _copy
import heapq
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodestudio.errors import CycleError, GraphError
from nodestudio.graph.edges import Edge, EdgeList, PortLike, PortRef, as_port
from nodestudio.graph.limits import POSITION_LIMIT, brief, clamp_position
from nodestudio.observer import Observable

Position = tuple[float, float]
Listener = Callable[[str, Any], None]

# What a user may name a node: no '/' (it scopes the nodes of an expanded composite and a
# layer's own parameters) and no ':' (it separates node and port in files).
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}")

# The events subscribers receive, with their payloads:
#   "node_added"    Node
#   "node_removed"  Node                     (its edges are removed first, one event each)
#   "edge_added"    Edge
#   "edge_removed"  Edge
#   "attrs_changed" (node_id, old_attrs, new_attrs)
#   "moved"         (node_id, old_position, new_position)
#   "document_changed" None   (outputs, values, groups or metadata replaced whole; see notify)
EVENTS = ("node_added", "node_removed", "edge_added", "edge_removed", "attrs_changed", "moved",
          "document_changed")


@dataclass
class Node:
    id: str
    op: str
    attrs: dict[str, Any] = field(default_factory=dict)
    position: Position | None = None
    group: str | None = None  # id of the composite this node was expanded from

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return (self.id == other.id and self.op == other.op and self.group == other.group
                and _same_position(self.position, other.position)
                and plain(self.attrs) == plain(other.attrs))


def plain(value: Any) -> Any:
    """A value with tuples as lists and NumPy scalars as Python numbers: what JSON gives back,
    so that a document compares equal to itself after a save and load."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def _same_position(a: Position | None, b: Position | None) -> bool:
    if a is None or b is None:
        return a is b
    return tuple(a) == tuple(b)


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


def _coordinate(value: Any, node: str | None) -> float:
    """One coordinate, brought within +-POSITION_LIMIT; GraphError for what is no number."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        value = max(min(int(value), POSITION_LIMIT), -POSITION_LIMIT)  # no float overflow
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise GraphError(f"a position is two numbers, got {brief(value)}", node=node) from None
    if not math.isfinite(number):
        raise GraphError(f"a position must be finite, got {number}", node=node)
    return clamp_position(number)


def as_position(pos: Any, node: str | None = None) -> Position | None:
    """(x, y) as floats within +-POSITION_LIMIT (far away is brought back, so the canvas never
    draws at 1e19), or None; GraphError naming the node for anything else."""
    if pos is None:
        return None
    try:
        x, y = pos
    except (TypeError, ValueError):
        raise GraphError(f"a position is two numbers, got {brief(pos)}", node=node) from None
    return _coordinate(x, node), _coordinate(y, node)


class Graph:
    """The document. Attributes are public for reading; change them through the methods so that
    subscribers hear of it (the loader and the composite code fill them directly).
    `edges` is an `EdgeList`: a list that also indexes each node's wires (assigning any list
    to it makes one)."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self._edges = EdgeList()
        self.outputs: dict[str, PortRef] = {}
        self.values: dict[str, np.ndarray] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.metadata: dict[str, Any] = {}
        self._observers = Observable()

    @property
    def edges(self) -> EdgeList:
        return self._edges

    @edges.setter
    def edges(self, edges: Iterable[Edge]) -> None:
        self._edges = EdgeList(edges)

    # --- observers ------------------------------------------------------------------------------
    def subscribe(self, callback: Listener) -> Callable[[], None]:
        """Call `callback(event, payload)` after every change; returns an unsubscribe function."""
        return self._observers.subscribe(callback)

    def _emit(self, event: str, payload: Any) -> None:
        self._observers.emit(event, payload)

    def notify(self, event: str, payload: Any = None) -> None:
        """Tell subscribers of a change made by filling the attributes directly."""
        self._emit(event, payload)

    # --- nodes -------------------------------------------------------------------------------
    def node(self, node_id: str) -> Node:
        try:
            return self.nodes[node_id]
        except KeyError:
            raise GraphError("no such node", node=node_id) from None

    def new_id(self, base: str) -> str:
        """A readable unused id: 'tanh_1', 'tanh_2', ... (the op name without any scope).
        Ids of expanded groups stay reserved: collapsing gives the composite its id back."""
        base = re.sub(r"[^\w.-]+", "_", base.rsplit("/", 1)[-1]) or "node"
        n = 1
        while f"{base}_{n}" in self.nodes or f"{base}_{n}" in self.groups:
            n += 1
        return f"{base}_{n}"

    def add_node(self, op: str, attrs: dict[str, Any] | None = None, id: str | None = None,
                 position: Position | None = None, group: str | None = None,
                 index: int | None = None) -> Node:
        """Add a node (at `index` in the node order, default last) and return it."""
        node_id = self.new_id(op) if id is None else id
        if not isinstance(node_id, str) or not node_id:
            raise GraphError(f"a node id must be a non-empty string, got {node_id!r}")
        if node_id in self.nodes:
            raise GraphError("a node with this id already exists", node=node_id)
        node = Node(node_id, op, dict(attrs or {}), as_position(position, node_id), group)
        if index is None or index >= len(self.nodes):
            self.nodes[node_id] = node
        else:  # dicts cannot insert in the middle: rebuild in the wanted order
            items = list(self.nodes.items())
            items.insert(max(index, 0), (node_id, node))
            self.nodes = dict(items)
        self._emit("node_added", node)
        return node

    def remove_node(self, node_id: str) -> Node:
        """Remove a node with its edges, its values and the graph outputs that name it."""
        node = self.node(node_id)
        for edge in self._edges.of(node_id):
            self._remove_edge(edge)
        del self.nodes[node_id]
        for key in [node_id, *self.owned_keys(node_id)]:
            self.values.pop(key, None)
        for name in [n for n, ref in self.outputs.items() if ref.node == node_id]:
            del self.outputs[name]
        self._emit("node_removed", node)
        return node

    def owned_keys(self, node_id: str) -> list[str]:
        """Keys of the values a node owns besides its own: "<node>/<param>", a layer's
        parameters (when the layer is expanded these are node ids, no longer owned)."""
        prefix = node_id + "/"
        return [k for k in self.values
                if k.startswith(prefix) and "/" not in k[len(prefix):] and k not in self.nodes]

    def rename_node(self, old: str, new: str) -> Node:
        """Give a node a new id, keeping its wires, graph outputs and values (a layer's own
        parameters move with it). GraphError when the name is taken or not a valid name."""
        node = self.node(old)
        if new == old:
            return node
        if not isinstance(new, str) or not NAME_PATTERN.fullmatch(new):
            raise GraphError(f"{new!r} is not a valid name: use letters, digits, '_', '.' and "
                             "'-', starting with a letter or '_' (at most 100)", node=old)
        if new in self.nodes or new in self.groups:
            raise GraphError(f"the name {new!r} is already taken", node=old)
        if node.group is not None:
            raise GraphError("a node inside an expanded composite keeps its name; collapse "
                             f"{node.group!r} first", node=old)
        index = list(self.nodes).index(old)
        edges = self._edges.of(old)
        outputs = {n: ref for n, ref in self.outputs.items() if ref.node == old}
        values = {k: self.values[k] for k in [old, *self.owned_keys(old)] if k in self.values}
        self.remove_node(old)
        renamed = self.add_node(node.op, node.attrs, id=new, position=node.position,
                                index=index)
        for key, value in values.items():
            self.values[new + key[len(old):]] = value
        for e in edges:
            self.restore_edge(Edge(_renamed(e.src, old, new), _renamed(e.dst, old, new)))
        for name, ref in outputs.items():
            self.outputs[name] = _renamed(ref, old, new)
        self.groups = _rename_refs(self.groups, old, new)
        if outputs or values:
            self._emit("document_changed", None)
        return renamed

    def set_attrs(self, node_id: str, attrs: dict[str, Any], replace: bool = False) -> None:
        """Merge `attrs` into the node's attributes (or replace them all)."""
        node = self.node(node_id)
        old = dict(node.attrs)
        node.attrs = dict(attrs) if replace else {**node.attrs, **attrs}
        self._emit("attrs_changed", (node_id, old, dict(node.attrs)))

    def move(self, node_id: str, pos: Position | None) -> None:
        node = self.node(node_id)
        old = node.position
        node.position = as_position(pos, node_id)
        self._emit("moved", (node_id, old, node.position))

    # --- edges -------------------------------------------------------------------------------
    def connect(self, src: PortLike, dst: PortLike, index: int | None = None) -> Edge:
        """Join an output port to an input port (at `index` in the edge list, default last).
        Refuses a second edge into the same input port and an edge that would close a cycle
        (CycleError lists it, starting at the source)."""
        src, dst = as_port(src), as_port(dst)
        self.node(src.node)
        self.node(dst.node)
        existing = self.incoming(dst.node).get(dst.port)
        if existing is not None:
            raise GraphError(f"input port is already connected to {existing}; disconnect it "
                             f"first", node=dst.node, port=dst.port)
        path = self.path(dst.node, src.node)
        if path is not None:
            raise CycleError([src.node, *path])
        return self.restore_edge(Edge(src, dst), index)

    def restore_edge(self, edge: Edge, index: int | None = None) -> Edge:
        """Put back an edge known to be valid (undo): no cycle or port check."""
        if index is None:
            self.edges.append(edge)
        else:
            self.edges.insert(max(index, 0), edge)
        self._emit("edge_added", edge)
        return edge

    def disconnect(self, target: Edge | PortLike) -> Edge:
        """Remove an edge, given itself or the input port it enters."""
        if isinstance(target, Edge):
            if target not in self.edges:
                raise GraphError(f"no edge {target}", node=target.dst.node, port=target.dst.port)
            edge = target
        else:
            dst = as_port(target)
            found = [e for e in self._edges.into(dst.node) if e.dst == dst]
            if not found:
                raise GraphError("input port is not connected", node=dst.node, port=dst.port)
            edge = found[0]
        self._remove_edge(edge)
        return edge

    def _remove_edge(self, edge: Edge) -> None:
        self.edges.remove(edge)
        self._emit("edge_removed", edge)

    def incoming(self, node_id: str) -> dict[str, PortRef]:
        """{input port: the output port feeding it}."""
        return {e.dst.port: e.src for e in self._edges.into(node_id)}

    def consumers(self, node_id: str, port: str | None = None) -> list[PortRef]:
        """The input ports fed by the node (by one of its output ports if `port` is given)."""
        return [e.dst for e in self._edges.out_of(node_id)
                if port is None or e.src.port == port]

    def set_output(self, name: str, ref: PortLike) -> None:
        ref = as_port(ref)
        self.node(ref.node)
        self.outputs[name] = ref

    # --- order -------------------------------------------------------------------------------
    def _successors(self) -> dict[str, list[str]]:
        succ: dict[str, list[str]] = {n: [] for n in self.nodes}
        for e in self.edges:
            if e.src.node in succ and e.dst.node in self.nodes:
                succ[e.src.node].append(e.dst.node)
        return succ

    def successors(self, without: Edge | None = None) -> Successors:
        """Consumer node ids of each node, looked up as asked (`without`: as if that wire
        were gone): what `path_in` walks, without building the whole table."""
        return Successors(self, without)

    def path(self, start: str, goal: str) -> list[str] | None:
        """Node ids of a downstream path start -> ... -> goal, or None. Costs what lies
        downstream of `start`, not the whole document."""
        return path_in(self.successors(), start, goal)

    def find_cycle(self) -> list[str] | None:
        """One cycle as [a, b, ..., a], or None (edges to missing nodes are ignored)."""
        succ = self._successors()
        state: dict[str, int] = {}  # 1: on the current path, 2: finished
        for root in self.nodes:
            if root in state:
                continue
            path: list[str] = [root]
            iters = [iter(succ[root])]
            state[root] = 1
            while iters:
                nxt = next(iters[-1], None)
                if nxt is None:
                    state[path.pop()] = 2
                    iters.pop()
                elif state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                elif nxt not in state:
                    state[nxt] = 1
                    path.append(nxt)
                    iters.append(iter(succ[nxt]))
        return None

    def topological_order(self) -> list[str]:
        """Node ids, each after the nodes feeding it; ties keep document order."""
        succ = self._successors()
        indegree = {n: 0 for n in self.nodes}
        for targets in succ.values():
            for t in targets:
                indegree[t] += 1
        position = {n: i for i, n in enumerate(self.nodes)}
        ready = [(position[n], n) for n, d in indegree.items() if d == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, current = heapq.heappop(ready)
            order.append(current)
            for t in succ[current]:
                indegree[t] -= 1
                if indegree[t] == 0:
                    heapq.heappush(ready, (position[t], t))
        if len(order) != len(self.nodes):
            raise CycleError(self.find_cycle() or sorted(set(self.nodes) - set(order)))
        return order

    # --- whole-document helpers ------------------------------------------------------------------
    def copy(self) -> Graph:
        """A deep copy without the subscribers."""
        other = Graph()
        other.nodes = {k: Node(n.id, n.op, _copy.deepcopy(n.attrs), n.position, n.group)
                       for k, n in self.nodes.items()}
        other.edges = list(self.edges)
        other.outputs = dict(self.outputs)
        other.values = {k: np.array(v, copy=True) for k, v in self.values.items()}
        other.groups = _copy.deepcopy(self.groups)
        other.metadata = _copy.deepcopy(self.metadata)
        return other

    def __eq__(self, other: object) -> bool:
        """Same nodes, edges (in any order), outputs, values, groups and metadata."""
        if not isinstance(other, Graph):
            return NotImplemented
        return (self.nodes == other.nodes
                and _edge_set(self.edges) == _edge_set(other.edges)
                and len(self.edges) == len(other.edges)
                and self.outputs == other.outputs
                and self.values.keys() == other.values.keys()
                and all(_same_array(v, other.values[k]) for k, v in self.values.items())
                and plain(self.groups) == plain(other.groups)
                and plain(self.metadata) == plain(other.metadata))

    __hash__ = None  # type: ignore[assignment]  (mutable)

    def __repr__(self) -> str:
        return (f"<Graph: {len(self.nodes)} nodes, {len(self.edges)} edges, "
                f"outputs {sorted(self.outputs)}>")

    def describe_difference(self, other: Graph) -> str:
        """A short account of why two documents differ (for test failures)."""
        notes: list[str] = []
        for k in self.nodes.keys() | other.nodes.keys():
            a, b = self.nodes.get(k), other.nodes.get(k)
            if a != b:
                notes.append(f"node {k}: {a} != {b}")
        ea, eb = _edge_set(self.edges), _edge_set(other.edges)
        notes += [f"edge only left: {e}" for e in ea - eb]
        notes += [f"edge only right: {e}" for e in eb - ea]
        if self.outputs != other.outputs:
            notes.append(f"outputs {self.outputs} != {other.outputs}")
        for k in self.values.keys() | other.values.keys():
            if k not in self.values or k not in other.values or \
                    not _same_array(self.values[k], other.values[k]):
                notes.append(f"value {k} differs")
        if plain(self.groups) != plain(other.groups):
            notes.append("groups differ")
        if plain(self.metadata) != plain(other.metadata):
            notes.append("metadata differs")
        return "; ".join(notes) or "equal"


class Successors:
    """`{node: [consumer node ids]}` of a graph as a lookup (`get`), from its wire index;
    wires to or from nodes not in the graph are left out, as is `without`."""

    def __init__(self, graph: Graph, without: Edge | None = None):
        self.graph, self.without = graph, without

    def get(self, node: str, default: Any = ()) -> list[str]:
        nodes, without = self.graph.nodes, self.without
        if node not in nodes:
            return list(default)
        return [e.dst.node for e in self.graph.edges.out_of(node)
                if e.dst.node in nodes and not (without is not None and e == without)]

    def __getitem__(self, node: str) -> list[str]:
        return self.get(node)


def path_in(succ: Any, start: str, goal: str) -> list[str] | None:
    """Node ids of a path start -> ... -> goal through `succ` (node -> its successors: a dict
    or `Successors`, anything with `get`)."""
    parent: dict[str, str | None] = {start: None}
    stack = [start]
    while stack:
        current = stack.pop()
        if current == goal:
            path = [current]
            while parent[path[-1]] is not None:
                path.append(parent[path[-1]])  # type: ignore[arg-type]
            return path[::-1]
        for nxt in succ.get(current, ()):
            if nxt not in parent:
                parent[nxt] = current
                stack.append(nxt)
    return None


def _renamed(ref: PortRef, old: str, new: str) -> PortRef:
    return PortRef(new, ref.port) if ref.node == old else ref


def _rename_refs(value: Any, old: str, new: str) -> Any:
    """Group records name outside nodes in "node:port" strings and key the nodes they moved
    aside by id ("shifted"): follow a rename."""
    if isinstance(value, dict):
        return {(new if k == old else k): _rename_refs(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_rename_refs(v, old, new) for v in value]
    if isinstance(value, str) and value.startswith(old + ":") and ":" not in value[len(old) + 1:]:
        return new + value[len(old):]
    return value


def _edge_set(edges: Iterable[Edge]) -> set[Edge]:
    return set(edges)
