"""The Compare panel: the same graph trained with several optimizers or settings, one after
another, their validation curves in one plot and their results in one sortable table.

The user builds a list of variants (optimizer, learning rate, batch size; everything else as
the Training dock says) and presses Run all. Each variant is one ordinary run of the Training
dock's `TrainingSession` (so it appears in the Curves dock's runs list with its number and
colour, and its trained values land in the document as one undo step, as Train does); the
next variant starts when the previous one has finished, and Stop ends the current run and
drops the rest. The GUI is never blocked: the runs train on the session's thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.theme import Theme, signals, theme
from nodestudio.gui.training.plots import Plot
from nodestudio.train.events import EpochEnd, EpochRecord, History
from nodestudio.train.loop import OPTIMIZER_NAMES, TrainingError
from nodestudio.train.regularise import Regularisation
from nodestudio.train.settings import TrainingSettings

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

RESULT_COLUMNS = ("Run", "Variant", "Valid %", "Epoch", "Test %", "Time (s)", "Status")
COLUMN_TIPS = ("The variant's run in the Curves dock's list",
               "Optimizer, learning rate, batch size",
               "The best validation error, in %", "The epoch of the best validation error",
               "The test error with the best epoch's parameters, in %",
               "Seconds the run took, compiling included", "How the run ended")
MIN_HEIGHT = 360  # px: the dock is made this tall when the panel is first opened
VARIANT_COLUMNS = ("Optimizer", "Rate", "Batch")  # short: the pane is narrow; tips say more
KEY_ROLE = Qt.ItemDataRole.UserRole + 1  # a result cell's sort key


@dataclass(eq=False)
class Variant:
    """One line of the comparison: what it changes, and how its run went."""

    number: int  # from 1, in the order they run
    optimizer: str
    lr: float | None  # None: the optimizer's default
    batch_size: int
    status: str = "waiting"  # waiting, running, finished, stopped, failed
    run: Any = None  # the Curves dock's Run of this variant
    records: list[EpochRecord] = field(default_factory=list)
    history: History | None = None
    failure: str = ""

    @property
    def label(self) -> str:
        lr = "default lr" if self.lr is None else f"lr {self.lr:g}"
        return f"{self.optimizer} · {lr} · batch {self.batch_size}"

    def settings(self, base: TrainingSettings) -> TrainingSettings:
        """The Training dock's settings with this variant's optimizer, rate and batch size;
        the dock's hyperparameters only when it names the same optimizer."""
        same = self.optimizer == base.optimizer
        settings = base.replace(optimizer=self.optimizer, lr=self.lr,
                                batch_size=self.batch_size,
                                hyper=dict(base.hyper) if same else {})
        if settings.fullbatch:  # CG and L-BFGS take no rate, schedule or regularisation
            settings = settings.replace(lr=None, hyper={}, schedule="constant",
                                        schedule_params={}, regularisation=Regularisation())
        return settings

    def series(self) -> tuple[list[int], list[float]]:
        """(epochs, validation error in %) or, without an error output, the validation loss."""
        points = [(r.epoch, 100 * r.valid_error if r.valid_error is not None else r.valid_loss)
                  for r in self.records]
        points = [(e, v) for e, v in points if v is not None]
        return [e for e, _ in points], [v for _, v in points]

    @property
    def best(self) -> EpochRecord | None:
        best = self.history.best_epoch if self.history is not None else None
        return next((r for r in self.records if r.epoch == best), None)


class _ResultItem(QTableWidgetItem):
    """A cell shown as text and sorted by its number (blank cells last)."""

    def __init__(self, text: str, key: float | None):
        super().__init__(text)
        self.setData(KEY_ROLE, math.inf if key is None else float(key))
        self.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(KEY_ROLE), other.data(KEY_ROLE)
        if isinstance(mine, float) and isinstance(theirs, float):
            return mine < theirs
        return self.text() < other.text()


