"""The values the canvas modes draw (Activations, Gradients on the wires): a `Snapshot`, from
the training run's probe while there is one, else computed on demand from the document.

    values = canvas_values(window)
    values.changed.connect(...)      # a new snapshot to draw (never per paint)
    values.snapshot                  # the Snapshot drawn, or None
    values.source                    # one line: where it comes from
    values.refresh()                 # compute it now from the document's parameter values
    values.wire(edge)                # (forward values, gradient) on a wire, or None

On demand, the same probe the trainer uses (train/probe.py) is built for the document's model
and run once on a batch of the Training panel's dataset (64 rows drawn with its seed, in
training mode as during a run, on the plain loss without regularisation terms): the outputs of
each node and the gradient of the loss with respect to each. It costs a compile (a second for
the example MLP, 5-15 s for the deep MLP on this 2-core machine) and one forward and backward
pass on 64 rows, on a worker thread: the window stays usable meanwhile.

Keys: a wire leaving node N's port P carries snapshot key "N.P" (a node with several outputs)
or "N"; a wire from a parameter node carries the parameter itself and its gradient.
"""

from __future__ import annotations

import threading
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtWidgets import QApplication

from nodestudio.errors import NodeStudioError
from nodestudio.graph.model import Edge, PortRef
from nodestudio.gui.canvas.wire_overlay import WireHover
from nodestudio.gui.inside.live import live_values
from nodestudio.train.events import Snapshot

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

PROBE_ROWS = 64


def port_key(snapshot: Snapshot, ref: PortRef) -> str | None:
    """The snapshot key of what leaves a port (see the module docstring)."""
    for key in (f"{ref.node}.{ref.port}", ref.node):
        if key in snapshot.activations or key in snapshot.params:
            return key
    return None


def wire_arrays(snapshot: Snapshot, ref: PortRef
                ) -> tuple[np.ndarray, np.ndarray | None] | None:
    """(value, gradient of the loss w.r.t. it) leaving a port, or None when not probed."""
    key = port_key(snapshot, ref)
    if key is None:
        return None
    if key in snapshot.activations:
        return snapshot.activations[key], snapshot.activation_grads.get(key)
    return snapshot.params[key], snapshot.grads.get(key)


def reads_into_loss(snapshot: Snapshot, node: str) -> bool:
    """Whether the loss depends on a node's output (the probe kept its outputs): a wire into a
    node that does not (a prediction, an error rate) carries no gradient back."""
    return any(key == node or key.startswith(f"{node}.") for key in snapshot.activations)


def mean_abs(array: np.ndarray | None) -> float:
    """mean |x| in float64 (nan when there is nothing)."""
    if array is None or np.size(array) == 0:
        return float("nan")
    return float(np.mean(np.abs(np.asarray(array, dtype=np.float64))))


def stats_text(name: str, array: np.ndarray | None) -> str:
    """"name: mean m  std s  min a  max b  shape (..)" in float64."""
    if array is None:
        return f"{name}: none (the loss does not read this wire)"
    a = np.asarray(array, dtype=np.float64)
    if a.size == 0:
        return f"{name}: empty {a.shape}"
    shape = " x ".join(str(d) for d in a.shape) or "scalar"
    return (f"{name}: mean {a.mean():.4g}  std {a.std():.4g}  min {a.min():.4g}  "
            f"max {a.max():.4g}  shape {shape}")


