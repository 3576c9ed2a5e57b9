"""Wires drawn by a value (the Gradients on the wires mode, gui/inside/wires.py) and what the
canvas shows of the tensor on a wire under the pointer.

* `WireScale`: a log scale from the smallest to the largest magnitude shown; `pen(value)` gives
  a wire's colour (cold blue for the smallest, through cyan and yellow, to red for the largest)
  and width (thin to thick). Pens are made when the values arrive and stored on the EdgeItem
  (`overlay_pen`), so painting a wire costs what it did.
* `WireHover`: watches the view's viewport: `hovered(edge or None)` when the pointer moves onto
  or off a wire, and, when asked for a tooltip over a wire that `describe(edge)` has something
  for, a popup with the text and histograms (`WirePopup`) instead of the plain tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPoint, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QFrame, QLabel, QVBoxLayout, QWidget

from nodestudio.graph.model import Edge
from nodestudio.gui.canvas.edges import EdgeItem

MIN_WIDTH, MAX_WIDTH = 1.5, 7.0  # px: the wire's bounds leave 4 px each side of the path
STOPS = ((0.0, (70, 110, 255)), (0.35, (76, 201, 240)), (0.7, (249, 199, 79)),
         (1.0, (230, 57, 70)))  # cold to hot
ZERO_PEN_COLOUR = QColor(128, 128, 128)


def colour_at(t: float) -> QColor:
    """The colour map at t in [0, 1]."""
    t = min(max(t, 0.0), 1.0)
    for (t0, c0), (t1, c1) in zip(STOPS, STOPS[1:]):
        if t <= t1:
            f = (t - t0) / (t1 - t0)
            return QColor(*(round(a + (b - a) * f) for a, b in zip(c0, c1)))
    return QColor(*STOPS[-1][1])


class WireScale:
    """log10 of magnitudes from `low` to `high` (the smallest and largest positive finite
    ones given) mapped onto [0, 1]."""

    def __init__(self, magnitudes: Sequence[float]):
        positive = [m for m in magnitudes if m > 0 and math.isfinite(m)]
        self.low = min(positive) if positive else 1.0
        self.high = max(positive) if positive else 1.0

    def position(self, magnitude: float) -> float:
        """Where a magnitude sits on the scale (0 smallest, 1 largest; 0 for zero)."""
        if not magnitude > 0:
            return 0.0
        if not math.isfinite(magnitude):
            return 1.0
        span = math.log10(self.high) - math.log10(self.low)
        if span <= 0:
            return 1.0
        return min(max((math.log10(magnitude) - math.log10(self.low)) / span, 0.0), 1.0)

    def width(self, magnitude: float) -> float:
        return MIN_WIDTH + (MAX_WIDTH - MIN_WIDTH) * self.position(magnitude)

    def pen(self, magnitude: float) -> QPen:
        if magnitude == 0:  # nothing flows back: a thin dotted grey wire
            pen = QPen(ZERO_PEN_COLOUR, MIN_WIDTH, Qt.DotLine)
        else:
            pen = QPen(colour_at(self.position(magnitude)), self.width(magnitude))
        pen.setCosmetic(True)
        pen.setCapStyle(Qt.RoundCap)
        return pen


def set_wire_pens(edges: dict[Edge, EdgeItem], pens: dict[Edge, QPen] | None) -> None:
    """Draw these wires with these pens (None: every wire as usual again)."""
    for edge, item in edges.items():
        pen = None if pens is None else pens.get(edge)
        if pen is not item.overlay_pen:
            item.overlay_pen = pen
            item.update()


class Histogram(QWidget):
    """Bars of counts with the range under them; `set_values(array, title)`."""

    def __init__(self, parent: QWidget | None = None, bins: int = 30):
        super().__init__(parent)
        self.bins = bins
        self.counts = np.zeros(0)
        self.edges = np.zeros(0)
        self.title = ""
        self.empty_text = "no values"  # what an empty histogram says
        self.setMinimumSize(180, 70)

    def set_values(self, values: np.ndarray | None, title: str = "") -> None:
        self.title = title
        data = np.asarray(values if values is not None else [], dtype=np.float64).ravel()
        data = data[np.isfinite(data)]
        if data.size:
            self.counts, self.edges = np.histogram(data, bins=self.bins)
        else:
            self.counts, self.edges = np.zeros(0), np.zeros(0)
        self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        text = self.palette().windowText().color()
        area = QRectF(self.rect()).adjusted(4, 14, -4, -14)
        painter.setPen(text)
        painter.drawText(QRectF(4, 0, self.width() - 8, 14), Qt.AlignLeft, self.title)
        if not self.counts.size:
            painter.drawText(area, Qt.AlignCenter, self.empty_text)
            return
        top = float(self.counts.max()) or 1.0
        step = area.width() / len(self.counts)
        for i, count in enumerate(self.counts):
            h = area.height() * count / top
            painter.fillRect(QRectF(area.left() + i * step, area.bottom() - h,
                                    max(step - 1, 1), h), QColor(90, 150, 230))
        painter.drawText(QRectF(4, area.bottom() + 1, area.width(), 13), Qt.AlignLeft,
                         f"{self.edges[0]:.3g}")
        painter.drawText(QRectF(4, area.bottom() + 1, area.width(), 13), Qt.AlignRight,
                         f"{self.edges[-1]:.3g}")


class WirePopup(QFrame):
    """A tooltip-like window: the wire's text and up to two histograms."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent, Qt.ToolTip)
        self.setFrameShape(QFrame.Box)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        self.text = QLabel()
        self.text.setTextFormat(Qt.PlainText)
        self.values = Histogram()
        self.grads = Histogram()
        layout.addWidget(self.text)
        layout.addWidget(self.values)
        layout.addWidget(self.grads)

    def show_for(self, at: QPoint, text: str, values, grads) -> None:
        self.text.setText(text)
        self.values.set_values(values, "values")
        self.grads.setVisible(grads is not None)
        if grads is not None:
            self.grads.set_values(grads, "gradients")
        self.adjustSize()
        self.move(at)
        self.show()


