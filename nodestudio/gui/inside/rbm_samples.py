"""RBM samples: what an RBM of the graph dreams, live.

Left, a grid of Gibbs chains: each tile is one chain's p(v | h) after the latest frame (the mean
the visible sample was drawn from: no salt-and-pepper noise). Between two frames every chain
takes the number of Gibbs steps set in "Steps / frame". The chains start (Restart, a new run,
another layer or start) from the RBM's persistent particles (PCD's chain, what the model
currently believes) or from rows of the validation split (how fast the model drifts away from
data). While a run trains the layer, each frame starts again from the particles as the run
moves them, and the frames come from the training thread (a step task of the session, at most
one per `LIVE_FRAME_SECONDS`: the device is the run's); otherwise the panel's timer advances
its own chains every `FRAME_MS` while the panel is shown and "Run" is on.

Right, inputs and their reconstructions side by side: validation rows (left tile of each pair)
and p(v | h), h ~ p(h | v) (right tile), with the current parameters.

The sampling is nodestudio/train/sampling.py (`GibbsSampler`: the chain compiled with the
layer's own ops, its parameters passed at each call). Tiles are shown as the data's images
(28 x 28 for MNIST; see filters.tile_shape), grey levels 0..1 for binary units, the frame's own
range for Gaussian ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from nodestudio.errors import NodeStudioError
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.filters import tile_grid, tile_shape
from nodestudio.gui.inside.live import live_values
from nodestudio.gui.theme import theme
from nodestudio.gui.training.session import gui_priority
from nodestudio.train.sampling import GibbsSampler, SamplingError

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

FRAME_MS = 400  # idle: a frame this often while shown and running
LIVE_FRAME_SECONDS = 1.0  # training: at most one frame a second (it takes the run's device)
DEFAULT_STEPS = 10
DEFAULT_CHAINS = 64
RECONSTRUCTIONS = 16  # input / reconstruction pairs shown
MIN_HEIGHT = 480  # px: the dock is made this tall when the panel is first opened
STARTS = (("particles", "persistent particles"), ("data", "data (validation rows)"))


@dataclass(frozen=True)
class _Config:
    """The panel's choices, read on the GUI thread: the training thread's frames use these."""

    layer: str
    visible: str
    persistent: bool
    start: str
    steps: int
    chains: int
    rows: np.ndarray | None  # validation rows (None: the RBM does not read the features)


@dataclass(frozen=True)
class SampleFrame:
    """One picture: the chains' means and samples after `total_steps` steps since their
    start, the inputs and reconstructions, and where the parameters came from."""

    layer: str
    means: np.ndarray
    samples: np.ndarray
    steps: int
    total_steps: int
    call: int
    inputs: np.ndarray | None
    reconstructions: np.ndarray | None
    source: str


class RbmSamplesPanel(QWidget):
    """See the module docstring. `frame` is the latest SampleFrame drawn; `advance()` makes
    and draws one now (idle); `sample_tile(j)` / `pair_tiles(j)` read the drawn images back."""

    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.session = window.training.session
        self.live = live_values(window)
        self.sampler: GibbsSampler | None = None
        self.state: np.ndarray | None = None  # the chains (samples), between frames
        self.total_steps = 0
        self.frame: SampleFrame | None = None
        self.shape: tuple[int, int] = (1, 1)
        self.columns = self.pair_columns = 1
        self._data: tuple[Any, np.ndarray] | None = None  # (dataset key, validation rows)
        self._restart = True
        self._shown = False
        self._sized = False
        self.config: _Config | None = None  # what frames use, read on the GUI thread
        self._last_live = -1e9  # when the training thread made its last frame
        self._build()
        self._timer = QTimer(self, interval=FRAME_MS)
        self._timer.timeout.connect(self._tick)
        self._remove_task = self.session.add_step_task(self._step_task)
        self.destroyed.connect(lambda *_: self._remove_task())
        self.session.step_task_done.connect(self._live_frame)
        self.session.run_started.connect(lambda _: self.restart())
        self.session.layer_started.connect(self._follow_layer)
        self.session.finished.connect(lambda _: self.restart())
        window.document.annotated.connect(self._fill_layers)
        self._fill_layers()

    # --- widgets ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.layer = QComboBox()
        self.layer.setToolTip("The RBM sampled (an rbm_layer node)")
        self.start = QComboBox()
        for key, text in STARTS:
            self.start.addItem(text, key)
        self.start.setToolTip("Where the chains start: PCD's persistent particles, or "
                              "validation rows")
        self.steps = QSpinBox()
        self.steps.setRange(1, 1000)
        self.steps.setValue(DEFAULT_STEPS)
        self.steps.setToolTip("Gibbs steps each chain takes between two frames")
        self.chains = QSpinBox()
        self.chains.setRange(1, 400)
        self.chains.setValue(DEFAULT_CHAINS)
        self.chains.setToolTip("Chains started from data (from the particles: one per "
                               "particle)")
        self.run_button = QPushButton("Run")
        self.run_button.setCheckable(True)
        self.run_button.setChecked(True)
        self.run_button.setToolTip("Advance the chains while the panel is shown (during a "
                                   "run, the run's frames come regardless)")
        self.restart_button = QPushButton("Restart")
        self.restart_button.setToolTip("Start the chains again from the chosen start")
        self.status = QLabel()
        self.status.setObjectName("muted")
        controls = QHBoxLayout()
        for label, widget in (("RBM", self.layer), ("Start from", self.start),
                              ("Steps / frame", self.steps), ("Chains", self.chains)):
            controls.addWidget(QLabel(label))
            controls.addWidget(widget)
        controls.addWidget(self.run_button)
        controls.addWidget(self.restart_button)
        controls.addStretch(1)
        controls.addWidget(self.status)

        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setMinimumHeight(260)
        self.graphics.setBackground(theme().base)
        self.samples_plot = self._plot(0, "Gibbs samples")
        self.samples_image = pg.ImageItem(axisOrder="row-major")
        self.samples_plot.addItem(self.samples_image)
        self.pairs_plot = self._plot(1, "Inputs | reconstructions")
        self.pairs_image = pg.ImageItem(axisOrder="row-major")
        self.pairs_plot.addItem(self.pairs_image)
        self.graphics.ci.layout.setColumnStretchFactor(0, 3)
        self.graphics.ci.layout.setColumnStretchFactor(1, 2)
        self.problem = QLabel()
        self.problem.setStyleSheet(f"color: {theme().error}")
        self.problem.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(controls)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.problem)

        self.steps.valueChanged.connect(self._steps_changed)
        self.layer.currentIndexChanged.connect(lambda _: self.restart())
        self.start.currentIndexChanged.connect(lambda _: self.restart())
        self.chains.valueChanged.connect(lambda _: self.restart())
        self.start.currentIndexChanged.connect(lambda _: self._chains_enabled())
        self._chains_enabled()
        self.restart_button.clicked.connect(self.restart)
        self.run_button.toggled.connect(lambda _: self._update_timer())

    def _chains_enabled(self) -> None:
        """From the particles there is one chain per particle: the count is the layer's."""
        from_data = self.start.currentData() != STARTS[0][0]
        self.chains.setEnabled(from_data)

    def _steps_changed(self, steps: int) -> None:
        """Takes effect at the next frame; the chains go on from where they are."""
        if self.config is not None:
            self.config = replace(self.config, steps=steps)

    def _plot(self, column: int, title: str) -> Any:
        plot = self.graphics.addPlot(row=0, col=column)
        plot.setAspectLocked(True)
        plot.invertY(True)
        plot.hideAxis("left")
        plot.hideAxis("bottom")
        plot.setMenuEnabled(False)
        plot.setTitle(title, color=theme().text)
        return plot

    def _fill_layers(self) -> None:
        graph = self.window.document.graph
        names = [n for n in graph.topological_order() if graph.nodes[n].op == "rbm_layer"]
        if names == [self.layer.itemData(i) for i in range(self.layer.count())]:
            return
        current = self.layer.currentData()
        self.layer.blockSignals(True)
        self.layer.clear()
        for name in names:
            attrs = graph.nodes[name].attrs
            method = f"PCD-{attrs.get('k')}" if attrs.get("persistent") else f"CD-{attrs.get('k')}"
            self.layer.addItem(f"{name}  ({attrs.get('hidden')} hidden, {method})", name)
        self.layer.setCurrentIndex(names.index(current) if current in names else
                                   (0 if names else -1))
        self.layer.blockSignals(False)
        self.restart()

    def _follow_layer(self, event: Any) -> None:
        name = event.layer.split(",")[0].strip()
        index = self.layer.findData(name)
        if index >= 0:
            self.layer.setCurrentIndex(index)

    # --- what is sampled ----------------------------------------------------------------------
    def restart(self) -> None:
        """The chains start again (at the next frame) from the chosen start; what the frames
        use is read here, on the GUI thread (`config`), for the training thread's frames."""
        self._restart = True
        self.total_steps = 0
        self.config = self._read_config()
        self._update_timer()

    def _read_config(self) -> _Config | None:
        node = self._node()
        if node is None:
            return None
        rows = None
        try:
            rows = self._validation_rows(node, max(self.chains.value(), RECONSTRUCTIONS))
        except NodeStudioError as exc:  # the dataset cannot be read: samples still work
            self.problem.setText(f"no data rows: {exc}")
        return _Config(node.id, node.attrs.get("visible", "bernoulli"),
                       bool(node.attrs.get("persistent")), self.start.currentData(),
                       self.steps.value(), self.chains.value(), rows)

    def _node(self) -> Any:
        name = self.layer.currentData()
        graph = self.window.document.graph
        return None if name is None or name not in graph.nodes else graph.nodes[name]

    def _parameters(self, name: str) -> tuple[np.ndarray, ...]:
        values = self.live.parameters()
        missing = [p for p in ("W", "vbias", "hbias") if f"{name}/{p}" not in values]
        if missing:
            raise SamplingError(f"{name} has no values for {', '.join(missing)} (the graph "
                                "does not build)")
        return tuple(np.asarray(values[f"{name}/{p}"]) for p in ("W", "vbias", "hbias"))

    def _validation_rows(self, node: Any, count: int) -> np.ndarray | None:
        """Rows of the Training dock's dataset (validation split, as training prepares them);
        None when the RBM does not read the features directly (a higher layer of a DBN)."""
        graph = self.window.document.graph
        feeds = [e for e in graph.edges if e.dst.node == node.id]
        if not feeds or graph.nodes[feeds[0].src.node].op != "input":
            return None
        from nodestudio.train.settings import load_data
        settings = self.window.training.settings()
        key = (settings.dataset, settings.preprocess, settings.seed)
        if self._data is None or self._data[0] != key:
            data = load_data(settings)
            split = data.valid if len(data.valid) else data.train
            # a seeded sample: a split may be sorted by class (mnist5k's first rows are 0s)
            rows = np.sort(np.random.default_rng(settings.seed).choice(
                len(split), min(400, len(split)), replace=False))
            rows = np.random.default_rng(settings.seed + 1).permutation(rows)
            x = np.asarray(split.x[rows], dtype=np.float32)
            self._data = (key, x.reshape(len(x), -1))
        return self._data[1][:count]

    def _starting_rows(self, config: _Config, visible: int, particles: np.ndarray | None
                       ) -> np.ndarray:
        if config.start == "particles" and config.persistent and particles is not None:
            return np.asarray(particles, dtype=np.float32)
        rows = config.rows
        if rows is not None and rows.shape[1] == visible:
            return rows[:config.chains]
        rng = np.random.default_rng(0)  # no data rows of this width (a higher layer): noise
        return (rng.random((config.chains, visible)) < 0.5).astype(np.float32)

    def _make_frame(self, params: tuple[np.ndarray, ...], particles: np.ndarray | None,
                    live: bool, source: str) -> SampleFrame:
        """Advance the chains and reconstruct, on whichever thread may use the device now
        (reads only `config` and the arrays it is given)."""
        config = self.config
        if config is None:
            raise SamplingError("no rbm_layer node in this graph: nothing to sample")
        W, vbias, hbias = params
        if self.sampler is None or self.sampler.visible != config.visible:
            self.sampler = GibbsSampler(config.visible, seed=0)
        sampler = self.sampler
        from_particles = config.start == "particles" and config.persistent and \
            particles is not None
        if self._restart or self.state is None or self.state.shape[1] != W.shape[0] or (
                live and from_particles):  # the run moves the particles: follow them
            self.state = self._starting_rows(config, W.shape[0], particles)
            self.total_steps = 0
            self._restart = False
        frame = sampler.run(self.state, W, vbias, hbias, config.steps)
        self.state = frame.samples
        self.total_steps += config.steps
        inputs = recon = None
        if config.rows is not None and config.rows.shape[1] == W.shape[0]:
            inputs = config.rows[:RECONSTRUCTIONS]
            recon = sampler.reconstruct(inputs, W, vbias, hbias)
        return SampleFrame(config.layer, frame.means, frame.samples, config.steps,
                           self.total_steps, frame.call, inputs, recon, source)

    # --- idle frames: the GUI thread, the device is free ----------------------------------
    def _update_timer(self) -> None:
        wanted = self.run_button.isChecked() and self.isVisible() and not self.session.running
        if wanted and not self._timer.isActive():
            self._timer.start()
        elif not wanted:
            self._timer.stop()

    def _tick(self) -> None:
        if self.session.running:
            self._timer.stop()
            return
        self.advance()

    def advance(self) -> SampleFrame | None:
        """One frame now from the document's values (not while a run uses the device)."""
        if self.session.running:
            return None
        node = self._node()
        try:
            if node is None:
                raise SamplingError("no rbm_layer node in this graph: nothing to sample")
            if self.config is None:
                self.config = self._read_config()
            params = self._parameters(node.id)
            particles = self.live.parameters().get(f"{node.id}/chain")
            trained = f"{node.id}/W" in self.window.document.parameter_values()
            frame = self._make_frame(params, particles, False,
                                     "trained values" if trained else "initial values")
        except (NodeStudioError, SamplingError, ValueError) as exc:
            self._timer.stop()
            self.problem.setText(str(exc))
            return None
        self.show_frame(frame)
        return frame

    # --- live frames: the training thread ------------------------------------------------------
    def _step_task(self, trainer: Any, event: Any) -> SampleFrame | None:
        """On the training thread after a step: a frame now and then, while shown."""
        if not self._shown or time.monotonic() - self._last_live < LIVE_FRAME_SECONDS:
            return None
        config = self.config
        node = config.layer if config is not None else None
        shared = trainer.model.shared
        if node is None or f"{node}/W" not in shared:
            return None
        self._last_live = time.monotonic()
        params = tuple(shared[f"{node}/{p}"].get_value() for p in ("W", "vbias", "hbias"))
        chain = shared.get(f"{node}/chain")
        particles = chain.get_value() if chain is not None else None
        return self._make_frame(params, particles, True,
                                f"live: epoch {event.epoch}, step {event.iteration + 1}")

    def _live_frame(self, task: Any, result: Any) -> None:
        if task != self._step_task:  # a bound method: equal, not identical
            return
        if isinstance(result, Exception):
            self.problem.setText(f"sampling failed: {result}")
            return
        self.show_frame(result)

    # --- drawing -------------------------------------------------------------------------------
    def show_frame(self, frame: SampleFrame) -> None:
        self.frame = frame
        self.problem.clear()
        visible = frame.means.shape[1]
        latest = self.live.latest
        self.shape = tile_shape(visible, "", latest.input_shape if latest is not None else None)
        binary = self._node() is None or self._node().attrs.get("visible") != "gaussian"
        levels = (0.0, 1.0) if binary else (float(np.nanmin(frame.means)),
                                             float(np.nanmax(frame.means)))
        tiles = frame.means.reshape(len(frame.means), *self.shape)
        picture, self.columns = tile_grid(tiles)
        self.samples_image.setImage(picture, levels=levels)
        self.samples_plot.setTitle(
            f"{len(tiles)} Gibbs chains of {frame.layer}, {frame.total_steps} steps "
            f"({frame.steps} per frame)", color=theme().text)
        if frame.inputs is not None and frame.reconstructions is not None:
            pairs = np.empty((2 * len(frame.inputs), *self.shape), dtype=np.float32)
            pairs[0::2] = frame.inputs.reshape(-1, *self.shape)
            pairs[1::2] = frame.reconstructions.reshape(-1, *self.shape)
            picture, self.pair_columns = _pair_grid(pairs)
            self.pairs_image.setImage(picture, levels=levels)
        else:
            self.pairs_image.clear()
        self.status.setText(frame.source)

    def sample_tile(self, j: int) -> np.ndarray:
        """Chain j's tile as drawn (read back from the image item)."""
        r, c = divmod(j, self.columns)
        h, w = self.shape
        top, left = r * (h + 1), c * (w + 1)
        return np.array(self.samples_image.image[top:top + h, left:left + w])

    def pair_tiles(self, j: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, reconstruction) j as drawn."""
        r, c = divmod(j, self.pair_columns)
        h, w = self.shape
        top, left = r * (h + 1), c * (2 * w + 3)
        image = self.pairs_image.image
        return (np.array(image[top:top + h, left:left + w]),
                np.array(image[top:top + h, left + w + 1:left + 2 * w + 1]))

    @property
    def busy(self) -> bool:
        """Shown, with an RBM to sample, and no frame drawn yet (the screenshot waits)."""
        return self._shown and self.frame is None and self.config is not None and \
            not self.problem.text()

    # --- Qt ----------------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        self._shown = True
        if not self._sized:  # first shown: tiles of 28 x 28 need more than a strip
            self._sized = True
            dock = getattr(self.window, "inspect_docks", {}).get(PANEL.name)
            if dock is not None and dock.height() < MIN_HEIGHT:
                self.window.resizeDocks([dock], [MIN_HEIGHT], Qt.Orientation.Vertical)
        self._update_timer()
        if self.frame is None and not self.session.running:
            QTimer.singleShot(0, self.advance)

    def hideEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().hideEvent(event)
        self._shown = False
        self._timer.stop()

    def paintEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        with gui_priority.painting():
            super().paintEvent(event)


def _pair_grid(pairs: np.ndarray) -> tuple[np.ndarray, int]:
    """Input / reconstruction pairs (2n x h x w, alternating): each pair side by side one pixel
    apart, pairs three pixels apart, in a grid about as wide as high."""
    n = len(pairs) // 2
    h, w = pairs.shape[1:]
    columns = max(1, int(np.ceil(np.sqrt(n * h / (2 * w + 1)))))
    rows = int(np.ceil(n / columns))
    image = np.full((rows * (h + 1) - 1, columns * (2 * w + 3) - 2), np.nan, dtype=np.float32)
    for j in range(n):
        r, c = divmod(j, columns)
        top, left = r * (h + 1), c * (2 * w + 3)
        image[top:top + h, left:left + w] = pairs[2 * j]
        image[top:top + h, left + w + 1:left + 2 * w + 1] = pairs[2 * j + 1]
    return image, columns


def build(window: MainWindow) -> RbmSamplesPanel:
    return RbmSamplesPanel(window)


PANEL = PanelSpec("rbm-samples", "RBM Samples", build,
                  summary="Gibbs chains of an RBM from its persistent particles or from data, "
                  "live, and reconstructions beside their inputs", order=15)
