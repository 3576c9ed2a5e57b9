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
        self.members, self.local = _groups(layer, self.layer_count)
        # (`local`: a vertex's index within its layer's members)
        self.out_segs, _ = _groups(layer[self.sa], self.layer_count)  # segments leaving each
        side = np.asarray(self.side, dtype=np.float64)
        self.pull = np.abs(side) * EDGE_PULL
        self.pull_to_bottom = side > 0

    # --- step 3: order ------------------------------------------------------------------------
    def order(self) -> np.ndarray:
        """Each vertex's rank within its layer, chosen for few crossings."""
        self._prepare()
        pos = self.local.astype(np.float64)  # first: the order the vertices were added in
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
        """Each vertex's first-port height (after `order`). Plain Python over lists: most
        layers hold a handful of vertices (a chain: one), where array calls would cost more
        than the arithmetic, so each pass is linear in vertices and segments with a small
        factor (a 100,000-layer chain in a few seconds)."""
        pos = self.pos
        height, anchor = self.height, self.anchor
        layer = np.asarray(self.layer, dtype=np.int64)
        counts = np.bincount(layer, minlength=self.layer_count).tolist()
        by_rank = np.lexsort((pos, layer)).tolist()  # each layer's members, top to bottom
        ordered: list[list[int]] = []
        start = 0
        for count in counts:
            ordered.append(by_rank[start:start + count])
            start += count
        rank = [0] * len(self.layer)
        gaps: list[list[float]] = []
        y = [0.0] * len(self.layer)
        for m in ordered:
            g = []
            for upper, lower in zip(m, m[1:]):
                space = NODE_GAP if height[upper] > 0 and height[lower] > 0 else WIRE_GAP
                g.append(height[upper] - anchor[upper] + space + anchor[lower])
            gaps.append(g)
            stacked = _running(g)
            for i, v in enumerate(m):
                rank[v] = i
                y[v] = stacked[i] - stacked[-1] / 2
        sa, sb = self.sa.tolist(), self.sb.tolist()
        sa_off, sb_off = self.sa_off.tolist(), self.sb_off.tolist()
        sw, sw_right = self.sw.tolist(), self.sw_right.tolist()
        # per layer: the segments arriving from the left, and those leaving to the right, as
        # (rank of the vertex they move, the vertex at the other end, weight, both offsets)
        lefts: list[list[tuple[int, int, float, float, float]]] = [[]] + [
            [(rank[sb[j]], sa[j], sw_right[j], sa_off[j], sb_off[j]) for j in segs]
            for segs in (s.tolist() for s in self.out_segs[:-1])]
        rights = [[(rank[sa[j]], sb[j], sw[j], sb_off[j], sa_off[j]) for j in segs]
                  for segs in (s.tolist() for s in self.out_segs)]
        for sides in [("left",), ("right",)] * ROUNDS + [("left", "right")] * 2:
            ks = range(self.layer_count) if sides != ("right",) else \
                range(self.layer_count - 1, -1, -1)
            for k in ks:
                m = ordered[k]
                if len(m) == 1:  # nothing to keep apart: the weighted mean of what it follows
                    _lone(y, m[0], [lefts[k] if side == "left" else rights[k]
                                    for side in sides])
                else:
                    _layer(y, m, [lefts[k] if side == "left" else rights[k] for side in sides],
                           gaps[k])
        return np.asarray(y)


def _lone(y: list[float], v: int,
          sides: list[list[tuple[int, int, float, float, float]]]) -> None:
    """`_layer` for a layer of one vertex: no gap to keep, so no regression."""
    total = moment = 0.0
    for segments in sides:  # each side summed apart, then added (as `_layer` does)
        part = turn = 0.0
        for _, other, w, other_off, own_off in segments:
            part += w
            turn += w * (y[other] + other_off - own_off)
        total += part
        moment += turn
    if total > 0:
        y[v] = moment / total


