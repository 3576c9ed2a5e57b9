"""What a training strategy is: the part of training that differs between methods.

The `Trainer` (train/loop.py) keeps what every method shares: the epoch count, validation,
early stopping and the exact restore of the best parameters, the divergence guard's diagnosis,
events, pause / stop from another thread. A strategy does the rest:

* `check(trainer)`: refuse settings it cannot use, before anything is compiled;
* `prepare(trainer)`: compile what it needs (the trainer's loss, gradients and evaluator exist
  by then: `trainer.training_loss`, `trainer.grads`, `trainer.evaluator`);
* `run_epoch(trainer, epoch) -> EpochResult`: one epoch of updates; the trainer then
  validates and records it. It raises `Stopped` when `trainer.may_continue()` says stop (the
  epoch is not recorded) and `Diverged` with `trainer.diagnose(...)`'s `Failure` when the
  objective turned non-finite.

`name` says what the strategy is in events and the CLI.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from nodestudio.train.events import Failure

if TYPE_CHECKING:
    from nodestudio.train.loop import Trainer


@dataclass(frozen=True)
class EpochResult:
    """What one epoch of a strategy measured: the training objective (the mean over the
    epoch's steps, or over the training set), the training error when the graph has one,
    extra monitoring figures by name (reconstruction error, free-energy gap...), and
    `converged` when the method says nothing is left to do (training ends after this epoch)."""

    train_loss: float
    train_error: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    converged: bool = False


class Stopped(Exception):
    """stop() was called: the run ends without recording the interrupted epoch."""


class Diverged(Exception):
    """The objective or a gradient turned NaN or Inf; `failure` says where."""

    def __init__(self, failure: Failure):
        super().__init__(failure.message)
        self.failure = failure


class Strategy:
    """The interface the Trainer drives; see the module docstring."""

    name = "strategy"
    # False: the run ends with the last epoch's parameters, not the best validation figure's
    # (contrastive divergence's cost is no measure of how good a model is)
    keep_best = True

    def check(self, trainer: Trainer) -> None:
        """Raise TrainingError for settings this strategy cannot use (nothing compiled yet)."""

    def prepare(self, trainer: Trainer) -> None:
        """Compile what the epochs need."""

    def run_epoch(self, trainer: Trainer, epoch: int) -> EpochResult:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


__all__ = ["Diverged", "EpochResult", "Stopped", "Strategy"]
