"""The Curves dock: error and loss per epoch, training against validation, run after run, with
the list of the graph's runs beside the plots.

Two pyqtgraph plots share an x axis in epochs. Each run has its own colour (its swatch in the
runs list): validation as a solid line with squares, training dashed with circles, and the
per-batch training loss as a thin line (the session already smooths it, see
`BatchProgress.smoothed_loss`). The run chosen in the list (else the newest) is drawn strongly
with a vertical line at its best validation epoch; the others step back, faded. The list's
checkboxes show and hide runs; Delete forgets one, "Clear" all but a running one.

Runs belong to the graph they trained: `set_document` keys them by the document's file, so
opening another graph shows that graph's runs (and its own numbering), and Save As takes them
along. A run that fails before its first epoch has no curve; the list shows it as failed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QBoxLayout,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.theme import Theme, signals, theme
from nodestudio.gui.training.plots import SERIES_STYLE, Plot, StyleKey, with_alpha
from nodestudio.gui.training.runs import CSV_COLUMNS, Run, RunsList, run_summary, write_csv
from nodestudio.gui.training.session import gui_priority
from nodestudio.train.events import EpochEnd, EpochRecord, History

REDRAW_MS = 400  # while a run feeds them, the curves are redrawn every REDRAW_MS at most
OTHER_RUN_ALPHA = 100  # of 255: runs other than the chosen one stay readable but step back


class CurvesPanel(QWidget):
    """Error (%) and loss plots and the runs list. Public: `begin_run(settings or optimizer)`,
    `add_epoch(record, best_epoch=None)`, `add_batch(progress)`,
    `end_run(history, failure=None)`, `clear()`, `remove_run(run)`, `set_document(document)`,
    `show_graph(key)`, `export_png(path)`, `export_csv(path)`, `connect_session(session)`,
    `runs` (those of the graph shown, oldest first) and `active` (the run being fed)."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._runs: dict[object, list[Run]] = {}  # graph key -> its runs, oldest first
        self._graph: object = None  # the key of the graph shown
        self._active: Run | None = None
        self._document: Any = None
        self._untitled = 0
        self._best_lines: dict[str, pg.InfiniteLine] = {}  # "error" / "loss" -> its line
        self._best_run: Run | None = None  # the run the best lines belong to
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
        self.clear_button.setToolTip("Forget the earlier runs of this graph (a running one "
                                     "stays)")
        self.clear_button.clicked.connect(self.clear)
        png = QPushButton("PNG…")
        png.setToolTip("Save both plots as an image")
        png.clicked.connect(self._ask_png)
        csv_button = QPushButton("CSV…")
        csv_button.setToolTip("Save the per-epoch figures of this graph's runs as a table")
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

        self.error_plot = Plot("Error (%)")
        self.loss_plot = Plot("Loss")
        self.plots = QWidget()  # the part exported as PNG
        self._plot_layout = QBoxLayout(QBoxLayout.Direction.LeftToRight, self.plots)
        self._plot_layout.setContentsMargins(0, 0, 0, 0)
        self._plot_layout.setSpacing(6)
        self._plot_layout.addWidget(self.error_plot)
        self._plot_layout.addWidget(self.loss_plot)

        self.runs_list = RunsList()
        self.runs_list.visibility_changed.connect(lambda _run: self._redraw())
        self.runs_list.run_chosen.connect(lambda _run: self._redraw())
        self.runs_list.delete_requested.connect(self.remove_run)
        self.style_key = StyleKey()
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(4)
        side_layout.addWidget(self.runs_list, 1)
        side_layout.addWidget(self.style_key)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.plots)
        self.splitter.addWidget(side)
        self.splitter.setStretchFactor(0, 1)  # a wider dock widens the plots
        self.splitter.setStretchFactor(1, 0)
        self._split_as: Qt.Orientation | None = None  # set on the first resize

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)
        self._apply_theme(theme())
        signals.theme_changed.connect(self._apply_theme)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(760, 280)

    def resizeEvent(self, event: Any) -> None:  # noqa: N802
        # side by side in a wide dock (bottom), stacked in a tall one (right)
        wide = event.size().width() >= 1.4 * event.size().height()
        self._plot_layout.setDirection(QBoxLayout.Direction.LeftToRight if wide
                                       else QBoxLayout.Direction.TopToBottom)
        orientation = Qt.Orientation.Horizontal if wide else Qt.Orientation.Vertical
        if orientation != self._split_as:  # first shown, or moved to another dock area
            self._split_as = orientation
            self.splitter.setOrientation(orientation)
            total = event.size().width() if wide else event.size().height()
            side = int(min(max(0.42 * total, 280), 380)) if wide else int(0.3 * total)
            self.splitter.setSizes([max(total - side, 1), side])
        super().resizeEvent(event)

    # --- the graph shown ----------------------------------------------------------------------
    @property
    def runs(self) -> list[Run]:
        """The runs of the graph shown, oldest first (a copy)."""
        return list(self._runs.get(self._graph, []))

    @property
    def active(self) -> Run | None:
        """The run being trained now, whichever graph it belongs to."""
        return self._active

    def set_document(self, document: Any) -> None:
        """Show the runs of `document`'s graph, following File > Open, New and Save As."""
        self._document = document
        document.replaced.connect(self._document_replaced)
        document.path_changed.connect(self._path_changed)
        self._document_replaced()

    def show_graph(self, key: object) -> None:
        """Show the runs of the graph known by `key` (see set_document)."""
        self._graph = key
        self._refresh_list()
        self._redraw()
        runs = self.runs
        self._say(run_summary(runs[-1]) if runs else "No training yet")

    def _key(self, path: Path | None) -> object:
        if path is not None:
            return str(Path(path).resolve())
        self._untitled += 1  # each new unsaved graph is another graph
        return ("untitled", self._untitled)

    def _document_replaced(self) -> None:
        self.show_graph(self._key(self._document.path))

    def _path_changed(self) -> None:
        path = self._document.path
        if path is None or self._graph == str(Path(path).resolve()):
            return  # replace() emits this after replaced: the key is already right
        new = self._key(path)  # saved under another name: the runs go along
        moved = self._runs.pop(self._graph, [])
        for run in moved:
            run.graph = new
        self._runs.setdefault(new, []).extend(moved)
        self._graph = new

    # --- feeding ------------------------------------------------------------------------------
    def begin_run(self, settings: Any) -> Run:
        """Start a run of the graph shown: `settings` is its TrainingSettings (or just the
        optimizer's name). The other runs fade."""
        optimizer = settings if isinstance(settings, str) else settings.optimizer
        runs = self._runs.setdefault(self._graph, [])
        number = runs[-1].number + 1 if runs else 1
        run = Run(number, optimizer, None if isinstance(settings, str) else settings,
                  self._graph)
        runs.append(run)
        self._active = run
        self._refresh_list()
        self._redraw()
        self._say(run_summary(run))
        return run

    def add_epoch(self, record: EpochRecord | EpochEnd, best_epoch: int | None = None) -> None:
        """One point per series for a completed epoch (an EpochEnd brings its best epoch)."""
        if isinstance(record, EpochEnd):
            record, best_epoch = record.record, record.best_epoch
        run = self._active or self.begin_run("?")
        run.epochs.append(record)
        if best_epoch is not None:
            run.best_epoch = best_epoch
        self._schedule_update()
        if run.graph == self._graph:
            self.runs_list.update_run(run)
            self._say(run_summary(run))

    def add_batch(self, progress: Any) -> None:
        """A smoothed training-loss point (a BatchProgress: epoch_position, smoothed_loss)."""
        run = self._active
        if run is None:
            return
        run.batches.append((progress.epoch_position, progress.smoothed_loss))
        self._schedule_update()

    def end_run(self, history: History | None, failure: str | None = None) -> None:
        """The active run finished (`failure` None) or failed with that message."""
        run = self._active
        if run is None:
            return
        self.flush()
        self._active = None
        run.history = history
        run.status, run.failure = ("failed", failure) if failure else ("finished", "")
        if history is not None and history.best_epoch is not None:
            run.best_epoch = history.best_epoch
        if run.graph == self._graph:
            self.runs_list.update_run(run)
            if not run.plottable:
                self._redraw()  # its empty curves go
            self._say(run_summary(run))

    def clear(self) -> None:
        """Forget the runs of the graph shown but a running one."""
        runs = self._runs.get(self._graph, [])
        runs[:] = [run for run in runs if run is self._active]
        self._refresh_list()
        self._redraw()
        if not runs:
            self._say("No training yet")

    def remove_run(self, run: Run) -> None:
        """Forget one ended run."""
        runs = self._runs.get(run.graph, [])
        if run.ended and run in runs:
            runs.remove(run)
            if run.graph == self._graph:
                self._refresh_list()
                self._redraw()

    def connect_session(self, session: Any) -> None:
        """Follow a TrainingSession: a run per start, its epochs, batches and end."""
        session.run_started.connect(self.begin_run)
        session.epoch_end.connect(self.add_epoch)
        session.batch_progress.connect(self.add_batch)
        session.finished.connect(self.end_run)
        session.failed.connect(lambda message, node: self.end_run(session.history, message))

    # --- export ---------------------------------------------------------------------------------
    def export_png(self, path: str | Path) -> None:
        if not self.plots.grab().save(str(path), "PNG"):
            raise OSError(f"cannot write {path}")

    def export_csv(self, path: str | Path) -> None:
        """One row per epoch of every run of the graph shown (see runs.write_csv)."""
        write_csv(self.runs, path)

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
    def _say(self, text: str) -> None:
        self.summary.setText(text)
        self.summary.setToolTip(text)

    def _set_log_loss(self, on: bool) -> None:
        self.loss_plot.setLogMode(y=on)

    def _apply_theme(self, t: Theme) -> None:
        for plot in (self.error_plot, self.loss_plot):
            plot.apply_theme(t)
        self.runs_list.refresh_colours()
        self.style_key.update()
        self._redraw()

    def _refresh_list(self) -> None:
        self.runs_list.show_runs(self.runs)

    def _chosen_run(self) -> Run | None:
        """The run drawn strongly: the one selected in the list, else the newest shown."""
        shown = [run for run in self.runs if run.visible and run.plottable]
        selected = self.runs_list.selected_run()
        if selected in shown:
            return selected
        return shown[-1] if shown else None

    def _redraw(self) -> None:
        """Rebuild every curve: on a new run, another graph, a checkbox, a theme change."""
        for plot in (self.error_plot, self.loss_plot):
            plot.getPlotItem().clear()
        self._best_lines = {}
        self._best_run = self._chosen_run()
        for graph_runs in self._runs.values():
            for run in graph_runs:
                run.items = {}
        for run in self.runs:
            if run.visible and run.plottable:
                self._draw_run(run, strong=run is self._best_run)

    def _draw_run(self, run: Run, strong: bool) -> None:
        t = theme()
        colour = run.colour(t)
        pen_colour = colour if strong else with_alpha(colour, OTHER_RUN_ALPHA)
        for plot, prefix in ((self.error_plot, "error"), (self.loss_plot, "loss")):
            for series in ("train", "valid"):
                width, style, symbol = SERIES_STYLE[series]
                options: dict[str, Any] = {}
                if strong:
                    options = {"symbol": symbol, "symbolSize": 6, "symbolBrush": colour,
                               "symbolPen": pg.mkPen(t.base)}
                item = plot.plot(name=run.label if series == "valid" else None,
                                 pen=pg.mkPen(pen_colour, width=width, style=style), **options)
                item.setZValue(1 if strong else 0)  # the chosen run on top
                run.items[f"{series}_{prefix}"] = item
        if strong:
            width, style, _ = SERIES_STYLE["batch"]
            run.items["batch"] = self.loss_plot.plot(
                pen=pg.mkPen(with_alpha(colour, 130), width=width, style=style))
            run.items["batch"].setZValue(-1)  # under the epoch points
            for name, plot in (("error", self.error_plot), ("loss", self.loss_plot)):
                line = pg.InfiniteLine(angle=90, movable=False,
                                       pen=pg.mkPen(t.ok, width=1, style=Qt.PenStyle.DashLine),
                                       label="best", labelOpts={"position": 0.08, "color": t.ok})
                line.setVisible(False)
                plot.addItem(line)
                self._best_lines[name] = line
        self._update_run(run)

    def _schedule_update(self) -> None:
        self._dirty = True
        if not self._redraw_timer.isActive():
            self._redraw_timer.start(REDRAW_MS)

    def _redraw_step(self) -> None:
        # One plot per turn of the event loop (error, then loss a moment later): painting both
        # in one pass would stall the loop twice as long.
        if self._active is None:
            return
        which = self._turn
        if which == "error":
            self._dirty = False  # what arrives from now on waits for the next round
        with gui_priority.painting():  # setData re-ranges the axes: Python work as well
            self._update_run(self._active, (which,))
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
        if self._active is not None:
            with gui_priority.painting():
                self._update_run(self._active)

    def _update_run(self, run: Run, which: tuple[str, ...] = ("error", "loss")) -> None:
        if not run.items:
            return  # not drawn: hidden, or a run of another graph
        for prefix in which:
            scale = 100.0 if prefix == "error" else 1.0
            for series in ("train", "valid"):
                run.items[f"{series}_{prefix}"].setData(*run.column(f"{series}_{prefix}",
                                                                    scale))
            if prefix == "loss" and run.batches and "batch" in run.items:
                xs, ys = zip(*run.batches)
                run.items["batch"].setData(list(xs), list(ys))
            line = self._best_lines.get(prefix)
            if line is not None and run is self._best_run:
                # a graph without an error output (an RBM's cost) draws no error curve: no
                # best-epoch line alone on an empty plot either
                line.setVisible(run.best_epoch is not None and (prefix != "error" or any(
                    r.train_error is not None or r.valid_error is not None
                    for r in run.epochs)))
                if run.best_epoch is not None:
                    line.setValue(run.best_epoch)
                    line.label.setFormat(f"best {run.best_epoch}")


__all__ = ["CSV_COLUMNS", "CurvesPanel", "Run", "run_summary"]
