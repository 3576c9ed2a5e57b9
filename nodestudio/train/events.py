"""What a training run reports: per-epoch records, the final history, and the events a
`Trainer` sends to its subscribers while it runs.

Subscribers are plain callables `callback(event)`, called in the thread that runs the training
loop, in this order: any number of `BatchEnd`, an `EpochEnd` after each completed epoch, and
exactly one terminal event, `Finished` or `Failed`. A trainer built with a probe (`probe_every`,
train/probe.py) also sends a `Snapshot` before the first step and then every few steps, after
the `BatchEnd` of the step it follows. A GUI that lives in another thread should hand the
event over to its own thread (a queue, a Qt signal) rather than draw from the callback.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np

from nodestudio.observer import Observable  # re-exported for the trainer

StopReason = Literal["epochs", "patience", "converged", "stopped", "diverged", "error"]


@dataclass(frozen=True)
class EpochRecord:
    """One completed epoch. `epoch` counts from 1. The train figures are the means of the
    minibatch values seen during the epoch (weighted by batch size, computed before each
    step's update, in training mode); the valid figures are measured after the epoch in
    inference mode. Errors are None when the graph has no `error` output, valid figures None
    when the validation split is empty. `metrics` holds a strategy's extra monitoring figures
    by name (an RBM's reconstruction error, free-energy gap, pseudo-likelihood)."""

    epoch: int
    train_loss: float
    train_error: float | None
    valid_loss: float | None
    valid_error: float | None
    seconds: float
    metrics: Mapping[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """The figures by name; `metrics` only when a strategy measured some."""
        record = asdict(self)
        if not self.metrics:
            del record["metrics"]
        return record


@dataclass(frozen=True)
class Failure:
    """Why training stopped: a non-finite value, and the node that first produced it (or an
    error such as a kernel build failure, which run() then re-raises; its node, if it names
    one). `node` is always one of the user's nodes (an id of the document, which the studio
    selects), never a node of the expanded or backward graph: that one is `ir_node`."""

    message: str  # one line, for a status bar or the CLI
    iteration: int  # the step that produced it (counted from 0 over the whole run)
    epoch: int  # the epoch it belongs to (from 1)
    node: str | None  # the user's node that first produced NaN or Inf (or is at fault)
    phase: str | None  # "forward" or "backward" (the gradient of `node`)
    rolled_back: bool  # the parameters are those from before the failing step
    ir_node: str | None = None  # the IR node itself ("grad/hidden/matmul_5/matmul_10")


@dataclass
class History:
    """The outcome of `Trainer.run()`. `best_epoch` is the epoch whose parameters the model
    holds at the end (the best validation figure; None when no epoch completed); the test
    figures are measured with those parameters (None after a failure)."""

    epochs: list[EpochRecord] = field(default_factory=list)
    best_epoch: int | None = None
    test_loss: float | None = None
    test_error: float | None = None
    stop_reason: StopReason = "epochs"
    iterations: int = 0
    seconds: float = 0.0
    failure: Failure | None = None

    def metrics(self) -> dict[str, Any]:
        """The figures of `metrics.json`: epochs, best_epoch, test_error, test_loss
        (`nodestudio train` adds "settings", the run's effective settings). A non-finite figure
        (a validation loss that overflowed) becomes None: JSON has no NaN."""
        return {"epochs": [_finite_record(record.as_dict()) for record in self.epochs],
                "best_epoch": self.best_epoch, "test_error": _finite(self.test_error),
                "test_loss": _finite(self.test_loss)}


def _finite_record(record: dict[str, Any]) -> dict[str, Any]:
    return {k: ({m: _finite(x) for m, x in v.items()} if k == "metrics" else _finite(v))
            for k, v in record.items()}


def _finite(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


# --- events ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BatchEnd:
    """After each optimisation step (a minibatch, or one CG / L-BFGS iteration)."""

    iteration: int  # from 0, over the whole run
    epoch: int
    loss: float
    samples_per_second: float
    kind: str = field(default="batch_end", init=False)


@dataclass(frozen=True)
class EpochEnd:
    record: EpochRecord
    best_epoch: int | None  # after this epoch
    kind: str = field(default="epoch_end", init=False)


@dataclass(frozen=True)
class Finished:
    history: History
    kind: str = field(default="finished", init=False)


@dataclass(frozen=True)
class Failed:
    message: str
    node: str | None
    failure: Failure
    history: History
    kind: str = field(default="failed", init=False)


@dataclass(frozen=True)
class Snapshot:
    """What the probe saw after `iteration` steps (counted over the run) in epoch `epoch`.

    Arrays are read-only host copies (float32). `params` / `grads` are keyed as in
    `Model.values()`; `activations` / `activation_grads` by the user's node id (or
    "node.port"); `kinds` gives, for each activation key, the nonlinearity it ends in ("tanh",
    "sigmoid", "relu", ...; "" for other ops) and `ops` the node's op. `update_ratios` are
    ||dW|| / ||W|| since the previous snapshot (absent in the first, and for a parameter that
    was all zeros), `step_ratios` the same per step (see train/probe.py for what they tell).
    `steps` counts the steps since the previous snapshot (0 for the first); `seconds` is what
    this probe cost."""

    epoch: int
    iteration: int
    steps: int
    loss: float
    params: Mapping[str, np.ndarray]
    grads: Mapping[str, np.ndarray]
    activations: Mapping[str, np.ndarray]
    activation_grads: Mapping[str, np.ndarray]
    kinds: Mapping[str, str]
    ops: Mapping[str, str]
    grad_norms: Mapping[str, float]
    weight_norms: Mapping[str, float]
    update_ratios: Mapping[str, float]
    step_ratios: Mapping[str, float]
    rows: tuple[int, ...]  # the probe batch: rows of the training split
    input_shape: tuple[int, ...]  # how one example of the data is viewed (28, 28), (64,)...
    seconds: float
    kind: str = field(default="snapshot", init=False)

    def relative_grad_norm(self, name: str) -> float:
        """||dL/dW|| / ||W|| (inf for an all-zero W with a gradient, 0 when both are 0)."""
        g, w = self.grad_norms[name], self.weight_norms[name]
        return g / w if w > 0 else (math.inf if g > 0 else 0.0)


Event = BatchEnd | EpochEnd | Finished | Failed | Snapshot
Callback = Callable[[Event], None]


__all__ = ["BatchEnd", "Callback", "EpochEnd", "EpochRecord", "Event", "Failed", "Failure",
           "Finished", "History", "Observable", "Snapshot", "StopReason"]
