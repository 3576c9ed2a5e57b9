"""Snapshots of a document, and bringing a live document back to one.

Every edit in the studio is "compute the new document, then make the live one equal to it": the
undo stack keeps a `State` from before and after each edit, and undo / redo call `restore`. One
mechanism for every kind of edit (add, wire, paste, expand a composite, auto-layout, trained
parameters) means undo cannot drift from what the edit did.

`restore` changes the live document through its methods, so subscribers (the canvas) hear one
fine-grained event per node or edge that differs; what has no finer event (outputs, values,
groups, metadata) is replaced whole and announced with a single "document_changed" event.

A state is cheap: node attributes are copied, arrays in `values` are shared, never copied (the
studio never changes an array in place; trained parameters arrive as new arrays).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np

from nodestudio.graph.model import Edge, Graph, Node, PortRef, plain


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


def _node_copy(node: Node) -> Node:
    return Node(node.id, node.op, copy.deepcopy(node.attrs), node.position, node.group)


def _same_values(a: tuple[tuple[str, np.ndarray], ...],
                 b: tuple[tuple[str, np.ndarray], ...]) -> bool:
    da, db = dict(a), dict(b)
    return da.keys() == db.keys() and all(
        da[k] is db[k] or (da[k].shape == db[k].shape and da[k].dtype == db[k].dtype
                           and bool(np.array_equal(da[k], db[k], equal_nan=da[k].dtype.kind
                                                   in "fc")))
        for k in da)