Describe = Callable[[Edge], "tuple[str, np.ndarray | None, np.ndarray | None] | None"]


class WireHover(QObject):
    """See the module docstring. `describe(edge)` returns (text, values, gradients) or None
    for the plain tooltip."""

    hovered = Signal(object)  # Edge or None

    def __init__(self, view, describe: Describe):
        super().__init__(view)
        self.view, self.describe = view, describe
        self.enabled = False  # off: no hit test per mouse move, the plain tooltips
        self.edge: Edge | None = None
        self.popup = WirePopup(view)
        view.viewport().installEventFilter(self)
        view.viewport().setMouseTracking(True)

    def edge_at(self, pos: QPoint) -> Edge | None:
        """The wire at a viewport point, unless a node lies over it there."""
        for item in self.view.items(pos):
            if isinstance(item, EdgeItem):
                return item.edge
            return None  # the topmost item is a node, a preview, a frame...
        return None

    def eventFilter(self, watched, event) -> bool:
        kind = event.type()
        if not self.enabled:
            return False
        if kind == QEvent.MouseMove:
            edge = self.edge_at(event.position().toPoint())
            if edge != self.edge:
                self.edge = edge
                if edge is None:
                    self.popup.hide()
                self.hovered.emit(edge)
        elif kind == QEvent.Leave:
            self.popup.hide()
            if self.edge is not None:
                self.edge = None
                self.hovered.emit(None)
        elif kind == QEvent.ToolTip:
            edge = self.edge_at(event.pos())
            found = None if edge is None else self.describe(edge)
            if found is not None:
                text, values, grads = found
                self.popup.show_for(event.globalPos() + QPoint(14, 14), text, values, grads)
                return True  # instead of the wire's plain tooltip
        return False


__all__ = ["Histogram", "WireHover", "WirePopup", "WireScale", "colour_at", "set_wire_pens"]
