"""The order and height of the nodes of one layered band (steps 3 and 4 of `layout.py`).

A `Band` holds vertices (the nodes, and one dummy per layer that a wire passes through) and the
wire segments between neighbouring layers, as NumPy arrays, so each sweep over a layer is a few
array operations whatever its size: 1,000 nodes and their dummies take a fraction of a second.

- `order()`: barycentre sweeps left to right and back; after each, the crossings are counted
  exactly (inversions of the segments' ends), and the best order seen is kept. A wire's end is a
  port, so the wires of one card stay in their ports' order.
- `rows()`: each vertex's first port is pulled towards the ports its segments join, layer by layer
  and then from both sides, under the least gaps between neighbours in its layer: a weighted
  isotonic regression, solved exactly by pooling adjacent violators.
"""

from __future__ import annotations

import numpy as np

SWEEPS = 12  # ordering passes, alternating left to right and right to left
ROUNDS = 4  # height passes each way, then two from both sides
NODE_GAP = 34.0  # between two cards of a layer
WIRE_GAP = 18.0  # beside a wire passing through a layer
SEGMENT_WEIGHT = (1.0, 2.0, 8.0)  # by the dummies at its ends: long wires come out straight
FOLLOWER = 1e-4  # the weight of a wire that does not lead, and how much it moves its target
EDGE_PULL = 1.0  # how hard a wire to another band draws its node to the band's edge


class Band:
    def __init__(self, layers: int, port_row: float):
        self.layer_count = layers
        self.port_row = port_row
        self.layer: list[int] = []
        self.height: list[float] = []
        self.anchor: list[float] = []  # from the top to the first port
        self.side: list[int] = []  # > 0: wires leave to a later band, < 0: arrive from one
        self.seg: list[tuple[int, int, float, float, float, float]] = []
        # (left vertex, right vertex, their port offsets, weight, how much it moves the right)

    def add(self, layer: int, height: float = 0.0, anchor: float = 0.0, side: int = 0) -> int:
        """A vertex; a dummy when `height` is 0."""
        self.layer.append(layer)
        self.height.append(height)
        self.anchor.append(anchor)
        self.side.append(side)
        return len(self.layer) - 1

    def wire(self, a: int, b: int, a_port: int, b_port: int, weight: float,
             leads: bool = True) -> None:
        """A wire from vertex `a`'s output port `a_port` to `b`'s input `b_port` (ranks),
        through one new dummy per layer between them. A wire that does not lead (from a
        parameter, say) places its source by its target but hardly moves the target, and
        yields where they compete for room, so the main chain stays straight with the
        parameters beside it."""
        off = a_port * self.port_row
        weight *= 1.0 if leads else FOLLOWER
        for k in range(self.layer[a] + 1, self.layer[b]):
            d = self.add(k)
            self._segment(a, d, off, 0.0, weight, 1.0)
            a, off = d, 0.0
        self._segment(a, b, off, b_port * self.port_row, weight, 1.0 if leads else FOLLOWER)

    def _segment(self, a: int, b: int, a_off: float, b_off: float, weight: float,
                 moves_right: float) -> None:
        dummies = (self.height[a] == 0.0) + (self.height[b] == 0.0)
        w = weight * SEGMENT_WEIGHT[dummies]
        self.seg.append((a, b, a_off, b_off, w, w * moves_right))

    # --- arrays -------------------------------------------------------------------------------
    def _prepare(self) -> None:
        n = len(self.layer)
        layer = np.asarray(self.layer, dtype=np.int64)
        seg = np.asarray(self.seg, dtype=np.float64).reshape(-1, 6)
        self.sa, self.sb = seg[:, 0].astype(np.int64), seg[:, 1].astype(np.int64)
        self.sa_off, self.sb_off = seg[:, 2], seg[:, 3]
        self.sw, self.sw_right = seg[:, 4], seg[:, 5]
        # a port's place within its card's slot, for ordering: port k at k / (ports + 1)
        ports = np.zeros(n)
        np.maximum.at(ports, self.sa, self.sa_off / self.port_row)
        np.maximum.at(ports, self.sb, self.sb_off / self.port_row)
        self.sa_frac = self.sa_off / self.port_row / (ports[self.sa] + 2.0)
        self.sb_frac = self.sb_off / self.port_row / (ports[self.sb] + 2.0)
        self.members = [np.flatnonzero(layer == k) for k in range(self.layer_count)]
        self.local = np.zeros(n, dtype=np.int64)  # a vertex's index within its layer's members
        for m in self.members:
            self.local[m] = np.arange(len(m))
        by_layer = layer[self.sa]  # segments leaving each layer
        self.out_segs = [np.flatnonzero(by_layer == k) for k in range(self.layer_count)]
        side = np.asarray(self.side, dtype=np.float64)
        self.pull = np.abs(side) * EDGE_PULL
        self.pull_to_bottom = side > 0

    # --- step 3: order ------------------------------------------------------------------------
    def order(self) -> np.ndarray:
        """Each vertex's rank within its layer, chosen for few crossings."""
        self._prepare()
        pos = np.zeros(len(self.layer))
        for m in self.members:  # first: the order the vertices were added in
            pos[m] = np.arange(len(m))
        best, best_pos = self.crossings(pos), pos.copy()
        for sweep in range(SWEEPS):
            if best == 0:
                break
            forward = sweep % 2 == 0
            ks = range(1, self.layer_count) if forward else range(self.layer_count - 2, -1, -1)
            for k in ks:
                self._sort_layer(pos, k, forward)
            count = self.crossings(pos)
            if count < best:
                best, best_pos = count, pos.copy()
        self.pos = best_pos
        return best_pos

    def _sort_layer(self, pos: np.ndarray, k: int, forward: bool) -> None:
        members = self.members[k]
        size = len(members)
        if forward:
            segs = self.out_segs[k - 1]
            fixed, moving = self.sa[segs], self.sb[segs]
            at = pos[fixed] + self.sa_frac[segs]
        else:
            segs = self.out_segs[k]
            fixed, moving = self.sb[segs], self.sa[segs]
            at = pos[fixed] + self.sb_frac[segs]
        w = self.sw[segs]
        slot = self.local[moving]
        pull = self.pull[members]
        edge = np.where(self.pull_to_bottom[members], float(size), -1.0)
        total = np.bincount(slot, w, size) + pull
        mean = np.bincount(slot, w * at, size) + pull * edge
        current = pos[members]
        key = np.where(total > 0, mean / np.where(total > 0, total, 1.0), current)
        ranked = members[np.lexsort((current, key))]
        pos[ranked] = np.arange(size)

    def crossings(self, pos: np.ndarray) -> int:
        """Wire crossings between neighbouring layers (ports within a card kept apart)."""
        total = 0
        for segs in self.out_segs:
            if len(segs) < 2:
                continue
            left = pos[self.sa[segs]] + self.sa_frac[segs]
            right = pos[self.sb[segs]] + self.sb_frac[segs]
            total += _inversions(right[np.lexsort((right, left))])
        return total

    # --- step 4: heights ----------------------------------------------------------------------
    def rows(self) -> np.ndarray:
        """Each vertex's first-port height (after `order`)."""
        pos = self.pos
        height = np.asarray(self.height)
        anchor = np.asarray(self.anchor)
        real = height > 0
        ordered = [m[np.argsort(pos[m])] for m in self.members]
        gaps = []
        for m in ordered:
            upper, lower = m[:-1], m[1:]
            space = np.where(real[upper] & real[lower], NODE_GAP, WIRE_GAP)
            gaps.append(height[upper] - anchor[upper] + space + anchor[lower])
        y = np.zeros(len(self.layer))
        for m, g in zip(ordered, gaps):
            stacked = np.concatenate(([0.0], np.cumsum(g)))
            y[m] = stacked - stacked[-1] / 2
        in_segs = [np.empty(0, dtype=np.int64)] + self.out_segs[:-1]
        for sides in [("left",), ("right",)] * ROUNDS + [("left", "right")] * 2:
            ks = range(self.layer_count) if sides != ("right",) else \
                range(self.layer_count - 1, -1, -1)
            for k in ks:
                m = ordered[k]
                size = len(m)
                total, moment = np.zeros(size), np.zeros(size)
                if "left" in sides:
                    s = in_segs[k]
                    slot = self.local[self.sb[s]]
                    total += np.bincount(slot, self.sw_right[s], size)
                    moment += np.bincount(slot, self.sw_right[s] * (y[self.sa[s]] + self.sa_off[s]
                                                                    - self.sb_off[s]), size)
                if "right" in sides:
                    s = self.out_segs[k]
                    slot = self.local[self.sa[s]]
                    total += np.bincount(slot, self.sw[s], size)
                    moment += np.bincount(slot, self.sw[s] * (y[self.sb[s]] + self.sb_off[s]
                                                              - self.sa_off[s]), size)
                by_local = self.local[m]  # the bincounts are by member index, m is by rank
                total, moment = total[by_local], moment[by_local]
                # a vertex with nothing to follow on this side stays, yielding to the others
                target = np.where(total > 0, moment / np.where(total > 0, total, 1.0), y[m])
                weight = np.where(total > 0, total, 0.05)
                y[m] = _isotonic(target, weight, gaps[k])
        return y


