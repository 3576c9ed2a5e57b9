"""Full-batch training with CG or L-BFGS (train/fullbatch.py): an epoch is a chunk of
`trainer.fullbatch_iterations` iterations on the whole training set, each chunk a fresh SciPy
run from the current parameters (L-BFGS's curvature memory and CG's direction restart at each
chunk, which costs little with chunks of 10 or more). The train figures of the epoch are
measured on the whole training set in inference mode. A chunk that stops before its last
iteration has converged, and training ends there."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

from nodestudio.train.events import BatchEnd
from nodestudio.train.fullbatch import METHODS, deterministic_objective, minimize_fullbatch
from nodestudio.train.strategies.base import Diverged, EpochResult, Stopped, Strategy

if TYPE_CHECKING:
    from nodestudio.train.loop import Trainer


class _Interrupted(Exception):
    """Raised from the full-batch callback to leave SciPy's loop when stop() is called."""


class FullBatch(Strategy):
    """CG ("cg") or L-BFGS ("lbfgs") over the flattened parameters."""

    def __init__(self, method: str = "lbfgs"):
        if method not in METHODS:
            from nodestudio.train.loop import TrainingError
            raise TrainingError(f"unknown full-batch method {method!r} (known: "
                                f"{', '.join(METHODS)})")
        self.method = self.name = method
        self._xs = None  # the whole training set, fed once

    def check(self, trainer: Trainer) -> None:
        from nodestudio.train.loop import TrainingError
        if trainer.regularisation.active:
            raise TrainingError(f"regularisation options need a minibatch optimizer; "
                                f"{self.method} works on the plain loss")
        deterministic_objective(trainer.model.loss, self.method)  # refused now, not later

    def run_epoch(self, trainer: Trainer, epoch: int) -> EpochResult:
        model, train, history = trainer.model, trainer.data.train, trainer.history
        if self._xs is None:
            self._xs = model.feed(train)
        xs, ys = self._xs
        if not trainer.may_continue():
            raise Stopped
        last = time.perf_counter()
        before = model.values()

        def after_iteration(_: int, cost: float) -> None:
            nonlocal last
            now = time.perf_counter()
            trainer.emit(BatchEnd(history.iterations, epoch, cost,
                                  len(train) / max(now - last, 1e-9)))
            last = now
            history.iterations += 1
            if not trainer.may_continue():
                raise _Interrupted

        try:
            result = minimize_fullbatch(model.loss, model.params, [model.x, model.y],
                                        [xs, ys], method=self.method,
                                        max_iter=trainer.fullbatch_iterations,
                                        callback=after_iteration)
        except _Interrupted:
            model.set_values(before)  # SciPy may have left a line-search trial point
            raise Stopped from None
        if not math.isfinite(result.fun):
            model.set_values(before)
            raise Diverged(trainer.diagnose(history.iterations, epoch, result.fun, xs, ys,
                                            rolled_back=True))
        if trainer.probe is not None:  # one snapshot per chunk of iterations
            trainer.emit(trainer.probe.take(epoch, history.iterations))
        train_loss, train_error = trainer.evaluate(train)
        return EpochResult(train_loss, train_error,
                           converged=result.nit < trainer.fullbatch_iterations)


__all__ = ["FullBatch"]