class ComparePanel(QWidget):
    """See the module docstring. `variants` are those of the last Run all, in run order."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.session = window.training.session
        self.variants: list[Variant] = []
        self._queue: list[Variant] = []
        self._current: Variant | None = None
        self._base: TrainingSettings | None = None
        self._curves: dict[int, pg.PlotDataItem] = {}
        self._build()
        self.session.epoch_end.connect(self._epoch_end)
        self.session.finished.connect(self._finished)
        self.session.failed.connect(self._failed)
        self.session.state_changed.connect(lambda _: self._update_buttons())
        signals.theme_changed.connect(self._apply_theme)
        self._seed_rows()
        self._update_buttons()

    # --- building ----------------------------------------------------------------------
    def _build(self) -> None:
        self.editor = QTableWidget(0, len(VARIANT_COLUMNS))
        self.editor.setObjectName("compare_variants")
        self.editor.setHorizontalHeaderLabels(VARIANT_COLUMNS)
        for column, tip in enumerate(("The optimizer", "The learning rate (empty: the "
                                      "optimizer's default)", "The batch size")):
            self.editor.horizontalHeaderItem(column).setToolTip(tip)
        self.editor.verticalHeader().setVisible(True)
        self.editor.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.editor.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.editor.setToolTip("Each row is one run: the optimizer, its learning rate (empty: "
                               "its default) and the batch size; the rest as in the Training "
                               "dock")
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("Add a variant (a copy of the selected or last one)")
        self.add_button.clicked.connect(self.add_row)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_row)
        self.run_button = QPushButton("Run all")
        self.run_button.setObjectName("primary")
        self.run_button.setToolTip("Train the graph once per variant, one after another")
        self.run_button.clicked.connect(self.run_all)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setToolTip("Stop the run going and skip the variants after it")
        self.stop_button.clicked.connect(self.stop)
        for button in (self.add_button, self.remove_button, self.run_button, self.stop_button):
            button.setMinimumWidth(button.sizeHint().width())  # never cut to "emov", "un a"
        buttons = QHBoxLayout()
        for button in (self.add_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.stop_button)
        self.status = QLabel("Build the variants, then Run all")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)
        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.editor, 1)
        left_layout.addLayout(buttons)
        left_layout.addWidget(self.status)

        self.plot = Plot("Validation curves")  # short: a long title widens the plot
        self.plot.setLabel("left", "validation error (%)")
        self.legend = self.plot.addLegend(offset=(-6, 6), labelTextSize="8pt",
                                          verSpacing=-4)

        self.table = QTableWidget(0, len(RESULT_COLUMNS))
        self.table.setObjectName("compare_results")
        self.table.setHorizontalHeaderLabels(RESULT_COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.
                                                           ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        for column, tip in enumerate(COLUMN_TIPS):
            self.table.horizontalHeaderItem(column).setToolTip(tip)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)  # in run order to start with
        self.table.setToolTip("Click a column's header to sort by it")

        self.editor.horizontalHeader().setSectionResizeMode(
            0, QHeaderView.ResizeMode.ResizeToContents)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for widget, stretch in ((left, 2), (self.plot, 3), (self.table, 3)):
            self.splitter.addWidget(widget)
            self.splitter.setStretchFactor(self.splitter.count() - 1, stretch)
        left.setMinimumWidth(max(240, left_layout.minimumSize().width()))  # the buttons whole
        self._settled = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.addWidget(self.splitter, 1)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(1000, 300)

    def showEvent(self, event: Any) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        if not self._settled:  # first shown: room for the plot and the table
            self._settled = True
            dock = getattr(self.window, "inspect_docks", {}).get(PANEL.name)
            if dock is not None and dock.height() < MIN_HEIGHT:
                self.window.resizeDocks([dock], [MIN_HEIGHT], Qt.Orientation.Vertical)
            width = max(self.splitter.width(), 700)
            self.splitter.setSizes([int(width * share) for share in (0.23, 0.32, 0.45)])

    # --- the variants the user builds ------------------------------------------------------
    def _seed_rows(self) -> None:
        """Start from the Training dock's optimizer and Adam's defaults."""
        try:
            base = self.window.training.settings()
        except TrainingError:
            base = TrainingSettings()
        self.add_row(base.optimizer, base.lr, base.batch_size)
        if base.optimizer != "adam":
            self.add_row("adam", None, base.batch_size)

    def add_row(self, optimizer: str | None = None, lr: float | None = None,
                batch_size: int | None = None) -> int:
        """Append a variant row (a copy of the selected or last row when nothing is given)."""
        if optimizer is None and self.editor.rowCount():
            rows = self.editor.selectionModel().selectedRows()
            source = rows[0].row() if rows else self.editor.rowCount() - 1
            optimizer = self._combo(source).currentText()
            lr_text = self.editor.item(source, 1).text()
            batch_text = self.editor.item(source, 2).text()
        else:
            lr_text = "" if lr is None else f"{lr:g}"
            batch_text = str(batch_size or 100)
        row = self.editor.rowCount()
        self.editor.insertRow(row)
        combo = QComboBox()
        combo.addItems(list(OPTIMIZER_NAMES))
        combo.setCurrentText(optimizer or "sgd")
        self.editor.setCellWidget(row, 0, combo)
        lr_item = QTableWidgetItem(lr_text)
        lr_item.setToolTip("Empty: the optimizer's default")
        self.editor.setItem(row, 1, lr_item)
        self.editor.setItem(row, 2, QTableWidgetItem(batch_text))
        return row

    def _remove_row(self) -> None:
        rows = sorted({i.row() for i in self.editor.selectionModel().selectedRows()},
                      reverse=True) or [self.editor.rowCount() - 1]
        for row in rows:
            if row >= 0:
                self.editor.removeRow(row)
        self._update_buttons()

    def _combo(self, row: int) -> QComboBox:
        return self.editor.cellWidget(row, 0)

    def set_variant(self, row: int, optimizer: str, lr: float | None, batch_size: int) -> None:
        self._combo(row).setCurrentText(optimizer)
        self.editor.item(row, 1).setText("" if lr is None else f"{lr:g}")
        self.editor.item(row, 2).setText(str(batch_size))

    def read_variants(self) -> list[Variant]:
        """The rows as variants; TrainingError naming the row and column of a bad value."""
        variants = []
        for row in range(self.editor.rowCount()):
            lr_text = self.editor.item(row, 1).text().strip()
            batch_text = self.editor.item(row, 2).text().strip()
            try:
                lr = float(lr_text) if lr_text else None
            except ValueError:
                raise TrainingError(f"variant {row + 1}: learning rate {lr_text!r} is not a "
                                    "number") from None
            if lr is not None and (not math.isfinite(lr) or lr < 0):
                raise TrainingError(f"variant {row + 1}: learning rate must be >= 0")
            if not batch_text.isdigit() or int(batch_text) < 1:
                raise TrainingError(f"variant {row + 1}: batch size {batch_text!r} is not a "
                                    "whole number >= 1")
            variants.append(Variant(row + 1, self._combo(row).currentText(), lr,
                                    int(batch_text)))
        return variants

    # --- running ------------------------------------------------------------------------
    def run_all(self) -> bool:
        """Start the comparison; False (with the reason shown) when it cannot start."""
        if self.session.running:
            self._say("A training run is going: wait for it or stop it first")
            return False
        try:
            variants = self.read_variants()
            if not variants:
                raise TrainingError("add at least one variant")
            base = self.window.training.settings()
            for variant in variants:  # every variant's settings checked before the first run
                variant.settings(base).check()
        except TrainingError as exc:
            self._say(f"Cannot compare: {exc}")
            return False
        self._base = base
        self.variants, self._queue = variants, list(variants)
        self._clear_results()
        self._next()
        return True

    def stop(self) -> None:
        for variant in self._queue:
            variant.status = "skipped"
            self._show_result(variant)
        self._queue = []
        if self._current is not None:
            self.session.stop()
        self._update_buttons()

    def _next(self) -> None:
        self._current = None
        if not self._queue:
            done = sum(v.status == "finished" for v in self.variants)
            self._say(f"Done: {done} of {len(self.variants)} variants finished")
            self._update_buttons()
            return
        if self.session.running:  # someone pressed Train meanwhile: try again after it
            QTimer.singleShot(500, self._next)
            return
        variant = self._queue.pop(0)
        document = self.window.document
        settings = variant.settings(self._base)
        variant.status = "running"
        self._current = variant
        self.session.start(document.graph, settings,
                           f"{document.title} (compare {variant.number}: {variant.label})")
        curves = getattr(self.window, "curves", None)  # its run in the Curves dock's list
        variant.run = curves.active if curves is not None else None
        self._show_result(variant)
        self._say(f"Running variant {variant.number} of {len(self.variants)}: {variant.label}")
        self._update_buttons()

    def _epoch_end(self, event: EpochEnd) -> None:
        variant = self._current
        if variant is None:
            return
        variant.records.append(event.record)
        self._draw_curve(variant)

    def _finished(self, history: History) -> None:
        variant = self._current
        if variant is None:
            return
        variant.history = history
        variant.status = "stopped" if history.stop_reason == "stopped" else "finished"
        self._end(variant)

    def _failed(self, message: str, _node: object) -> None:
        variant = self._current
        if variant is None:
            return
        variant.status, variant.failure = "failed", message
        variant.history = self.session.history
        self._end(variant)

    def _end(self, variant: Variant) -> None:
        self._show_result(variant)
        self._draw_curve(variant)
        self._current = None
        QTimer.singleShot(0, self._next)  # after every other listener saw this run end

    # --- showing ------------------------------------------------------------------------
    def _clear_results(self) -> None:
        self.table.setRowCount(0)
        for curve in self._curves.values():
            self.plot.removeItem(curve)
        self._curves.clear()
        self.legend.clear()

    def _colour(self, variant: Variant, t: Theme) -> str:
        if variant.run is not None and hasattr(variant.run, "colour"):
            return variant.run.colour(t)  # the colour of its run in the Curves dock
        return t.plot_series[(variant.number - 1) % len(t.plot_series)]

    def _curve_name(self, variant: Variant) -> str:
        run = f"run {variant.run.number} · " if getattr(variant.run, "number", None) else ""
        return f"{run}{variant.label}"

    def _style_legend(self, t: Theme) -> None:
        background = QColor(t.base)
        background.setAlpha(210)
        self.legend.setBrush(pg.mkBrush(background))
        self.legend.setPen(pg.mkPen(t.grid_major))
        self.legend.setLabelTextColor(t.text)

    def _draw_curve(self, variant: Variant) -> None:
        xs, ys = variant.series()
        curve = self._curves.get(variant.number)
        if curve is None:
            colour = self._colour(variant, theme())
            self._style_legend(theme())
            curve = self.plot.plot([], [], pen=pg.mkPen(colour, width=2), symbol="s",
                                   symbolSize=5, symbolBrush=colour, symbolPen=None,
                                   name=self._curve_name(variant))
            self._curves[variant.number] = curve
        curve.setData(xs, ys)
        if variant.records and variant.records[0].valid_error is None:
            self.plot.setLabel("left", "validation loss")

    def _show_result(self, variant: Variant) -> None:
        self.table.setSortingEnabled(False)  # rows must not move while one is written
        row = next((r for r in range(self.table.rowCount())
                    if self.table.item(r, 0).data(Qt.ItemDataRole.UserRole) == variant.number),
                   None)
        if row is None:
            row = self.table.rowCount()
            self.table.insertRow(row)
        best, history = variant.best, variant.history
        test = history.test_error if history is not None else None
        seconds = history.seconds if history is not None and variant.status != "running" \
            else None
        run_number = getattr(variant.run, "number", None)
        cells = [
            _ResultItem(f"run {run_number}" if run_number else "", run_number),
            _ResultItem(variant.label, variant.number),
            _ResultItem(_pct(best.valid_error if best else None),
                        100 * best.valid_error if best and best.valid_error is not None
                        else None),
            _ResultItem(str(best.epoch) if best else "", best.epoch if best else None),
            _ResultItem(_pct(test), 100 * test if test is not None else None),
            _ResultItem(f"{seconds:.1f}" if seconds is not None else "", seconds),
            _ResultItem(variant.status, None),
        ]
        cells[0].setData(Qt.ItemDataRole.UserRole, variant.number)
        tip = variant.failure or (self._base.replace(optimizer=variant.optimizer).describe()
                                  if self._base is not None else variant.label)
        for column, cell in enumerate(cells):
            cell.setToolTip(tip)
            self.table.setItem(row, column, cell)
        self.table.setSortingEnabled(True)

    def result_rows(self) -> list[dict[str, str]]:
        """The results table as shown (in its current order), column title -> text."""
        return [{title: self.table.item(r, c).text() for c, title in enumerate(RESULT_COLUMNS)}
                for r in range(self.table.rowCount())]

    def curves(self) -> dict[int, pg.PlotDataItem]:
        """Variant number -> its validation curve."""
        return dict(self._curves)

    def _say(self, text: str) -> None:
        self.status.setText(text)

    def _update_buttons(self) -> None:
        comparing = self._current is not None or bool(self._queue)
        self.run_button.setEnabled(not comparing and not self.session.running)
        self.stop_button.setEnabled(comparing)
        self.remove_button.setEnabled(self.editor.rowCount() > 0 and not comparing)
        self.editor.setEnabled(not comparing)
        self.add_button.setEnabled(not comparing)

    def _apply_theme(self, t: Theme) -> None:
        self.plot.apply_theme(t)
        self._style_legend(t)
        for variant in self.variants:
            curve = self._curves.get(variant.number)
            if curve is not None:
                colour = self._colour(variant, t)
                curve.setPen(pg.mkPen(colour, width=2))
                curve.setSymbolBrush(colour)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.2f}"


def build(window: MainWindow) -> ComparePanel:
    return ComparePanel(window)


PANEL = PanelSpec("compare", "Compare", build,
                  summary="Train the graph with several optimizers or settings in turn and "
                          "compare their validation curves and results",
                  order=90)

__all__ = ["PANEL", "ComparePanel", "Variant"]
