"""Filters: the incoming weights of one layer's units as image tiles.

Column j of a weight matrix W (incoming width x units) holds the weights unit j gives to each
input; reshaped to the input's image shape it shows what the unit responds to (strokes and blobs
on MNIST after a few epochs, noise at initialisation). The tiles share one symmetric colour
scale, zero in the middle of a diverging map (blue negative, red positive) with its colour bar,
so that tiles compare at a glance. Clicking a tile shows that unit large with its value range.

The tile shape is, in order: the one typed in the Shape field ("28x28", "8 8"); the training
data's image shape when its size fits (from the latest snapshot); a square; the closest to square
factor pair of the incoming width. Values are live while training (the trainer's probe, see
live.py) and the document's otherwise (the last run's, or the initial values). While Train >
Pretrain runs, the panel turns to the weights W of the layer being trained as each starts.

A convolution's filters (F x C x KH x KW, a conv2d_layer's W or a 4-d parameter) are shown the
same way, one tile per filter: its C kernels of KH x KW, one per input channel, in a small grid
(channel 0 top left, row by row, one pixel apart; a 1-channel filter is just its kernel), the
tiles two pixels apart so that the filters stand out from their kernels.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsRectItem,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.live import layer_of, live_values
from nodestudio.gui.theme import theme
from nodestudio.gui.training.session import gui_priority

COLORMAP = "CET-D1"  # diverging blue - white - red: zero in the middle
MAX_TILES = 100  # tiles shown by default (the spin box goes up to every unit)
GAP = 1  # pixels between tiles (transparent), and between the kernels of a conv filter
FILTER_GAP = 2  # pixels between the tiles of conv filters: wider than inside a tile
SCALES = (("auto", "auto"), ("shared", "shared"), ("tile", "per tile"))
# whose filters are shown tile by tile under "auto" (as tile_raster_images shows them in the
# Theano tutorials: an RBM's weights span a wide range, one shared scale washes most out)
PER_TILE_OPS = ("rbm_layer", "autoencoder_layer")
MIN_HEIGHT = 520  # px: the dock is made this tall when the panel is first opened


def tile_shape(rows: int, typed: str = "", image_shape: tuple[int, ...] | None = None
               ) -> tuple[int, int]:
    """The (height, width) a column of `rows` weights is shown as (see the module docstring).
    A typed shape that does not fit raises ValueError saying why."""
    typed = typed.strip()
    if typed:
        parts = [int(p) for p in re.split(r"[x×*, ]+", typed) if p]
        if len(parts) != 2 or min(parts) < 1:
            raise ValueError(f"tile shape {typed!r}: give two sizes, like 28x28")
        if parts[0] * parts[1] != rows:
            raise ValueError(f"tile shape {parts[0]}x{parts[1]} holds {parts[0] * parts[1]} "
                             f"values, but each unit has {rows} incoming weights")
        return parts[0], parts[1]
    if image_shape is not None:
        dims = [d for d in image_shape if d > 1]
        if len(dims) == 2 and dims[0] * dims[1] == rows:
            return dims[0], dims[1]
    side = math.isqrt(rows)
    if side * side == rows:
        return side, side
    height = max(d for d in range(1, side + 1) if rows % d == 0)
    return height, rows // height


def tile_grid(tiles: np.ndarray, gap: int = GAP) -> tuple[np.ndarray, int]:
    """Tiles (count x height x width) in a grid about as wide as high, `gap` pixels of NaN
    between them; returns the image (row-major) and the number of grid columns."""
    count, height, width = tiles.shape
    columns = max(1, math.ceil(math.sqrt(count * height / width)))
    grid_rows = max(1, math.ceil(count / columns))
    image = np.full((grid_rows * (height + gap) - gap, columns * (width + gap) - gap), np.nan,
                    dtype=np.float32)
    for j in range(count):
        r, c = divmod(j, columns)
        top, left = r * (height + gap), c * (width + gap)
        image[top:top + height, left:left + width] = tiles[j]
    return image, columns


def filter_tile(kernels: np.ndarray) -> np.ndarray:
    """One conv filter (C x KH x KW) as one image: its C kernels in a grid about as wide as
    high, channel 0 top left, row by row, GAP pixels of NaN between them."""
    channels, kh, kw = kernels.shape
    columns = math.ceil(math.sqrt(channels))
    rows = math.ceil(channels / columns)
    image = np.full((rows * (kh + GAP) - GAP, columns * (kw + GAP) - GAP), np.nan,
                    dtype=np.float32)
    for c in range(channels):
        r, k = divmod(c, columns)
        image[r * (kh + GAP):r * (kh + GAP) + kh, k * (kw + GAP):k * (kw + GAP) + kw] = \
            kernels[c]
    return image


class _Mosaic(pg.ImageItem):
    """The tiles; a click picks the tile under the mouse."""

    def __init__(self, panel: FiltersPanel):
        super().__init__(axisOrder="row-major")
        self.panel = panel

    def mouseClickEvent(self, event) -> None:  # noqa: N802  (pyqtgraph's name)
        if event.button() != Qt.MouseButton.LeftButton:
            return
        unit = self.panel.unit_at(event.pos().x(), event.pos().y())
        if unit is not None:
            event.accept()
            self.panel.select_unit(unit)


class FiltersPanel(QWidget):
    """See the module docstring. `tile(j)` reads tile j back from the drawn image."""

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.live = live_values(window)
        self.weights: np.ndarray | None = None
        self.shape: tuple[int, int] = (1, 1)
        self.columns = 1
        self.count = 0
        self.unit: int | None = None
        self.gap = GAP  # between tiles: FILTER_GAP for conv filters

        self.layer = QComboBox()
        self.layer.setToolTip("the weight matrix shown: incoming width x units")
        self.shape_edit = QLineEdit()
        self.shape_edit.setPlaceholderText("auto")
        self.shape_edit.setToolTip("how each unit's incoming weights are shown, e.g. 28x28; "
                                   "empty: the data's image shape, a square, or the nearest "
                                   "rectangle")
        self.shape_edit.setMaximumWidth(90)
        self.limit = QSpinBox()
        self.limit.setRange(1, 100_000)
        self.limit.setValue(MAX_TILES)
        self.limit.setToolTip("how many units or filters (the first ones) to show")
        self.source = QLabel()
        self.problem = QLabel()
        self.problem.setStyleSheet(f"color: {theme().error}")
        self.limit_label = QLabel("Units")  # "Filters" for a convolution
        self.scale = QComboBox()
        for key, text in SCALES:
            self.scale.addItem(text, key)
        self.scale.setToolTip("shared: one colour scale for every tile (tiles compare); per "
                              "tile: each tile scaled to its own largest |weight| (shapes "
                              "stand out); auto: per tile for RBM and autoencoder layers")
        controls = QHBoxLayout()
        for label, widget in ((QLabel("Layer"), self.layer),
                              (QLabel("Tile shape"), self.shape_edit),
                              (self.limit_label, self.limit), (QLabel("Scale"), self.scale)):
            controls.addWidget(label)
            controls.addWidget(widget)
        controls.addWidget(self.problem)
        controls.addStretch(1)
        controls.addWidget(self.source)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(260)  # tiles of 28 x 28 must stay readable
        self.graphics.setBackground(theme().base)
        self.tiles_plot = self.graphics.addPlot(row=0, col=0)
        self.tiles_plot.setAspectLocked(True)
        self.tiles_plot.invertY(True)
        self.tiles_plot.hideAxis("left")
        self.tiles_plot.hideAxis("bottom")
        self.tiles_plot.setMenuEnabled(False)
        self.image = _Mosaic(self)
        self.tiles_plot.addItem(self.image)
        self.highlight = QGraphicsRectItem()
        self.highlight.setPen(QPen(pg.mkColor(theme().accent), 0))
        self.highlight.setZValue(10)
        self.highlight.hide()
        self.tiles_plot.addItem(self.highlight)
        self.unit_plot = self.graphics.addPlot(row=0, col=1)
        self.unit_plot.setAspectLocked(True)
        self.unit_plot.invertY(True)
        self.unit_plot.setLabel("bottom", "input column")
        self.unit_plot.setLabel("left", "input row")
        self.unit_plot.setMenuEnabled(False)
        self.unit_image = pg.ImageItem(axisOrder="row-major")
        self.unit_plot.addItem(self.unit_image)
        self.colorbar = pg.ColorBarItem(colorMap=pg.colormap.get(COLORMAP), interactive=False,
                                        width=14, label="weight (zero in the middle)")
        self.colorbar.setImageItem([self.image, self.unit_image])
        self.graphics.addItem(self.colorbar, row=0, col=2)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        self.unit_label = QLabel()
        self.unit_label.setAlignment(Qt.AlignmentFlag.AlignCenter)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.unit_label)

        self.layer.currentIndexChanged.connect(lambda _: self.refresh())
        self.shape_edit.editingFinished.connect(self.refresh)
        self.limit.valueChanged.connect(lambda _: self.refresh())
        self.scale.currentIndexChanged.connect(lambda _: self.refresh())
        self._sized = False
        self.live.draw.connect(self._on_live)
        window.document.annotated.connect(self._on_document)
        window.training.session.finished.connect(lambda _: self._on_document())
        # Train > Pretrain: show the weights of the layer being trained
        window.training.session.layer_started.connect(self.follow_layer)
        self._fill_layers()
        if window.training.session.layer is not None and window.training.session.running:
            self.follow_layer(window.training.session.layer)
        self.refresh()

    # --- what is shown --------------------------------------------------------------------
    def _weight_names(self) -> list[tuple[str, np.ndarray]]:
        """Weight matrices (inputs x units) and conv filters (F x C x KH x KW)."""
        return [(name, value) for name, value in self.live.parameters().items()
                if np.ndim(value) in (2, 4)]

    def _fill_layers(self) -> None:
        found = self._weight_names()
        names = [name for name, _ in found]
        if names == [self.layer.itemData(i) for i in range(self.layer.count())]:
            return
        current = self.layer.currentData()
        self.layer.blockSignals(True)
        self.layer.clear()
        graph = self.window.document.graph
        for name, value in found:
            consumer = layer_of(graph, name)
            dims = " × ".join(map(str, np.shape(value)))
            text = f"{name}  ({dims})" + (f" → {consumer}" if consumer else "")
            self.layer.addItem(text, name)
        index = names.index(current) if current in names else 0
        self.layer.setCurrentIndex(index if names else -1)
        self.layer.blockSignals(False)

    def refresh(self) -> None:
        """Redraw from the current values (the latest snapshot while training)."""
        name = self.layer.currentData()
        values = self.live.parameters()
        if name is None or name not in values:
            self.weights = None
            self.image.clear()
            self.unit_image.clear()
            self.source.setText("no weight matrix in this graph" if name is None else "")
            return
        weights = np.asarray(values[name], dtype=np.float32)
        latest = self.live.latest
        conv = weights.ndim == 4
        self.shape_edit.setEnabled(not conv)  # a filter's tile is its kernels, see filters
        self.limit_label.setText("Filters" if conv else "Units")
        units = weights.shape[0] if conv else weights.shape[1]
        self.weights = weights
        self.count = min(units, self.limit.value())
        if conv:
            self.problem.clear()
            self.gap = FILTER_GAP
            tiles = np.stack([filter_tile(weights[f]) for f in range(self.count)])
            self.shape = (tiles.shape[1], tiles.shape[2])
            channels = weights.shape[1]
            what = (f"{self.count} of {units} filters of {name}, {channels} "
                    f"kernel{'s' if channels > 1 else ''} of {weights.shape[2]}×"
                    f"{weights.shape[3]} each")
        else:
            image_shape = latest.input_shape if latest is not None else None
            try:
                shape = tile_shape(weights.shape[0], self.shape_edit.text(), image_shape)
                self.problem.clear()
            except ValueError as exc:
                self.problem.setText(str(exc))
                shape = tile_shape(weights.shape[0], "", image_shape)
            self.gap, self.shape = GAP, shape
            tiles = weights[:, :self.count].T.reshape(self.count, *shape)
            what = f"{self.count} of {units} units of {name}, {shape[0]}×{shape[1]} each"
        if self.per_tile():
            tiles = tiles / _largest(tiles.reshape(len(tiles), -1))[:, None, None]
        picture, self.columns = tile_grid(tiles, self.gap)
        self.unit_plot.setLabel("bottom", "kernel column" if conv else "input column")
        self.unit_plot.setLabel("left", "kernel row" if conv else "input row")
        scale = float(np.max(np.abs(weights))) if weights.size else 0.0
        scale = scale if scale > 0 else 1.0  # all zeros (a fresh zeros-initialised layer)
        if self.per_tile():
            scale = 1.0
        self.colorbar.getAxis("left").setLabel(  # where ColorBarItem puts its label
            "weight / the tile's largest |weight|" if self.per_tile()
            else "weight (zero in the middle)")
        self.image.setImage(picture, autoLevels=False)
        self.colorbar.setLevels((-scale, scale))
        if self.live.training and latest is not None:
            self.source.setText(f"live: iteration {latest.iteration}, epoch {latest.epoch}")
        else:
            trained = name in self.window.document.parameter_values()
            self.source.setText("trained values" if trained else "initial values")
        self.tiles_plot.setTitle(what, color=theme().text)
        # the chosen unit stays chosen while the values change; the first one to begin with
        self.select_unit(self.unit if self.unit is not None and self.unit < self.count else 0)

    def per_tile(self) -> bool:
        """Whether each tile is scaled to its own range (see SCALES)."""
        choice = self.scale.currentData()
        if choice != "auto":
            return choice == "tile"
        graph = self.window.document.graph
        owner = layer_of(graph, self.layer.currentData() or "")
        return owner in graph.nodes and graph.nodes[owner].op in PER_TILE_OPS

    def follow_layer(self, event) -> None:
        """Turn to the weights of the layer a pretraining run starts (`LayerStart`; the first
        of several RBMs trained together)."""
        layer = event.layer.split(",")[0].strip()
        self._fill_layers()
        index = self.layer.findData(f"{layer}/W")
        if index >= 0 and index != self.layer.currentIndex():
            self.layer.setCurrentIndex(index)  # refreshes

    def _on_live(self, _snapshot) -> None:
        if _snapshot is None or not self.isVisible():
            return
        self._fill_layers()
        self.refresh()

    def _on_document(self) -> None:
        if self.live.training:
            return  # snapshots drive the panel while a run goes
        self._fill_layers()
        self.refresh()

    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        if not self._sized:  # first shown: 100 tiles of 28 x 28 need more than a strip
            self._sized = True
            dock = getattr(self.window, "inspect_docks", {}).get(PANEL.name)
            if dock is not None and dock.height() < MIN_HEIGHT:
                self.window.resizeDocks([dock], [MIN_HEIGHT], Qt.Orientation.Vertical)
        self._fill_layers()
        self.refresh()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        with gui_priority.painting():
            super().paintEvent(event)

    # --- tiles ------------------------------------------------------------------------------
    def tile_origin(self, unit: int) -> tuple[int, int]:
        """(top row, left column) of tile `unit` in the mosaic image."""
        r, c = divmod(unit, self.columns)
        return r * (self.shape[0] + self.gap), c * (self.shape[1] + self.gap)

    def tile(self, unit: int) -> np.ndarray:
        """Tile `unit` as drawn: read back from the image item's data."""
        top, left = self.tile_origin(unit)
        data = self.image.image
        return np.array(data[top:top + self.shape[0], left:left + self.shape[1]])

    def unit_at(self, x: float, y: float) -> int | None:
        """The unit whose tile holds image point (x = column, y = row), None in a gap."""
        if self.weights is None or x < 0 or y < 0:
            return None
        c, dx = divmod(int(x), self.shape[1] + self.gap)
        r, dy = divmod(int(y), self.shape[0] + self.gap)
        unit = r * self.columns + c
        if dx >= self.shape[1] or dy >= self.shape[0] or c >= self.columns or unit >= self.count:
            return None
        return unit

    def select_unit(self, unit: int) -> None:
        """Show unit `unit` large, with its value range, and outline its tile."""
        if self.weights is None:
            return
        self.unit = unit
        name = self.layer.currentData()
        if self.weights.ndim == 4:  # a conv filter: its kernels, one per input channel
            kernels = self.weights[unit]
            shown = filter_tile(kernels)
            if self.per_tile():
                shown = shown / _largest(kernels.reshape(1, -1))[0]
            self.unit_image.setImage(shown, autoLevels=False)
            self.unit_plot.setTitle(f"filter {unit} (click a tile to choose another)",
                                    color=theme().text)
            channels, kh, kw = kernels.shape
            what = (f"filter {unit}: {channels} kernel{'s' if channels > 1 else ''} of "
                    f"{kh}×{kw} (one per input channel), weights")
            low, high, mean = float(kernels.min()), float(kernels.max()), float(kernels.mean())
        else:
            column = self.weights[:, unit].reshape(self.shape)
            shown = column / _largest(column.reshape(1, -1))[0] if self.per_tile() else column
            self.unit_image.setImage(shown, autoLevels=False)
            self.unit_plot.setTitle(f"unit {unit} (click a tile to choose another)",
                                    color=theme().text)
            what = f"unit {unit}: incoming weights"
            low, high, mean = float(column.min()), float(column.max()), float(column.mean())
        self.unit_label.setText(f"{name}, {what} from {low:.4g} to {high:.4g} "
                                f"(mean {mean:.4g})")
        top, left = self.tile_origin(unit)
        self.highlight.setRect(QRectF(left - 0.5, top - 0.5, self.shape[1] + 1,
                                      self.shape[0] + 1))
        self.highlight.show()


def _largest(rows: np.ndarray) -> np.ndarray:
    """Each row's largest |value| (NaN gaps ignored), 1 for an all-zero row."""
    largest = np.nanmax(np.abs(rows), axis=1) if rows.size else np.ones(len(rows))
    return np.where(largest > 0, largest, 1.0).astype(np.float32)


def build(window) -> FiltersPanel:
    return FiltersPanel(window)


PANEL = PanelSpec("filters", "Filters", build,
                  summary="The incoming weights of a layer's units as image tiles, live",
                  order=10)
