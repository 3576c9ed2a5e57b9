"""Full-batch second-order-ish methods: conjugate gradient and L-BFGS through SciPy.

SciPy drives the iteration on the host over one float64 vector holding every parameter; each
evaluation writes that vector into the parameters (one `set_value` per parameter, from views of
the vector), runs one compiled function that computes the cost and all gradients on the device,
and concatenates the gradients back into one vector. Line searches call it many times, so the
function is compiled once and reused.

The device computes in float32, so the cost and gradient SciPy sees carry float32 rounding
(relative ~1e-7): convergence to a gradient norm far below that is not meaningful, and SciPy may
stop with a "precision loss" message once it is reached; the result is still as good as float32
allows.

Line searches need a deterministic objective whose gradient is the gradient of that same
objective. The cost is therefore expanded in one mode (inference by default: dropout is the
identity, batch norm uses its running averages) *before* it is differentiated, so cost and
gradient describe one function; a graph that still draws random numbers in that mode (a dropout
whose mode is forced to "train", a raw random op) is refused with a GraphError naming the node,
instead of a run that stops after a few iterations as "converged".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodestudio.api.function import Function, function
from nodestudio.errors import GraphError
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import Variable, as_variable, toposort
from nodestudio.ir.shared import SharedVariable
from nodestudio.ops.registry import FLOAT

METHODS = {"cg": "CG", "lbfgs": "L-BFGS-B"}


@dataclass
class FullBatchResult:
    """What `minimize_fullbatch` returns; the parameters already hold `x` when it does."""

    fun: float  # final cost
    x: np.ndarray  # final parameters, flat, as the (float32) parameters hold them
    nit: int  # iterations
    nfev: int  # cost-and-gradient evaluations on the device
    success: bool
    message: str
    method: str
    history: list[float] = field(default_factory=list)  # cost at the start and after each iteration


class ParameterVector:
    """The parameters as one flat float64 vector, in the order given, and back."""

    def __init__(self, params: Sequence[SharedVariable]):
        self.params = list(params)
        self.shapes = [p.container.shape for p in self.params]
        self.sizes = [int(np.prod(s, dtype=np.int64)) for s in self.shapes]
        self.offsets = np.concatenate([[0], np.cumsum(self.sizes)]).astype(int).tolist()
        self.size = self.offsets[-1]

    def get(self) -> np.ndarray:
        return self.flatten([p.get_value() for p in self.params])

    def set(self, x: np.ndarray) -> None:
        for param, start, stop, shape in zip(self.params, self.offsets, self.offsets[1:],
                                             self.shapes):
            param.set_value(x[start:stop].reshape(shape))  # a view; set_value copies to float32

    def flatten(self, arrays: Sequence[np.ndarray]) -> np.ndarray:
        if not arrays:
            return np.zeros(0)
        return np.concatenate([np.asarray(a, dtype=np.float64).reshape(-1) for a in arrays])


class _Objective:
    """cost and gradient at a flat vector, remembering recent values so the per-iteration
    history needs no extra device call (the iterate was the last point the line search
    evaluated, in practice)."""

    def __init__(self, fn: Function, vector: ParameterVector, values: list[Any]):
        self.fn, self.vector, self.values = fn, vector, values
        self.evaluations = 0
        self._recent: dict[bytes, float] = {}

    def __call__(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        self.vector.set(x)
        cost, *grads = self.fn(*self.values)
        self.evaluations += 1
        value = float(cost)
        if len(self._recent) > 32:  # the line search's last few points are enough
            self._recent.pop(next(iter(self._recent)))
        self._recent[x.tobytes()] = value
        return value, self.vector.flatten(grads)

    def cost(self, x: np.ndarray) -> float:
        cached = self._recent.get(x.tobytes())
        return cached if cached is not None else self(x)[0]


def deterministic_objective(cost: Variable, method: str = "lbfgs",
                            training: bool = False) -> Variable:
    """`cost` expanded in inference mode (training mode with `training`), the graph a
    full-batch method differentiates and evaluates. GraphError naming the node when it still
    draws random numbers: the method would see another function at every evaluation."""
    mode = "train" if training else "infer"
    expanded = expand([as_variable(cost)], mode)[0]
    random = [n for n in toposort([expanded]) if n.op.stateful]
    if random:
        owner = random[0].name.split("/")[0]  # a composite's parts are named "<node>/..."
        ops = {n.name: n.op.name for n in toposort([as_variable(cost)])}
        what = f" ({ops[owner]})" if owner in ops else ""
        raise GraphError(
            f"{method} minimises one fixed cost over the whole training set, but this "
            f"node{what} draws new random numbers at every evaluation, even in {mode} mode "
            "(a dropout whose mode is 'train', a random op); set its mode to 'auto', remove "
            "it, or train with a minibatch optimizer", node=owner)
    return expanded


def minimize_fullbatch(cost: Variable, params: Sequence[SharedVariable],
                       inputs: Sequence[Variable] = (), values: Sequence[Any] | Mapping = (),
                       method: str = "lbfgs", max_iter: int = 200, tol: float | None = 1e-6,
                       callback: Callable[[int, float], None] | None = None,
                       training: bool = False) -> FullBatchResult:
    """Minimise a scalar `cost` over `params` on the whole data set at once.

    `inputs` are the symbolic inputs the cost depends on and `values` their values (a sequence in
    the same order, or a mapping from input to value); `method` is "cg" (scipy's Polak-Ribiere
    conjugate gradient) or "lbfgs" (L-BFGS-B without bounds). `tol` is SciPy's tolerance (the
    gradient-norm test for CG, the gradient and relative-reduction tests for L-BFGS-B);
    `callback(iteration, cost)` is called after each iteration. `training` picks the graph mode
    of both the cost and its gradient (False: no dropout, batch norm on its running
    statistics); a cost that is still random in that mode is a GraphError (see
    `deterministic_objective`). The parameters hold the best point found when this returns."""
    try:
        import scipy.optimize  # only full-batch training needs SciPy, so it is imported here
    except ImportError:
        raise ImportError("minimize_fullbatch needs SciPy: pip install scipy") from None

    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} (known: {', '.join(METHODS)})")
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a whole number >= 1, got {max_iter!r}")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be > 0, got {tol!r}")
    cost = as_variable(cost)
    if cost.ndim != 0 or cost.dtype != FLOAT:
        raise ValueError(f"the cost must be a float scalar, got {cost.type}")
    params = list(params)
    if not params:
        raise ValueError("no parameters to optimise")
    for param in params:
        if not isinstance(param, SharedVariable) or param.dtype != FLOAT:
            raise ValueError(f"parameters must be float32 shared variables, got {param!r}")
    inputs = list(inputs)
    if isinstance(values, Mapping):
        values = [values[v] for v in inputs]
    values = list(values)
    if len(values) != len(inputs):
        raise ValueError(f"{len(inputs)} input(s) but {len(values)} value(s)")

    cost = deterministic_objective(cost, method, training)
    grads = grad(cost, params)  # of the expanded cost: the gradient of what is evaluated
    fn = function(inputs, [cost, *grads], training=training)
    vector = ParameterVector(params)
    objective = _Objective(fn, vector, values)
    x0 = vector.get()
    history = [objective(x0)[0]]

    def after_iteration(xk: np.ndarray) -> None:
        history.append(objective.cost(xk))
        if callback is not None:
            callback(len(history) - 1, history[-1])

    result = scipy.optimize.minimize(objective, x0, jac=True, method=METHODS[method],
                                     tol=tol, callback=after_iteration,
                                     options={"maxiter": int(max_iter)})
    vector.set(result.x)  # the line search may have left the parameters at a trial point
    return FullBatchResult(fun=float(result.fun), x=vector.get(),
                           nit=int(result.nit), nfev=objective.evaluations,
                           success=bool(result.success), message=str(result.message),
                           method=method, history=history)
