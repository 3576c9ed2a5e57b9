"""Learning-rate schedules: plain host-side callables, `lr_at(iteration) -> float`.

A schedule never touches the graph. The training loop asks it for the rate of each step and
passes that number as the `lr` input of the compiled training function (see optimizers.py), so a
changing rate costs neither a recompilation nor a blocking write to the device. Iterations count
from 0 (the first step uses `lr_at(0)`).
"""

from __future__ import annotations

import math
from typing import Any, ClassVar


def _finite(name: str, value: Any, *, low: float = 0.0, low_open: bool = False,
            high: float = math.inf) -> float:
    """`value` as a float, or ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(
            value, "__float__"):
        raise ValueError(f"schedule parameter {name!r} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or number < low or (low_open and number == low) or \
            number > high:
        bound = f"{'>' if low_open else '>='} {low:g}" + (
            f" and <= {high:g}" if math.isfinite(high) else "")
        raise ValueError(f"schedule parameter {name!r} must be finite and {bound}, got "
                         f"{value!r}")
    return number


def _count(name: str, value: Any) -> int:
    """A positive whole number of iterations (1000 and 1000.0 both accepted)."""
    number = _finite(name, value, low=0.0, low_open=True)
    if number != int(number):
        raise ValueError(f"schedule parameter {name!r} must be a whole number of iterations, "
                         f"got {value!r}")
    return int(number)


class Schedule:
    """Base class: a name for the registry, `lr_at`, `describe` and `params`."""

    name: ClassVar[str] = ""

    def lr_at(self, iteration: int) -> float:
        raise NotImplementedError

    def __call__(self, iteration: int) -> float:
        return self.lr_at(iteration)

    def describe(self) -> str:
        raise NotImplementedError

    def params(self) -> dict[str, float | int]:
        """The constructor's arguments: `make_schedule(s.name, **s.params())` rebuilds it."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.params() == self.params()  # type: ignore

    def __hash__(self) -> int:
        return hash((self.name, tuple(self.params().items())))

    @staticmethod
    def _iteration(iteration: Any) -> int:
        if isinstance(iteration, bool) or int(iteration) != iteration or iteration < 0:
            raise ValueError(f"the iteration must be a whole number >= 0, got {iteration!r}")
        return int(iteration)


class Constant(Schedule):
    """lr0 at every iteration."""

    name = "constant"

    def __init__(self, lr0: float):
        self.lr0 = _finite("lr0", lr0)

    def lr_at(self, iteration: int) -> float:
        self._iteration(iteration)
        return self.lr0

    def describe(self) -> str:
        return f"constant {self.lr0:g}"

    def params(self) -> dict[str, float | int]:
        return {"lr0": self.lr0}


class Linear(Schedule):
    """Linear decay from lr0 (iteration 0) to lr_tau (iteration tau), then constant lr_tau."""

    name = "linear"

    def __init__(self, lr0: float, lr_tau: float, tau: int):
        self.lr0 = _finite("lr0", lr0)
        self.lr_tau = _finite("lr_tau", lr_tau)
        self.tau = _count("tau", tau)

    def lr_at(self, iteration: int) -> float:
        k = self._iteration(iteration)
        if k >= self.tau:
            return self.lr_tau
        alpha = k / self.tau
        return (1.0 - alpha) * self.lr0 + alpha * self.lr_tau

    def describe(self) -> str:
        return (f"linear from {self.lr0:g} to {self.lr_tau:g} over {self.tau} iterations, "
                f"then constant")

    def params(self) -> dict[str, float | int]:
        return {"lr0": self.lr0, "lr_tau": self.lr_tau, "tau": self.tau}


class Step(Schedule):
    """lr0 * factor ** (iteration // every): multiplied by `factor` every `every` iterations."""

    name = "step"

    def __init__(self, lr0: float, factor: float, every: int):
        self.lr0 = _finite("lr0", lr0)
        self.factor = _finite("factor", factor, low_open=True)
        self.every = _count("every", every)

    def lr_at(self, iteration: int) -> float:
        return self.lr0 * self.factor ** (self._iteration(iteration) // self.every)

    def describe(self) -> str:
        return f"{self.lr0:g}, multiplied by {self.factor:g} every {self.every} iterations"

    def params(self) -> dict[str, float | int]:
        return {"lr0": self.lr0, "factor": self.factor, "every": self.every}


class Exponential(Schedule):
    """lr0 * gamma ** iteration."""

    name = "exponential"

    def __init__(self, lr0: float, gamma: float):
        self.lr0 = _finite("lr0", lr0)
        self.gamma = _finite("gamma", gamma, low_open=True)

    def lr_at(self, iteration: int) -> float:
        return self.lr0 * self.gamma ** self._iteration(iteration)

    def describe(self) -> str:
        return f"{self.lr0:g}, multiplied by {self.gamma:g} every iteration"

    def params(self) -> dict[str, float | int]:
        return {"lr0": self.lr0, "gamma": self.gamma}


# --- constructors by their short names ------------------------------------------------------------

def constant(lr0: float) -> Constant:
    return Constant(lr0)


def linear(lr0: float, lr_tau: float, tau: int) -> Linear:
    return Linear(lr0, lr_tau, tau)


def step(lr0: float, factor: float, every: int) -> Step:
    return Step(lr0, factor, every)


def exponential(lr0: float, gamma: float) -> Exponential:
    return Exponential(lr0, gamma)


SCHEDULES: dict[str, type[Schedule]] = {
    cls.name: cls for cls in (Constant, Linear, Step, Exponential)}


def make_schedule(name: str, **params: Any) -> Schedule:
    """`make_schedule("linear", lr0=0.1, lr_tau=0.001, tau=1000)`; ValueError for an unknown
    name, a missing or unknown parameter, or an invalid value."""
    cls = SCHEDULES.get(name)
    if cls is None:
        raise ValueError(f"unknown schedule {name!r} (known: {', '.join(SCHEDULES)})")
    try:
        return cls(**params)
    except TypeError as exc:  # a missing or unexpected keyword: say which schedule wanted what
        raise ValueError(f"schedule {name!r}: {exc}".replace(f"{cls.__name__}.__init__() ", "")
                         ) from None
