"""Everything a training run is set up with, in one plain dataclass that the command line and the
studio's Training panel both fill in, and the one function that turns it into a `Trainer`.

    settings = TrainingSettings.from_metadata(graph.metadata, epochs=5)
    trainer = build_trainer(Model.from_document(graph), load_data(settings), settings)

Defaults come, in this order, from what the caller gives, the graph's metadata["training"]
(optimizer, lr, batch_size, epochs, patience and the other fields below), then
`TRAIN_DEFAULTS`. A learning rate of None means the optimizer's own documented default.
The stored learning rate and hyperparameters belong to the stored optimizer: when the caller
asks for another one (`nodestudio train --optimizer`, the Training dock's Method), they are set
aside and that optimizer starts from its own defaults, unless the caller gives them too.

`settings.describe()` is the one line both front ends print when a run starts, and
`settings.effective(data)` the complete record (every hyperparameter with its value, the
preprocessing applied) that `nodestudio train` writes to metrics.json.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nodestudio.api.device import select_device
from nodestudio.data import DEFAULT_DATASET, PREPROCESS_CHOICES, load_dataset, preprocess_choice
from nodestudio.data.dataset import DataNote, Splits
from nodestudio.data.download import Progress
from nodestudio.data.errors import DatasetError
from nodestudio.train.loop import FULLBATCH_METHODS, OPTIMIZER_NAMES, Trainer, TrainingError
from nodestudio.train.model import Model
from nodestudio.train.optimizers import OPTIMIZERS, Hyper, Optimizer, make_optimizer
from nodestudio.train.regularise import Regularisation
from nodestudio.train.schedules import SCHEDULES, Schedule, make_schedule

# The whole-number settings and their ranges (the Training panel's fields hold the same).
WHOLE_RANGES: dict[str, tuple[int, int]] = {
    "batch_size": (1, 1_000_000), "epochs": (1, 100_000), "patience": (1, 100_000),
    "min_epochs": (0, 100_000), "seed": (0, 2**31 - 1)}

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
    """The graph's metadata["training"] when it is a dict; {} otherwise (see
    `check_stored_training` for what is wrong with it)."""
    stored = metadata.get("training") if isinstance(metadata, Mapping) else None
    return dict(stored) if isinstance(stored, Mapping) else {}


STORED = "metadata.training"  # how messages name the graph file's stored settings


def check_stored_training(metadata: Mapping[str, Any] | None) -> None:
    """TrainingError naming the first field of metadata["training"] that cannot be used
    ("metadata.training.epochs: expected a whole number >= 1, got null"). The stored settings
    are checked like any other field of a file: by type and range each, then the
    hyperparameters against the stored optimizer and the schedule's parameters against the
    stored schedule. Keys this version does not know are left alone (newer files)."""
    if not isinstance(metadata, Mapping) or "training" not in metadata:
        return
    stored = metadata["training"]
    if not isinstance(stored, Mapping):
        raise TrainingError(f"{STORED}: expected an object, got {_json_text(stored)}")
    for key, check in _STORED_CHECKS.items():
        if key in stored:
            problem = check(stored[key])
            if problem is not None:
                raise TrainingError(f"{STORED}.{key}: expected {problem}, got "
                                    f"{_json_text(stored[key])}")
    optimizer = stored.get("optimizer", TRAIN_DEFAULTS["optimizer"])
    hyper = dict(stored.get("hyper") or {})
    try:
        if optimizer in FULLBATCH_METHODS:
            if hyper:
                raise ValueError(f"{optimizer} takes no hyperparameters")
        else:
            make_optimizer(optimizer, **hyper)
    except ValueError as exc:
        raise TrainingError(f"{STORED}.hyper: {exc}") from None
    schedule = stored.get("schedule", "constant")
    params = {p.name: p.default for p in SCHEDULE_PARAMETERS[schedule]}  # a missing one is
    params.update(stored.get("schedule_params") or {})  # the form's default, not a fault
    try:
        make_schedule(schedule, lr0=0.01, **params)
    except ValueError as exc:
        raise TrainingError(f"{STORED}.schedule_params: {exc}") from None
    options = dict(stored.get("regularisation") or {})
    known = [f.name for f in dataclasses.fields(Regularisation)]
    for name in options:
        if name not in known:
            raise TrainingError(f"{STORED}.regularisation: unknown option {name!r} (known: "
                                f"{', '.join(known)})")
    try:
        Regularisation(**options)
    except (TypeError, ValueError) as exc:
        raise TrainingError(f"{STORED}.regularisation: {exc}") from None


def _json_text(value: Any) -> str:
    """A value as the file shows it: null, true, [], "x"."""
    try:
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = repr(type(value).__name__)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _whole_in(name: str, optional: bool = False) -> Callable[[Any], str | None]:
    low, high = WHOLE_RANGES[name]

    def check(value: Any) -> str | None:
        if optional and value is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
            return None
        return f"a whole number >= {low}" + (" or null" if optional else "") + \
            f" (at most {high:,})"
    return check


def _one_of(names: Sequence[str]) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if isinstance(value, str) and value in names else f"one of {', '.join(names)}"
    return check


def _learning_rate(value: Any) -> str | None:
    return None if value is None or (_is_number(value) and value >= 0) else \
        "a finite number >= 0 or null"


def _mapping(values: Callable[[Any], bool], what: str) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if isinstance(value, Mapping) and all(isinstance(k, str) and values(v)
                                              for k, v in value.items()):
            return None
        return f"an object of {what}"
    return check


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) and value.strip() else "a non-empty string"


def _preprocess(value: Any) -> str | None:
    try:
        preprocess_choice(value)
    except DatasetError:
        return f"one of {', '.join(PREPROCESS_CHOICES)}"
    return None


def _device(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) or (
        isinstance(value, int) and not isinstance(value, bool)) else \
        "a device index or name, or null"


_STORED_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "dataset": _text,
    "optimizer": _one_of(OPTIMIZER_NAMES),
    "lr": _learning_rate,
    "hyper": _mapping(lambda v: _is_number(v) or isinstance(v, str),
                      "hyperparameters (numbers, or names such as \"smoothed\")"),
    "schedule": _one_of(tuple(SCHEDULES)),
    "schedule_params": _mapping(_is_number, "numbers"),
    "batch_size": _whole_in("batch_size"),
    "epochs": _whole_in("epochs"),
    "patience": _whole_in("patience", optional=True),
    "min_epochs": _whole_in("min_epochs"),
    "regularisation": _mapping(lambda v: v is None or _is_number(v), "numbers"),
    "preprocess": _preprocess,
    "device": _device,
    "seed": _whole_in("seed"),
}


# what belongs to the optimizer it was chosen for (the schedule's shape does not: it is kept)
OPTIMIZER_SPECIFIC = ("lr", "hyper")


def set_aside(metadata: Mapping[str, Any] | None, optimizer: str | None) -> dict[str, Any]:
    """The stored settings that do not apply to `optimizer`: the learning rate and the
    hyperparameters stored for another optimizer ({} when `optimizer` is the stored one, or
    None). The stored optimizer is TRAIN_DEFAULTS' when the metadata names none."""
    stored = stored_training(metadata)
    if optimizer is None or optimizer == stored.get("optimizer", TRAIN_DEFAULTS["optimizer"]):
        return {}
    return {key: stored[key] for key in OPTIMIZER_SPECIFIC
            if stored.get(key) not in (None, {})}


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
    preprocess: str = "auto"  # one of PREPROCESS_CHOICES (nodestudio/data/preprocess.py)
    device: str | None = None  # index or part of the device name; None: the current one
    seed: int = 0

    # --- construction --------------------------------------------------------------------
    @classmethod
    def from_metadata(cls, metadata: Mapping[str, Any] | None, **given: Any
                      ) -> TrainingSettings:
        """`given` first, then metadata["training"], then TRAIN_DEFAULTS and the field
        defaults. Unknown keys in the metadata are ignored (files written by newer versions).
        When `given` names an optimizer other than the stored one, the stored lr and
        hyperparameters are not used (see `set_aside`). TrainingError naming the field when
        the stored settings cannot be used (`check_stored_training`): the CLI refuses the
        file with it, the studio falls back to the defaults and says why."""
        check_stored_training(metadata)
        stored = stored_training(metadata)
        for key in set_aside(metadata, given.get("optimizer")):
            del stored[key]
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
        for name in ("batch_size", "epochs", "min_epochs", "seed"):
            _whole(name, getattr(self, name), *WHOLE_RANGES[name])
        if self.patience is not None:
            _whole("patience", self.patience, *WHOLE_RANGES["patience"])
        if self.lr is not None and (isinstance(self.lr, bool) or not isinstance(
                self.lr, (int, float)) or not math.isfinite(self.lr) or self.lr < 0):
            raise TrainingError(f"learning rate must be a finite number >= 0, got {self.lr!r}")
        if not isinstance(self.dataset, str) or not self.dataset.strip():
            raise TrainingError("no dataset chosen")
        try:
            preprocess_choice(self.preprocess)
        except DatasetError as exc:
            raise TrainingError(str(exc)) from None
        self.optimizer_and_schedule()  # the hyperparameters and the schedule's parameters

    def optimizer_and_schedule(self) -> tuple[Optimizer | str, Schedule | float | None]:
        return optimizer_and_schedule(self.optimizer, self.lr, self.hyper, self.schedule,
                                      self.schedule_params)

    def effective_lr(self) -> float | None:
        """The starting learning rate actually used (None for the full-batch methods)."""
        if self.fullbatch:
            return None
        if self.lr is not None:
            return self.lr
        return float(self.hyper.get("lr", OPTIMIZERS[self.optimizer].HYPERPARAMETERS[0].default))

    def hyperparameter_values(self) -> dict[str, Any]:
        """Every hyperparameter of the optimizer with the value the run uses (lr first, the
        defaults filled in); {} for the full-batch methods. Call after check()."""
        if self.fullbatch:
            return {}
        optimizer = make_optimizer(self.optimizer, **self.hyper)
        return {**optimizer.hyperparameters(), "lr": self.effective_lr()}

    def effective(self, data: Splits | None = None, device: str | None = None
                  ) -> dict[str, Any]:
        """Everything the run uses, defaults filled in, as a JSON-friendly dict (metrics.json
        "settings"). With the loaded `data`, also the preprocessing 'auto' chose; `device` is
        the device's label when known."""
        out: dict[str, Any] = {"dataset": self.dataset, "optimizer": self.optimizer}
        if self.fullbatch:
            out["batch_size"] = "full"
        else:
            out["hyperparameters"] = self.hyperparameter_values()
            out["schedule"] = {"kind": self.schedule, **self.schedule_params}
            out["batch_size"] = self.batch_size
        out.update(epochs=self.epochs, patience=self.patience, min_epochs=self.min_epochs,
                   preprocess=preprocess_choice(self.preprocess))
        if data is not None:
            out["preprocessing_applied"] = (data.preprocessor.kind if data.preprocessor
                                            else "none")
        out["regularisation"] = {k: v for k, v in dataclasses.asdict(self.regularisation)
                                 .items() if v != getattr(Regularisation(), k)}
        out["seed"] = self.seed
        out["device"] = device if device is not None else self.device
        return out

    def describe(self) -> str:
        """One line for a log, every setting in it: "adam (lr 0.001, beta1 0.9, beta2 0.999,
        eps 1e-08), batch 100, 20 epochs, preprocessing auto, seed 0 on mnist5k"."""
        if self.fullbatch:
            parts = [f"{self.optimizer} (full batch)"]
        else:
            try:
                values = self.hyperparameter_values()
            except ValueError:  # not checked yet: say what was asked for
                values = {"lr": self.lr, **self.hyper}
            parts = [f"{self.optimizer} ({_pairs(values)})"]
            if self.schedule != "constant":
                parts.append(f"schedule {self.schedule} ({_pairs(self.schedule_params)})")
            parts.append(f"batch {self.batch_size}")
        parts.append(f"{self.epochs} epoch{'s' if self.epochs != 1 else ''}")
        if self.patience is not None:
            parts.append(f"patience {self.patience}")
        if self.min_epochs:
            parts.append(f"min. epochs {self.min_epochs}")
        parts.append(f"preprocessing {self.preprocess}")
        regularisation = {k.replace("_", " "): v for k, v in dataclasses.asdict(
            self.regularisation).items() if v != getattr(Regularisation(), k)}
        if regularisation:
            parts.append(_pairs(regularisation))
        parts.append(f"seed {self.seed}")
        return f"{', '.join(parts)} on {self.dataset}"


