"""The live values of the current training run, for every looking-inside panel at once.

The trainer's probe (nodestudio/train/probe.py) sends a `Snapshot` every few steps: parameter
values and gradients, the output of each forward node on a fixed batch and the gradient flowing
back into it. `TrainingSession` hands them to the GUI thread (`session.snapshot`, at most 4 a
second); this hub keeps the latest one and the scalar series of the run so far (gradient norms,
weight norms, update ratios per parameter), so that a panel opened in the middle of a run still
draws the whole run. Panels read from it:

    live = live_values(window)
    live.draw.connect(panel.redraw)         # time to redraw (None: a new run began)
    live.changed.connect(...)               # every snapshot, for what must see each one
    live.latest                             # the newest Snapshot, or None
    live.series                             # [SeriesPoint, ...] of this run
    live.parameters()                       # arrays to show now (see below)

`draw` is what panels redraw on: at once for the first snapshot of a run, then at most once
every `DRAW_INTERVAL` seconds while it trains (the newest snapshot), and at once when the run
ends. Redrawing a panel takes tens of milliseconds of the GUI thread, which on a small CPU
machine shares the cores with the device's threads: redrawing at every snapshot cost the run
more than the probe itself (benchmarks/bench_probe.py --studio).

It is created on first use and stored on the window (`window.live`). `parameters()` is what a
panel shows when it wants "the weights now": the latest snapshot's while a run is going, the
document's values otherwise (those of the last run, or the initial values a fresh graph gets).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal

from nodestudio.errors import NodeStudioError
from nodestudio.train.events import Snapshot

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

DRAW_INTERVAL = 1.0  # seconds: panels redraw at most this often while a run trains
MAX_POINTS = 5000  # series points kept per run: older halves are thinned, never dropped whole


@dataclass(frozen=True)
class SeriesPoint:
    """The scalar figures of one snapshot, for plots over time."""

    iteration: int
    epoch: int
    loss: float
    grad_norms: Mapping[str, float]
    weight_norms: Mapping[str, float]
    update_ratios: Mapping[str, float]
    step_ratios: Mapping[str, float]


class LiveValues(QObject):
    """Latest snapshot and the run's series; `changed(object)` carries each new Snapshot, or
    None when a new run starts; `draw(object)` the same, spaced for redrawing (see above)."""

    changed = Signal(object)
    draw = Signal(object)

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.latest: Snapshot | None = None
        self.series: list[SeriesPoint] = []
        # every parameter the run's snapshots have shown, newest first: a layer-wise run's
        # snapshots hold only the layer training now, and the layers below keep the values
        # their own stage ended with
        self.run_params: dict[str, np.ndarray] = {}
        self._drawn_at = -math.inf  # when `draw` was last emitted (time.monotonic)
        self._timer = QTimer(self)  # a held-back draw
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._draw_now)
        session = window.training.session
        session.snapshot.connect(self._on_snapshot)
        session.run_started.connect(self._on_run_started)
        session.finished.connect(self._flush)
        session.failed.connect(self._flush)
        self._initial: dict[str, np.ndarray] | None = None  # until the document changes
        window.document.annotated.connect(self._forget_initial)

    @property
    def training(self) -> bool:
        return self.window.training.session.running

    def _on_run_started(self, _settings: Any = None) -> None:
        self.latest = None
        self.series = []
        self.run_params = {}
        self._timer.stop()
        self._drawn_at = -math.inf
        self.changed.emit(None)
        self.draw.emit(None)

    def _on_snapshot(self, snapshot: Snapshot) -> None:
        self.latest = snapshot
        self.run_params.update(snapshot.params)
        self.series.append(SeriesPoint(snapshot.iteration, snapshot.epoch, snapshot.loss,
                                       dict(snapshot.grad_norms), dict(snapshot.weight_norms),
                                       dict(snapshot.update_ratios),
                                       dict(snapshot.step_ratios)))
        if len(self.series) > MAX_POINTS:  # keep every other point of the older half
            half = len(self.series) // 2
            self.series = self.series[:half:2] + self.series[half:]
        self.changed.emit(snapshot)
        wait = self._drawn_at + DRAW_INTERVAL - time.monotonic()
        if wait <= 0:
            self._draw_now()
        elif not self._timer.isActive():
            self._timer.start(max(1, math.ceil(1000 * wait)))

    def _draw_now(self) -> None:
        self._timer.stop()
        self._drawn_at = time.monotonic()
        self.draw.emit(self.latest)

    def _flush(self, *_args: Any) -> None:
        """The run ended: a held-back draw happens now."""
        if self._timer.isActive():
            self._draw_now()

    def parameters(self) -> dict[str, np.ndarray]:
        """Parameter arrays by name ("W1", "hidden/W"): the document's values, completed with
        the initial values of those it has none of (a graph never trained), and while
        training, the values the run's snapshots have shown over them."""
        document = self.window.document
        values = dict(document.parameter_values())
        for name, value in self._initial_values().items():
            values.setdefault(name, value)
        if self.training and self.latest is not None:
            values.update(self.run_params)
        return values

    def _initial_values(self) -> dict[str, np.ndarray]:
        """What the IR gives parameters without stored values (their initialisers), cached
        until the document's graph changes."""
        if self._initial is None:
            from nodestudio.ir.convert import from_document
            try:
                loaded = from_document(self.window.document.graph, strict=False)
                self._initial = {name: np.asarray(var.get_value())
                                 for name, var in loaded.shared.items()}
            except NodeStudioError:  # a half-built graph: show what the document holds
                self._initial = {}
        return self._initial

    def _forget_initial(self) -> None:
        self._initial = None


def layer_of(graph: Any, name: str) -> str:
    """The node a parameter belongs to, for messages and labels: the first node a parameter
    node feeds, or the layer that owns it ("hidden/W" -> "hidden"); "" when there is none."""
    if name in graph.nodes:
        refs = graph.consumers(name)
        return refs[0].node if refs else ""
    return name.rpartition("/")[0]


def live_values(window: MainWindow) -> LiveValues:
    """The window's hub, created on first use."""
    hub = getattr(window, "live", None)
    if not isinstance(hub, LiveValues):
        hub = LiveValues(window)
        window.live = hub
    return hub


__all__ = ["DRAW_INTERVAL", "LiveValues", "SeriesPoint", "layer_of", "live_values"]
