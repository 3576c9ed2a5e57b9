"""Optimizers: parameters and their symbolic gradients in, update pairs out.

An optimizer does not run anything. `updates(params, grads, lr)` builds, with the public API, one
expression per shared variable to update (each parameter and each piece of optimizer state) and
returns `(shared, new_value)` pairs for `ns.function(..., updates=...)`. The compiler fuses each
of those expressions into one elementwise OpenCL kernel, and the program swaps the new buffers in
after the call, so neither the parameters nor the optimizer state ever travel to the host.

The learning rate is a symbolic scalar, normally an *input* of the training function
(`ns.scalar("lr")`): a schedule changes it every step through the ordinary (non-blocking) input
upload, without recompiling and without writing a shared variable from the host.

Where PyTorch's formulation differs from the textbook one (where eps goes, AdaGrad's initial
accumulator, RMSProp's alpha), we follow `torch.optim` exactly so results can be compared step
for step; docs/OPTIMIZERS.md lists every formula and default.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from nodestudio.ir import build as F
from nodestudio.ir.expr import Variable, as_variable, fresh_name
from nodestudio.ir.shared import SharedVariable, shared
from nodestudio.ops.registry import FLOAT

# --- hyperparameter specifications ---------------------------------------------------------------

Check = Callable[[Any], str | None]  # returns what is wrong with a value, or None


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter: its default, a line of documentation and its validity check (kept
    as data so the GUI's inspector and the CLI can list and validate them too)."""

    name: str
    default: Any
    doc: str
    check: Check


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def interval(low: float, high: float = math.inf, *, low_open: bool = False,
             high_open: bool = False) -> Check:
    """A check for a finite number in [low, high] (either end optionally open)."""
    left, right = "(" if low_open else "[", ")" if high_open else "]"
    wanted = f"a finite number in {left}{low:g}, {high:g}{right}"

    def check(value: Any) -> str | None:
        number = _number(value)
        if number is None:
            return f"must be {wanted}, got {value!r}"
        if number < low or (low_open and number == low) or number > high or (
                high_open and number == high):
            return f"must be in {left}{low:g}, {high:g}{right}, got {value!r}"
        return None
    return check


