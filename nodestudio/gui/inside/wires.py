"""The Gradients on the wires panel and canvas mode: each wire coloured and thickened by the
mean magnitude of the gradient of the loss flowing back through it, mean |dL/dv| over the
probe batch and the tensor's elements, on a log scale from the smallest to the largest on the
graph (cold thin blue to hot thick red; a grey dotted wire carries no gradient; a wire without
one, such as from the inputs, is drawn as usual). The dock holds the switch, the colour bar with
its log ticks and a table of every wire's figures; hovering a wire shows the statistics of its
value and gradient (inside/canvas_values.py).

A deep sigmoid net shows vanishing gradients at a glance: its wires grow colder and thinner
towards the input. Values come from the training run's probe while there is one, otherwise
from Refresh (the document's parameters on a batch of the Training panel's dataset). Pens are
made when values arrive (`live.draw`) and stored on the wires; painting does no arithmetic.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QLinearGradient, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import (
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.graph.model import Edge
from nodestudio.gui.canvas.wire_overlay import (
    MAX_WIDTH,
    MIN_WIDTH,
    STOPS,
    WireScale,
    colour_at,
    set_wire_pens,
)
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.canvas_mode import CanvasModePanel
from nodestudio.gui.inside.canvas_values import (
    mean_abs,
    reads_into_loss,
    stats_text,
    wire_arrays,
)

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow


def wire_magnitudes(scene, snapshot) -> dict[Edge, float]:
    """mean |gradient| on each wire of the scene that the snapshot has a gradient for."""
    found: dict[Edge, float] = {}
    for edge in scene.edges:
        arrays = wire_arrays(snapshot, edge.src)
        if arrays is None or arrays[1] is None:
            continue  # an input's wire: no gradient is taken there
        # a wire into a node the loss does not read (a prediction) carries nothing back
        found[edge] = mean_abs(arrays[1]) if reads_into_loss(snapshot, edge.dst.node) else 0.0
    return found


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten between low and high, with the two ends."""
    if not (low > 0 and high > 0):
        return []
    ticks = [low]
    for exponent in range(math.ceil(math.log10(low)), math.floor(math.log10(high)) + 1):
        value = 10.0 ** exponent
        if low * 1.3 < value < high / 1.3:
            ticks.append(value)
    if high > low:
        ticks.append(high)
    return ticks


class ColourBar(QWidget):
    """The legend: the colour map from `scale.low` to `scale.high`, thickening as the wires
    do, with log ticks under it."""

    def __init__(self):
        super().__init__()
        self.scale: WireScale | None = None
        self.setMinimumHeight(68)

    def set_scale(self, scale: WireScale | None) -> None:
        self.scale = scale
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        text = self.palette().windowText().color()
        bar = QRectF(12, 18, self.width() - 24, MAX_WIDTH + 4)
        painter.setPen(text)
        painter.drawText(QRectF(0, 0, self.width(), 16), Qt.AlignCenter,
                         "mean |gradient of the loss| on the wire (log scale)")
        if self.scale is None:
            painter.drawText(QRectF(0, 20, self.width(), 30), Qt.AlignCenter,
                             "no values yet: train, or press Refresh")
            return
        gradient = QLinearGradient(bar.left(), 0, bar.right(), 0)
        for t, _rgb in STOPS:
            gradient.setColorAt(t, colour_at(t))
        # a wedge as thick as the wires at each end
        painter.setPen(Qt.NoPen)
        painter.setBrush(gradient)
        mid = bar.center().y()
        painter.drawPolygon(QPolygonF([QPointF(bar.left(), mid - MIN_WIDTH / 2),
                                       QPointF(bar.right(), mid - MAX_WIDTH / 2),
                                       QPointF(bar.right(), mid + MAX_WIDTH / 2),
                                       QPointF(bar.left(), mid + MIN_WIDTH / 2)]))
        painter.setPen(QPen(text, 1))
        ticks = log_ticks(self.scale.low, self.scale.high)
        for i, value in enumerate(ticks):
            x = bar.left() + bar.width() * self.scale.position(value)
            end = i in (0, len(ticks) - 1)
            if not end and min(x - bar.left(), bar.right() - x) < 60:
                continue  # a decade this close to an end label would overlap it
            painter.drawLine(QPointF(x, bar.bottom()), QPointF(x, bar.bottom() + 4))
            label = f"{value:.1e}"
            box = QRectF(x - 40, bar.bottom() + 4, 80, 14)
            if i == 0:
                box, align = QRectF(x - 4, bar.bottom() + 4, 80, 14), Qt.AlignLeft
            elif i == len(ticks) - 1:
                box, align = QRectF(x - 76, bar.bottom() + 4, 80, 14), Qt.AlignRight
            else:
                align = Qt.AlignCenter
            painter.drawText(box, align, label)
        painter.drawText(QRectF(0, bar.bottom() + 18, self.width(), 14), Qt.AlignCenter,
                         "thin blue: little gradient reaches the wire · thick red: much · "
                         "grey dotted: none")


