"""Ports, wires and the document's ordered list of wires, indexed by node (graph/model.py
holds the nodes and the graph itself, and re-exports these).

A wire joins an output port to an input port by name: `Edge(PortRef("hidden", "out"),
PortRef("hidden_tanh", "x"))`, written "hidden:out -> hidden_tanh:x".
"""

from __future__ import annotations

import bisect
import operator
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, SupportsIndex


@dataclass(frozen=True)
class PortRef:
    """One port of one node; written "node:port" in files (node ids may contain ':')."""

    node: str
    port: str

    def __post_init__(self) -> None:
        # Port names come from op definitions and never hold ':', which keeps "node:port"
        # unambiguous even for node ids that do.
        if ":" in self.port:
            raise ValueError(f"a port name cannot contain ':', got {self.port!r}")

    def __str__(self) -> str:
        return f"{self.node}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> PortRef:
        """'node:port' -> PortRef; the port is after the *last* colon."""
        node, sep, port = text.rpartition(":")
        if not sep or not node or not port:
            raise ValueError(f"expected 'node:port', got {text!r}")
        return cls(node, port)


@dataclass(frozen=True)
class Edge:
    src: PortRef  # an output port
    dst: PortRef  # an input port

    def __str__(self) -> str:
        return f"{self.src} -> {self.dst}"


PortLike = PortRef | str | tuple[str, str]


def as_port(ref: PortLike) -> PortRef:
    if isinstance(ref, PortRef):
        return ref
    if isinstance(ref, str):
        return PortRef.parse(ref)
    node, port = ref
    return PortRef(node, port)


class EdgeList(list):  # type: ignore[type-arg]
    """The document's wires in order: a list, that also knows each node's wires, so that
    finding, adding and removing the wires of one node costs what that node has, not what the
    document has (opening, wiring and deleting stay linear in the size of the graph).

    Every list operation keeps the index: `append`, `insert` and deleting one item do it in
    place; anything else (slices, sorting, `clear`) rebuilds it. Each wire carries a key that
    grows along the list (a wire put back in the middle, by undo, takes one between its
    neighbours'), so a node's wires are kept in list order and a wire's place is found by
    bisection."""

    __slots__ = ("_keys", "_into", "_out_of")

    def __init__(self, edges: Iterable[Edge] = ()):
        super().__init__(edges)
        self._reindex()

    # --- the index --------------------------------------------------------------------------
    def _reindex(self) -> None:
        self._keys: list[float] = [float(i) for i in range(len(self))]
        into: dict[str, list[tuple[float, Edge]]] = {}
        out_of: dict[str, list[tuple[float, Edge]]] = {}
        for entry in zip(self._keys, self):
            edge = entry[1]
            into.setdefault(edge.dst.node, []).append(entry)
            out_of.setdefault(edge.src.node, []).append(entry)
        self._into, self._out_of = into, out_of

    def _enter(self, key: float, edge: Edge) -> None:
        entry = (key, edge)
        for table, node in ((self._into, edge.dst.node), (self._out_of, edge.src.node)):
            entries = table.get(node)
            if entries is None:
                table[node] = [entry]
            elif entries[-1][0] < key:
                entries.append(entry)
            else:
                bisect.insort(entries, entry, key=_first)

    def _leave(self, key: float, edge: Edge) -> None:
        for table, node in ((self._into, edge.dst.node), (self._out_of, edge.src.node)):
            entries = table[node]
            del entries[bisect.bisect_left(entries, key, key=_first)]
            if not entries:
                del table[node]

    def into(self, node: str) -> list[Edge]:
        """The wires into `node`, in list order."""
        return [edge for _, edge in self._into.get(node, ())]

    def out_of(self, node: str) -> list[Edge]:
        """The wires leaving `node`, in list order."""
        return [edge for _, edge in self._out_of.get(node, ())]

    def of(self, node: str) -> list[Edge]:
        """Every wire into or out of `node` once, in list order."""
        both = dict(self._into.get(node, ()))
        both.update(self._out_of.get(node, ()))
        return [both[key] for key in sorted(both)]

    # --- list operations that keep the index --------------------------------------------------
    def append(self, edge: Edge) -> None:
        key = self._keys[-1] + 1.0 if self._keys else 0.0
        super().append(edge)
        self._keys.append(key)
        self._enter(key, edge)

    def insert(self, index: SupportsIndex, edge: Edge) -> None:
        size = len(self)
        i = operator.index(index)
        i = max(0, size + i) if i < 0 else i
        if i >= size:
            self.append(edge)
            return
        low = self._keys[i - 1] if i > 0 else self._keys[0] - 2.0
        key = (low + self._keys[i]) / 2
        if not low < key < self._keys[i]:  # keys halved too often at one place: renumber
            self._reindex()
            low = i - 1.0
            key = i - 0.5
        super().insert(i, edge)
        self._keys.insert(i, key)
        self._enter(key, edge)

    def __delitem__(self, index: SupportsIndex | slice) -> None:
        if isinstance(index, slice):
            super().__delitem__(index)
            self._reindex()
            return
        i = operator.index(index)
        i = len(self) + i if i < 0 else i
        if not 0 <= i < len(self):  # as list's own: del l[-3] of two items is an IndexError
            raise IndexError("list assignment index out of range")
        edge, key = self[i], self._keys[i]
        super().__delitem__(i)
        del self._keys[i]
        self._leave(key, edge)

    def pop(self, index: SupportsIndex = -1) -> Edge:
        edge = self[index]
        del self[index]
        return edge

    def remove(self, edge: Edge) -> None:
        del self[self.index(edge)]

    def index(self, edge: Edge, *bounds: SupportsIndex) -> int:  # type: ignore[override]
        """The place of the first wire equal to `edge` (by bisection on its key)."""
        if bounds or not isinstance(edge, Edge):
            return super().index(edge, *bounds)
        for key, other in self._into.get(edge.dst.node, ()):
            if other == edge:
                return bisect.bisect_left(self._keys, key)
        raise ValueError(f"{edge} is not in the list")

    def __contains__(self, edge: object) -> bool:
        if not isinstance(edge, Edge):
            return super().__contains__(edge)
        return any(other == edge for _, other in self._into.get(edge.dst.node, ()))

    def extend(self, edges: Iterable[Edge]) -> None:
        for edge in list(edges):
            self.append(edge)

    def __iadd__(self, edges: Iterable[Edge]) -> EdgeList:  # type: ignore[override]
        self.extend(edges)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        super().__setitem__(index, value)
        self._reindex()

    def __imul__(self, times: SupportsIndex) -> EdgeList:  # type: ignore[override]
        super().__imul__(times)
        self._reindex()
        return self

    def clear(self) -> None:
        super().clear()
        self._reindex()

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._reindex()

    def reverse(self) -> None:
        super().reverse()
        self._reindex()


def _first(entry: tuple[float, Edge]) -> float:
    return entry[0]
