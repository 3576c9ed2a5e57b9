"""The pieces the Curves dock draws with: a pyqtgraph plot whose paints hold the training thread
back, an axis in whole epochs, the theme applied to a plot, and the key that says which line
style is which series (it replaces a legend over the plots)."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from nodestudio.gui.theme import Theme, theme
from nodestudio.gui.training.session import gui_priority

# how each series of a run is drawn: (pen width, pen style, symbol)
SERIES_STYLE = {
    "valid": (2.0, Qt.PenStyle.SolidLine, "s"),
    "train": (1.5, Qt.PenStyle.DashLine, "o"),
    "batch": (1.0, Qt.PenStyle.SolidLine, None),
}
SERIES_NAMES = (("valid", "validation"), ("train", "training"), ("batch", "batch loss"))


class EpochAxis(pg.AxisItem):
    """An axis in epochs: ticks on whole epochs only (no "1.5")."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803  (pyqtgraph's names)
        spacings = [(major, offset) for major, offset in super().tickSpacing(minVal, maxVal, size)
                    if major >= 1.0 and float(major).is_integer()]
        return spacings or [(1.0, 0.0)]


class ThemedPlot(pg.PlotWidget):
    """A PlotWidget in the theme's colours whose paints hold the training thread back (see
    GuiPriority); the Curves dock's plots and the looking-inside panels' plots are ones."""

    def __init__(self, title: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.title = title
        self.apply_theme(theme())

    def apply_theme(self, t: Theme) -> None:
        """Background, axes, tick labels and title from the theme's colour table."""
        self.setBackground(t.base)
        item = self.getPlotItem()
        for name in ("left", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(t.grid_major))
            axis.setTextPen(pg.mkPen(t.muted))
        item.setTitle(self.title, size="9pt", color=t.text)

    def set_title(self, title: str) -> None:
        self.title = title
        self.getPlotItem().setTitle(title, size="9pt", color=theme().text)

    def paintEvent(self, event: Any) -> None:  # noqa: N802  (Qt's name)
        with gui_priority.painting():
            super().paintEvent(event)


class Plot(ThemedPlot):
    """A plot over epochs, with a grid, for the Curves dock."""

    def __init__(self, title: str) -> None:
        super().__init__(title, axisItems={"bottom": EpochAxis("bottom")})
        self.setMinimumSize(160, 120)
        self.showGrid(x=True, y=True, alpha=0.25)
        self.setLabel("bottom", "epoch")
        self.setMouseEnabled(x=True, y=True)


class StyleKey(QWidget):
    """One line: a sample of each series' stroke and its name, in the theme's muted colour."""

    SAMPLE = 22  # px of line per sample

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.setToolTip("Each run has its colour (see the list); the line style tells the "
                        "series apart")

    def sizeHint(self) -> QSize:  # noqa: N802
        metrics = self.fontMetrics()
        width = sum(self.SAMPLE + 12 + metrics.horizontalAdvance(label)
                    for _, label in SERIES_NAMES)
        return QSize(width, metrics.height() + 4)

    def paintEvent(self, event: Any) -> None:  # noqa: N802
        t = theme()
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        metrics = self.fontMetrics()
        y = self.height() / 2
        x = 2.0
        for key, label in SERIES_NAMES:
            width, style, _ = SERIES_STYLE[key]
            pen = QPen(QColor(t.muted), width, style)
            painter.setPen(pen)
            painter.drawLine(QPointF(x, y), QPointF(x + self.SAMPLE, y))
            painter.setPen(QColor(t.muted))
            x += self.SAMPLE + 4
            painter.drawText(QPointF(x, y + metrics.ascent() / 2 - 1), label)
            x += metrics.horizontalAdvance(label) + 8
        painter.end()


def with_alpha(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


__all__ = ["SERIES_STYLE", "EpochAxis", "Plot", "StyleKey", "with_alpha"]
