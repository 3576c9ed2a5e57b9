"""Gradient flow: how well each layer learns, from the trainer's probe (see live.py).

* Gradient norm ||dL/dW|| of each parameter over the run (log scale, one line per parameter).
* Update-to-weight ratio ||W_now - W_before|| / ||W_before|| per step, between consecutive
  snapshots (log scale). Around 1e-3 is healthy; far below, the layer barely moves (learning
  rate too low, vanishing gradients); far above, it is thrown around (learning rate too high).
* Histograms, for the latest snapshot, of log10 |gradient| per parameter and of the values of
  each activation (tanh, sigmoid, ReLU outputs; every forward output when there are none).
* A table per activation layer: the share of saturated sigmoid / tanh values (|tanh| > 0.99,
  a sigmoid within 0.01 of 0 or 1: their local gradient is almost zero) and of dead ReLU units
  (zero for every example of the probe batch).
* A warning naming the layer when a gradient vanishes (||dL/dW|| below 1e-7 of ||W||) or
  explodes (above 100 times ||W||, or not finite).

All figures are on the probe's fixed batch of training examples, every few steps.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.live import layer_of, live_values
from nodestudio.gui.inside.logaxis import LogAxis
from nodestudio.gui.theme import theme
from nodestudio.gui.training.session import gui_priority
from nodestudio.train.events import Snapshot
from nodestudio.train.probe import dead_fraction, saturated_fraction

VANISHING = 1e-7  # ||dL/dW|| / ||W|| below this: the gradient has vanished
EXPLODING = 1e2  # ... above this (or not finite): it explodes
HEALTHY_RATIO = 1e-3  # the update-to-weight ratio per step that the rule of thumb aims at
BINS = 40
SAMPLE = 100_000  # values a histogram is drawn from at most


def gradient_problems(snapshot: Snapshot, layers: dict[str, str]) -> tuple[list[str], list[str]]:
    """(vanishing, exploding): a phrase per parameter, in the order of the model's parameters,
    e.g. "W1 (layer hidden): 3.2e-12 of ||W||". `layers` maps parameter -> its node."""
    vanishing, exploding = [], []
    for name, g in snapshot.grad_norms.items():
        w = snapshot.weight_norms[name]
        where = f"{name} (layer {layers[name]})" if layers.get(name) else name
        if not math.isfinite(g):
            exploding.append(f"{where}: {g}")
        elif w > 0 and g / w > EXPLODING:
            exploding.append(f"{where}: {g / w:.3g} × ||W||")
        elif w > 0 and g / w < VANISHING:
            vanishing.append(f"{where}: {g / w:.3g} × ||W||")
    return vanishing, exploding


def _plot(title: str, bottom: str, left: str, log_y: bool = False, legend: bool = False
          ) -> pg.PlotWidget:
    t = theme()
    # a log axis whose labels stay apart when the norms span less than a decade
    plot = pg.PlotWidget(axisItems={"left": LogAxis("left")} if log_y else None)
    plot.setBackground(t.base)
    plot.setMinimumSize(200, 130)
    item = plot.getPlotItem()
    item.setTitle(title, size="9pt", color=t.text)
    item.setLabel("bottom", bottom)
    item.setLabel("left", left)
    item.showGrid(x=True, y=True, alpha=0.25)
    for name in ("left", "bottom"):
        item.getAxis(name).setPen(pg.mkPen(t.grid_major))
        item.getAxis(name).setTextPen(pg.mkPen(t.muted))
        item.getAxis(name).enableAutoSIPrefix(False)  # "(x0.001)" on a log axis misleads
    if log_y:
        item.setLogMode(x=False, y=True)
    if legend:
        key = item.addLegend(offset=(-4, 4), labelTextSize="8pt", labelTextColor=t.text,
                             verSpacing=-6)
        key.setBrush(pg.mkBrush(pg.mkColor(t.base).darker(110)))
    return plot


class GradientFlowPanel(QWidget):
    """See the module docstring. `norm_curves[name]` / `ratio_curves[name]` are the plotted
    lines, `warning` the banner."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.live = live_values(window)
        self.norm_curves: dict[str, pg.PlotDataItem] = {}
        self.ratio_curves: dict[str, pg.PlotDataItem] = {}
        self.grad_hists: dict[str, pg.PlotDataItem] = {}
        self.act_hists: dict[str, pg.PlotDataItem] = {}

        self.warning = QLabel()
        self.warning.setWordWrap(True)
        self.warning.setStyleSheet(f"color: white; background: {theme().error}; padding: 4px; "
                                   "font-weight: bold")
        self.warning.hide()
        self.status = QLabel("Train the graph to see its gradients: the trainer's probe "
                             "samples them every few steps.")
        self.status.setStyleSheet(f"color: {theme().muted}")
        self.key = QLabel()  # which colour is which parameter, for the three plots by parameter
        self.key.setTextFormat(Qt.TextFormat.RichText)
        self.norms = _plot("Gradient norm ‖dL/dW‖", "iteration", "norm", log_y=True)
        self.ratios = _plot("Update ratio ‖ΔW‖ / ‖W‖ per step", "iteration", "ratio",
                            log_y=True)
        self.ratios.setToolTip("healthy near 1e-3 (dashed line): far below, the layer barely "
                               "learns; far above, it is thrown around")
        self.ratios.getPlotItem().addLine(y=math.log10(HEALTHY_RATIO), pen=pg.mkPen(
            theme().muted, style=Qt.PenStyle.DashLine))
        self.grad_hist = _plot("Gradients now", "log10 |gradient|", "count")
        self.act_hist = _plot("Activations now", "value", "count")
        self.health = QTableWidget(0, 4)
        self.health.setHorizontalHeaderLabels(["layer", "kind", "saturated", "dead"])
        self.health.verticalHeader().hide()
        header = self.health.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.health.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.health.setMinimumWidth(240)
        self.health.setToolTip("saturated: share of sigmoid / tanh values within 0.01 of "
                               "their limits; dead: share of ReLU units zero on every example")

        grid = QGridLayout()
        grid.addWidget(self.norms, 0, 0)
        grid.addWidget(self.ratios, 1, 0)
        grid.addWidget(self.grad_hist, 0, 1)
        grid.addWidget(self.act_hist, 1, 1)
        grid.addWidget(self.health, 0, 2, 2, 1)
        grid.setColumnStretch(0, 3)
        grid.setColumnStretch(1, 3)
        grid.setColumnStretch(2, 3)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.warning)
        top = QHBoxLayout()
        top.addWidget(self.status, 1)
        top.addWidget(self.key)
        layout.addLayout(top)
        layout.addLayout(grid, 1)
        self.live.draw.connect(self._on_live)
        self.redraw()

    def _color(self, index: int) -> str:
        series = theme().plot_series or ("#4a84c4", "#d0665e", "#4caf78", "#c48a45")
        return series[index % len(series)]

    def _on_live(self, snapshot) -> None:
        if snapshot is None:  # a new run: start the plots afresh
            self.redraw()
        elif self.isVisible():
            self.redraw()

    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        self.redraw()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        with gui_priority.painting():
            super().paintEvent(event)

    # --- drawing ------------------------------------------------------------------------------
    def redraw(self) -> None:
        latest = self.live.latest
        self._series()
        if latest is None:
            for hist in (self.grad_hist, self.act_hist):
                hist.getPlotItem().clear()
            self.grad_hists.clear()
            self.act_hists.clear()
            self.health.setRowCount(0)
            self.warning.hide()
            self.status.show()
            return
        self.status.setText(f"Probe batch of {len(latest.rows)} training examples; latest: "
                            f"iteration {latest.iteration}, epoch {latest.epoch}, loss "
                            f"{latest.loss:.4g}")
        self._histograms(latest)
        self._health(latest)
        self._warn(latest)

    def _series(self) -> None:
        points = self.live.series
        names = list(points[-1].grad_norms) if points else []
        for curves, plot in ((self.norm_curves, self.norms), (self.ratio_curves, self.ratios)):
            if set(curves) != set(names):
                for curve in curves.values():
                    plot.getPlotItem().removeItem(curve)
                curves.clear()
                for index, name in enumerate(names):
                    color = self._color(index)
                    curves[name] = plot.plot([], [], pen=pg.mkPen(color, width=1.5),
                                             symbol="o", symbolSize=4, symbolPen=None,
                                             symbolBrush=color, name=name)
        self.key.setText("  ".join(f'<span style="color:{self._color(i)}">■</span> {name}'
                                   for i, name in enumerate(names)))
        for name in names:  # a zero norm has no place on a log scale (W2 = 0 stops W1's)
            kept = [(p.iteration, p.grad_norms[name]) for p in points
                    if p.grad_norms.get(name, 0.0) > 0.0]
            self.norm_curves[name].setData([k[0] for k in kept], [k[1] for k in kept])
            kept = [(p.iteration, p.step_ratios[name]) for p in points
                    if p.step_ratios.get(name, 0.0) > 0.0]
            self.ratio_curves[name].setData([k[0] for k in kept], [k[1] for k in kept])

    def _histograms(self, latest: Snapshot) -> None:
        wanted = {}
        for index, (name, g) in enumerate(latest.grads.items()):
            magnitude = np.abs(_sample(g))
            magnitude = magnitude[magnitude > 0]
            if magnitude.size:
                counts, edges = np.histogram(np.log10(magnitude), bins=BINS)
                wanted[name] = (edges, counts, self._color(index))
        self._set_curves(self.grad_hist, self.grad_hists, wanted)
        keys = [k for k, kind in latest.kinds.items() if kind] or [
            k for k, a in latest.activations.items() if np.ndim(a) > 1]
        wanted = {}
        for index, key in enumerate(keys):
            values = _sample(latest.activations[key])
            values = values[np.isfinite(values)]
            if values.size:
                counts, edges = np.histogram(values, bins=BINS)
                wanted[key] = (edges, counts, self._color(index))
        self._set_curves(self.act_hist, self.act_hists, wanted)
        key_text = "  ".join(f'<span style="color:{self._color(i)}">■</span> {key}'
                             for i, key in enumerate(self.act_hists))
        self.act_hist.getPlotItem().setTitle(f"Activations now: {key_text}", size="9pt",
                                             color=theme().text)

    @staticmethod
    def _set_curves(plot: pg.PlotWidget, curves: dict[str, pg.PlotDataItem],
                    wanted: dict[str, tuple[np.ndarray, np.ndarray, str]]) -> None:
        """Histogram steps `wanted[key] = (edges, counts, colour)` on `plot`: the curves of
        the previous snapshot get the new data (making new plot items at every snapshot
        cost more than all the rest of a redraw), the others are added or removed."""
        item = plot.getPlotItem()
        if list(curves) != list(wanted):
            for curve in curves.values():
                item.removeItem(curve)
            curves.clear()
        for key, (edges, counts, color) in wanted.items():
            if key in curves:
                curves[key].setData(edges, counts, stepMode="center")
            else:
                curves[key] = item.plot(edges, counts, stepMode="center", name=key,
                                        pen=pg.mkPen(color, width=1.5))

    def _health(self, latest: Snapshot) -> None:
        rows = []
        for key, kind in latest.kinds.items():
            if not kind:
                continue
            act = latest.activations[key]
            saturated, dead = saturated_fraction(kind, act), dead_fraction(kind, act)
            rows.append((key, kind, saturated, dead))
        self.health.setRowCount(len(rows))
        for r, (key, kind, saturated, dead) in enumerate(rows):
            cells = [key, kind, "—" if saturated is None else f"{100 * saturated:.1f} %",
                     "—" if dead is None else f"{100 * dead:.1f} %"]
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c >= 2:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight
                                          | Qt.AlignmentFlag.AlignVCenter)
                self.health.setItem(r, c, item)

    def _warn(self, latest: Snapshot) -> None:
        graph = self.window.document.graph
        layers = {name: layer_of(graph, name) for name in latest.grad_norms}
        vanishing, exploding = gradient_problems(latest, layers)
        parts = []
        if exploding:
            parts.append("Exploding gradients (above 100 × ||W||) at " + "; ".join(exploding))
        if vanishing:
            parts.append("Vanishing gradients (below 1e-7 × ||W||) at " + "; ".join(vanishing)
                         + ": these layers no longer learn")
        self.warning.setText("⚠ " + "  ·  ".join(parts) if parts else "")
        self.warning.setVisible(bool(parts))


def _sample(array: np.ndarray, most: int = SAMPLE) -> np.ndarray:
    """At most `most` values of `array`, evenly strided, as float64: a histogram of a
    million gradients looks the same from 100,000 of them, at a tenth of the cost."""
    flat = np.asarray(array).ravel()
    step = max(1, flat.size // most)
    return flat[::step].astype(np.float64)


def build(window) -> GradientFlowPanel:
    return GradientFlowPanel(window)


PANEL = PanelSpec("gradients", "Gradient flow", build,
                  summary="Gradient norms, update ratios, histograms and saturated or dead "
                  "units per layer, live", order=30)
