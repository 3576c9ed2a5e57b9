"""The training loop: epochs of minibatches (or CG / L-BFGS chunks), validation, early stopping,
the divergence guard, and pause / resume / stop from another thread.

    model = Model.load("resources/examples/logistic_regression.json")
    trainer = Trainer(model, load_dataset("mnist5k"), "sgd", schedules.constant(0.1),
                      batch_size=100, epochs=20, patience=5)
    trainer.subscribe(print)
    history = trainer.run()          # History: per-epoch records, best_epoch, test figures

Two compiled functions do all the work. The training function is
`ns.function([x, y, lr], [loss, error], updates=optimizer.updates(params, grads, lr))`: `lr` is
an input fed from the schedule at every step, parameters and optimizer state stay on the device,
and the one thing the host waits for per step is the loss value it must check (the error, when
the graph has one, comes back in the same read). The evaluation function computes loss and error
in inference mode (no dropout, batch norm on running averages) over a split in large batches.

An epoch is one pass over a fresh permutation of the training set, seeded by (seed, epoch), so a
run is deterministic given its seed; `batch_size` >= the training set size is plain gradient
descent. With `balanced=True` the batches hold equal numbers of each class instead.

What an epoch does is the strategy's (nodestudio/train/strategies/): `Minibatch` for the
minibatch optimizers, `FullBatch` for "cg" and "lbfgs", or one given as `strategy=`. The
Trainer keeps validation, early stopping, the divergence guard, events and pause / stop.

Full-batch methods ("cg", "lbfgs") go through `minimize_fullbatch`: an epoch is a chunk of
`fullbatch_iterations` iterations on the whole training set, each chunk a fresh SciPy run from
the current parameters (L-BFGS's curvature memory and CG's direction restart at each chunk,
which costs little with chunks of 10 or more). The learning rate and schedule are not used; the
train figures of the epoch are measured on the whole training set in inference mode. A chunk
that stops before its last iteration has converged, and training ends there. The objective is
the loss in inference mode, gradient included (dropout off, batch norm on its running
averages); a graph that stays random in that mode is refused (see fullbatch.py).

`regularisation=Regularisation(...)` (nodestudio/train/regularise.py: L1 / L2 penalties, input
noise, label smoothing, DropConnect, max-norm, random image shifts) changes the training loss and
updates only; evaluation uses the graph's plain loss. The state a graph's ops declare (batch
norm's running averages, an RBM's persistent chain: `update` on their ports) is made the default
update of its shared variables, so training steps update it even when the graph was read from a
file; the training function applies the default update of every shared
variable of the model, on the loss's path or not (an expanded batch norm computes its running
averages beside the loss, not on the way to it).

Early stopping watches the validation error (the validation loss when the graph has no `error`
output, or when `monitor="valid_loss"`). The host copies of all shared values are taken after
each improving epoch and written back exactly at the end, so the model ends with the best
epoch's parameters, bit for bit. `patience` stops training after that many epochs without
improvement; with `patience_doubling` (the Theano tutorials' rule) training continues until
epoch `patience`, and every improvement by more than a factor `improvement_threshold` extends
that horizon to twice the current epoch. Training never stops early before `min_epochs`.

With `probe_every` ("auto" or a number of steps) the trainer also compiles the probe
(train/probe.py) and sends a `Snapshot` of parameters, gradients and activations on a fixed
batch every few steps (after each chunk for the full-batch methods); None (the default) costs
nothing.

The divergence guard: a non-finite value in the loss, or in any gradient (0 * sum(gradient) is
added to the loss the device returns, which keeps it bit for bit unless a gradient is NaN or
Inf), stops training at once. The failing step's updates are undone, so the parameters are those
from before it; the forward and backward graph is then re-evaluated on that batch to name the
first node that produced NaN or Inf, and a `Failed` event carries the message. Messages and
events name the user's node (ir/names.py: "the gradient of node 'hidden' (dense_layer), at its
inner op div"), never the expanded or backward node, so the studio can select it; errors
raised while building or running the training graph are rewritten the same way.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from nodestudio.api.function import Function, function
from nodestudio.data.dataset import Dataset, Splits
from nodestudio.errors import GraphError, NodeStudioError
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import name_scope
from nodestudio.ir.layers import bind_graph_updates
from nodestudio.ir.names import in_user_terms
from nodestudio.train.events import (
    Callback,
    EpochEnd,
    EpochRecord,
    Failed,
    Failure,
    Finished,
    History,
    Observable,
    StopReason,
)
from nodestudio.train.fullbatch import METHODS as FULLBATCH_METHODS
from nodestudio.train.model import Model, locate_non_finite
from nodestudio.train.optimizers import OPTIMIZERS, Optimizer, make_optimizer
from nodestudio.train.probe import DEFAULT_BATCH, Probe
from nodestudio.train.regularise import Regularisation
from nodestudio.train.schedules import Schedule, constant
from nodestudio.train.strategies import (
    ContrastiveDivergence,
    Diverged,
    EpochResult,
    FullBatch,
    Minibatch,
    Stopped,
    Strategy,
)
from nodestudio.train.strategies.cd import is_rbm_cost

OPTIMIZER_NAMES = (*OPTIMIZERS, *FULLBATCH_METHODS)


class TrainingError(NodeStudioError, ValueError):
    """Trainer settings that cannot work (unknown optimizer, batch size 0, ...)."""


class Evaluator:
    """Mean loss and error of a model over a dataset, in inference mode, in large batches."""

    def __init__(self, model: Model, batch_size: int = 1000):
        _count("eval_batch_size", batch_size)
        self.model, self.batch_size = model, batch_size
        outputs = [model.loss] + ([model.error] if model.error is not None else [])
        self._fn = function([model.x, model.y], outputs, training=False)

    def __call__(self, data: Dataset) -> tuple[float | None, float | None]:
        """(loss, error) with the current parameters; (None, None) for an empty dataset,
        error None when the graph has no `error` output."""
        if len(data) == 0:
            return None, None
        sums = np.zeros(2)
        for start in range(0, len(data), self.batch_size):
            xb, yb = self.model.feed(data, slice(start, start + self.batch_size))
            out = self._fn(xb, yb)
            # the outputs are batch means: weight them by the batch size for the split's mean
            sums += [float(out[0]) * len(xb), float(out[-1]) * len(xb)]
        loss, error = (sums / len(data)).tolist()
        return loss, (error if self.model.error is not None else None)


class EarlyStopping:
    """Tracks the best monitored value (lower is better) and says when to stop."""

    def __init__(self, patience: int | None, min_epochs: int, doubling: bool,
                 threshold: float):
        self.patience, self.min_epochs = patience, min_epochs
        self.doubling, self.threshold = doubling, threshold
        self.best = math.inf
        self.best_epoch: int | None = None
        self.horizon = patience  # the doubling variant's last epoch, extended on improvement

    def update(self, epoch: int, value: float) -> bool:
        """Record an epoch's value; True when it is a new best."""
        if not value < self.best:
            return False
        # "sufficient" is relative to |best| so that negative losses work the same way
        if self.doubling and self.horizon is not None and (
                self.best == math.inf or value < self.best - (1 - self.threshold) * abs(self.best)):
            self.horizon = max(self.horizon, 2 * epoch)
        self.best, self.best_epoch = value, epoch
        return True

    def should_stop(self, epoch: int) -> bool:
        if self.patience is None or epoch < self.min_epochs:
            return False
        if self.doubling:
            return epoch >= self.horizon
        return self.best_epoch is not None and epoch - self.best_epoch >= self.patience


