"""One training run driven from the studio: everything slow happens in a worker thread.

`TrainingSession.start(graph, settings, title)` takes a snapshot of the document on the GUI
thread (the user may keep editing while the model trains), then a Python thread builds the IR,
loads the dataset, compiles and runs the `Trainer`. The trainer calls its subscribers on that
thread; they only hand small event objects to a `_Bridge` QObject whose signals cross to the GUI
thread as queued connections, so no widget is ever touched from the worker.

Batch events come hundreds of times a second; forwarding each would flood the event loop (and
the curves would redraw for nothing), so the worker folds them into one `BatchProgress` at most
every `PROGRESS_INTERVAL` seconds. Epoch and terminal events always go through. The trainer's
probe (train/probe.py) sends a `Snapshot` of parameters, gradients and activations every few
steps; the session forwards at most one every `SNAPSHOT_INTERVAL` seconds as `snapshot` (the
newest one held back is sent before the run's terminal event, so the last state is always seen).

The session never sees the `Document`: after a successful run it keeps the trained arrays in
`values` (node id -> array) and emits `finished(history)`; whoever owns the document applies
them as one undo step (see `TrainingPanel`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal

from nodestudio.errors import GraphError, NodeStudioError
from nodestudio.graph.history import capture
from nodestudio.graph.model import Graph
from nodestudio.train.events import BatchEnd, EpochEnd, Failed, Finished, History, Snapshot
from nodestudio.train.loop import TrainingError
from nodestudio.train.model import DataMismatchError, RolesError
from nodestudio.train.settings import TrainingSettings
from nodestudio.train.strategies.layerwise import LayerStart

PROGRESS_INTERVAL = 0.05  # seconds between two BatchProgress reports: at most 20 per second
LOSS_SMOOTHING = 0.05  # weight of the newest batch in the exponential moving average
SNAPSHOT_INTERVAL = 0.25  # seconds between two probe snapshots sent on: at most 4 per second
PROBE_EVERY = "auto"  # the trainer's probe interval (train/probe.py): spaced by its cost


class GuiPriority:
    """Lets the GUI thread paint without fighting the trainer for the GIL.

    A plot's paint calls back into Python many times (pyqtgraph items); each call must take
    the GIL, which the training thread holds for most of every step, so a 20 ms paint could
    stretch past 100 ms. Widgets wrap such paints in `with gui_priority.painting():`, and the
    worker calls `wait()` between steps: it then sleeps, GIL released, until the paint ends."""

    def __init__(self) -> None:
        self._idle = threading.Event()
        self._idle.set()
        self._depth = 0  # nested paints (two plots painted in one pass)

    @contextmanager
    def painting(self) -> Iterator[None]:
        self._depth += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0:
                self._idle.set()

    def wait(self, timeout: float = 0.5) -> None:
        """Called by the worker between steps; returns at once unless the GUI is painting
        (and after `timeout` at most, so a stuck paint cannot stall training for good)."""
        self._idle.wait(timeout)


gui_priority = GuiPriority()


@dataclass(frozen=True)
class BatchProgress:
    """Where a run stands, sent at most 20 times a second while it trains."""

    epoch: int  # the epoch being trained, from 1
    epochs: int  # the most the run will do
    step: int  # steps done in this epoch
    steps_per_epoch: int
    iteration: int  # steps done over the whole run
    loss: float  # the latest batch loss
    smoothed_loss: float  # exponential moving average of the batch losses
    samples_per_second: float  # over the last report interval
    elapsed: float  # seconds since the first step

    @property
    def fraction(self) -> float:
        """Share of the whole run done, 0..1 (the run may end earlier: early stopping)."""
        done = (self.epoch - 1) * self.steps_per_epoch + min(self.step, self.steps_per_epoch)
        return min(1.0, done / max(1, self.epochs * self.steps_per_epoch))

    @property
    def epoch_position(self) -> float:
        """The x coordinate of this point on an axis in epochs (epoch 1 ends at 1.0)."""
        return self.epoch - 1 + min(1.0, self.step / max(1, self.steps_per_epoch))

    @property
    def seconds_left(self) -> float | None:
        if self.fraction <= 0.0 or self.elapsed <= 0.0:
            return None
        return self.elapsed * (1.0 - self.fraction) / self.fraction


class _Bridge(QObject):
    """Lives on the GUI thread; its signals are emitted from the worker and delivered queued."""

    state = Signal(str)
    progress = Signal(object)
    epoch = Signal(object)
    snapshot = Signal(object)  # a train.events.Snapshot from the probe
    note = Signal(object)  # a DataNote on the loaded dataset
    done = Signal(object, object)  # History, {node id: array}
    failed = Signal(str, object, object)  # message, node id or None, History or None
    fixable = Signal(str, object)  # message, tuple of Fix: what Train offers to mend
    roles_note = Signal(str)  # what the run took the graph's roles to be
    epoch_task_done = Signal(object, object)  # a task, what it returned (add_epoch_task)
    step_task_done = Signal(object, object)  # a task, what it returned (add_step_task)
    layer_started = Signal(object)  # a LayerStart: pretraining moves to a layer
    layer_finished = Signal(object)  # (layer, EpochRecord): a pretrained layer's last figures


class _Worker:
    """The body of the training thread: build, compile, train, report."""

    def __init__(self, graph: Graph, settings: TrainingSettings, title: str, bridge: _Bridge,
                 strategy: Any = None):
        self.graph, self.settings, self.title, self.bridge = graph, settings, title, bridge
        self.strategy = strategy  # None: the optimizer's; a pretraining method's otherwise
        self.step_tasks: list[Any] = []  # the session's list (add_step_task)
        # a layer-wise run: each layer is a trainer of its own whose epochs count from 1; the
        # run's epochs are numbered on from the layers before (`_epoch_offset`)
        self._layer: LayerStart | None = None
        self._epoch_offset = 0
        self._step_offset = self._layer_steps = 0  # steps of the layers done / of this one
        self._total_epochs = settings.epochs
        self.trainer: Any = None
        self.stop_requested = threading.Event()
        self.pause_requested = threading.Event()
        self.closed = False  # set by shutdown(): the GUI side is going away, emit nothing
        self.probe_every: int | str | None = PROBE_EVERY
        self._terminal_sent = False
        self._smoothed: float | None = None
        self._window_start = self._first_step = 0.0
        self._window_samples = 0
        self._last_report = 0.0
        self._steps_per_epoch = 1
        self._step_in_epoch = 0
        self._n_train = 0
        self.epoch_tasks: list[Any] = []  # the session's list: tasks added mid-run count
        self._last_snapshot = -1e9  # when the latest Snapshot was sent on
        self._pending_snapshot: Snapshot | None = None  # held back: sent too recently

    # --- control, from the GUI thread -----------------------------------------------------
    def pause(self) -> None:
        self.pause_requested.set()
        if self.trainer is not None:
            self.trainer.pause()

    def resume(self) -> None:
        self.pause_requested.clear()
        if self.trainer is not None:
            self.trainer.resume()

    def stop(self) -> None:
        self.stop_requested.set()
        if self.trainer is not None:
            self.trainer.stop()

    # --- the thread -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except RolesError as exc:  # no loss, no features...: say what, offer the fixes
            self._offer(exc, tuple(f for p in exc.problems for f in p.fixes))
        except DataMismatchError as exc:  # the features input's shape and the dataset's
            self._offer(exc, (exc.fix,) if exc.fix is not None else ())
        except GraphError as exc:  # a node the problems panel can select
            self._fail(str(exc), exc.node)
        except NodeStudioError as exc:  # ModelError, DatasetError, TrainingError, kernel build
            self._fail(str(exc).strip(), getattr(exc, "node", None))
        except Exception as exc:  # noqa: BLE001  (a bug must still end the run visibly)
            self._fail(f"internal error: {type(exc).__name__}: {exc}", None)

    def _run(self) -> None:
        from nodestudio.train.model import Model
        from nodestudio.train.settings import build_trainer, load_data, use_device
        settings = self.settings
        settings.check()
        use_device(settings.device)  # before anything is compiled
        model = Model.from_document(self.graph, self.title, dict(self.graph.metadata))
        if model.roles is not None and not self.closed:
            inferred = f" ({'; '.join(model.roles.inferred)})" if model.roles.inferred else ""
            self.bridge.roles_note.emit(f"Training roles: {model.roles.describe()}{inferred}")
        data = load_data(settings)
        # what 'auto' did, raw values far outside [0, 1], more outputs than classes
        for note in [*data.notes, *model.class_notes(data)]:
            if not self.closed:
                self.bridge.note.emit(note)
        extra = {} if self.strategy is None else {"strategy": self.strategy}
        trainer = build_trainer(model, data, settings, probe_every=self.probe_every, **extra)
        self._n_train = len(data.train)
        if trainer.optimizer is None:  # CG / L-BFGS: a chunk of iterations per epoch
            self._steps_per_epoch = trainer.fullbatch_iterations
        else:
            self._steps_per_epoch = max(1, math.ceil(len(data.train) / settings.batch_size))
        trainer.subscribe(self._on_event)
        self.trainer = trainer  # from here on pause() and stop() reach the trainer directly
        if self.pause_requested.is_set():
            trainer.pause()
        if self.stop_requested.is_set():  # stopped while compiling: nothing was trained
            self._emit_done(History(stop_reason="stopped"), {})
            return
        self._emit_state("paused" if self.pause_requested.is_set() else "running")
        rbms = getattr(trainer.strategy, "nodes", None)
        if rbms and not self.closed:  # contrastive divergence: its RBMs train together
            self.bridge.layer_started.emit(LayerStart(
                1, 1, ", ".join(node.name for node in rbms), trainer.strategy.name))
        trainer.run()  # events arrive in _on_event; NodeStudioError after a Failed event

    def _on_event(self, event: Any) -> None:
        if isinstance(event, BatchEnd):
            self._layer_steps = event.iteration + 1
            self._batch(event)
            self._run_step_tasks(event)
        elif isinstance(event, LayerStart):
            self._layer = event
            self._total_epochs = self.settings.epochs * event.total
            if not self.closed:
                self.bridge.layer_started.emit(event)
        elif isinstance(event, EpochEnd) and self._layer is not None and \
                f"{self._layer.layer}/epochs" in event.record.metrics:
            # the layer-wise run's own epoch: the layer is done (its epochs came before)
            self._epoch_offset += int(event.record.metrics[f"{self._layer.layer}/epochs"])
            self._step_offset += self._layer_steps
            self._layer_steps = 0
            if not self.closed:
                self.bridge.layer_finished.emit((self._layer.layer, event.record))
        elif isinstance(event, Snapshot):
            if self._epoch_offset:  # a later layer's: steps and epochs numbered on over the run
                event = replace(event, iteration=event.iteration + self._step_offset,
                                epoch=event.epoch + self._epoch_offset)
            self._pending_snapshot = event  # the newest always goes on, now or at the end
            if time.perf_counter() - self._last_snapshot >= SNAPSHOT_INTERVAL:
                self._send_snapshot()
        elif isinstance(event, EpochEnd):
            self._step_in_epoch = 0
            if self._epoch_offset:  # a later layer's epoch, numbered on over the run
                event = EpochEnd(replace(event.record,
                                         epoch=event.record.epoch + self._epoch_offset),
                                 None if event.best_epoch is None
                                 else event.best_epoch + self._epoch_offset)
            if not self.closed:
                self.bridge.epoch.emit(event)
            self._run_epoch_tasks(event)
        elif isinstance(event, Finished):
            self._send_snapshot()
            self._run_epoch_tasks(event)  # the model holds its final (best) values now
            self._emit_done(event.history, self.trainer.model.values())
        elif isinstance(event, Failed):
            self._send_snapshot()
            self._fail(event.message, event.node, event.history)

    def _run_epoch_tasks(self, event: Any) -> None:
        self._run_tasks(self.epoch_tasks, event, self.bridge.epoch_task_done, every_result=True)

    def _run_step_tasks(self, event: BatchEnd) -> None:
        """Each step task after every step; what it returns (None: nothing) goes to the GUI."""
        self._run_tasks(self.step_tasks, event, self.bridge.step_task_done, every_result=False)

    def _run_tasks(self, tasks: list[Any], event: Any, done: Any, every_result: bool) -> None:
        for task in list(tasks):
            try:
                result = task(self.trainer, event)
            except Exception as exc:  # noqa: BLE001  (a panel's failure must not end the run)
                result = exc
            if (every_result or result is not None) and not self.closed:
                done.emit(task, result)

    def _send_snapshot(self) -> None:
        snapshot, self._pending_snapshot = self._pending_snapshot, None
        if snapshot is not None and not self.closed:
            self._last_snapshot = time.perf_counter()
            self.bridge.snapshot.emit(snapshot)

    def _batch(self, event: BatchEnd) -> None:
        gui_priority.wait()  # between two steps: the moment to let a paint finish
        now = time.perf_counter()
        if self._first_step == 0.0:
            # the first step includes compiling the training function: measure from its end
            self._first_step = self._window_start = self._last_report = now
        else:
            self._window_samples += self._samples_in_step(self._step_in_epoch)
        self._smoothed = event.loss if self._smoothed is None else (
            (1.0 - LOSS_SMOOTHING) * self._smoothed + LOSS_SMOOTHING * event.loss)
        self._step_in_epoch += 1
        if now - self._last_report < PROGRESS_INTERVAL or self.closed:
            return
        rate = self._window_samples / max(now - self._window_start, 1e-9)
        self._window_start, self._window_samples, self._last_report = now, 0, now
        self.bridge.progress.emit(BatchProgress(
            event.epoch + self._epoch_offset, self._total_epochs, self._step_in_epoch,
            self._steps_per_epoch,
            event.iteration + 1, event.loss, self._smoothed, rate, now - self._first_step))

    def _samples_in_step(self, step: int) -> int:
        """Examples seen by step `step` (from 0) of an epoch: the last batch may be short,
        and a full-batch iteration sees the whole training set."""
        if self.trainer.optimizer is None:
            return self._n_train
        return max(0, min(self.settings.batch_size, self._n_train - step *
                          self.settings.batch_size))

    # --- reporting ------------------------------------------------------------------------
    def _emit_state(self, state: str) -> None:
        if not self.closed:
            self.bridge.state.emit(state)

    def _emit_done(self, history: History, values: dict[str, np.ndarray]) -> None:
        self._terminal_sent = True
        if not self.closed:
            self.bridge.done.emit(history, values)

    def _offer(self, exc: NodeStudioError, fixes: tuple[Any, ...]) -> None:
        if fixes and not self.closed and not self._terminal_sent:
            self.bridge.fixable.emit(str(exc).strip(), fixes)
        self._fail(str(exc).strip(), None)

    def _fail(self, message: str, node: str | None, history: History | None = None) -> None:
        if self._terminal_sent:  # run() re-raises after its Failed event: report it once
            return
        self._terminal_sent = True
        if not self.closed:
            self.bridge.failed.emit(message, node, history)


class TrainingSession(QObject):
    """Runs one training at a time off the GUI thread. See the module docstring.

    Signals (all delivered on the GUI thread): `state_changed(str)`: "compiling", "running",
    "paused", "stopping", "idle"; `run_started(object)`: the TrainingSettings of a new run;
    `batch_progress(object)`: a BatchProgress, at most 20 a second; `snapshot(object)`: the
    probe's latest `Snapshot` (train/probe.py), at most 4 a second; `epoch_end(object)`: the
    trainer's EpochEnd event (`.record`, `.best_epoch`); `finished(object)`: the History, with
    the trained arrays in `values`; `failed(str, object)`: a one-line message and the node id
    to select, or None; `fixable(str, object)`, just before such a failure: the message and
    the `Fix`es that would mend the graph (a role to mark, the features input's shape);
    `roles_note(str)`: the roles the run took, and `data_note(object)`: a DataNote on the
    dataset being loaded (both for the log).

    Pretraining (gui/training/pretrain.py) starts a run with a strategy: `layer_started(object)`
    brings each `LayerStart` (for contrastive divergence, one naming the RBMs trained together),
    `layer_finished(object)` a (layer, EpochRecord) when a layer-wise run's layer is done; the
    layers' own epochs arrive as `epoch_end` numbered on over the run. `add_step_task` runs a
    panel's task on the training thread after every step (the RBM samples' live frames)."""

    state_changed = Signal(str)
    run_started = Signal(object)
    batch_progress = Signal(object)
    snapshot = Signal(object)
    epoch_end = Signal(object)
    finished = Signal(object)
    failed = Signal(str, object)
    fixable = Signal(str, object)
    roles_note = Signal(str)
    data_note = Signal(object)
    epoch_task_done = Signal(object, object)  # a task and its result: see add_epoch_task
    step_task_done = Signal(object, object)  # a task and its result: see add_step_task
    layer_started = Signal(object)  # LayerStart: a pretraining run moves to a layer
    layer_finished = Signal(object)  # (layer, EpochRecord): its last epoch's figures

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = "idle"
        self.settings: TrainingSettings | None = None  # those of the current or last run
        self.title = ""
        self.history: History | None = None  # of the last run that ended, finished or failed
        self.values: dict[str, np.ndarray] = {}  # trained arrays of the last finished run
        self._worker: _Worker | None = None
        # the trainer's probe interval: "auto", a number of steps, or None for no probe
        self.probe_every: int | str | None = PROBE_EVERY
        self._thread: threading.Thread | None = None
        self._bridge = _Bridge()
        queued = Qt.ConnectionType.QueuedConnection  # the worker emits; we handle here
        self._bridge.state.connect(self._set_state, queued)
        self._bridge.progress.connect(self.batch_progress, queued)
        self._bridge.epoch.connect(self.epoch_end, queued)
        self._bridge.snapshot.connect(self._snapshot, queued)
        self._bridge.note.connect(self.data_note, queued)
        self._bridge.done.connect(self._done, queued)
        self._bridge.failed.connect(self._failed, queued)
        self._bridge.fixable.connect(self.fixable, queued)
        self._bridge.roles_note.connect(self.roles_note, queued)
        self._bridge.epoch_task_done.connect(self.epoch_task_done, queued)
        self._bridge.step_task_done.connect(self._step_task_done, queued)
        self._bridge.layer_started.connect(self._layer_started, queued)
        self._bridge.layer_finished.connect(self._layer_finished, queued)
        self._epoch_tasks: list[Any] = []
        self._step_tasks: list[Any] = []
        # what the current (or last) run pretrains: a gui.training.pretrain.PretrainRequest,
        # None for ordinary training (the Training panel then writes the values back)
        self.pretraining: Any = None
        self.layer: LayerStart | None = None  # the layer a pretraining run is on

    def add_step_task(self, task: Any) -> Any:
        """Call `task(trainer, batch_end)` on the training thread after every step (it keeps
        its own pace: return None when there is nothing to send); what it returns otherwise
        comes to the GUI thread as `step_task_done(task, result)`. Returns the remover."""
        self._step_tasks.append(task)
        return lambda: self._step_tasks.remove(task) if task in self._step_tasks else None

    def add_epoch_task(self, task: Any) -> Any:
        """Call `task(trainer, event)` on the training thread after each EpochEnd and on
        Finished (the model then holds its final values), where the device may be used
        safely; `epoch_task_done(task, result)` brings what it returns (or the exception it
        raised) to the GUI thread. Returns the function that removes the task."""
        self._epoch_tasks.append(task)
        return lambda: self._epoch_tasks.remove(task) if task in self._epoch_tasks else None

    def _strategy(self) -> Any:
        """The running trainer's strategy (None before it is built, or with no run)."""
        return getattr(self._worker.trainer if self._worker is not None else None,
                       "strategy", None)

    def gibbs_steps(self) -> int | None:
        """The Gibbs steps k of the contrastive divergence running now; None when no RBM is
        training (another kind of run, or none, or still compiling)."""
        return getattr(self._strategy(), "current_k", None)

    def set_gibbs_steps(self, k: int) -> None:
        """Run k Gibbs steps from the next epoch on (raise k as the model sharpens, as
        Hinton's guide suggests); TrainingError when no RBM is training."""
        strategy = self._strategy()
        if getattr(strategy, "current_k", None) is None:
            raise TrainingError("no RBM is training now: k is the Gibbs steps of "
                                "contrastive divergence")
        strategy.set_k(k)

    @property
    def running(self) -> bool:
        """True from start() until finished or failed has been emitted."""
        return self._worker is not None

    def start(self, graph: Graph, settings: TrainingSettings, title: str = "<graph>",
              strategy: Any = None, pretraining: Any = None) -> None:
        """Train a snapshot of `graph`; RuntimeError when a run is already going. `strategy`:
        a training strategy (a pretraining method's), `pretraining` what it pretrains (kept
        as `self.pretraining` for whoever writes the values back)."""
        if self.running:
            raise RuntimeError("a training run is already in progress")
        snapshot = capture(graph).to_graph()  # later edits of the document do not reach it
        self.settings, self.title = settings, title
        self.history, self.values = None, {}
        self.pretraining, self.layer = pretraining, None
        worker = _Worker(snapshot, settings, title, self._bridge, strategy)
        worker.epoch_tasks = self._epoch_tasks
        worker.step_tasks = self._step_tasks
        worker.probe_every = self.probe_every
        self._worker = worker
        self._thread = threading.Thread(target=worker.run, name="nodestudio-training",
                                        daemon=True)
        self._set_state("compiling")
        self.run_started.emit(settings)
        self._thread.start()

    def pause(self) -> None:
        if self._worker is not None and self.state in ("running", "compiling"):
            self._worker.pause()
            if self.state == "running":
                self._set_state("paused")

    def resume(self) -> None:
        if self._worker is not None and self.state == "paused":
            self._worker.resume()
            self._set_state("running")

    def stop(self) -> None:
        """End the run after the current step; it then finishes normally (best parameters,
        test figures) with stop reason "stopped"."""
        if self._worker is not None and self.state != "stopping":
            self._worker.stop()
            self._set_state("stopping")

    def shutdown(self, timeout: float = 10.0) -> bool:
        """For closing the window mid-run: stop, wait for the thread, drop its last events.
        Returns False when the thread did not end within `timeout` (a compile that cannot be
        interrupted); it is a daemon thread, so it cannot keep the process alive."""
        worker, thread = self._worker, self._thread
        if worker is None or thread is None:
            return True
        worker.stop()
        thread.join(timeout)
        worker.closed = True  # anything it still sends would reach a closing window
        self._worker, self._thread = None, None
        self.state = "idle"
        return not thread.is_alive()

    # --- from the worker, on the GUI thread --------------------------------------------------
    def _set_state(self, state: str) -> None:
        if self._worker is None and state != "idle":
            return  # a late report of a run that was shut down
        if state == "running" and self._worker.pause_requested.is_set():
            state = "paused"
        if state == "running" and self._worker.stop_requested.is_set():
            state = "stopping"
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _end(self) -> bool:
        """Forget the finished worker; False when there was none (shut down already)."""
        if self._worker is None:
            return False
        if self._thread is not None:
            self._thread.join()  # it has sent its last event: this returns at once
        self._worker, self._thread = None, None
        return True

    def _step_task_done(self, task: Any, result: Any) -> None:
        if self._worker is not None:
            self.step_task_done.emit(task, result)

    def _layer_started(self, event: LayerStart) -> None:
        if self._worker is not None:
            self.layer = event
            self.layer_started.emit(event)

    def _layer_finished(self, done: Any) -> None:
        if self._worker is not None:
            self.layer_finished.emit(done)

    def _snapshot(self, snapshot: Snapshot) -> None:
        if self._worker is not None:  # not a late one from a run that was shut down
            self.snapshot.emit(snapshot)

    def _done(self, history: History, values: dict[str, np.ndarray]) -> None:
        if not self._end():
            return
        self.history, self.values = history, dict(values)
        self._set_state("idle")
        self.finished.emit(history)

    def _failed(self, message: str, node: str | None, history: History | None) -> None:
        if not self._end():
            return
        self.history = history
        self._set_state("idle")
        self.failed.emit(message, node)


__all__ = ["BatchProgress", "GuiPriority", "TrainingSession", "gui_priority"]
