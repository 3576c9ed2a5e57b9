"""Automatic layout for graphs that arrive without positions: left to right by layers.

A node's column is the length of the longest path reaching it, so every wire runs rightwards;
within a column nodes are ordered by the mean row of what feeds them (one barycentre sweep),
which keeps most wires short and uncrossed. Plain Python over the document.
"""

from __future__ import annotations

from collections.abc import Iterable

from nodestudio.graph.model import Graph, Position

COLUMN = 280.0  # canvas units between columns: room for a wire label between nodes
ROW = 120.0  # between rows


def layered_positions(graph: Graph, node_ids: Iterable[str] | None = None,
                      origin: Position = (0.0, 0.0)) -> dict[str, Position]:
    """New positions for `node_ids` (default: every node), laid out as their own layers."""
    chosen = set(graph.nodes if node_ids is None else node_ids) & set(graph.nodes)
    order = [n for n in graph.topological_order() if n in chosen]
    feeders: dict[str, list[str]] = {n: [] for n in order}
    for e in graph.edges:
        if e.src.node in chosen and e.dst.node in chosen:
            feeders[e.dst.node].append(e.src.node)
    column: dict[str, int] = {}
    for n in order:
        column[n] = 1 + max((column[f] for f in feeders[n]), default=-1)
    # sources (inputs, parameters) sit one column before their first consumer, beside the
    # layer they feed, instead of all in column 0 with long wires across the graph
    consumers: dict[str, list[str]] = {n: [] for n in order}
    for n, fs in feeders.items():
        for f in fs:
            consumers[f].append(n)
    for n in order:
        if not feeders[n] and consumers[n]:
            column[n] = max(min(column[c] for c in consumers[n]) - 1, 0)
    columns: dict[int, list[str]] = {}
    for n in order:
        columns.setdefault(column[n], []).append(n)
    row: dict[str, float] = {}
    for c in sorted(columns):
        members = columns[c]
        first = {n: i for i, n in enumerate(members)}

        def barycentre(n: str, first: dict[str, int] = first) -> tuple[float, int]:
            placed = [row[f] for f in feeders[n] if f in row]
            return (sum(placed) / len(placed) if placed else float("inf"), first[n])
        members.sort(key=barycentre)
        for i, n in enumerate(members):
            row[n] = float(i)
    top = {c: (len(m) - 1) / 2 for c, m in columns.items()}  # centre each column vertically
    return {n: (origin[0] + column[n] * COLUMN, origin[1] + (row[n] - top[column[n]]) * ROW)
            for n in order}
