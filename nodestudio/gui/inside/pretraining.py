"""The Pretraining panel: per-layer progress of Train > Pretrain and its figures.

A table lists the layers being pretrained, bottom first: which one trains now, its epochs, and
its latest figures: the layer's cost (CD cost for an RBM, reconstruction cost for an
autoencoder, the classifier's loss for greedy supervised), and for RBMs the one-step
reconstruction error, the free-energy gap (mean F on validation rows minus mean F on training
rows: growing means overfitting) and the pseudo-likelihood estimate (nodestudio/train/
strategies/cd.py). Beside it, one plot per figure over the run's epochs (a layer's epochs follow
the layer below's), one colour per layer. The Pretrain action opens the panel; it follows the
Training dock's session (`layer_started`, `epoch_end`, `layer_finished`), and also a Train run
of an RBM's cost (contrastive divergence: `rbm.json`), whose figures are the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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
from nodestudio.gui.theme import theme
from nodestudio.gui.training.plots import Plot
from nodestudio.train.events import EpochEnd

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

# figure key -> (table column / plot title); "cost" is the record's training loss
FIGURES = {"cost": "Cost", "recon": "Reconstruction error", "free_energy_gap":
           "Free-energy gap (valid - train)", "pseudo_likelihood": "Pseudo-likelihood"}
COLUMNS = ("Layer", "Status", "Epochs", "Cost", "Recon.", "FE gap", "Pseudo-LL")
TIPS = {3: FIGURES["cost"], 4: FIGURES["recon"], 5: FIGURES["free_energy_gap"],
        6: FIGURES["pseudo_likelihood"]}


class PretrainingPanel(QWidget):
    """See the module docstring. `points[layer][figure]` holds the (epoch, value) pairs drawn;
    `status[layer]` is "waiting", "training" or "done"."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.session = window.training.session
        self.layers: list[str] = []
        self.status: dict[str, str] = {}
        self.epochs: dict[str, int] = {}
        self.points: dict[str, dict[str, list[tuple[float, float]]]] = {}
        self.current: str | None = None
        self.cd_run = False  # a Train run by contrastive divergence (not Train > Pretrain)
        self.heading = QLabel("Train > Pretrain… trains the layers here, one after the other")
        self.heading.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        for column, tip in TIPS.items():
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionMode(QTableWidget.NoSelection)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.setMaximumHeight(140)
        self.plots: dict[str, Plot] = {}
        grid = QGridLayout()
        for i, (key, title) in enumerate(FIGURES.items()):
            plot = Plot(title)
            plot.setMinimumSize(160, 110)
            self.plots[key] = plot
            grid.addWidget(plot, i // 2, i % 2)
        left = QVBoxLayout()
        left.addWidget(self.heading)
        left.addWidget(self.table, 1)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(left, 2)
        layout.addLayout(grid, 3)
        self.session.run_started.connect(self._run_started)
        self.session.layer_started.connect(self._layer_started)
        self.session.epoch_end.connect(self._epoch_end)
        self.session.layer_finished.connect(self._layer_finished)
        self.session.finished.connect(lambda _: self._ended("done"))
        self.session.failed.connect(lambda *_: self._ended("failed"))
        if self.session.pretraining is not None:
            self._run_started(self.session.settings)
            if self.session.layer is not None:
                self._layer_started(self.session.layer)

    # --- from the session ------------------------------------------------------------------
    def _following(self) -> bool:
        return self.session.pretraining is not None or self.cd_run

    def _run_started(self, _settings: Any) -> None:
        self.cd_run = False
        request = self.session.pretraining
        if request is None:
            return  # ordinary training: the panel keeps the last pretraining's figures
        from nodestudio.gui.training.pretrain import stack_layers
        graph = self.window.document.graph
        self.layers = list(request.layers or stack_layers(graph, request.method))
        self.status = {layer: "waiting" for layer in self.layers}
        self.epochs = {layer: 0 for layer in self.layers}
        self.points = {layer: {key: [] for key in FIGURES} for layer in self.layers}
        self.current = None
        self.heading.setText(f"Pretraining {request.describe()}")
        self._fill_table()
        self._redraw()

    def _layer_started(self, event: Any) -> None:
        if self.session.pretraining is None:
            if event.method != "cd":
                return
            # Train on an RBM's cost: contrastive divergence, with the figures of Pretrain rbm
            self.cd_run = True
            self.layers, self.status, self.epochs, self.points = [], {}, {}, {}
            self.heading.setText(f"Training {event.layer} by contrastive divergence")
            self._redraw()
        names = [n.strip() for n in event.layer.split(",")]  # CD: RBMs trained together
        for name in names:
            if name not in self.status:
                self.layers.append(name)
                self.epochs[name] = 0
                self.points[name] = {key: [] for key in FIGURES}
            self.status[name] = "training"
        self.current = event.layer
        self._fill_table()

    def _epoch_end(self, event: EpochEnd) -> None:
        if not self._following() or self.current is None:
            return
        record = event.record
        names = [n.strip() for n in self.current.split(",")]
        for name in names:
            self.epochs[name] = self.epochs.get(name, 0) + 1
            self.points[name]["cost"].append((record.epoch, record.train_loss))
        for metric, value in record.metrics.items():
            layer, _, key = metric.rpartition("/")
            layer = layer or names[0]
            # a stage may also watch the frozen layers below it: only the trained ones count
            if key in FIGURES and layer in names and layer in self.points:
                self.points[layer][key].append((record.epoch, value))
        self._fill_table()
        self._redraw()

    def _layer_finished(self, done: Any) -> None:
        layer, _record = done
        if layer in self.status:
            self.status[layer] = "done"
        self._fill_table()

    def _ended(self, how: str) -> None:
        if not self._following():
            return
        for layer, state in self.status.items():
            if state == "training" or how == "done" and state == "waiting" and \
                    self.epochs.get(layer):
                self.status[layer] = how
        self._fill_table()

    # --- drawing -----------------------------------------------------------------------------
    def _fill_table(self) -> None:
        self.table.setRowCount(len(self.layers))
        for row, layer in enumerate(self.layers):
            latest = {key: (pts[-1][1] if pts else None)
                      for key, pts in self.points.get(layer, {}).items()}
            cells = [layer, self.status.get(layer, ""), str(self.epochs.get(layer, 0)),
                     *(f"{latest[key]:.4g}" if latest.get(key) is not None else "–"
                       for key in FIGURES)]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if self.status.get(layer) == "training":
                    item.setForeground(pg.mkColor(theme().accent))
                item.setTextAlignment(Qt.AlignmentFlag.AlignVCenter | (
                    Qt.AlignmentFlag.AlignLeft if column < 2 else Qt.AlignmentFlag.AlignRight))
                self.table.setItem(row, column, item)

    def _redraw(self) -> None:
        colours = theme().plot_series
        for key, plot in self.plots.items():
            plot.clear()
            for i, layer in enumerate(self.layers):
                pts = self.points.get(layer, {}).get(key, [])
                if pts:
                    xs, ys = zip(*pts)
                    colour = colours[i % len(colours)]
                    plot.plot(list(xs), list(ys), pen=pg.mkPen(colour, width=2), symbol="o",
                              symbolSize=5, symbolBrush=colour, symbolPen=None, name=layer)

    def row(self, layer: str) -> list[str]:
        """The table's cells for `layer`, as shown."""
        r = self.layers.index(layer)
        return [self.table.item(r, c).text() for c in range(self.table.columnCount())]


def build(window: MainWindow) -> PretrainingPanel:
    return PretrainingPanel(window)


PANEL = PanelSpec("pretraining", "Pretraining", build,
                  summary="Train > Pretrain's layers, their progress and figures "
                  "(reconstruction error, free-energy gap, pseudo-likelihood)", order=60)
