"""The training runs the Curves dock knows, and the list beside its plots.

A `Run` is one press of Train: its settings, its epoch records and smoothed batch losses, how it
ended. Runs belong to the graph they trained (`Run.graph`, a key the Curves panel derives from the
document's file). `RunsList` shows the runs of one graph: a checkbox to show or hide each run's
curves, its colour, the optimizer and its main settings, and the best validation figure. A run
that failed before its first epoch has nothing to plot: it is listed as failed, with an error
mark instead of the checkbox and its colour, and the reason in its tooltip.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QKeyEvent, QPainter, QPen, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QSizePolicy,
    QTreeWidget,
    QTreeWidgetItem,
    QWidget,
)

from nodestudio.gui.panels.problems import severity_icon
from nodestudio.gui.theme import Theme, theme
from nodestudio.train.events import EpochRecord, History

CSV_COLUMNS = ("run", "optimizer", "epoch", "train_loss", "train_error", "valid_loss",
               "valid_error")
RUN_ROLE = Qt.UserRole
BEST, SETTINGS = 1, 2  # columns of the runs list after the run's name
STATUSES = ("running", "finished", "failed")


@dataclass(eq=False)
class Run:
    """One training run as plotted and listed. `number` counts the runs of its graph from 1."""

    number: int
    optimizer: str
    settings: Any = None  # the TrainingSettings it ran with, when known
    graph: object = None  # the key of the graph it trained (see CurvesPanel.set_document)
    epochs: list[EpochRecord] = field(default_factory=list)
    batches: list[tuple[float, float]] = field(default_factory=list)  # (epoch position, loss)
    best_epoch: int | None = None
    history: History | None = None
    status: str = "running"
    failure: str = ""  # why it failed
    visible: bool = True  # the checkbox in the runs list
    items: dict[str, Any] = field(default_factory=dict)  # series name -> its plot item

    @property
    def label(self) -> str:
        return f"run {self.number} · {self.optimizer}"

    @property
    def ended(self) -> bool:
        return self.status != "running"

    @property
    def plottable(self) -> bool:
        """False for a run that ended without one epoch: nothing to draw."""
        return bool(self.epochs) or not self.ended

    def colour(self, t: Theme) -> str:
        return t.plot_series[(self.number - 1) % len(t.plot_series)]

    def column(self, name: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
        """(epochs, values) of one EpochRecord field, leaving out epochs where it is None."""
        points = [(r.epoch, getattr(r, name)) for r in self.epochs
                  if getattr(r, name) is not None]
        return [p[0] for p in points], [p[1] * scale for p in points]

    @property
    def best_record(self) -> EpochRecord | None:
        return next((r for r in self.epochs if r.epoch == self.best_epoch), None)

    def settings_text(self) -> str:
        """The optimizer and what was chosen for it: "adam · lr 0.001 · batch 100 · beta1=0.8"."""
        s = self.settings
        if s is None:
            return self.optimizer
        if s.fullbatch:
            return f"{s.optimizer} · full batch"
        parts = [s.optimizer]
        lr = s.effective_lr()
        if lr is not None:
            parts.append(f"lr {lr:g}" + (f" ({s.schedule})" if s.schedule != "constant" else ""))
        parts.append(f"batch {s.batch_size}")
        parts.extend(f"{name}={value:g}" if isinstance(value, float) else f"{name}={value}"
                     for name, value in sorted(s.hyper.items()))
        return " · ".join(parts)

    def best_text(self) -> str:
        """The best validation figure ("2.31 %"), or the state of a run without one."""
        if self.status == "failed" and not self.epochs:
            return "failed"
        best = self.best_record
        if best is None:
            return "…" if self.status == "running" else "–"
        if best.valid_error is not None:
            return f"{100 * best.valid_error:.2f} %"
        if best.valid_loss is not None:
            return f"loss {best.valid_loss:.4g}"
        return f"epoch {best.epoch}"

    def describe(self) -> str:
        """A tooltip: all the settings, the epochs, how it ended."""
        lines = [self.label]
        if self.settings is not None:
            lines.append(self.settings.describe())
        n = len(self.epochs)
        lines.append({"running": f"running, {n} epoch{'s' if n != 1 else ''} so far",
                      "finished": f"finished after {n} epoch{'s' if n != 1 else ''}",
                      "failed": f"failed after {n} epoch{'s' if n != 1 else ''}"}[self.status])
        if self.failure:
            lines.append(self.failure)
        best = self.best_record
        if best is not None and self.best_text() != f"epoch {best.epoch}":
            lines.append(f"best validation: {self.best_text()} at epoch {best.epoch}")
        if self.history is not None and self.history.test_error is not None:
            lines.append(f"test error {100 * self.history.test_error:.2f} %")
        return "\n".join(lines)


def run_summary(run: Run) -> str:
    """One line above the plots about a run: where it is, or how it ended."""
    n = len(run.epochs)
    epochs = f"{n} epoch{'s' if n != 1 else ''}"
    if run.status == "failed":
        return f"{run.label} failed after {epochs}: {run.failure}"
    if run.status == "running":
        return f"{run.label}: epoch {n}" + _best_text(run) if n else f"{run.label}: compiling…"
    text = f"{run.label}: {epochs}"
    history = run.history
    if history is not None and history.test_error is not None:
        text += f" · test error {100 * history.test_error:.2f}%"
    elif history is not None and history.test_loss is not None:
        text += f" · test loss {history.test_loss:.4g}"
    return text + _best_text(run)


def _best_text(run: Run) -> str:
    best = run.best_record
    if best is None:
        return ""
    if best.valid_error is not None:
        return f" · best epoch {best.epoch}, valid error {100 * best.valid_error:.2f}%"
    if best.valid_loss is not None:
        return f" · best epoch {best.epoch}, valid loss {best.valid_loss:.4g}"
    return f" · best epoch {best.epoch}"


def write_csv(runs: list[Run], path: str | Path) -> None:
    """One row per epoch of each run; errors as fractions, empty where not measured."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for run in runs:
            for r in run.epochs:
                writer.writerow([run.number, run.optimizer, r.epoch] + [
                    "" if v is None else repr(float(v)) for v in
                    (r.train_loss, r.train_error, r.valid_loss, r.valid_error)])


