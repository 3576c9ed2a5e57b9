"""Undo steps that record what an edit changed, not the whole document.

An edit runs on the live document while a `Recorder` listens to its events (node_added /
removed with the node's place in the node order, edge_added / removed with the wire's place in
the edge list, attrs_changed and moved with old and new values). What has no fine-grained event
(outputs, values, groups, metadata) is compared with a snapshot taken when the edit began: only
the entries that differ are kept. The result, a `Change`, replays forwards (redo) or backwards
(undo), or is rolled back at once when the edit fails, so a failed edit changes nothing.

A step's size grows with the change, not with the document: a moved node costs its two
positions, an added node a copy of it. Arrays in `values` are shared, never copied (the studio
never changes an array in place; trained parameters arrive as new arrays). Group records are
compared one level deep (an expanded graph can hold many large ones): code that changes a stored
record replaces its entries (`record["position"] = [...]`) rather than editing them in place.
Node and edge order come back exactly, so undoing every edit and saving gives the bytes of the
original file.

Replaying touches only what the step names and announces each change with the model's events
(the canvas follows undo and redo as it follows edits); outputs, values, groups and metadata
are set at the end of a replay and announced with one "document_changed" event.

`capture` / `State` / `restore` (whole snapshots) remain for tests and for callers that want a
detached copy of a document (`capture(graph).to_graph()`).
"""

from __future__ import annotations

import bisect
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nodestudio.graph.model import Edge, Graph, Node, PortRef, plain

PARTS = ("outputs", "values", "groups", "metadata")  # replaced whole, no finer events
_MISSING = object()


# --- the steps of a change --------------------------------------------------------------------
@dataclass(frozen=True)
class NodeStep:
    """A node added (or removed) at `index` in the node order; `node` is a copy."""

    added: bool
    node: Node
    index: int

    def apply(self, graph: Graph, forward: bool) -> None:
        if self.added == forward:
            n = self.node
            graph.add_node(n.op, copy.deepcopy(n.attrs), id=n.id, position=n.position,
                           group=n.group, index=self.index)
        else:  # its wires went in steps of their own; its values go back with the parts
            node = graph.nodes.pop(self.node.id)
            graph.notify("node_removed", node)


@dataclass(frozen=True)
class EdgeStep:
    """A wire added (or removed) at `index` in the edge list."""

    added: bool
    edge: Edge
    index: int

    def apply(self, graph: Graph, forward: bool) -> None:
        if self.added == forward:
            graph.edges.insert(self.index, self.edge)
            graph.notify("edge_added", self.edge)
        else:
            index = self.index
            if not (index < len(graph.edges) and graph.edges[index] == self.edge):
                index = graph.edges.index(self.edge)  # not expected; stay exact regardless
            del graph.edges[index]
            graph.notify("edge_removed", self.edge)


@dataclass(frozen=True)
class AttrsStep:
    node_id: str
    old: dict[str, Any]
    new: dict[str, Any]

    def apply(self, graph: Graph, forward: bool) -> None:
        graph.set_attrs(self.node_id, copy.deepcopy(self.new if forward else self.old),
                        replace=True)


@dataclass(frozen=True)
class MoveStep:
    node_id: str
    old: tuple[float, float] | None
    new: tuple[float, float] | None

    def apply(self, graph: Graph, forward: bool) -> None:
        graph.move(self.node_id, self.new if forward else self.old)


Step = NodeStep | EdgeStep | AttrsStep | MoveStep


@dataclass(frozen=True)
class DictChange:
    """The difference between two versions of an ordered dict: the entries only the old one
    has (`removed`, with their index in it) and those only the new one has (`added`, with
    their index in the new one). Entries both hold, equal and in the same relative order,
    are not stored."""

    removed: tuple[tuple[int, str, Any], ...]
    added: tuple[tuple[int, str, Any], ...]

    def apply(self, current: dict[str, Any], forward: bool, fresh: Callable[[Any], Any]
              ) -> dict[str, Any]:
        """The other version, from `current` (equal to the version this change starts from:
        the old one going forward, the new one going back). `fresh` copies stored values."""
        drop, put = (self.removed, self.added) if forward else (self.added, self.removed)
        dropped = {key for _, key, _ in drop}
        items = [(k, v) for k, v in current.items() if k not in dropped]
        for index, key, value in put:  # ascending indices: each lands where it was
            items.insert(index, (key, fresh(value)))
        return dict(items)


