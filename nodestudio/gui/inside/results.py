"""The Results panel: what the trained classifier gets right and wrong.

Three views of one split (validation or test, chosen in the panel's bar):

* the confusion matrix: rows are the true classes, columns the predicted ones; each cell holds
  its count and is shaded by its share of the row (the diagonal is each class's recall);
* the misclassified examples, as image tiles when a row is an image (28 x 28, 8 x 8, any
  square), as lines of coordinates otherwise, each with its predicted and true class; clicking
  one says more (and marks the point among the decision regions);
* for 2-D data, the decision regions: the class the model predicts at every point of a grid,
  drawn under the split's points, lighter where the model is unsure.

The figures come from nodestudio/train/results.py. While a run trains, the panel's epoch task
(`TrainingSession.add_epoch_task`) computes them on the training thread at the end of every epoch
and once more when training finishes (with the parameters the run keeps); opened after a run,
or on "Refresh", the panel computes them from the document's parameter values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from nodestudio.errors import NodeStudioError
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.theme import Theme, signals, theme
from nodestudio.gui.training.plots import ThemedPlot
from nodestudio.train.events import EpochEnd
from nodestudio.train.results import DecisionGrid, Predictor, Results, decision_grid, evaluate_split

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

SPLITS = (("valid", "Validation"), ("test", "Test"))
MAX_TILES = 400  # misclassified examples listed at most (the rest are counted)
TILE = 56  # px: an image tile's side
INDEX_ROLE = Qt.ItemDataRole.UserRole
MIN_HEIGHT = 380  # px: the dock is made this tall when the panel is first opened


@dataclass(frozen=True, eq=False)
class ResultsView:
    """Everything the panel draws, computed at one moment of a run."""

    results: dict[str, Results]  # split -> its results
    grid: DecisionGrid | None  # 2-D data only
    source: str  # "epoch 3", "after training", "from the document"


def compute_results_view(predictor: Predictor, data: Any, source: str,
                         epoch: int | None = None,
                         splits: tuple[str, ...] | None = None) -> ResultsView:
    """Results on the validation and test splits of `data` (a Splits) (or only `splits`),
    and the decision grid over all of its points when there are two features."""
    results = {split: evaluate_split(predictor, getattr(data, split), split, epoch)
               for split, _ in SPLITS
               if len(getattr(data, split)) and (splits is None or split in splits)}
    grid = None
    if data.train.n_features == 2:
        points = np.concatenate([d.x for d in data if len(d)])
        grid = decision_grid(predictor, points)
    return ResultsView(results, grid, source)


class _Plot(ThemedPlot):
    def __init__(self, title: str) -> None:
        super().__init__(title)
        self.setMinimumSize(200, 160)
        self.setMenuEnabled(False)


class ResultsPanel(QWidget):
    """See the module docstring. `snapshot` is what is shown; `split()` the chosen split."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.session = window.training.session
        self.snapshot: ResultsView | None = None
        self._predictor: Predictor | None = None  # of the model the epoch task saw last
        self._watching = False  # shown: the epoch task computes (see _epoch_task)
        self._split_shown = SPLITS[0][0]
        self._cells: list[pg.TextItem] = []
        self._cell_font = QFont(self.font())
        self._cell_font.setPointSizeF(max(6.5, self.font().pointSizeF() - 1.5))
        self._build()
        self._remove_task = self.session.add_epoch_task(self._epoch_task)
        self.session.epoch_task_done.connect(self._epoch_task_done)
        signals.theme_changed.connect(self._apply_theme)
        self._settled = False
        if not self.session.running and self.session.history is not None:
            self.refresh()  # opened after a run: what the document's trained values give

    # --- building ----------------------------------------------------------------------
    def _build(self) -> None:
        self.split_box = QComboBox()
        for key, title in SPLITS:
            self.split_box.addItem(title, key)
        self.split_box.setToolTip("The split the figures are computed on")
        self.split_box.currentIndexChanged.connect(self._split_changed)
        self.summary = QLabel("Train the graph (or press Refresh) to see its results")
        self.summary.setObjectName("muted")
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compute the results with the document's parameter "
                                       "values now")
        self.refresh_button.clicked.connect(self.refresh)
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(QLabel("Split"))
        bar.addWidget(self.split_box)
        bar.addWidget(self.summary, 1)
        bar.addWidget(self.refresh_button)

        self.confusion_plot = _Plot("Confusion matrix")
        self.confusion_plot.setMouseEnabled(x=False, y=False)
        self.confusion_plot.invertY(True)
        self.confusion_plot.setLabel("bottom", "predicted class")
        self.confusion_plot.setLabel("left", "true class")
        self.confusion_plot.setAspectLocked(True)
        self.confusion_plot.setToolTip("Rows: the true class; columns: the class predicted. "
                                       "Each cell holds its count and is shaded by its share "
                                       "of the row: the diagonal is each class's recall.")
        self.confusion_image = pg.ImageItem()
        self.confusion_plot.addItem(self.confusion_image)

        self.regions_plot = _Plot("Decision regions")
        self.regions_plot.setLabel("bottom", "feature 1")
        self.regions_plot.setLabel("left", "feature 2")
        self.regions_image = pg.ImageItem()
        self.regions_plot.addItem(self.regions_image)
        self.regions_plot.setToolTip("The class the model predicts at each point (paler "
                                     "where it is unsure), under the split's examples coloured "
                                     "by their true class; misclassified ones are ringed.")
        self.points = pg.ScatterPlotItem(size=7, pxMode=True)
        self.regions_plot.addItem(self.points)
        self.chosen_point = pg.ScatterPlotItem(size=18, pxMode=True, symbol="o",
                                               brush=pg.mkBrush(None))
        self.regions_plot.addItem(self.chosen_point)
        self.legend = self.regions_plot.addLegend(offset=(4, 4), labelTextSize="8pt",
                                                  verSpacing=-4)

        self.mistakes = QListWidget()
        self.mistakes.setObjectName("misclassified")
        self.mistakes.setUniformItemSizes(True)
        self.mistakes.currentItemChanged.connect(lambda item, _: self._chosen(item))
        self.mistakes_title = QLabel("Misclassified")
        self.detail = QLabel("Click an example for its scores")
        self.detail.setObjectName("muted")
        self.detail.setWordWrap(True)
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.setSpacing(3)
        side_layout.addWidget(self.mistakes_title)
        side_layout.addWidget(self.mistakes, 1)
        side_layout.addWidget(self.detail)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        for widget in (self.confusion_plot, self.regions_plot, side):
            self.splitter.addWidget(widget)
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 4)
        self.splitter.setStretchFactor(2, 2)
        self.confusion_plot.setMinimumWidth(150)
        self.regions_plot.setMinimumWidth(180)
        side.setMinimumWidth(140)
        self.regions_plot.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 8)
        layout.addLayout(bar)
        layout.addWidget(self.splitter, 1)

    def sizeHint(self) -> QSize:  # noqa: N802  (Qt's name)
        return QSize(900, 320)

    # --- where the figures come from ------------------------------------------------------
    def split(self) -> str:
        return self.split_box.currentData()

    def results(self) -> Results | None:
        """The results of the chosen split in the snapshot shown."""
        return self.snapshot.results.get(self.split()) if self.snapshot is not None else None

    def _epoch_task(self, trainer: Any, event: Any) -> ResultsView:
        """On the training thread: the figures with the model's current parameters."""
        if self._predictor is None or self._predictor.model is not trainer.model:
            self._predictor = Predictor(trainer.model)
        if isinstance(event, EpochEnd):
            # while training, only the split shown and only while the panel can be seen:
            # watching costs one pass over that split per epoch, nothing when hidden
            if not self._watching:
                return None
            epoch = event.record.epoch
            return compute_results_view(self._predictor, trainer.data, f"after epoch {epoch}",
                                        epoch, (self._split_shown,))
        best = trainer.history.best_epoch if trainer.history is not None else None
        source = "after training" + (f" (best epoch {best})" if best is not None else "")
        return compute_results_view(self._predictor, trainer.data, source, best)

    def _epoch_task_done(self, task: Any, result: Any) -> None:
        if task != self._epoch_task or result is None:
            return
        if isinstance(result, BaseException):
            self._show_problem(result)
        else:
            self.show_snapshot(result)

    def showEvent(self, event: Any) -> None:  # noqa: N802  (Qt's name)
        self._watching = True
        super().showEvent(event)
        if not self._settled:  # first shown: room for the matrix, the width shared out
            self._settled = True
            dock = getattr(self.window, "inspect_docks", {}).get(PANEL.name)
            if dock is not None and dock.height() < MIN_HEIGHT:
                self.window.resizeDocks([dock], [MIN_HEIGHT], Qt.Orientation.Vertical)
            self._arrange()

    def refresh(self) -> bool:
        """Compute the figures from the document's graph and parameter values, on the
        dataset chosen in the Training dock; False (with the reason shown) when it cannot."""
        if self.session.running:
            self.summary.setText("Training is running: the results follow each epoch")
            return False
        from nodestudio.train.model import Model
        from nodestudio.train.settings import load_data
        document = self.window.document
        QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
        try:
            settings = self.window.training.settings()
            model = Model.from_document(document.graph, document.title,
                                        dict(document.graph.metadata))
            data = load_data(settings)
            model.check_data(data)
            snapshot = compute_results_view(Predictor(model), data, "from the document")
        except (NodeStudioError, ValueError) as exc:
            self._show_problem(exc)
            return False
        finally:
            QApplication.restoreOverrideCursor()
        self.show_snapshot(snapshot)
        return True

    def _show_problem(self, exc: BaseException) -> None:
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        self.summary.setText(f"No results: {text}")
        self.summary.setToolTip(str(exc))

    # --- drawing -------------------------------------------------------------------------
    def _split_changed(self) -> None:
        self._split_shown = self.split()  # read by the epoch task on the training thread
        if self.snapshot is not None and self.results() is None and self.session.running:
            self.summary.setText(f"The {self.split_box.currentText().lower()} split follows "
                                 f"at the end of this epoch")
        self._draw()

    def hideEvent(self, event: Any) -> None:  # noqa: N802  (Qt's name)
        self._watching = False
        super().hideEvent(event)

    def show_snapshot(self, snapshot: ResultsView) -> None:
        self.snapshot = snapshot
        self._draw()

    def _arrange(self) -> None:
        """Share the width: the decision regions, when shown, get the most of it."""
        shares = (0.27, 0.48, 0.25) if not self.regions_plot.isHidden() else (0.5, 0.0, 0.5)
        width = max(self.splitter.width(), 600)
        self.splitter.setSizes([int(width * share) for share in shares])

    def _apply_theme(self, t: Theme) -> None:
        for plot in (self.confusion_plot, self.regions_plot):
            plot.apply_theme(t)
        self._draw()

    def _draw(self) -> None:
        results = self.results()
        if results is None:
            return
        self.summary.setText(
            f"{results.title.capitalize()} split, {self.snapshot.source}: "
            f"{results.total:,} examples, {len(results.misclassified):,} misclassified "
            f"(error {100 * results.error:.2f} %)")
        self.summary.setToolTip(self.summary.text())
        self._draw_confusion(results)
        self._draw_regions(results, self.snapshot.grid)
        self._fill_mistakes(results)

    def _draw_confusion(self, results: Results) -> None:
        t = theme()
        k = len(results.class_names)
        shares = results.row_normalised()
        low, high = QColor(t.base), QColor(t.accent)
        ramp = np.linspace(0.0, 1.0, 256)[:, None]
        lut = ((1 - ramp) * [low.red(), low.green(), low.blue()]
               + ramp * [high.red(), high.green(), high.blue()]).astype(np.uint8)
        # ImageItem's first index is x: the predicted class; the second y: the true class
        self.confusion_image.setImage(shares.T, levels=(0.0, 1.0), lut=lut)
        self.confusion_image.setRect(QRectF(0, 0, k, k))
        plot = self.confusion_plot
        for cell in self._cells:
            plot.removeItem(cell)
        self._cells = []
        if k <= 30:  # beyond that the counts cannot be read: the colour says enough
            for true in range(k):
                for pred in range(k):
                    count = int(results.confusion[true, pred])
                    colour = t.base if shares[true, pred] > 0.55 else (
                        t.text if count else t.muted)
                    cell = pg.TextItem(str(count), color=colour, anchor=(0.5, 0.5))
                    cell.setFont(self._cell_font)
                    cell.setPos(pred + 0.5, true + 0.5)
                    plot.addItem(cell)
                    self._cells.append(cell)
        ticks = [[(i + 0.5, name) for i, name in enumerate(results.class_names)]]
        plot.getAxis("bottom").setTicks(ticks)
        plot.getAxis("left").setTicks(ticks)
        plot.setXRange(0, k, padding=0.02)
        plot.setYRange(0, k, padding=0.02)
        # a long title would widen the plot beyond its place: the rest is in the tooltip
        plot.set_title("Confusion matrix")

    def _draw_regions(self, results: Results, grid: DecisionGrid | None) -> None:
        plot = self.regions_plot
        if plot.isHidden() != (grid is None):
            plot.setVisible(grid is not None)
            self._arrange()
        if grid is None:
            return
        t = theme()
        colours = [QColor(c) for c in _class_colours(t, len(results.class_names))]
        base = np.array(QColor(t.base).getRgb()[:3], np.float64)
        table = np.array([c.getRgb()[:3] for c in colours], np.float64)
        # the class colour, washed towards the background where the model is unsure
        k = len(colours)
        sure = np.clip((grid.confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)[..., None]
        strength = 0.18 + 0.32 * sure
        rgb = base + strength * (table[grid.classes] - base)
        self.regions_image.setImage(np.transpose(rgb, (1, 0, 2)).astype(np.uint8),
                                    levels=(0, 255))
        x0, x1, y0, y1 = grid.bounds
        self.regions_image.setRect(QRectF(x0, y0, x1 - x0, y1 - y0))
        wrong = np.zeros(results.total, bool)
        wrong[results.misclassified] = True
        edge = pg.mkPen(t.base, width=0.8)
        wrong_pen = pg.mkPen(t.text, width=2.5)  # a ring that shows on every class colour
        self.legend.setBrush(pg.mkBrush(_alpha(t.base, 200)))
        self.legend.setPen(pg.mkPen(t.grid_major))
        spots = [{"pos": (float(p[0]), float(p[1])),
                  "brush": pg.mkBrush(colours[int(label)]),
                  "pen": wrong_pen if bad else edge, "symbol": "o", "size": 11 if bad else 7}
                 for p, label, bad in zip(results.features, results.labels, wrong)]
        self.points.setData(spots)
        self.chosen_point.setData([])
        self.legend.clear()
        for colour, name in zip(colours, results.class_names):
            self.legend.addItem(pg.ScatterPlotItem(symbol="o", brush=pg.mkBrush(colour),
                                                   pen=edge, size=8), f"class {name}")
        self.legend.addItem(pg.ScatterPlotItem(symbol="o", brush=pg.mkBrush(t.muted),
                                               pen=wrong_pen, size=10), "misclassified")
        plot.setXRange(x0, x1, padding=0)
        plot.setYRange(y0, y1, padding=0)
        plot.set_title("Decision regions")

    def _fill_mistakes(self, results: Results) -> None:
        wrong = results.misclassified
        shown = wrong[:MAX_TILES]
        more = f" (first {len(shown)})" if len(shown) < len(wrong) else ""
        self.mistakes_title.setText(f"Misclassified: {len(wrong):,}{more} (predicted / true)")
        images = results.image_shape is not None
        self.mistakes.clear()
        self.mistakes.setViewMode(QListWidget.ViewMode.IconMode if images
                                  else QListWidget.ViewMode.ListMode)
        if images:
            self.mistakes.setIconSize(QSize(TILE, TILE))
            self.mistakes.setGridSize(QSize(TILE + 22, TILE + 22))
            self.mistakes.setResizeMode(QListWidget.ResizeMode.Adjust)
            self.mistakes.setMovement(QListWidget.Movement.Static)
        names = results.class_names
        for index in shown:
            predicted, true = names[results.predicted[index]], names[results.labels[index]]
            if images:
                item = QListWidgetItem(_tile(results.features[index], results.image_shape),
                                       f"{predicted} / {true}")
            else:
                coords = ", ".join(f"{v:.2f}" for v in results.features[index][:4])
                item = QListWidgetItem(f"#{index}  {predicted} / {true}  ({coords})")
            item.setData(INDEX_ROLE, int(index))
            item.setToolTip(f"example {index} of the {results.title} split: predicted "
                            f"{predicted}, true {true}")
            self.mistakes.addItem(item)
        self.detail.setText("Click an example for its scores" if len(wrong) else
                            "No example of this split is misclassified")

    def _chosen(self, item: QListWidgetItem | None) -> None:
        results = self.results()
        if item is None or results is None:
            return
        index = int(item.data(INDEX_ROLE))
        scores = results.scores[index]
        names = results.class_names
        order = np.argsort(-scores)[:3] if scores.size > 1 else []
        top = ", ".join(f"{names[k]}: {scores[k]:.3g}" for k in order)
        self.detail.setText(f"Example {index}: predicted {names[results.predicted[index]]}, "
                            f"true {names[results.labels[index]]}"
                            + (f" · highest scores {top}" if top else ""))
        if self.snapshot is not None and self.snapshot.grid is not None:
            x, y = results.features[index][:2]
            self.chosen_point.setData([{"pos": (float(x), float(y)),
                                        "pen": pg.mkPen(theme().accent, width=2.5)}])

    def closeEvent(self, event: Any) -> None:  # noqa: N802
        self._remove_task()
        super().closeEvent(event)


def _alpha(colour: str, alpha: int) -> QColor:
    c = QColor(colour)
    c.setAlpha(alpha)
    return c


def _class_colours(t: Theme, n: int) -> list[str]:
    series = list(t.plot_series)
    if n <= len(series):
        return series[:n]
    return [pg.intColor(i, hues=n).name() for i in range(n)]


def _tile(row: np.ndarray, shape: tuple[int, int]) -> QIcon:
    """A feature row as a grey image, its own range stretched to black..white."""
    image = np.asarray(row, np.float64).reshape(shape)
    low, high = float(image.min()), float(image.max())
    grey = np.zeros(shape, np.uint8) if high <= low else (
        255 * (image - low) / (high - low)).astype(np.uint8)
    grey = np.ascontiguousarray(grey)
    qimage = QImage(grey.data, shape[1], shape[0], shape[1], QImage.Format.Format_Grayscale8)
    pixmap = QPixmap.fromImage(qimage.copy()).scaled(
        TILE, TILE, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.FastTransformation)
    return QIcon(pixmap)


def build(window: MainWindow) -> ResultsPanel:
    return ResultsPanel(window)


PANEL = PanelSpec("results", "Results", build,
                  summary="Confusion matrix, misclassified examples and, for 2-D data, the "
                          "decision regions on the validation or test split",
                  order=80)

__all__ = ["PANEL", "ResultsPanel", "ResultsView", "compute_results_view"]
