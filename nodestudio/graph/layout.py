"""Automatic layout: a layered (Sugiyama) drawing that flows left to right, wrapped into bands
stacked top to bottom when the graph is much wider than tall.

The steps of Sugiyama, Tagawa and Toda (1981), over the document with NumPy (no maintained
library fits: see docs/DECISIONS.md):

1. Layers. A node's layer is the longest path reaching it, so every wire runs rightwards; sources
   (inputs, parameters) then move right to sit just before their first consumer.
2. Bands. A long graph (a deep chain, a backward graph) would be a strip many times wider than
   tall: its layers are cut, like a paragraph into lines, into bands of about equal length
   stacked top to bottom, each cut where few wires cross it. Each wire across a cut sweeps back
   to the next band, so a graph with few of them (a chain) is wrapped to the canvas's shape, one
   with many (a backward graph, whose saved activations all cross) only to under 4:1. Wires to
   and from other bands draw their nodes to the band's bottom and top edges.
3. Order (`sugiyama.Band.order`). Within a band a wire spanning several layers passes through one
   dummy node per layer; barycentre sweeps reorder each layer, and the order with the fewest
   crossings, counted exactly, is kept.
4. Rows (`sugiyama.Band.rows`). Heights are fitted to the wires layer by layer under the least
   gaps between cards. Long wires weigh most, so they run straight; the wire into a node's first
   port leads, so the main line stays straight and parameters hang beside it.

The canvas's cards are not known here (no op registry in this layer): a card's height is
estimated from the ports its wires use, and a port's rank from the order its wires were made in
(the order `to_document` and the studio wire an op's ports).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from nodestudio.graph.model import Graph, Position
from nodestudio.graph.sugiyama import NODE_GAP, Band

COLUMN = 280.0  # canvas units between the layers of narrow cards (the canvas's fallback grid)
CARD_WIDTH = 168.0  # the canvas's narrowest card; it widens for a long title or op name ...
MAX_CARD_WIDTH = 256.0  # ... up to this, about this much per letter:
TITLE_LETTER, OP_LETTER = 7.5, 5.6  # (12 px semi-bold title, 10 px op name)
WIRE_ROOM = COLUMN - CARD_WIDTH  # from a layer's widest card to the next layer: a wire label
ROW = 120.0  # a grid step for nodes placed without a layout (the canvas's fallback)
PORT_ROW = 18.0  # between two ports of a card
CARD = 62.0  # a card's estimated height without its port rows (header, label, padding)
ANCHOR = 56.0  # from a card's top to its first port
BAND_GAP = 150.0  # between two bands: room for the wires that go on to the next band
MAX_ASPECT = 4.0  # a graph of more layers than WRAP_LAYERS wider than this (width / height)
SCREEN_ASPECT = 1.8  # is wrapped into bands: to the canvas's shape where few wires cross
CHEAP_CUT = 3  # the cuts (this many at most), else just under MAX_ASPECT
WRAP_LAYERS = 12  # fewer layers fit a screen: a wire back to the next band would cost more
STACK_SPREAD = 1.35  # a layer ends up this much taller than its cards stacked (wires align)
MORE_BANDS = 6  # at most this many more bands when the estimate was short (each: a placing)


def layered_positions(graph: Graph, node_ids: Iterable[str] | None = None,
                      origin: Position = (0.0, 0.0), *,
                      wrap: bool | None = None) -> dict[str, Position]:
    """New top-left positions for `node_ids` (default: every node), laid out as their own graph:
    the left edge at `origin`'s x, the cards' tops centred on its y. `wrap` (default: when the whole
    graph is laid out, not a part placed among other nodes) allows cutting it into bands."""
    chosen = set(graph.nodes if node_ids is None else node_ids) & set(graph.nodes)
    if wrap is None:
        wrap = node_ids is None
    order = [n for n in graph.topological_order() if n in chosen]
    if not order:
        return {}
    links, ins, outs = _links(graph, chosen)
    feeders: dict[str, list[str]] = {n: [] for n in order}
    consumers: dict[str, list[str]] = {n: [] for n in order}
    for u, v in links:
        feeders[v].append(u)
        consumers[u].append(v)
    layer = _layers(order, feeders, consumers)
    rows = {n: max(1, ins[n], outs[n]) for n in order}
    height = {n: CARD + PORT_ROW * rows[n] for n in order}
    width = {n: card_width(graph.nodes[n].id, graph.nodes[n].op, graph.nodes[n].group)
             for n in order}
    plan = _Plan(order, layer, links, height, width, feeders)
    bands = plan.bands() if wrap else 1
    for attempt in range(MORE_BANDS + 1):  # the estimate of the height can be short: one
        positions = plan.place(plan.cuts(bands))  # band more until under 4:1
        ys = [y for _, y in positions.values()]
        wide = max(x + width[n] for n, (x, _) in positions.items())
        tall = max(y + height[n] for n, (_, y) in positions.items()) - min(ys)
        if not wrap or plan.count <= WRAP_LAYERS or bands >= plan.count \
                or wide <= MAX_ASPECT * tall or attempt == MORE_BANDS:
            break
        bands += 1
    middle = (min(ys) + max(ys)) / 2  # a one-row part lands level with `origin`
    return {n: (origin[0] + x, origin[1] + float(round(y - middle)))
            for n, (x, y) in positions.items()}


def card_width(node_id: str, op: str, group: str | None = None) -> float:
    """About how wide the canvas draws a node's card: its title (the id, less the group's
    prefix) and, unless the title says it, its op's name, within the narrowest and widest."""
    title = node_id.removeprefix(f"{group}/") if group is not None else node_id
    need = 34.0 + TITLE_LETTER * len(title) + (0.0 if op in title else 8 + OP_LETTER * len(op))
    return min(max(CARD_WIDTH, need), MAX_CARD_WIDTH)


