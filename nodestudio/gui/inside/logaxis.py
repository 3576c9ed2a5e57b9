"""A log-scale plot axis whose tick labels never overlap and always differ.

pyqtgraph's log axis labels whole decades, and when a range spans less than about three of them
it adds 2..9 times each power of ten, labelled with one significant digit, all on one level that
it never thins: a gradient norm between 0.21 and 0.6 got eight labels stacked on each other
("0.2", "0.3", ... in 60 pixels), and one between 0.21 and 0.25 got only "0.2" repeated. Here
the ticks are chosen from coarse to fine (whole decades, 1-2-5, 1..9 times a power of ten, then
round linear steps for a range under a factor of two) so that at least two and at most as many
labels as the axis has room for are drawn, with as many digits as it takes to tell them apart.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyqtgraph as pg

LABEL_PITCH = {"left": 22, "right": 22, "top": 60, "bottom": 60}  # pixels per label, at least
MANTISSAS = ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9))  # coarse to fine
SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


def log_ticks(lo: float, hi: float, room: int) -> list[float]:
    """Tick positions (log10 of the values) for an axis showing 10**lo .. 10**hi with room for
    `room` labels: the coarsest of decades, 1-2-5 and 1..9 steps that gives at least two ticks
    (thinned to every n-th when that step gives more than `room`), else round linear steps."""
    lo, hi = sorted((lo, hi))
    room = max(2, room)
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi - lo < 1e-12:
        return [lo] if math.isfinite(lo) else []
    eps = 1e-9 * max(1.0, hi - lo)
    best: list[float] = []
    for mantissas in MANTISSAS:
        values = [e + math.log10(m) for e in range(math.floor(lo), math.ceil(hi) + 1)
                  for m in mantissas]
        values = [v for v in values if lo - eps <= v <= hi + eps]
        if len(values) > room:
            if len(best) >= 2:
                return best
            # too many at this step, too few at the coarser one: every n-th of these, through
            # a coarser tick where there is one (0.1 and 0.5 of 0.05, 0.1, 0.2, 0.5)
            # (else centred: a tick at the very end of the axis has no room for its label)
            step = math.ceil(len(values) / room)
            centred = (len(values) - 1) % step // 2
            anchor = next((i for i, v in enumerate(values)
                           if any(abs(v - b) <= eps for b in best)), centred)
            return values[anchor % step::step]
        best = values
        if len(values) >= 2:
            return values
    return _linear_ticks(10.0 ** lo, 10.0 ** hi, min(room, 5))


def _linear_ticks(a: float, b: float, room: int) -> list[float]:
    """log10 of round values (1, 2 or 5 times a power of ten apart) between a and b: the
    finest such step that gives at most `room` of them, at least two."""
    magnitude = 10.0 ** math.floor(math.log10(b - a))
    finer: list[float] = []
    for step in (m * magnitude * 10.0 ** e for e in (-3, -2, -1, 0, 1) for m in (1, 2, 5)):
        first = math.ceil(a / step - 1e-9)
        values = [k * step for k in range(first, math.floor(b / step + 1e-9) + 1)]
        if len(values) <= room:
            if len(values) < 2 and finer:  # from too many straight to one: thin the finer
                values = finer[::math.ceil(len(finer) / room)]
            return [math.log10(v) for v in values if v > 0]
        finer = values
    return [math.log10(v) for v in finer[::math.ceil(len(finer) / room)] if v > 0]


def tick_labels(values: Sequence[float]) -> list[str]:
    """Labels for values (not their logarithms), with the fewest significant digits (one to
    six) that tell them apart; exponents as powers of ten: "2·10⁻⁵", "10⁻³"."""
    labels: list[str] = []
    for digits in range(1, 7):
        labels = [f"{v:.{digits}g}" for v in values]
        if len(set(labels)) == len(labels):
            break
    return [_power_of_ten(label) for label in labels]


def _power_of_ten(label: str) -> str:
    if "e" not in label:
        return label
    mantissa, exponent = label.split("e")
    power = "10" + str(int(exponent)).translate(SUPERSCRIPT)
    return power if mantissa == "1" else f"{mantissa}·{power}"


class LogAxis(pg.AxisItem):
    """An AxisItem for plots in log mode (`setLogMode(y=True)`), with the ticks above."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802, N803 (pyqtgraph's)
        room = int(size // LABEL_PITCH.get(self.orientation, 60))
        return [(None, log_ticks(minVal, maxVal, room))]

    def logTickStrings(self, values, scale, spacing):  # noqa: N802  (pyqtgraph's name)
        return tick_labels([10.0 ** v * scale for v in values])


__all__ = ["LogAxis", "log_ticks", "tick_labels"]