def diff_dicts(old: dict[str, Any], new: dict[str, Any], same: Callable[[Any, Any], bool],
               keep: Callable[[Any], Any] = lambda v: v) -> DictChange | None:
    """What changed from `old` to `new` (None: nothing, order included). `keep` copies the
    values a change stores."""
    if list(old) == list(new) and list(map(id, old.values())) == list(map(id, new.values())):
        return None  # the same entries (quick: most edits leave most parts alone)
    common = [k for k in old if k in new and same(old[k], new[k])]
    if len(common) == len(old) == len(new) and list(new) == common:
        return None
    kept = set(common)
    order = [k for k in new if k in kept]
    if order != common:  # some entries moved: keep the longest run in order, move the rest
        kept = _in_order(common, order)
    removed = tuple((i, k, keep(v)) for i, (k, v) in enumerate(old.items()) if k not in kept)
    added = tuple((i, k, keep(v)) for i, (k, v) in enumerate(new.items()) if k not in kept)
    return DictChange(removed, added)


def _in_order(old_order: list[str], new_order: list[str]) -> set[str]:
    """The largest set of keys whose order is the same in both lists (a longest increasing
    subsequence of old positions, taken in new order)."""
    position = {k: i for i, k in enumerate(old_order)}
    tails: list[int] = []  # tails[j]: smallest old position ending a run of length j + 1
    tail_keys: list[int] = []
    parent: dict[int, int | None] = {}
    for index, key in enumerate(new_order):
        p = position[key]
        j = bisect.bisect_left(tails, p)
        parent[index] = tail_keys[j - 1] if j else None
        if j == len(tails):
            tails.append(p)
            tail_keys.append(index)
        else:
            tails[j], tail_keys[j] = p, index
    kept: set[str] = set()
    cursor = tail_keys[-1] if tail_keys else None
    while cursor is not None:
        kept.add(new_order[cursor])
        cursor = parent[cursor]
    return kept


@dataclass(frozen=True)
class Change:
    """One edit: its steps in the order they happened, and the parts it changed."""

    steps: tuple[Step, ...]
    parts: tuple[tuple[str, DictChange], ...]

    def redo(self, graph: Graph) -> None:
        for step in self.steps:
            step.apply(graph, True)
        self._set_parts(graph, True)

    def undo(self, graph: Graph) -> None:
        for step in reversed(self.steps):
            step.apply(graph, False)
        self._set_parts(graph, False)

    def _set_parts(self, graph: Graph, forward: bool) -> None:
        for name, change in self.parts:
            setattr(graph, name, change.apply(getattr(graph, name), forward, _FRESH[name]))
        if self.parts:
            graph.notify("document_changed", None)