@dataclass
class _Link:
    count: int  # wires from one node to another (a node may feed several ports of another)
    out_port: int  # the rank of the first wire's ports on either card
    in_port: int


def _links(graph: Graph, chosen: set[str]):
    """Wires between chosen nodes as {(src, dst): _Link}, and how many ports each node uses."""
    links: dict[tuple[str, str], _Link] = {}
    in_rank: dict[str, dict[str, int]] = {n: {} for n in chosen}
    out_rank: dict[str, dict[str, int]] = {n: {} for n in chosen}
    for e in graph.edges:
        u, v = e.src.node, e.dst.node
        if u in chosen and v in chosen:
            i = in_rank[v].setdefault(e.dst.port, len(in_rank[v]))
            o = out_rank[u].setdefault(e.src.port, len(out_rank[u]))
            link = links.get((u, v))
            if link is None:
                links[(u, v)] = _Link(1, o, i)
            else:
                link.count += 1
    return links, {n: len(r) for n, r in in_rank.items()}, \
        {n: len(r) for n, r in out_rank.items()}


def _layers(order: list[str], feeders: dict[str, list[str]],
            consumers: dict[str, list[str]]) -> dict[str, int]:
    """Longest-path layers, then sources one layer before their first consumer."""
    layer: dict[str, int] = {}
    for n in order:
        layer[n] = 1 + max((layer[f] for f in feeders[n]), default=-1)
    for n in order:
        if not feeders[n] and consumers[n]:
            layer[n] = min(layer[c] for c in consumers[n]) - 1
    used = sorted(set(layer.values()))
    renumber = {old: new for new, old in enumerate(used)}
    return {n: renumber[k] for n, k in layer.items()}