class CanvasValues(QObject):
    """See the module docstring. `changed` fires with each snapshot to draw; `failed(str)`
    when an on-demand computation cannot be made (the graph, the dataset)."""

    changed = Signal()
    failed = Signal(str)
    busy = Signal(bool)  # an on-demand computation started (True) or ended (False)
    _computed = Signal(object)  # from the worker thread, delivered in the GUI thread

    def __init__(self, window: MainWindow):
        super().__init__(window)
        self.window = window
        self.snapshot: Snapshot | None = None
        self.source = "no values yet: train, or press Refresh"
        self.computing = False
        self._generation = 0  # of the latest on-demand request: older results are dropped
        self._worker: threading.Thread | None = None
        self._computed.connect(self._on_computed)
        self.modes: set[str] = set()  # canvas modes on ("activations", "wires")
        self.hover = WireHover(window.view, self.describe)
        self._inputs: tuple[Snapshot, np.ndarray] | None = None  # features of the probe rows
        self._data: tuple[tuple, object] | None = None  # (settings key, training split)
        self.live = live_values(window)
        self._run_ended = False  # the document holds the run's outcome: draw from it
        self.live.draw.connect(self._on_draw)
        if self.live.training and self.live.latest is not None:
            self._on_draw(self.live.latest)
        # after a run the document holds the trained values, newer than the run's last
        # snapshot (spaced out by the probe's budget): draw those
        window.training.values_trained.connect(self._on_trained)
        window.document.replaced.connect(self._on_replaced)

    def _on_draw(self, snapshot: Snapshot | None) -> None:
        if snapshot is None:  # a new run: keep the old picture until its first snapshot
            self._run_ended = False
            return
        if self._run_ended:
            return
        self.snapshot = snapshot
        self.source = (f"training run: epoch {snapshot.epoch}, step {snapshot.iteration}, "
                       f"{len(snapshot.rows)} probe rows")
        self.changed.emit()

    def _on_replaced(self) -> None:
        """Another graph: the values of the old one (whose node ids it may share) go."""
        self.snapshot, self._inputs = None, None
        self._generation += 1  # a computation for the old graph is dropped when it ends
        if self.computing:
            self.computing = False
            self.busy.emit(False)
        self.source = "no values yet: train, or press Refresh"
        self.changed.emit()
        if self.modes and not self.live.training:
            QTimer.singleShot(0, self.refresh)

    def _on_trained(self, *_args) -> None:
        self._run_ended = True
        self.snapshot = None  # computed again when a mode needs it
        if self.modes:  # after the run's last events (its held-back draw) are handled
            QTimer.singleShot(0, self.refresh)

    def refresh(self, wait: bool = False) -> bool:
        """Compute the values from the document's parameters (see the module docstring), on
        a worker thread: compiling takes seconds for a larger graph, and the window stays
        responsive meanwhile (`busy`). `changed` or `failed` follows; `wait` computes here
        instead. False when it cannot start (a run is drawing, the graph cannot be read)."""
        from nodestudio.train.model import Model
        if self.live.training:
            return False  # the run's probe is drawing
        try:
            settings = self.window.training.settings()
            graph = self.window.document.graph  # read here: the document is the GUI's
            model = Model.from_document(graph, "<canvas>", dict(graph.metadata))
        except NodeStudioError as exc:
            self.failed.emit(str(exc))
            return False
        self._generation += 1
        self.computing = True
        self.busy.emit(True)
        job = partial(self._compute, self._generation, model, settings)
        if wait:
            job()
        else:
            self._worker = threading.Thread(target=job, name="canvas-values", daemon=True)
            self._worker.start()
        return True

    def first_values(self) -> None:
        """Compute the values here, with a wait cursor, unless there are some or a run or a
        computation is under way: a panel opened for the first time shows its picture at once
        (a screenshot of it too); later refreshes run on the worker thread."""
        if self.snapshot is None and not self.live.training and not self.computing:
            QApplication.setOverrideCursor(Qt.WaitCursor)
            try:
                self.refresh(wait=True)
            finally:
                QApplication.restoreOverrideCursor()

    def _compute(self, generation: int, model: Any, settings: Any) -> None:
        """On the worker thread: the probe's one snapshot; the result goes back by signal."""
        from nodestudio.train.probe import Probe
        from nodestudio.train.settings import load_data
        try:
            data = load_data(settings)
            model.check_data(data)  # "the graph wants 784 features, digits has 64"
            probe = Probe(model, model.loss, model.params, data.train, every=1,
                          batch_size=PROBE_ROWS, seed=settings.seed)
            result = (generation, probe.take(0, 0), np.asarray(probe.x), settings.dataset, "")
        except NodeStudioError as exc:
            result = (generation, None, None, settings.dataset, str(exc))
        except Exception as exc:  # noqa: BLE001  (a thread's error must reach the user)
            result = (generation, None, None, settings.dataset, f"{type(exc).__name__}: {exc}")
        try:
            self._computed.emit(result)
        except RuntimeError:  # the window closed meanwhile
            pass

    def _on_computed(self, result: tuple) -> None:
        generation, snapshot, x, dataset, error = result
        if generation != self._generation:
            return  # a newer request is under way
        self.computing = False
        self.busy.emit(False)
        if error:
            self.failed.emit(error)
            return
        if self.live.training:
            return  # a run began meanwhile: its probe draws
        self.snapshot = snapshot
        self._inputs = (snapshot, x)
        self.source = (f"the document's parameter values on {len(snapshot.rows)} rows of "
                       f"{dataset}")
        self.changed.emit()

    def set_mode(self, name: str, on: bool) -> None:
        """A canvas mode is on: wires show their tensor in a popup while any is."""
        if on:
            self.modes.add(name)
        else:
            self.modes.discard(name)
        self.hover.enabled = bool(self.modes)
        if not self.modes:
            self.hover.popup.hide()

    def describe(self, edge: Edge) -> tuple[str, np.ndarray, np.ndarray | None] | None:
        """The popup over a wire: statistics of the value and its gradient (None: the
        wire's plain tooltip, when no mode is on or the wire was not probed)."""
        found = self.wire(edge) if self.modes else None
        if found is None:
            return None
        value, grad = found
        text = (f"{edge.src} → {edge.dst}\n{stats_text('value', value)}\n"
                f"{stats_text('gradient', grad)}\nmean |gradient| {mean_abs(grad):.4g}\n"
                f"{self.source}")
        return text, value, grad

    def features(self) -> np.ndarray | None:
        """The features of the probe rows (what the features input received), loaded from the
        Training panel's dataset once per snapshot; None when it cannot be read."""
        from nodestudio.train.settings import load_data
        snapshot = self.snapshot
        if snapshot is None:
            return None
        if self._inputs is None or self._inputs[0] is not snapshot:
            settings = self.window.training.settings()
            key = (settings.dataset, settings.seed, settings.preprocess)
            try:
                if self._data is None or self._data[0] != key:
                    self._data = (key, load_data(settings).train)
                train = self._data[1]
                self._inputs = (snapshot, np.asarray(train.x[list(snapshot.rows)]))
            except (NodeStudioError, IndexError):  # another dataset than the run's
                return None
        return self._inputs[1]

    def wire(self, edge: Edge) -> tuple[np.ndarray, np.ndarray | None] | None:
        """(value, gradient) on a wire: the gradient of its source port (summed over the
        port's wires), None on a wire into a node the loss does not read."""
        found = None if self.snapshot is None else wire_arrays(self.snapshot, edge.src)
        if found is not None and not reads_into_loss(self.snapshot, edge.dst.node):
            return found[0], None  # nothing flows back along it
        return found


def canvas_values(window: MainWindow) -> CanvasValues:
    """The window's one CanvasValues, created on first use."""
    hub = getattr(window, "canvas_values", None)
    if not isinstance(hub, CanvasValues):
        hub = CanvasValues(window)
        window.canvas_values = hub
    return hub


__all__ = ["CanvasValues", "canvas_values", "mean_abs", "port_key", "reads_into_loss",
           "stats_text", "wire_arrays"]
