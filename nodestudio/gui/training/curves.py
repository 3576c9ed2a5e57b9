"""The Curves dock: error and loss per epoch, training against validation, run after run.

Two pyqtgraph plots share an x axis in epochs. The current run draws training (circles) and
validation (squares) in the theme's first two series colours, plus the per-batch training loss
as a thin smoothed line (the session already averages it, see `BatchProgress.smoothed_loss`)
and a vertical line at the best validation epoch. When a new run begins, the previous ones stay
as faded dashed lines in their own colour, named in the legend ("run 2 · adam"), so optimizers
and settings can be compared; "Clear" drops them.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.theme import Theme, signals, theme
from nodestudio.gui.training.session import gui_priority
from nodestudio.train.events import EpochEnd, EpochRecord, History

CSV_COLUMNS = ("run", "optimizer", "epoch", "train_loss", "train_error", "valid_loss",
               "valid_error")
REDRAW_MS = 400  # while a run feeds them, the curves are redrawn every REDRAW_MS at most
OLD_RUN_ALPHA = 90  # of 255: earlier runs stay readable but step back


@dataclass
class Run:
    """One training run as plotted: its epoch records and its smoothed batch losses."""

    number: int
    optimizer: str
    epochs: list[EpochRecord] = field(default_factory=list)
    batches: list[tuple[float, float]] = field(default_factory=list)  # (epoch position, loss)
    best_epoch: int | None = None
    history: History | None = None
    ended: bool = False  # finished or failed
    items: dict[str, pg.PlotDataItem] = field(default_factory=dict)  # series name -> curve

    @property
    def label(self) -> str:
        return f"run {self.number} · {self.optimizer}"

    def column(self, name: str, scale: float = 1.0) -> tuple[list[float], list[float]]:
        """(epochs, values) of one EpochRecord field, leaving out epochs where it is None."""
        points = [(r.epoch, getattr(r, name)) for r in self.epochs
                  if getattr(r, name) is not None]
        return [p[0] for p in points], [p[1] * scale for p in points]


class CurvesPanel(QWidget):
    """Error (%) and loss plots for every run of the session. Public: `begin_run(optimizer)`,
    `add_epoch(record, best_epoch=None)`, `add_batch(progress)`, `end_run(history)`, `clear()`,
    `export_png(path)`, `export_csv(path)`, `connect_session(session)` and `runs`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.runs: list[Run] = []
        self._next_number = 1
        self._best_lines: dict[str, pg.InfiniteLine] = {}  # "error" / "loss" -> its line
        # Painting a plot runs much Python code (pyqtgraph), and while the trainer's thread
        # holds the GIL every one of those calls may wait for it: new points are drawn in
        # batches, REDRAW_MS apart, rather than at each of the ~20 progress reports a second.
        self._redraw_timer = QTimer(self, singleShot=True, interval=REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_step)
        self._dirty = False  # points arrived that the plots do not show yet
        self._turn = "error"  # the plot the next redraw step updates

        self.log_loss = QCheckBox("Log scale loss")
        self.log_loss.toggled.connect(self._set_log_loss)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Forget the earlier runs (the current one stays)")
        self.clear_button.clicked.connect(self.clear)
        png = QPushButton("PNG…")
        png.setToolTip("Save both plots as an image")
        png.clicked.connect(self._ask_png)
        csv_button = QPushButton("CSV…")
        csv_button.setToolTip("Save every run's per-epoch figures as a table")
        csv_button.clicked.connect(self._ask_csv)
        self.summary = QLabel("No training yet")
        self.summary.setObjectName("muted")
        # a long summary must not widen the dock: it is cut, and the tooltip keeps it whole
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.summary, 1)
        for widget in (self.log_loss, self.clear_button, png, csv_button):
            bar.addWidget(widget)

        self.error_plot = _Plot()
        self.loss_plot = _Plot()
        for plot, title in ((self.error_plot, "Error (%)"), (self.loss_plot, "Loss")):
            plot.setMinimumSize(160, 120)
            plot.showGrid(x=True, y=True, alpha=0.25)
            plot.setLabel("bottom", "epoch")
            plot.setTitle(title, size="9pt")
            plot.getPlotItem().addLegend(offset=(-8, 8), labelTextSize="8pt").setVisible(False)
            plot.setMouseEnabled(x=True, y=True)
        self.plots = QWidget()  # the part exported as PNG
        self._plot_layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self.plots)
        self._plot_layout.setContentsMargins(0, 0, 0, 0)
        self._plot_layout.setSpacing(6)
        self._plot_layout.addWidget(self.error_plot)
        self._plot_layout.addWidget(self.loss_plot)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.addLayout(bar)
        layout.addWidget(self.plots, 1)
        self._apply_theme(theme())
        signals.theme_changed.connect(self._apply_theme)

    def _say(self, text: str) -> None:
        self.summary.setText(text)
        self.summary.setToolTip(text)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(560, 280)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        # side by side in a wide dock (bottom), stacked in a tall one (right)
        wide = event.size().width() >= 1.4 * event.size().height()
        self._plot_layout.setDirection(QBoxLayout.Direction.LeftToRight if wide
                                       else QBoxLayout.Direction.TopToBottom)
        super().resizeEvent(event)

    # --- feeding ------------------------------------------------------------------------------
    @property
    def current(self) -> Run | None:
        return self.runs[-1] if self.runs else None

    def begin_run(self, optimizer: str) -> Run:
        """Start the curves of a new run; the earlier ones fade."""
        run = Run(self._next_number, optimizer)
        self._next_number += 1
        self.runs.append(run)
        self._redraw()
        self._say(f"{run.label}: compiling…")
        return run

    def add_epoch(self, record: EpochRecord | EpochEnd, best_epoch: int | None = None) -> None:
        """One point per series for a completed epoch (an EpochEnd brings its best epoch)."""
        if isinstance(record, EpochEnd):
            record, best_epoch = record.record, record.best_epoch
        run = self.current or self.begin_run("?")
        run.epochs.append(record)
        if best_epoch is not None:
            run.best_epoch = best_epoch
        self._schedule_update()
        self._say(f"{run.label}: epoch {record.epoch}" + _best_text(run))

    def add_batch(self, progress: Any) -> None:
        """A smoothed training-loss point (a BatchProgress: epoch_position, smoothed_loss)."""
        run = self.current
        if run is None:
            return
        run.batches.append((progress.epoch_position, progress.smoothed_loss))
        self._schedule_update()

    def end_run(self, history: History | None) -> None:
        run = self.current
        if run is None:
            return
        run.history, run.ended = history, True
        if history is not None and history.best_epoch is not None:
            run.best_epoch = history.best_epoch
        self.flush()
        text = f"{run.label}: {len(run.epochs)} epoch{'s' if len(run.epochs) != 1 else ''}"
        if history is not None and history.test_error is not None:
            text += f" · test error {100 * history.test_error:.2f}%"
        elif history is not None and history.test_loss is not None:
            text += f" · test loss {history.test_loss:.4g}"
        self._say(text + _best_text(run))

    def clear(self) -> None:
        """Drop every run but the current one (all of them when no run has begun since)."""
        self.runs = self.runs[-1:] if self.runs and not self.runs[-1].ended else []
        if not self.runs:
            self._say("No training yet")
        self._redraw()

    def connect_session(self, session: Any) -> None:
        """Follow a TrainingSession: a run per start, its epochs, batches and end."""
        session.run_started.connect(lambda settings: self.begin_run(settings.optimizer))
        session.epoch_end.connect(self.add_epoch)
        session.batch_progress.connect(self.add_batch)
        session.finished.connect(self.end_run)
        session.failed.connect(lambda message, node: self.end_run(session.history))

    # --- export ---------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> None:
        if not self.plots.grab().save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")

    def export_csv(self, path: str | Path) -> None:
        """One row per epoch of every run; errors as fractions, empty where not measured."""
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(CSV_COLUMNS)
            for run in self.runs:
                for r in run.epochs:
                    writer.writerow([run.number, run.optimizer, r.epoch] + [
                        "" if v is None else repr(float(v)) for v in
                        (r.train_loss, r.train_error, r.valid_loss, r.valid_error)])

    def _ask_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "curves.png",
                                              "PNG image (*.png)")
        if path:
            self.export_png(path)

    def _ask_csv(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export curves", "curves.csv",
                                              "CSV table (*.csv)")
        if path:
            self.export_csv(path)

    # --- drawing ----------------------------------------------------------------------------------
    def _set_log_loss(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)

    def _apply_theme(self, t: Theme) -> None:
        for plot in (self.error_plot, self.loss_plot):
            plot.setBackground(t.base)
            item = plot.getPlotItem()
            for name in ("left", "bottom"):
                axis = item.getAxis(name)
                axis.setPen(pg.mkPen(t.grid_major))
                axis.setTextPen(pg.mkPen(t.muted))
            item.titleLabel.setText(item.titleLabel.text, color=t.text)
            if item.legend is not None:
                item.legend.setLabelTextColor(t.text)
                item.legend.setBrush(pg.mkBrush(_alpha(t.base, 200)))
                item.legend.setPen(pg.mkPen(t.grid_major))
        self._redraw()

    def _redraw(self) -> None:
        """Rebuild every curve: on a new run, a cleared history, a theme change."""
        for plot in (self.error_plot, self.loss_plot):
            plot.getPlotItem().clear()  # items and their legend entries
            legend = plot.getPlotItem().legend
            if legend is not None:
                legend.clear()
        self._best_lines = {}
        for run in self.runs:
            run.items = {}
            if run is self.current:
                self._draw_current(run)
            else:
                self._draw_old(run)
        for plot in (self.error_plot, self.loss_plot):  # an empty legend is a stray box
            legend = plot.getPlotItem().legend
            if legend is not None:
                legend.setVisible(bool(self.runs))

    def _draw_current(self, run: Run) -> None:
        t = theme()
        train, valid = t.plot_series[0], t.plot_series[1]
        for plot, prefix in ((self.error_plot, "error"), (self.loss_plot, "loss")):
            run.items[f"train_{prefix}"] = plot.plot(
                name="train", pen=pg.mkPen(train, width=2), symbol="o",
                symbolSize=6, symbolBrush=train, symbolPen=pg.mkPen(t.base))
            run.items[f"valid_{prefix}"] = plot.plot(
                name="valid", pen=pg.mkPen(valid, width=2), symbol="s",
                symbolSize=6, symbolBrush=valid, symbolPen=pg.mkPen(t.base))
        run.items["batch"] = self.loss_plot.plot(pen=pg.mkPen(_alpha(train, 130), width=1))
        run.items["batch"].setZValue(-1)  # under the epoch points
        for name, plot in (("error", self.error_plot), ("loss", self.loss_plot)):
            line = pg.InfiniteLine(angle=90, movable=False,
                                   pen=pg.mkPen(t.ok, width=1, style=Qt.PenStyle.DashLine),
                                   label="best", labelOpts={"position": 0.08, "color": t.ok})
            line.setVisible(False)
            plot.addItem(line)
            self._best_lines[name] = line
        self._update_current(run)

    def _draw_old(self, run: Run) -> None:
        t = theme()
        colour = t.plot_series[(run.number + 1) % len(t.plot_series)]
        faded = _alpha(colour, OLD_RUN_ALPHA)
        for plot, prefix, scale in ((self.error_plot, "error", 100.0),
                                    (self.loss_plot, "loss", 1.0)):
            valid = run.column(f"valid_{prefix}", scale)
            train = run.column(f"train_{prefix}", scale)
            shown = valid if valid[0] else train  # no validation split: the training curve
            run.items[f"valid_{prefix}"] = plot.plot(
                *shown, name=run.label, pen=pg.mkPen(faded, width=2,
                                                     style=Qt.PenStyle.DashLine))
            run.items[f"train_{prefix}"] = plot.plot(
                *train, pen=pg.mkPen(faded, width=1, style=Qt.PenStyle.DotLine))

    def _schedule_update(self) -> None:
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start(REDRAW_MS)

    def _redraw_step(self) -> None:
        # One plot per turn of the event loop (error, then loss a moment later): painting both
        # in one pass would stall the loop twice as long.
        if self.current is None:
            return
        which = self._turn
        if which == "error":
            self._dirty = False  # what arrives from now on waits for the next round
        with gui_priority.painting():  # setData re-ranges the axes: Python work as well
            self._update_current(self.current, (which,))
        if which == "error":
            self._turn = "loss"
            self._redraw_timer.start(REDRAW_MS // 4)
        else:
            self._turn = "error"
            if self._dirty:
                self._redraw_timer.start(REDRAW_MS)

    def flush(self) -> None:
        """Draw every point received so far now (while a run feeds the curves, new points
        are drawn at most REDRAW_MS apart)."""
        self._redraw_timer.stop()
        self._dirty, self._turn = False, "error"
        if self.current is not None:
            with gui_priority.painting():
                self._update_current(self.current)

    def _update_current(self, run: Run, which: tuple[str, ...] = ("error", "loss")) -> None:
        if run is not self.current or not run.items:
            return
        for prefix in which:
            scale = 100.0 if prefix == "error" else 1.0
            for series in ("train", "valid"):
                run.items[f"{series}_{prefix}"].setData(*run.column(f"{series}_{prefix}",
                                                                    scale))
            if prefix == "loss" and run.batches:
                xs, ys = zip(*run.batches)
                run.items["batch"].setData(list(xs), list(ys))
            line = self._best_lines.get(prefix)
            if line is not None:
                line.setVisible(run.best_epoch is not None)
                if run.best_epoch is not None:
                    line.setValue(run.best_epoch)
                    line.label.setFormat(f"best {run.best_epoch}")


class _EpochAxis(pg.AxisItem):
    """An axis in epochs: ticks on whole epochs only (no "1.5")."""

    def tickSpacing(self, minVal, maxVal, size):  # noqa: N802, N803  (pyqtgraph's names)
        spacings = [(major, offset) for major, offset in super().tickSpacing(minVal, maxVal, size)
                    if major >= 1.0 and float(major).is_integer()]
        return spacings or [(1.0, 0.0)]


class _Plot(pg.PlotWidget):
    """A PlotWidget whose paints hold the training thread back (see GuiPriority)."""

    def __init__(self) -> None:
        super().__init__(axisItems={"bottom": _EpochAxis("bottom")})

    def paintEvent(self, event: Any) -> None:  # noqa: N802  (Qt's name)
        with gui_priority.painting():
            super().paintEvent(event)


def _alpha(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _best_text(run: Run) -> str:
    best = next((r for r in run.epochs if r.epoch == run.best_epoch), None)
    if best is None:
        return ""
    if best.valid_error is not None:
        return f" · best epoch {best.epoch}, valid error {100 * best.valid_error:.2f}%"
    if best.valid_loss is not None:
        return f" · best epoch {best.epoch}, valid loss {best.valid_loss:.4g}"
    return f" · best epoch {best.epoch}"


__all__ = ["CSV_COLUMNS", "CurvesPanel", "Run"]
