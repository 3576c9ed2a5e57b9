"""A node's title far out (the overview): where the header's 12 px title would be under 7 px on
screen, the card is drawn as a tile in its op's colour with the title across it, as large as
fits: broken into up to three lines after its separators ("hidden1_" / "dropout"), at 10 px on
screen down to 7 px; a tile too narrow even then widens into the room between columns (by up to
`spill` each side). A path-like title too long even so keeps its ends ("grad/…/mul_5", then
"…/mul_5"), and is elided in the middle only when none of these fits.

The ways to break a title are measured once per title (`Overview`); a paint only scales those
widths to the zoom, and the answer is kept until the zoom changes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from PySide6.QtCore import Qt

from nodestudio.gui.canvas.style import style

SIZES = (10.0, 9.0, 8.0, 7.0)  # on-screen font sizes tried, largest first
LINE = 1.2  # line height / font size (a line's letters take about the font size)
MARGIN = 2.0  # screen pixels kept free inside the tile left and right (1 above and below)
MAX_LINES = 3
MIN_CHARS = 4  # an elided title with fewer letters says nothing: none is drawn
SLACK = 1.04  # text drawn scaled can come out a little wider than its metrics say


@dataclass(frozen=True)
class TitleFit:
    lines: tuple[str, ...]
    pixels: float  # the font's size on screen
    width: float  # the tile's width on screen: the card's, or wider for a long title


class Overview:
    def __init__(self, text: str):
        self.text = text
        # the line breaks are measured when the title is first drawn far out, not for each of
        # 10,000 nodes when a file opens
        self._breaks: list[list[tuple[tuple[str, ...], float]]] | None = None
        self._cache: tuple[tuple[float, float, float], TitleFit | None] | None = None

    @property
    def _variants(self) -> list[list[tuple[tuple[str, ...], float]]]:
        """Each shortened form's best ways to break it into 1, 2, 3 lines: (lines, widest)."""
        if self._breaks is None:
            metrics = style().title_metrics
            self._breaks = []
            for variant in shortened(self.text):
                # after each separator: "_" "/" "-" "." (and nowhere else: words stay whole)
                pieces = [p for p in re.split(r"(?<=[_/.\-])", variant) if p]
                breaks = []
                for count in range(1, min(MAX_LINES, len(pieces)) + 1):
                    lines = _best_split(pieces, count, metrics.horizontalAdvance)
                    breaks.append((lines, max(metrics.horizontalAdvance(line)
                                              for line in lines)))
                self._breaks.append(breaks)
        return self._breaks

    def fit(self, width: float, height: float, spill: float = 0.0) -> TitleFit | None:
        """The title for a tile of this size in screen pixels, which may widen by `spill` each
        side; None when no readable one fits."""
        key = (round(width, 2), round(height, 2), round(spill, 2))
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self._fit(width, height, spill))
        return self._cache[1]

    def _fit(self, width: float, height: float, spill: float) -> TitleFit | None:
        if not self.text:
            return None
        room, high = width - 2 * MARGIN, height - 2
        if min(SIZES) > high:  # no size fits the tile's height: known without measuring
            return None
        for breaks in self._variants:  # the fullest text, at the largest size that fits it,
            for pixels in SIZES:  # in the tile if it can, else widened
                scale = pixels / style().title_font.pixelSize() * SLACK
                for widest_allowed in (room, room + 2 * spill):
                    for lines, widest in breaks:
                        if widest * scale <= widest_allowed \
                                and pixels * (1 + LINE * (len(lines) - 1)) <= high:
                            return TitleFit(lines, pixels,
                                            max(width, widest * scale + 2 * MARGIN))
        pixels = SIZES[-1]
        if pixels > high:
            return None
        scale = pixels / style().title_font.pixelSize() * SLACK
        last = self._variants[-1][0][0][0]  # the shortest variant on one line
        elided = style().title_metrics.elidedText(last, Qt.ElideMiddle,
                                                  (room + 2 * spill) / scale)
        if len(elided.replace("\u2026", "")) < MIN_CHARS:
            return None
        return TitleFit((elided,), pixels, width + 2 * spill)


def shortened(title: str) -> list[str]:
    """The title, then for a path ("grad/dense_2/matmul_4/mul_5") its ends: "grad/…/mul_5",
    then its last part: "…/mul_5"."""
    parts = title.split("/")
    if len(parts) < 2:
        return [title]
    middle = [f"{parts[0]}/\u2026/{parts[-1]}"] if len(parts) > 2 else []
    return [title, *middle, f"\u2026/{parts[-1]}"]


def _best_split(parts: list[str], count: int, measure) -> tuple[str, ...]:
    """`parts` joined into `count` lines, the widest as narrow as can be."""
    if count == 1:
        return ("".join(parts),)
    best: tuple[float, tuple[str, ...]] | None = None
    for first in range(1, len(parts) - count + 2):
        head = "".join(parts[:first])
        rest = _best_split(parts[first:], count - 1, measure)
        widest = max(measure(head), *(measure(line) for line in rest))
        if best is None or widest < best[0]:
            best = (widest, (head, *rest))
    assert best is not None
    return best[1]