def _pairs(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in values.items())


def load_data(settings: TrainingSettings, *, download: bool = False,
              progress: Progress | None = None) -> Splits:
    """The dataset of `settings`, split with its seed and preprocessed as it says (the notes
    on it in `Splits.notes`: see `note_text`). `download` fetches full MNIST when absent."""
    return load_dataset(settings.dataset, seed=settings.seed,
                        preprocess=preprocess_choice(settings.preprocess), download=download,
                        progress=progress)


def note_text(note: DataNote, hint: str = "consider --preprocess {}") -> str:
    """A note on the data as a front end prints it: `hint` (formatted with the suggested
    preprocessing) is appended to warnings that suggest one."""
    if note.suggest is None:
        return note.message
    return f"{note.message}; {hint.format(note.suggest)}"


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
    select_device(spec)


def _whole(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TrainingError(f"{name} must be a whole number >= {low} (at most {high:,}), "
                            f"got {value!r}")


__all__ = ["OPTIMIZER_SPECIFIC", "PREPROCESS_CHOICES", "SCHEDULE_PARAMETERS", "TRAIN_DEFAULTS",
           "ScheduleParameter", "TrainingSettings", "build_trainer", "check_stored_training",
           "hyperparameters", "load_data", "note_text", "optimizer_and_schedule", "set_aside",
           "stored_training", "use_device"]