class Trainer:
    """Trains a `Model` on `data`; `run()` returns a `History`. See the module docstring."""

    def __init__(self, model: Model, data: Splits, optimizer: Optimizer | str = "sgd",
                 schedule: Schedule | float | None = None, batch_size: int = 100,
                 epochs: int = 20, *, patience: int | None = None, min_epochs: int = 0,
                 patience_doubling: bool = False, improvement_threshold: float = 0.995,
                 seed: int = 0, balanced: bool = False, monitor: str | None = None,
                 eval_batch_size: int = 1000, fullbatch_iterations: int = 10,
                 guard_gradients: bool = True, regularisation: Regularisation | None = None,
                 probe_every: int | str | None = None, probe_batch: int = DEFAULT_BATCH,
                 strategy: Strategy | None = None):
        _count("batch_size", batch_size)
        _count("epochs", epochs)
        _count("eval_batch_size", eval_batch_size)
        _count("fullbatch_iterations", fullbatch_iterations)
        if patience is not None:
            _count("patience", patience)
        _count("min_epochs", min_epochs, low=0)
        _count("seed", seed, low=0)
        if not 0.0 < improvement_threshold <= 1.0:
            raise TrainingError(f"improvement_threshold must be in (0, 1], got "
                                f"{improvement_threshold!r}")
        if monitor not in (None, "valid_error", "valid_loss"):
            raise TrainingError(f"monitor must be 'valid_error' or 'valid_loss', got {monitor!r}")
        if monitor == "valid_error" and model.error is None:
            raise TrainingError(f"monitor='valid_error' but {model.source} has no 'error' output")
        model.check_data(data)
        self.model, self.data = model, data
        self.batch_size, self.epochs, self.seed, self.balanced = batch_size, epochs, seed, balanced
        self.eval_batch_size, self.fullbatch_iterations = eval_batch_size, fullbatch_iterations
        self.monitor = monitor or ("valid_error" if model.error is not None else "valid_loss")
        self.early = EarlyStopping(patience, min_epochs, patience_doubling, improvement_threshold)
        self.method, self.optimizer = _resolve_optimizer(optimizer)
        self.schedule: Schedule | None = None  # full-batch methods choose their own steps
        if self.optimizer is not None:
            try:
                self.schedule = (schedule if isinstance(schedule, Schedule) else
                                 constant(self.optimizer.lr if schedule is None else schedule))
            except ValueError as exc:  # a negative or non-finite learning rate
                raise TrainingError(f"learning rate: {exc}") from None
        self._events = Observable()
        self._stop, self._running = threading.Event(), threading.Event()
        self._running.set()
        self._started = False
        self._best_values: dict[str, np.ndarray] | None = None
        self.history: History | None = None  # the result, once run() returns
        self.exception: BaseException | None = None  # what a start()ed run raised, if anything

        self.regularisation = regularisation or Regularisation()
        self.guard_gradients = guard_gradients
        # what an epoch does: given, or the optimizer's (a minibatch optimizer or CG / L-BFGS;
        # a minibatch optimizer on an RBM's cost is contrastive divergence, with its figures)
        self.strategy = strategy if strategy is not None else (
            FullBatch(self.method) if self.optimizer is None else
            ContrastiveDivergence() if is_rbm_cost(model.loss) else Minibatch())
        self.strategy.check(self)  # refused now (a random cost for L-BFGS), not after compiling
        with _user_terms(model.nodes):
            self._build_functions(model, eval_batch_size)
            # live values for the studio's panels: a Snapshot every few steps (train/probe.py)
            self.probe = None if probe_every is None else Probe(
                model, self.training_loss, model.params, data.train, probe_every, probe_batch,
                seed)

    def _build_functions(self, model: Model, eval_batch_size: int) -> None:
        # a graph read from a file has no default updates: its declared state (batch norm's
        # running averages) gets them here, so that training functions update it
        bind_graph_updates([v for v in (model.loss, model.error, model.prediction)
                                 if v is not None])
        self.evaluator = Evaluator(model, eval_batch_size)
        # what the options add is named apart: no node of the user's graph is called so
        with name_scope("regularisation/"):
            self.training_loss = (self.regularisation.training_loss(model.loss, model.x,
                                                                     model.params)
                                  if self.regularisation.active else model.loss)
        self.grads = grad(self.training_loss, model.params)
        self.strategy.prepare(self)

    @property
    def _train_fn(self) -> Function | None:
        """The compiled training step of a minibatch strategy (None for full-batch ones)."""
        return getattr(self.strategy, "train_fn", None)

    @_train_fn.setter
    def _train_fn(self, fn: Function) -> None:  # tests put a failing step in its place
        self.strategy.train_fn = fn

    # --- control from any thread (none of these blocks) --------------------------------------
    def subscribe(self, callback: Callback) -> Callable[[], None]:
        """Call `callback(event)` for each event; returns the function that unsubscribes."""
        return self._events.subscribe(callback)

    def pause(self) -> None:
        """Hold the loop before its next step until resume() or stop()."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    def stop(self) -> None:
        """End training after the current step; the run then finishes normally (best
        parameters restored, test figures measured) with stop_reason "stopped"."""
        self._stop.set()
        self._running.set()  # a paused loop must wake up to see it

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def start(self) -> threading.Thread:
        """run() in a daemon thread; `history` (or `exception`) is set when it ends."""
        def target() -> None:
            try:
                self.run()
            except BaseException as exc:  # kept for the caller: a thread cannot raise to it
                self.exception = exc
        thread = threading.Thread(target=target, name="nodestudio-trainer", daemon=True)
        thread.start()
        return thread

    def may_continue(self) -> bool:
        """Called before every step: waits while paused; False once stop() was called."""
        if not self._running.is_set():
            self._running.wait()
        return not self._stop.is_set()

    def emit(self, event: Any) -> None:
        """Send an event to the subscribers (strategies report their steps through it)."""
        self._events.emit(event)

    # --- the run -------------------------------------------------------------------------------
    def run(self) -> History:
        if self._started:
            raise TrainingError("this Trainer has already run; create a new one")
        self._started = True
        history = History()
        self.history = history
        start = time.perf_counter()
        try:
            history.stop_reason = self._epochs(history)
        except Diverged as diverged:
            self._fail(history, diverged.failure, "diverged", start)
            return history
        except NodeStudioError as exc:  # a kernel build failure, out of device memory, ...
            node = ir_node = None
            if isinstance(exc, GraphError):  # a shape checked at run time, in the user's terms
                ir_node = getattr(in_user_terms(exc, self.model.nodes), "ir_node", exc.node)
                node = exc.node
            # subscribers still get their one terminal event before the error propagates
            self._fail(history, Failure(str(exc).splitlines()[0], history.iterations,
                                        len(history.epochs) + 1, node, None, False, ir_node),
                       "error", start)
            raise
        if self._best_values is not None:
            self.model.set_values(self._best_values)  # exact: float32 copies written back
        history.best_epoch = (self.early.best_epoch if self.strategy.keep_best else
                              len(history.epochs) or None)  # the parameters held now
        history.test_loss, history.test_error = self.evaluate(self.data.test)
        history.seconds = time.perf_counter() - start
        self._events.emit(Finished(history))
        return history

    def _fail(self, history: History, failure: Failure, reason: StopReason,
              start: float) -> None:
        history.failure, history.stop_reason = failure, reason
        history.best_epoch = self.early.best_epoch
        history.seconds = time.perf_counter() - start
        self._events.emit(Failed(failure.message, failure.node, failure, history))

    def _epochs(self, history: History) -> StopReason:
        for epoch in range(1, self.epochs + 1):
            began = time.perf_counter()
            try:
                result = self.strategy.run_epoch(self, epoch)
            except Stopped:
                return "stopped"
            if self._end_epoch(history, epoch, result, began):
                return "patience"
            if result.converged:
                return "converged"
        return "epochs"

    def _end_epoch(self, history: History, epoch: int, result: EpochResult,
                   began: float) -> bool:
        """Validate, record, remember the best parameters; True when it is time to stop."""
        train_loss, train_error = result.train_loss, result.train_error
        valid_loss, valid_error = self.evaluate(self.data.valid)
        watched = {"valid_loss": valid_loss, "valid_error": valid_error}[self.monitor]
        if watched is None:  # no validation data: the training loss decides
            watched = train_loss
        if self.early.update(epoch, watched) and self.strategy.keep_best:
            self._best_values = self.model.values()
        record = EpochRecord(epoch, train_loss, train_error, valid_loss, valid_error,
                             time.perf_counter() - began, dict(result.metrics))
        history.epochs.append(record)
        best = self.early.best_epoch if self.strategy.keep_best else epoch  # what is kept
        self._events.emit(EpochEnd(record, best))
        return self.early.should_stop(epoch)

    # --- measuring -----------------------------------------------------------------------------
    def evaluate(self, data: Dataset) -> tuple[float | None, float | None]:
        """Mean loss and error over a dataset in inference mode, with the current parameters."""
        return self.evaluator(data)

    def diagnose(self, iteration: int, epoch: int, loss: float, xb: np.ndarray,
                  yb: np.ndarray, rolled_back: bool | None = None) -> Failure:
        """Undo the failing step and find the first node that produced NaN or Inf."""
        if rolled_back is None:
            rolled_back = self._train_fn.undo_updates()
        feeds = {self.model.x: xb, self.model.y: yb}
        calls = self._train_fn.calls - 1 if self._train_fn is not None else 0
        try:
            found = locate_non_finite([self.training_loss, *self.grads], feeds, calls,
                                      self.model.nodes)
        except NodeStudioError:  # the diagnosis must not hide the divergence itself
            found = None
        message = (f"training diverged at iteration {iteration} (epoch {epoch}): a "
                   f"non-finite value ({loss}) in the loss or the gradients")
        if found is not None:
            message += f"; first produced in {found.describe()}"
        else:
            message += "; no single node could be blamed on re-evaluation"
        message += ("; parameters restored to before that step" if rolled_back
                    else "; the parameters could not be rolled back")
        if found is None:
            return Failure(message, iteration, epoch, None, None, rolled_back)
        return Failure(message, iteration, epoch, found.node, found.phase, rolled_back,
                       found.origin.ir_name)


@contextlib.contextmanager
def _user_terms(user_nodes: Mapping[str, str]) -> Iterator[None]:
    """A GraphError raised inside names the user's node rather than an IR node."""
    try:
        yield
    except GraphError as exc:
        in_user_terms(exc, user_nodes)  # rewritten in place: same type, same traceback
        raise


def _resolve_optimizer(optimizer: Optimizer | str) -> tuple[str, Optimizer | None]:
    if isinstance(optimizer, Optimizer):
        return optimizer.name, optimizer
    if optimizer in FULLBATCH_METHODS:
        return optimizer, None
    if optimizer not in OPTIMIZERS:
        raise TrainingError(f"unknown optimizer {optimizer!r} (known: "
                            f"{', '.join(OPTIMIZER_NAMES)})")
    return optimizer, make_optimizer(optimizer)


def _count(name: str, value: Any, low: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise TrainingError(f"{name} must be a whole number >= {low}, got {value!r}")


__all__ = ["EarlyStopping", "Evaluator", "OPTIMIZER_NAMES", "Trainer", "TrainingError"]