def _layer(y: list[float], m: list[int],
           sides: list[list[tuple[int, int, float, float, float]]], gaps: list[float]) -> None:
    """Move the vertices of one layer (`m`, top to bottom) towards the ports their segments
    join on the given sides, keeping the gaps between them."""
    size = len(m)
    total, moment = [0.0] * size, [0.0] * size
    for segments in sides:  # each side summed apart, then added
        part, turn = [0.0] * size, [0.0] * size
        for r, other, w, other_off, own_off in segments:
            part[r] += w
            turn[r] += w * (y[other] + other_off - own_off)
        total = [a + b for a, b in zip(total, part)]
        moment = [a + b for a, b in zip(moment, turn)]
    # a vertex with nothing to follow on this side stays, yielding to the others
    target = [moment[i] / total[i] if total[i] > 0 else y[v] for i, v in enumerate(m)]
    weight = [t if t > 0 else 0.05 for t in total]
    for v, value in zip(m, _isotonic(target, weight, gaps)):
        y[v] = value


def _groups(keys: np.ndarray, count: int) -> tuple[list[np.ndarray], np.ndarray]:
    """For keys in range(count): the indices having each key (increasing), and each index's
    place among those of its key. One sort, whatever the number of keys."""
    order = np.argsort(keys, kind="stable")
    sizes = np.bincount(keys, minlength=count)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1])).astype(np.int64)
    local = np.empty(len(keys), dtype=np.int64)
    local[order] = np.arange(len(keys)) - np.repeat(starts, sizes)
    return np.split(order, np.cumsum(sizes)[:-1]), local


def _running(gaps: list[float]) -> list[float]:
    """[0, g0, g0 + g1, ...]: the running sums (in order, as NumPy's cumsum adds)."""
    out = [0.0]
    for g in gaps:
        out.append(out[-1] + g)
    return out


def _inversions(values: np.ndarray) -> int:
    """Pairs i < j with values[i] > values[j]: one comparison matrix for a short layer, else
    a bottom-up merge count (each level one pass of sorting and bisection), O(n log^2 n)."""
    n = len(values)
    if n <= 256:
        return int(np.count_nonzero(np.triu(values[:, None] > values[None, :], 1)))
    keys = np.unique(values, return_inverse=True)[1].reshape(-1).astype(np.int64)  # ranks
    place = np.arange(n, dtype=np.int64)
    count = 0
    width = 1
    while width < n:  # `keys` is sorted within each block of `width`
        block = place // width
        pair = block // 2
        right = (block % 2).astype(bool)
        left_keys = pair[~right] * n + keys[~right]  # sorted: by pair, then within the block
        right_keys = pair[right] * n + keys[right]
        below = np.searchsorted(left_keys, right_keys, side="right")
        block_end = np.searchsorted(left_keys, pair[right] * n + n, side="left")
        count += int(np.sum(block_end - below))  # left elements greater than each right one
        merged = place // (2 * width)
        keys = np.sort(merged * n + keys) - merged * n
        width *= 2
    return count


def _isotonic(target: list[float], weight: list[float], gaps: list[float]) -> list[float]:
    """Heights y closest to `target` (weighted least squares) with y[k + 1] - y[k] >= gaps[k]:
    less the running gap it is a monotone regression, solved by pooling adjacent violators."""
    offset = _running(gaps)
    means: list[float] = []
    weights: list[float] = []
    lengths: list[int] = []
    for t, w in zip([t - o for t, o in zip(target, offset)], weight):
        means.append(t)
        weights.append(w)
        lengths.append(1)
        while len(means) > 1 and means[-2] >= means[-1]:
            m2, w2, n2 = means.pop(), weights.pop(), lengths.pop()
            w1 = weights[-1]
            means[-1] = (means[-1] * w1 + m2 * w2) / (w1 + w2)
            weights[-1] = w1 + w2
            lengths[-1] += n2
    out: list[float] = []
    for mean, length in zip(means, lengths):
        out.extend([mean] * length)
    return [v + o for v, o in zip(out, offset)]