# --- recording --------------------------------------------------------------------------------
class Recorder:
    """Records the changes made to `graph` from now until `finish()` (or `rollback()`).

    Give it the graph's events through `observe`, before any other listener hears them (the
    document's controller forwards them from its own subscription), so that a listener that
    raises cannot hide a change from it."""

    def __init__(self, graph: Graph):
        self.graph = graph
        self.steps: list[Step] = []
        self._nodes = list(graph.nodes)  # the order so far, to place removed nodes
        self._edges = list(graph.edges)  # the same for wires
        self._edge_ids = [id(e) for e in self._edges]
        # a group record can be large (the nodes an expansion moved aside) and there may be
        # many: they are copied one level deep, so a record whose entries are replaced is
        # noticed; what lies deeper in a stored record is never changed in place
        self._parts = {"outputs": dict(graph.outputs), "values": dict(graph.values),
                       "groups": {k: _shallow(v) for k, v in graph.groups.items()},
                       "metadata": copy.deepcopy(graph.metadata)}
        self.active = True

    def observe(self, event: str, payload: Any) -> None:
        if not self.active:
            return
        if event == "node_added":
            self._node_added(payload)
        elif event == "node_removed":
            index = self._nodes.index(payload.id)
            del self._nodes[index]
            self.steps.append(NodeStep(False, _node_copy(payload), index))
        elif event == "edge_added":
            self._edge_added(payload)
        elif event == "edge_removed":
            self._edge_removed(payload)
        elif event == "attrs_changed":
            node_id, old, new = payload
            if plain(old) != plain(new):
                self.steps.append(AttrsStep(node_id, copy.deepcopy(old), copy.deepcopy(new)))
        elif event == "moved":
            node_id, old, new = payload
            if old != new:
                self.steps.append(MoveStep(node_id, old, new))

    def _node_added(self, node: Node) -> None:
        nodes = self.graph.nodes
        if next(reversed(nodes), None) == node.id:
            index = len(self._nodes)
        else:
            index = list(nodes).index(node.id)
        self._nodes.insert(index, node.id)
        self.steps.append(NodeStep(True, _node_copy(node), index))

    def _edge_added(self, edge: Edge) -> None:
        edges = self.graph.edges
        if edges and edges[-1] is edge:
            index = len(self._edges)
        else:
            index = [id(e) for e in edges].index(id(edge))
        self._edges.insert(index, edge)
        self._edge_ids.insert(index, id(edge))
        self.steps.append(EdgeStep(True, edge, index))

    def _edge_removed(self, edge: Edge) -> None:
        # `Graph.disconnect` removes the first wire equal to the one it is given
        try:
            index = self._edge_ids.index(id(edge))
            dst = edge.dst.node
            if any(e.dst.node == dst and e == edge for e in self._edges[:index]):
                raise ValueError  # an equal wire before it (assembled by hand) went instead
        except ValueError:
            index = self._edges.index(edge)
        del self._edges[index]
        del self._edge_ids[index]
        self.steps.append(EdgeStep(False, edge, index))

    def finish(self) -> Change | None:
        """Stop recording; the change, or None when the document is as it was."""
        self.active = False
        self._check_complete()
        parts = []
        for name in PARTS:
            change = diff_dicts(self._parts[name], getattr(self.graph, name), _SAME[name],
                                _FRESH[name])
            if change is not None:
                parts.append((name, change))
        if parts:
            self.graph.notify("document_changed", None)
        if not parts and self._comes_back():
            return None
        return Change(tuple(self.steps), tuple(parts))

    def _comes_back(self) -> bool:
        """Nothing recorded, or only attribute changes and moves that end where they began."""
        first: dict[tuple[type, str], Any] = {}
        last: dict[tuple[type, str], Any] = {}
        for step in self.steps:
            if not isinstance(step, (AttrsStep, MoveStep)):
                return False
            key = (type(step), step.node_id)
            first.setdefault(key, step.old)
            last[key] = step.new
        return all(plain(first[key]) == plain(last[key]) for key in first)

    def rollback(self) -> None:
        """Stop recording and put the document back as it was when recording began."""
        self.active = False
        for step in reversed(self.steps):
            step.apply(self.graph, False)
        changed = False
        for name in PARTS:
            if diff_dicts(self._parts[name], getattr(self.graph, name), _SAME[name]) is not None:
                setattr(self.graph, name, self._parts[name])
                changed = True
        if changed:
            self.graph.notify("document_changed", None)

    def _check_complete(self) -> None:
        """Nodes or wires changed without an event cannot be undone: say so at once."""
        if len(self._nodes) != len(self.graph.nodes) or len(self._edges) != len(self.graph.edges):
            raise RuntimeError("an edit changed nodes or wires without telling the graph's "
                               "listeners (use the Graph methods, or notify)")


def _node_copy(node: Node) -> Node:
    return Node(node.id, node.op, copy.deepcopy(node.attrs), node.position, node.group)


def _shallow(record: Any) -> Any:
    return dict(record) if isinstance(record, dict) else copy.deepcopy(record)


def _same_record(old: Any, new: Any) -> bool:
    """A group record as it was (`_shallow`) against the live one: the same entries, in
    order, holding the same objects."""
    if isinstance(old, dict) and isinstance(new, dict):
        return list(old) == list(new) and \
            list(map(id, old.values())) == list(map(id, new.values()))
    return _same_json(old, new)