class WiresPanel(CanvasModePanel):
    """The dock: switch, Refresh, colour bar, the wires' table, the hovered wire."""

    MODE = "wires"

    def __init__(self, window: MainWindow):
        super().__init__(window, "Colour the wires by their gradient",
                         "Hover a wire on the canvas to see its value and gradient.")
        self.magnitudes: dict[Edge, float] = {}
        self.scale: WireScale | None = None

        self.bar = ColourBar()
        self.table = QTreeWidget()
        self.table.setHeaderLabels(["wire", "mean |gradient|", "mean |value|"])
        self.table.setRootIsDecorated(False)

        layout = QVBoxLayout(self)
        layout.addLayout(self.header())
        layout.addWidget(self.source)
        layout.addWidget(self.bar)
        layout.addWidget(self.wire_text)
        layout.addWidget(self.table, 1)

        self.connect_values(self.redraw)
        window.document.annotated.connect(self.redraw)  # new or removed wires
        self.redraw()
        self.open_on_canvas()

    def redraw(self, *_args) -> None:
        snapshot = self.values.snapshot
        scene = self.window.scene
        self.source.setText(f"Values: {self.values.source}")
        self.magnitudes = {} if snapshot is None else wire_magnitudes(scene, snapshot)
        self.scale = WireScale(list(self.magnitudes.values())) if self.magnitudes else None
        self.bar.set_scale(self.scale)
        self._fill_table(snapshot)
        if not self.enabled or self.scale is None:
            set_wire_pens(scene.edges, None)
            return
        set_wire_pens(scene.edges, {edge: self.scale.pen(m)
                                    for edge, m in self.magnitudes.items()})

    def _fill_table(self, snapshot) -> None:
        self.table.clear()
        for edge, magnitude in self.magnitudes.items():
            value = self.values.wire(edge)[0]
            row = QTreeWidgetItem([f"{edge.src} → {edge.dst}", f"{magnitude:.3e}",
                                   f"{mean_abs(value):.3g}"])
            if self.scale is not None:
                row.setForeground(1, self.scale.pen(magnitude).color())
            self.table.addTopLevelItem(row)
        for column in range(3):
            self.table.resizeColumnToContents(column)

    def show_wire(self, edge: Edge | None) -> None:
        found = None if edge is None else self.values.wire(edge)
        if found is None:
            return
        value, grad = found
        self.wire_text.setText(f"{edge.src} → {edge.dst}: mean |gradient| "
                               f"{0.0 if grad is None else mean_abs(grad):.4g}"
                               f"\n{stats_text('value', value)}\n"
                               f"{stats_text('gradient', grad)}")


def build(window: MainWindow) -> WiresPanel:
    return WiresPanel(window)


PANEL = PanelSpec("wires", "Gradients on the wires", build,
                  summary="Each wire coloured and thickened by the gradient flowing back "
                          "through it", order=40)