def swatch(colour: str, t: Theme, size: int = 12) -> QIcon:
    """A run's colour as a small rounded square, edged for contrast with the list."""
    scale = 2
    pixmap = QPixmap(size * scale, size * scale)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.scale(scale, scale)
    painter.setPen(QPen(QColor(colour).darker(130 if t.name == "light" else 100), 0.8))
    painter.setBrush(QColor(colour))
    painter.drawRoundedRect(QRectF(1.5, 1.5, size - 3, size - 3), 2.5, 2.5)
    painter.end()
    pixmap.setDevicePixelRatio(scale)
    return QIcon(pixmap)


class RunsList(QTreeWidget):
    """The runs of the graph shown. Signals: `visibility_changed(Run)` (its checkbox was
    toggled), `run_chosen(object)` (the selected Run, or None), `delete_requested(Run)` (Delete
    on an ended run)."""

    visibility_changed = Signal(object)
    run_chosen = Signal(object)
    delete_requested = Signal(object)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("runs_list")
        self.setColumnCount(3)
        self.setHeaderLabels(["Run", "Best valid", "Settings"])
        self.headerItem().setToolTip(BEST, "The best validation error (or loss)")
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setTextElideMode(Qt.ElideRight)
        self.setIconSize(QSize(12, 12))
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        header = self.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(0, QHeaderView.ResizeToContents)
        header.setSectionResizeMode(BEST, QHeaderView.ResizeToContents)
        self._runs: list[Run] = []
        self._filling = False
        self.itemChanged.connect(self._item_changed)
        self.itemSelectionChanged.connect(
            lambda: self.run_chosen.emit(self.selected_run()))

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(300, 200)

    def show_runs(self, runs: list[Run]) -> None:
        """List `runs` (newest first); the selection stays on the same run when it is there."""
        chosen = self.selected_run()
        self._runs = list(runs)
        self._filling = True
        self.blockSignals(True)
        try:
            self.clear()
            for run in reversed(self._runs):
                item = QTreeWidgetItem(self)
                item.setData(0, RUN_ROLE, run)
                self._fill(item, run)
                if run is chosen:
                    item.setSelected(True)
                    self.setCurrentItem(item)
        finally:
            self.blockSignals(False)
            self._filling = False
        if chosen is not None and self.selected_run() is not chosen:
            self.run_chosen.emit(None)

    def update_run(self, run: Run) -> None:
        """Refresh one run's row (a new epoch, its end)."""
        item = self.item_of(run)
        if item is not None:
            self._filling = True
            try:
                self._fill(item, run)
            finally:
                self._filling = False

    def item_of(self, run: Run) -> QTreeWidgetItem | None:
        for i in range(self.topLevelItemCount()):
            if self.topLevelItem(i).data(0, RUN_ROLE) is run:
                return self.topLevelItem(i)
        return None

    def selected_run(self) -> Run | None:
        items = self.selectedItems()
        return items[0].data(0, RUN_ROLE) if items else None

    def refresh_colours(self) -> None:
        for i in range(self.topLevelItemCount()):
            self.update_run(self.topLevelItem(i).data(0, RUN_ROLE))

    def _fill(self, item: QTreeWidgetItem, run: Run) -> None:
        t = theme()
        flags = Qt.ItemIsEnabled | Qt.ItemIsSelectable
        if run.plottable:
            item.setFlags(flags | Qt.ItemIsUserCheckable)
            item.setCheckState(0, Qt.Checked if run.visible else Qt.Unchecked)
        else:  # nothing to show or hide
            item.setFlags(flags)
            item.setData(0, Qt.CheckStateRole, None)
        item.setIcon(0, swatch(run.colour(t), t) if run.plottable else severity_icon("error", t))
        item.setText(0, f"run {run.number}")
        item.setText(SETTINGS, run.settings_text())
        item.setText(BEST, run.best_text())
        tip = run.describe()
        for column in range(3):
            item.setToolTip(column, tip)
        failed = run.status == "failed"
        item.setForeground(BEST, QColor(t.error if failed else t.text))
        item.setForeground(SETTINGS, QColor(t.muted if not run.plottable else t.text))

    def _item_changed(self, item: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != 0:
            return
        run = item.data(0, RUN_ROLE)
        if run is None or not run.plottable:
            return
        visible = item.checkState(0) == Qt.Checked
        if visible != run.visible:
            run.visible = visible
            self.visibility_changed.emit(run)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802  (Qt's name)
        run = self.selected_run()
        if event.key() in (Qt.Key_Delete, Qt.Key_Backspace) and run is not None and run.ended:
            self.delete_requested.emit(run)
            return
        super().keyPressEvent(event)


__all__ = ["CSV_COLUMNS", "STATUSES", "Run", "RunsList", "run_summary", "swatch", "write_csv"]
