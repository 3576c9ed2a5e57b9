"""Minibatch training: each epoch a pass over a fresh seeded permutation of the training set
(or class-balanced batches), one compiled step per batch:

    ns.function([x, y, lr], [loss (+ 0 * sum of gradients), error], updates=...)

`lr` is an input fed from the schedule at every step; parameters and optimizer state stay on the
device, and the one value the host waits for per step is the loss it must check. The updates are
the optimizer's (constrained by the regularisation, max-norm) plus the default update of every
shared variable of the model (batch norm's running averages, an RBM's persistent chain), on the
loss's path or not.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from nodestudio.api.function import Function, function
from nodestudio.api.symbols import scalar
from nodestudio.data.batches import balanced_batches, epoch_batches
from nodestudio.ir import build as F
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import Variable
from nodestudio.ir.shared import SharedVariable
from nodestudio.train.events import BatchEnd
from nodestudio.train.strategies.base import Diverged, EpochResult, Stopped, Strategy

if TYPE_CHECKING:
    from nodestudio.train.loop import Trainer


class Minibatch(Strategy):
    """SGD-style training with the trainer's optimizer and schedule."""

    name = "minibatch"

    def __init__(self) -> None:
        self.train_fn: Function | None = None

    def check(self, trainer: Trainer) -> None:
        from nodestudio.train.loop import TrainingError
        if trainer.optimizer is None:
            raise TrainingError(f"minibatch training needs a minibatch optimizer, not "
                                f"{trainer.method}")

    def parameters(self, trainer: Trainer) -> list[SharedVariable]:
        """What the optimizer updates: every trainable parameter of the model (a layer-wise
        strategy names the layer it trains)."""
        return trainer.model.params

    def prepare(self, trainer: Trainer) -> None:
        model = trainer.model
        params = self.parameters(trainer)
        grads = (trainer.grads if params == model.params else
                 grad(trainer.training_loss, params))
        lr = scalar("lr")
        guarded = trainer.training_loss
        if trainer.guard_gradients:  # NaN / Inf in any gradient turns the returned loss NaN
            total = None
            for g in grads:
                part = F.sum(g) if g.ndim else g
                total = part if total is None else total + part
            guarded = trainer.training_loss + 0.0 * total
        updates = trainer.regularisation.constrain(
            trainer.optimizer.updates(params, grads, lr), params)
        # every default update the model declares, not only those ns.function finds on the
        # loss's path: an expanded batch norm's running averages are computed off it
        targets = {id(shared) for shared, _ in updates}
        updates = [*updates, *((v, v.default_update) for v in model.shared.values()
                               if v.default_update is not None and id(v) not in targets)]
        error = [model.error] if model.error is not None else []
        self.train_fn = function([model.x, model.y, lr],
                                 [guarded, *error, *self.extras(trainer).values()],
                                 updates=updates)

    def extras(self, trainer: Trainer) -> dict[str, Variable]:
        """Scalar outputs the step also returns, by metric name: their means over the epoch's
        steps go to `epoch_metrics` (none here)."""
        return {}

    def epoch_metrics(self, trainer: Trainer, epoch: int,
                      means: dict[str, float]) -> dict[str, float]:
        """The epoch's extra figures, from the means of the `extras` (after the epoch's last
        step, before validation)."""
        return means

    def batches(self, trainer: Trainer, epoch: int) -> Iterator[np.ndarray]:
        train = trainer.data.train
        if trainer.balanced:
            return balanced_batches(train.y, trainer.batch_size, seed=trainer.seed,
                                    epoch=epoch - 1)
        return epoch_batches(len(train), trainer.batch_size, seed=trainer.seed,
                             epoch=epoch - 1)

    def run_epoch(self, trainer: Trainer, epoch: int) -> EpochResult:
        model, history, train = trainer.model, trainer.history, trainer.data.train
        assert self.train_fn is not None and trainer.schedule is not None
        last = time.perf_counter()
        loss_sum, error_sum, seen = 0.0, 0.0, 0
        names = list(self.extras(trainer))
        extra_sums = np.zeros(len(names))
        first_extra = 2 if model.error is not None else 1
        for index in self.batches(trainer, epoch):
            if not trainer.may_continue():
                raise Stopped
            probe = trainer.probe
            if probe is not None and probe.due(history.iterations):
                trainer.emit(probe.take(epoch, history.iterations))
            xb, yb = model.feed(train, index)
            out = self.train_fn(xb, yb, trainer.schedule.lr_at(history.iterations))
            loss = float(out[0])  # the one wait of the step
            if not math.isfinite(loss):
                raise Diverged(trainer.diagnose(history.iterations, epoch, loss, xb, yb))
            n = len(index)
            loss_sum += loss * n
            error_sum += float(out[1]) * n if model.error is not None else 0.0
            if names:
                extra_sums += [float(v) * n for v in out[first_extra:]]
            seen += n
            now = time.perf_counter()
            trainer.emit(BatchEnd(history.iterations, epoch, loss,
                                  n / max(now - last, 1e-9)))
            last = now
            history.iterations += 1
        train_error = error_sum / seen if model.error is not None else None
        means = dict(zip(names, (extra_sums / seen).tolist()))
        return EpochResult(loss_sum / seen, train_error,
                           self.epoch_metrics(trainer, epoch, means))


__all__ = ["Minibatch"]