def choice(*options: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in options:
            return f"must be one of {', '.join(map(repr, options))}, got {value!r}"
        return None
    return check


def _lr_hyper(default: float) -> Hyper:
    return Hyper("lr", default, "default learning rate, used when updates() is given none (a "
                 "schedule's usual starting value)", interval(0.0))


_MOMENTUM = Hyper("momentum", 0.9, "momentum coefficient", interval(0.0, 1.0, high_open=True))

# --- the base class ------------------------------------------------------------------------------


class Optimizer:
    """Base class. Subclasses declare `name` and `HYPERPARAMETERS` and implement `_update`."""

    name: ClassVar[str] = ""
    HYPERPARAMETERS: ClassVar[tuple[Hyper, ...]] = ()

    def __init__(self, **hyper: Any):
        known = {h.name: h for h in self.HYPERPARAMETERS}
        for key in hyper:
            if key not in known:
                raise ValueError(f"{self.name}: unknown hyperparameter {key!r} (known: "
                                 f"{', '.join(known)})")
        self._hyper: dict[str, Any] = {}
        for spec in self.HYPERPARAMETERS:
            value = hyper.get(spec.name, spec.default)
            problem = spec.check(value)
            if problem is not None:
                raise ValueError(f"{self.name}: hyperparameter {spec.name!r} {problem}")
            # numbers are kept as Python floats so the C literals they become are predictable
            self._hyper[spec.name] = value if isinstance(value, str) else float(value)
        self._check_together()
        self._state: list[SharedVariable] = []
        self._initial: list[np.ndarray] = []  # the value each state variable is reset to

    def _check_together(self) -> None:
        """Checks that involve several hyperparameters (raise ValueError naming one)."""

    def __getattr__(self, key: str) -> Any:  # opt.momentum, opt.lr, ...
        hyper = self.__dict__.get("_hyper")
        if hyper is not None and key in hyper:
            return hyper[key]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")

    def hyperparameters(self) -> dict[str, Any]:
        """The values in use; `make_optimizer(opt.name, **opt.hyperparameters())` rebuilds it."""
        return dict(self._hyper)

    def __repr__(self) -> str:
        values = ", ".join(f"{k}={v!r}" for k, v in self._hyper.items())
        return f"{type(self).__name__}({values})"

    # --- building the updates ------------------------------------------------------------------
    def updates(self, params: Sequence[SharedVariable], grads: Sequence[Variable],
                lr: Variable | float | None = None) -> list[tuple[SharedVariable, Variable]]:
        """Update pairs for every parameter and every piece of state this creates.

        `lr` is normally a symbolic scalar input of the training function; a number becomes a
        constant of the graph and None uses the `lr` hyperparameter. Each call creates fresh
        state (zeros shaped like each parameter, counters), which `state()` then returns."""
        params, grads = list(params), list(grads)
        if len(params) != len(grads):
            raise ValueError(f"{self.name}: {len(params)} parameter(s) but {len(grads)} "
                             "gradient(s)")
        for param, grad in zip(params, grads):
            _check_pair(param, grad)
        lr_var = as_variable(self.lr if lr is None else lr)
        if lr_var.ndim != 0 or lr_var.dtype != FLOAT:
            raise ValueError(f"{self.name}: the learning rate must be a float scalar, got "
                             f"{lr_var.type}")
        self._state, self._initial = [], []
        pairs: list[tuple[SharedVariable, Variable]] = []
        context = self._prepare(lr_var, pairs)
        for param, grad in zip(params, grads):
            pairs.extend(self._update(param, as_variable(grad), lr_var, context))
        return pairs

    def _prepare(self, lr: Variable, pairs: list[tuple[SharedVariable, Variable]]) -> Any:
        """Values shared by every parameter's update (Adam's bias corrections): built once per
        `updates` call so the compiler computes them once per step, not once per parameter."""
        return None

    def _update(self, param: SharedVariable, grad: Variable, lr: Variable,
                context: Any) -> list[tuple[SharedVariable, Variable]]:
        raise NotImplementedError

    # --- state -----------------------------------------------------------------------------------
    def _new_state(self, role: str, like: SharedVariable | None = None,
                   fill: float = 0.0) -> SharedVariable:
        """A float32 shared variable shaped like `like` (a scalar without it), filled with
        `fill`, named after the parameter so a saved graph shows whose state it is."""
        shape = like.container.shape if like is not None else ()
        value = np.full(shape, fill, dtype=np.float32)
        base = f"{like.name}/{self.name}_{role}" if like is not None else f"{self.name}_{role}"
        var = shared(value, fresh_name(base))
        self._state.append(var)
        self._initial.append(value)
        return var

    def state(self) -> list[SharedVariable]:
        """The state variables created by the last `updates` call (for resetting or saving)."""
        return list(self._state)

    def reset(self) -> None:
        """Put every state variable back to its initial value (zeros, Adam's step 0, ...)."""
        for var, value in zip(self._state, self._initial):
            var.set_value(value)


def _check_pair(param: Any, grad: Any) -> None:
    if not isinstance(param, SharedVariable):
        raise ValueError(f"parameters must be shared variables, got {param!r}")
    if param.dtype != FLOAT:
        raise ValueError(f"parameter {param.name!r} is {param.dtype}; only float32 shared "
                         "variables can be optimised")
    grad = as_variable(grad)
    shape = param.container.shape
    if grad.ndim != len(shape) or any(d is not None and d != s for d, s in
                                      zip(grad.shape, shape)):
        raise ValueError(f"the gradient {grad.name!r} ({grad.type}) does not fit the parameter "
                         f"{param.name!r} (shape {shape})")


# --- the optimizers ------------------------------------------------------------------------------


class SGD(Optimizer):
    """w <- w - lr * g"""

    name = "sgd"
    HYPERPARAMETERS = (_lr_hyper(0.01),)

    def _update(self, param, grad, lr, context):
        return [(param, param - lr * grad)]


class Momentum(Optimizer):
    """Heavy-ball momentum, in one of two formulations.

    classic:  v <- momentum * v - lr * g;  w <- w + v
    smoothed: m <- momentum * m + (1 - momentum) * g;  w <- w - lr * m

    torch.optim.SGD(momentum=mu) keeps b <- mu * b + g; w <- w - lr * b, which is `classic` with
    v = -lr * b as long as lr stays constant (with a changing lr, classic keeps the old steps'
    rates inside v, torch applies the current rate to the whole buffer)."""

    name = "momentum"
    HYPERPARAMETERS = (_lr_hyper(0.01), _MOMENTUM,
                       Hyper("variant", "classic", "'classic' (velocity holds lr * g) or "
                             "'smoothed' (an exponential average of g)",
                             choice("classic", "smoothed")))

    def _update(self, param, grad, lr, context):
        mu = self.momentum
        if self.variant == "classic":
            v = self._new_state("velocity", param)
            v_new = mu * v - lr * grad
            return [(v, v_new), (param, param + v_new)]
        m = self._new_state("average", param)
        m_new = mu * m + (1.0 - mu) * grad
        return [(m, m_new), (param, param - lr * m_new)]


class Nesterov(Optimizer):
    """Nesterov momentum as torch.optim.SGD(momentum=mu, nesterov=True) computes it:

    b <- mu * b + g;  w <- w - lr * (g + mu * b)

    (torch starts the buffer at g on the first step, which is mu * 0 + g: the same thing.)"""

    name = "nesterov"
    HYPERPARAMETERS = (_lr_hyper(0.01), _MOMENTUM)

    def _update(self, param, grad, lr, context):
        mu = self.momentum
        b = self._new_state("buffer", param)
        b_new = mu * b + grad
        return [(b, b_new), (param, param - lr * (grad + mu * b_new))]


class AdaGrad(Optimizer):
    """torch.optim.Adagrad (lr_decay 0; use a schedule instead):

    s <- s + g²;  w <- w - lr * g / (sqrt(s) + eps)

    eps is added to the square root (not inside it) and the accumulator starts at
    `initial_accumulator_value`, 0 by default as in torch (some texts and TensorFlow use 0.1)."""

    name = "adagrad"
    HYPERPARAMETERS = (_lr_hyper(0.01),
                       Hyper("eps", 1e-10, "added to sqrt(s) in the denominator", interval(0.0)),
                       Hyper("initial_accumulator_value", 0.0, "starting value of s",
                             interval(0.0)))

    def _update(self, param, grad, lr, context):
        s = self._new_state("sum", param, self.initial_accumulator_value)
        s_new = s + F.square(grad)
        return [(s, s_new), (param, param - lr * grad / (F.sqrt(s_new) + self.eps))]


class RMSProp(Optimizer):
    """torch.optim.RMSprop (not centred, no momentum):

    s <- alpha * s + (1 - alpha) * g²;  w <- w - lr * g / (sqrt(s) + eps)

    torch's defaults: alpha 0.99 (Hinton's lecture used 0.9), eps 1e-8 added outside the root,
    lr 1e-2."""

    name = "rmsprop"
    HYPERPARAMETERS = (_lr_hyper(0.01),
                       Hyper("alpha", 0.99, "decay of the running average of g²",
                             interval(0.0, 1.0, high_open=True)),
                       Hyper("eps", 1e-8, "added to sqrt(s) in the denominator", interval(0.0)))

    def _update(self, param, grad, lr, context):
        a = self.alpha
        s = self._new_state("square_avg", param)
        s_new = a * s + (1.0 - a) * F.square(grad)
        return [(s, s_new), (param, param - lr * grad / (F.sqrt(s_new) + self.eps))]


def _one_minus_power(beta: float, t: Variable) -> Variable | float:
    """1 - beta ** t for 0 <= beta < 1 without cancellation (see Adam)."""
    if beta == 0.0:
        return 1.0
    return -F.expm1(t * math.log(beta))


class Adam(Optimizer):
    """torch.optim.Adam (no weight decay, no amsgrad), bias-corrected:

    t <- t + 1
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g²
    w <- w - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    i.e. eps is added to the bias-corrected sqrt(v_hat), as in torch and Kingma & Ba's
    Algorithm 1 (not to the uncorrected sqrt(v) of their "efficient" variant).

    The step counter t is a float32 shared scalar (exact up to 2^24 steps); the corrections are
    scalars computed once per step for all parameters, as -expm1(t * log(beta)): 1 - pow(0.999, t)
    loses four digits to cancellation in the first steps, and NVIDIA's pow is an ulp off there
    (a relative error of 5e-5 in the first step)."""

    name = "adam"
    HYPERPARAMETERS = (_lr_hyper(1e-3),
                       Hyper("beta1", 0.9, "decay of the average of g",
                             interval(0.0, 1.0, high_open=True)),
                       Hyper("beta2", 0.999, "decay of the average of g²",
                             interval(0.0, 1.0, high_open=True)),
                       Hyper("eps", 1e-8, "added to sqrt(v_hat) in the denominator",
                             interval(0.0)))

    def _prepare(self, lr, pairs):
        t = self._new_state("step")
        t_new = t + 1.0
        pairs.append((t, t_new))
        step_size = lr / _one_minus_power(self.beta1, t_new)
        root_correction = F.sqrt(_one_minus_power(self.beta2, t_new))
        return step_size, root_correction

    def _update(self, param, grad, lr, context):
        step_size, root_correction = context
        b1, b2 = self.beta1, self.beta2
        m = self._new_state("m", param)
        v = self._new_state("v", param)
        m_new = b1 * m + (1.0 - b1) * grad
        v_new = b2 * v + (1.0 - b2) * F.square(grad)
        denom = F.sqrt(v_new) / root_correction + self.eps
        return [(m, m_new), (v, v_new), (param, param - step_size * m_new / denom)]


class Adaptive(Optimizer):
    """Per-element learning rates driven by the sign agreement of successive gradients (the
    "adaptive local gains" of Jacobs' delta-bar-delta family, as taught in Hinton's lectures):

    p = g * g_prev
    rate <- rate + increment  where p > 0 (same sign: speed up, additively)
    rate <- rate * decay      where p < 0 (sign flip: we overshot, slow down fast)
    rate <- clip(rate, min_rate, max_rate)
    w <- w - lr * rate * g;  g_prev <- g

    Where p == 0 (the first step, whose g_prev is 0, or a zero gradient) the rate is left as it
    is. Additive increase and multiplicative decrease make large rates decay quickly when
    oscillations start."""

    name = "adaptive"
    HYPERPARAMETERS = (_lr_hyper(0.01),
                       Hyper("initial_rate", 1.0, "every element's starting rate",
                             interval(0.0, low_open=True)),
                       Hyper("increment", 0.05, "added to a rate when the signs agree",
                             interval(0.0)),
                       Hyper("decay", 0.95, "multiplies a rate when the signs disagree",
                             interval(0.0, 1.0, low_open=True)),
                       Hyper("min_rate", 0.1, "lower clip of the rates",
                             interval(0.0, low_open=True)),
                       Hyper("max_rate", 10.0, "upper clip of the rates",
                             interval(0.0, low_open=True)))

    def _check_together(self) -> None:
        if self.min_rate > self.max_rate:
            raise ValueError(f"{self.name}: hyperparameter 'min_rate' ({self.min_rate:g}) is "
                             f"above 'max_rate' ({self.max_rate:g})")
        if not self.min_rate <= self.initial_rate <= self.max_rate:
            raise ValueError(f"{self.name}: hyperparameter 'initial_rate' "
                             f"({self.initial_rate:g}) is outside [min_rate, max_rate]")

    def _update(self, param, grad, lr, context):
        rate = self._new_state("rate", param, self.initial_rate)
        previous = self._new_state("previous_grad", param)
        agreement = grad * previous
        changed = F.where(F.gt(agreement, 0.0), rate + self.increment,
                          F.where(F.lt(agreement, 0.0), rate * self.decay, rate))
        rate_new = F.minimum(F.maximum(changed, self.min_rate), self.max_rate)
        return [(rate, rate_new), (previous, grad), (param, param - lr * rate_new * grad)]


# --- registry ------------------------------------------------------------------------------------

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.name: cls for cls in (SGD, Momentum, Nesterov, AdaGrad, RMSProp, Adam, Adaptive)}


def make_optimizer(name: str, **hyper: Any) -> Optimizer:
    """`make_optimizer("adam", beta2=0.99)`; ValueError for an unknown name or hyperparameter."""
    cls = OPTIMIZERS.get(name)
    if cls is None:
        raise ValueError(f"unknown optimizer {name!r} (known: {', '.join(OPTIMIZERS)})")
    return cls(**hyper)