class _Plan:
    """The layered graph, cut into bands and placed band by band."""

    def __init__(self, order: list[str], layer: dict[str, int],
                 links: dict[tuple[str, str], _Link], height: dict[str, float],
                 width: dict[str, float], feeders: dict[str, list[str]]):
        self.order, self.layer, self.links = order, layer, links
        self.height, self.feeders = height, feeders
        self.count = count = max(layer.values()) + 1
        self.stack = [0.0] * count  # each layer's cards stacked: a rough height of the layer
        self.column = [0.0] * count  # each layer's widest card
        for n in order:
            self.stack[layer[n]] += height[n] + NODE_GAP
            self.column[layer[n]] = max(self.column[layer[n]], width[n])
        crossing = [0] * (count + 1)  # crossing[c]: wires from before layer c to c or after
        for u, v in links:
            crossing[layer[u] + 1] += 1
            crossing[layer[v] + 1] -= 1
        for c in range(1, count + 1):
            crossing[c] += crossing[c - 1]
        self.crossing = crossing

    def aspect(self, bands: int) -> float:
        """The estimated width / height in `bands` bands (a few array passes: `bands` asks
        for it once per band count it tries)."""
        size = math.ceil(self.count / bands)
        starts = np.arange(0, self.count, size)
        lengths = np.minimum(size, self.count - starts)
        column, stack = np.asarray(self.column), np.asarray(self.stack)
        wide = float(np.max(np.add.reduceat(column, starts) + WIRE_ROOM * (lengths - 1)))
        tall = float(np.sum(np.maximum.reduceat(stack, starts))) * STACK_SPREAD
        return wide / (tall + BAND_GAP * (len(starts) - 1))

    def bands(self) -> int:
        """How many bands to cut the graph into: 1 while it is not too wide."""
        if self.count <= WRAP_LAYERS or self.aspect(1) <= MAX_ASPECT:
            return 1
        # every wire across a cut sweeps back under the band above: where many would (a
        # backward graph), as few bands as bring it under MAX_ASPECT; a chain wraps to the
        # canvas's shape
        cheap = sorted(self.crossing[1:self.count])[(self.count - 1) // 2] <= CHEAP_CUT
        target = SCREEN_ASPECT if cheap else MAX_ASPECT
        return next(b for b in range(2, self.count + 1)
                    if self.aspect(b) <= target or b == self.count)

    def cuts(self, bands: int) -> list[int]:
        """The first layer of each band after the first: near equal lengths, where few wires
        cross."""
        cuts: list[int] = []
        slack = max(1, self.count // (4 * bands))
        for j in range(1, bands):
            ideal = round(j * self.count / bands)
            low = max(ideal - slack, (cuts[-1] if cuts else 0) + 1)
            high = min(ideal + slack, self.count - 1)
            if low <= high:
                cuts.append(min(range(low, high + 1),
                                key=lambda c: (self.crossing[c], abs(c - ideal))))
        return cuts

    def place(self, cuts: list[int]) -> dict[str, Position]:
        """Top-left positions, the bands stacked top to bottom."""
        layer, height = self.layer, self.height
        positions: dict[str, Position] = {}
        top = 0.0
        bounds = [0, *cuts, self.count]
        band_of = [0] * self.count  # each layer's band: one pass sorts nodes and wires
        for b, (start, stop) in enumerate(zip(bounds, bounds[1:])):
            band_of[start:stop] = [b] * (stop - start)
        members_of: list[list[str]] = [[] for _ in bounds[1:]]
        for n in self.order:
            members_of[band_of[layer[n]]].append(n)
        inside_of: list[dict[tuple[str, str], _Link]] = [{} for _ in bounds[1:]]
        side = {n: 0 for n in self.order}  # wires to a later band leave from the bottom,
        for (u, v), link in self.links.items():  # wires from an earlier band arrive at the top
            bu, bv = band_of[layer[u]], band_of[layer[v]]
            if bu == bv:
                inside_of[bu][(u, v)] = link
            else:
                side[u] += 1
                side[v] -= 1
        for b, (start, stop) in enumerate(zip(bounds, bounds[1:])):
            members = members_of[b]
            placed = _arrange(members, {n: layer[n] - start for n in members}, inside_of[b],
                              height, self.feeders, side)
            low = min(y for _, y in placed.values())
            high = max(y + height[n] for n, (_, y) in placed.items())
            left = [0.0]  # each layer's left edge: the widest card before it and a wire's room
            for k in range(start, stop - 1):
                left.append(left[-1] + self.column[k] + WIRE_ROOM)
            for n, (column, y) in placed.items():
                positions[n] = (left[column], y - low + top)
            top += high - low + BAND_GAP
        return positions


def _arrange(members: list[str], layer: dict[str, int], links: dict[tuple[str, str], _Link],
             height: dict[str, float], feeders: dict[str, list[str]],
             side: dict[str, int]) -> dict[str, tuple[int, float]]:
    """One band: {node: (layer, top)} for its members."""
    band = Band(max(layer.values()) + 1, PORT_ROW)
    index = {n: band.add(layer[n], height[n], ANCHOR, side[n]) for n in members}
    for (u, v), link in links.items():
        # the main line runs into first ports; parameters that only feed other ports sit
        # beside their node and leave it in line
        band.wire(index[u], index[v], link.out_port, link.in_port, float(link.count),
                  leads=bool(feeders[u]) or link.in_port == 0)
    band.order()
    anchors = band.rows()
    return {n: (layer[n], float(anchors[i]) - ANCHOR) for n, i in index.items()}
