"""Everything a training run is set up with, in one plain dataclass that the command line and the
studio's Training panel both fill in, and the one function that turns it into a `Trainer`.

    settings = TrainingSettings.from_metadata(graph.metadata, epochs=5)
    trainer = build_trainer(Model.from_loaded(from_document(graph)), load_data(settings),
                            settings)

Defaults come, in this order, from what the caller gives, the graph's metadata["training"]
(optimizer, lr, batch_size, epochs, patience and the other fields below), then
`TRAIN_DEFAULTS`. A learning rate of None means the optimizer's own documented default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodestudio.data import DEFAULT_DATASET, load_dataset
from nodestudio.data.dataset import Splits
from nodestudio.train.loop import FULLBATCH_METHODS, OPTIMIZER_NAMES, Trainer, TrainingError
from nodestudio.train.model import Model
from nodestudio.train.optimizers import OPTIMIZERS, Hyper, Optimizer, make_optimizer
from nodestudio.train.regularise import Regularisation
from nodestudio.train.schedules import SCHEDULES, Schedule, make_schedule

# Used when neither the caller nor the graph's metadata["training"] gives a value.
TRAIN_DEFAULTS: dict[str, Any] = {"optimizer": "sgd", "lr": None, "batch_size": 100,
                                  "epochs": 20, "patience": None}


@dataclass(frozen=True)
class ScheduleParameter:
    """One parameter of a learning-rate schedule besides its starting rate lr0."""

    name: str
    default: float
    doc: str
    whole: bool = False  # a number of iterations


# lr0 is the learning rate itself; these are the other constructor arguments of each schedule
SCHEDULE_PARAMETERS: dict[str, tuple[ScheduleParameter, ...]] = {
    "constant": (),
    "linear": (ScheduleParameter("lr_tau", 0.001, "learning rate reached at iteration tau"),
               ScheduleParameter("tau", 2000, "iterations of the linear decay", whole=True)),
    "step": (ScheduleParameter("factor", 0.5, "multiplies the rate every `every` iterations"),
             ScheduleParameter("every", 1000, "iterations between two steps", whole=True)),
    "exponential": (ScheduleParameter("gamma", 0.999, "multiplies the rate every iteration"),),
}
assert set(SCHEDULE_PARAMETERS) == set(SCHEDULES)


def hyperparameters(optimizer: str) -> tuple[Hyper, ...]:
    """The hyperparameters of a minibatch optimizer by name; () for the full-batch methods,
    which choose their own steps."""
    if optimizer in FULLBATCH_METHODS:
        return ()
    if optimizer not in OPTIMIZERS:
        raise TrainingError(f"unknown optimizer {optimizer!r} (known: "
                            f"{', '.join(OPTIMIZER_NAMES)})")
    return OPTIMIZERS[optimizer].HYPERPARAMETERS


def optimizer_and_schedule(name: str, lr: float | None, hyper: Mapping[str, Any],
                           schedule: str | None, schedule_params: Mapping[str, Any]
                           ) -> tuple[Optimizer | str, Schedule | float | None]:
    """The optimizer (with its hyperparameters besides lr) and the learning-rate schedule
    starting at `lr` (the optimizer's default when None). TrainingError for a bad value."""
    if name in FULLBATCH_METHODS:
        if hyper or (schedule not in (None, "constant")):
            raise TrainingError(f"{name} takes no hyperparameters or schedule")
        return name, lr
    try:
        optimizer = make_optimizer(name, **hyper)
        if schedule is None:
            return optimizer, lr
        lr0 = optimizer.lr if lr is None else lr
        return optimizer, make_schedule(schedule, lr0=lr0, **schedule_params)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None


def stored_training(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """The graph's metadata["training"] when it is a dict; {} otherwise."""
    stored = metadata.get("training") if isinstance(metadata, Mapping) else None
    return dict(stored) if isinstance(stored, Mapping) else {}


@dataclass
class TrainingSettings:
    """How to train: data, optimizer, schedule, stopping rule, regularisation, device."""

    dataset: str = DEFAULT_DATASET  # a built-in name, a folder or a file
    optimizer: str = "sgd"
    lr: float | None = None  # None: the optimizer's own default
    hyper: dict[str, Any] = field(default_factory=dict)  # hyperparameters besides lr
    schedule: str = "constant"
    schedule_params: dict[str, float | int] = field(default_factory=dict)  # besides lr0
    batch_size: int = 100
    epochs: int = 20
    patience: int | None = None  # None: no early stopping
    min_epochs: int = 0
    regularisation: Regularisation = field(default_factory=Regularisation)
    device: str | None = None  # index or part of the device name; None: the current one
    seed: int = 0

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, **given: Any
                      ) -> TrainingSettings:
        """`given` first, then metadata["training"], then TRAIN_DEFAULTS and the field
        defaults. Unknown keys in the metadata are ignored (files written by newer versions)."""
        stored = stored_training(metadata)
        names = {f.name for f in dataclasses.fields(cls)}
        values: dict[str, Any] = {k: v for k, v in TRAIN_DEFAULTS.items() if k in names}
        values.update({k: v for k, v in stored.items() if k in names})
        values.update(given)
        for key in ("hyper", "schedule_params"):
            values[key] = dict(values.get(key) or {})
        try:
            if isinstance(values.get("regularisation"), Mapping):
                values["regularisation"] = Regularisation(**values["regularisation"])
            return cls(**values)
        except (TypeError, ValueError) as exc:  # a bad regularisation value, a bad field
            raise TrainingError(f"training settings: {exc}") from None

    def to_metadata(self) -> dict[str, Any]:
        """The settings as a JSON-friendly dict for metadata["training"]: only what differs
        from the defaults, so that files stay short."""
        default = TrainingSettings()
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in TRAIN_DEFAULTS or value != getattr(default, f.name):
                out[f.name] = (dataclasses.asdict(value) if f.name == "regularisation"
                               else value)
        if "regularisation" in out:  # only the options in use
            out["regularisation"] = {k: v for k, v in out["regularisation"].items()
                                     if v != getattr(Regularisation(), k)}
        return out

    def replace(self, **changes: Any) -> TrainingSettings:
        return dataclasses.replace(self, **changes)

    # --- what it means -----------------------------------------------------------------------
    @property
    def fullbatch(self) -> bool:
        return self.optimizer in FULLBATCH_METHODS

    def check(self) -> None:
        """TrainingError naming the first setting that cannot work (before any data is read
        or anything compiled)."""
        if self.optimizer not in OPTIMIZER_NAMES:
            raise TrainingError(f"unknown optimizer {self.optimizer!r} (known: "
                                f"{', '.join(OPTIMIZER_NAMES)})")
        for name in ("batch_size", "epochs"):
            _whole(name, getattr(self, name), 1)
        if self.patience is not None:
            _whole("patience", self.patience, 1)
        _whole("min_epochs", self.min_epochs, 0)
        _whole("seed", self.seed, 0)
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(
                self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr < 0):
            raise TrainingError(f"learning rate must be a finite number >= 0, got {self.lr!r}")
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise TrainingError("no dataset chosen")
        self.optimizer_and_schedule()  # the hyperparameters and the schedule's parameters

    def optimizer_and_schedule(self) -> tuple[Optimizer | str, Schedule | float | None]:
        return optimizer_and_schedule(self.optimizer, self.lr, self.hyper, self.schedule,
                                      self.schedule_params)

    def effective_lr(self) -> float | None:
        """The starting learning rate actually used (None for the full-batch methods)."""
        if self.fullbatch:
            return None
        return self.lr if self.lr is not None else float(OPTIMIZERS[self.optimizer]
                                                          .HYPERPARAMETERS[0].default)

    def describe(self) -> str:
        """One line for a log: "adam, lr 0.001, batch 100, 20 epochs on mnist5k"."""
        if self.fullbatch:
            head = f"{self.optimizer} (full batch)"
        else:
            head = f"{self.optimizer}, lr {self.effective_lr():g}"
            if self.schedule != "constant":
                head += f" ({self.schedule})"
            head += f", batch {self.batch_size}"
        stop = f", patience {self.patience}" if self.patience is not None else ""
        return f"{head}, {self.epochs} epochs{stop} on {self.dataset}"


def load_data(settings: TrainingSettings) -> Splits:
    """The dataset of `settings`, split with its seed."""
    return load_dataset(settings.dataset, seed=settings.seed)


def build_trainer(model: Model, data: Splits, settings: TrainingSettings, **extra: Any
                  ) -> Trainer:
    """A Trainer for `model` on `data` as `settings` say (checked first). `extra` goes to the
    Trainer as is (patience_doubling, balanced, ...). Selects `settings.device` first when one
    is named: compile after this, never before."""
    settings.check()
    use_device(settings.device)
    optimizer, schedule = settings.optimizer_and_schedule()
    return Trainer(model, data, optimizer, schedule, batch_size=settings.batch_size,
                   epochs=settings.epochs, patience=settings.patience,
                   min_epochs=settings.min_epochs, seed=settings.seed,
                   regularisation=settings.regularisation, **extra)


def use_device(spec: str | None) -> None:
    """Select the device `spec` names (an index or part of "platform: device") unless it is
    the current one: switching makes a new context, and every program is compiled again."""
    if spec is None or not str(spec).strip():
        return
    from nodestudio.backend.device import runtime, set_device
    current, text = runtime().info, str(spec).strip()
    if text == str(current.index) or (not text.isdigit() and text.lower() in
                                      current.label.lower()):
        return
    set_device(text)


def _whole(name: str, value: Any, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise TrainingError(f"{name} must be a whole number >= {low}, got {value!r}")


__all__ = ["SCHEDULE_PARAMETERS", "TRAIN_DEFAULTS", "ScheduleParameter", "TrainingSettings",
           "build_trainer", "hyperparameters", "load_data", "optimizer_and_schedule",
           "stored_training", "use_device"]