def _inversions(values: np.ndarray) -> int:
    """Pairs i < j with values[i] > values[j]."""
    n = len(values)
    if n <= 1500:  # one comparison matrix is fastest for the layers a graph has
        return int(np.count_nonzero(np.triu(values[:, None] > values[None, :], 1)))
    rank = np.searchsorted(np.unique(values), values) + 1
    tree = [0] * (int(rank.max()) + 1)
    count = 0
    for seen, r in enumerate(rank.tolist()):
        below, k = 0, r
        while k:
            below += tree[k]
            k -= k & -k
        count += seen - below
        while r < len(tree):
            tree[r] += 1
            r += r & -r
    return count


def _isotonic(target: np.ndarray, weight: np.ndarray, gaps: np.ndarray) -> np.ndarray:
    """Heights y closest to `target` (weighted least squares) with y[k + 1] - y[k] >= gaps[k]:
    less the running gap it is a monotone regression, solved by pooling adjacent violators."""
    offset = np.concatenate(([0.0], np.cumsum(gaps)))
    means: list[float] = []
    weights: list[float] = []
    lengths: list[int] = []
    for t, w in zip((target - offset).tolist(), weight.tolist()):
        means.append(t)
        weights.append(w)
        lengths.append(1)
        while len(means) > 1 and means[-2] >= means[-1]:
            m2, w2, n2 = means.pop(), weights.pop(), lengths.pop()
            w1 = weights[-1]
            means[-1] = (means[-1] * w1 + m2 * w2) / (w1 + w2)
            weights[-1] = w1 + w2
            lengths[-1] += n2
    return np.repeat(means, lengths) + offset