def _same_json(a: Any, b: Any) -> bool:
    try:
        same = a == b
        if isinstance(same, bool):
            return same or plain(a) == plain(b)
    except (ValueError, TypeError):  # arrays inside
        pass
    return plain(a) == plain(b)


def _same_value(a: np.ndarray, b: np.ndarray) -> bool:
    return a is b or (a.shape == b.shape and a.dtype == b.dtype and bool(
        np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")))


_SAME: dict[str, Callable[[Any, Any], bool]] = {
    "outputs": lambda a, b: a == b, "values": _same_value, "groups": _same_record,
    "metadata": _same_json}
_FRESH: dict[str, Callable[[Any], Any]] = {  # arrays and port refs are never changed in place
    "outputs": lambda v: v, "values": lambda v: v, "groups": copy.deepcopy,
    "metadata": copy.deepcopy}


# --- whole snapshots ---------------------------------------------------------------------------
@dataclass(frozen=True)
class State:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    outputs: tuple[tuple[str, PortRef], ...]
    values: tuple[tuple[str, np.ndarray], ...]
    groups: Any
    metadata: Any

    def to_graph(self) -> Graph:
        """A new document with this content (arrays shared with the state)."""
        graph = Graph()
        graph.nodes = {n.id: _node_copy(n) for n in self.nodes}
        graph.edges = list(self.edges)
        graph.outputs = dict(self.outputs)
        graph.values = dict(self.values)
        graph.groups = copy.deepcopy(self.groups)
        graph.metadata = copy.deepcopy(self.metadata)
        return graph

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, State):
            return NotImplemented
        return (self.nodes == other.nodes and set(self.edges) == set(other.edges)
                and self.outputs == other.outputs and _same_values(self.values, other.values)
                and plain(self.groups) == plain(other.groups)
                and plain(self.metadata) == plain(other.metadata))

    __hash__ = None  # type: ignore[assignment]


def capture(graph: Graph) -> State:
    return State(tuple(_node_copy(n) for n in graph.nodes.values()), tuple(graph.edges),
                 tuple(graph.outputs.items()), tuple(graph.values.items()),
                 copy.deepcopy(graph.groups), copy.deepcopy(graph.metadata))


def restore(graph: Graph, state: State) -> None:
    """Make `graph` equal to `state`, emitting an event for each change."""
    wanted_nodes = {n.id: n for n in state.nodes}
    wanted_edges = set(state.edges)
    for edge in [e for e in graph.edges if e not in wanted_edges]:
        graph.disconnect(edge)
    for node_id in [k for k, n in graph.nodes.items()
                    if k not in wanted_nodes or (n.op, n.group) != (wanted_nodes[k].op,
                                                                    wanted_nodes[k].group)]:
        graph.remove_node(node_id)
    for index, node in enumerate(state.nodes):
        current = graph.nodes.get(node.id)
        if current is None:
            graph.add_node(node.op, copy.deepcopy(node.attrs), id=node.id,
                           position=node.position, group=node.group, index=index)
            continue
        if plain(current.attrs) != plain(node.attrs):
            graph.set_attrs(node.id, copy.deepcopy(node.attrs), replace=True)
        if current.position != node.position:
            graph.move(node.id, node.position)
    present = set(graph.edges)
    for edge in state.edges:
        if edge not in present:
            graph.restore_edge(edge)
    changed = (tuple(graph.outputs.items()) != state.outputs
               or not _same_values(tuple(graph.values.items()), state.values)
               or plain(graph.groups) != plain(state.groups)
               or plain(graph.metadata) != plain(state.metadata))
    graph.outputs = dict(state.outputs)
    graph.values = dict(state.values)
    graph.groups = copy.deepcopy(state.groups)
    graph.metadata = copy.deepcopy(state.metadata)
    if changed:
        graph.notify("document_changed", None)


def _same_values(a: tuple[tuple[str, np.ndarray], ...],
                 b: tuple[tuple[str, np.ndarray], ...]) -> bool:
    da, db = dict(a), dict(b)
    return da.keys() == db.keys() and all(_same_value(da[k], db[k]) for k in da)
