"""The probe: live values from a training run, sampled every few steps at a small, measured cost.

Every `every` optimisation steps the trainer runs one extra compiled function on a FIXED probe
batch (rows of the training split drawn once with the run's seed), with the parameters as they
are on the device at that moment, and sends what it returns to its subscribers as a `Snapshot`:

* each trainable parameter's value and its gradient of the training loss (the loss the
  optimizer minimises, regularisation terms included);
* the output of each of the user's forward nodes on the probe batch (activation histograms,
  saturated sigmoid / tanh units, dead ReLUs) and the gradient of the training loss with respect
  to it (the gradient flowing back along that wire);
* the update-to-weight ratio of each parameter: ||W_now - W_previous|| / ||W_previous|| between
  two consecutive snapshots, and the same divided by the steps between them (`update_ratios`,
  `step_ratios`). The rule of thumb (Karpathy's CS231n notes) is a per-step ratio near 1e-3: much
  smaller and the layer barely learns (learning rate too low, vanishing gradients), much larger
  and it is being thrown around (learning rate too high).

The function is compiled once, when the trainer is built (`Probe(...)`), with `ns.function` over
`ns.grad(training_loss, params + forward outputs)`. It runs in training mode (dropout on, batch
norm on batch statistics: the gradients the optimizer sees) but applies no update: the batch-norm
running averages that training functions advance are left alone. Dropout masks are those of the
probe's own call counter, fixed per snapshot (the iteration), so two snapshots of the same
parameters are equal.

Keys are the user's terms (ir/names.py): parameters as in `Model.values()` ("W1", "hidden/W"),
forward outputs by node id ("hidden_tanh"), or "node.port" for an output that is not its node's
only one.

Cost: a forward and backward pass on the probe batch, the read-back of every parameter and its
gradient, and a few norms. With `every="auto"` (the default) the probe measures its own cost and
the time of the steps between two snapshots and spaces snapshots so that it takes at most
`budget` (2%) of the training time; an int fixes the interval. benchmarks/bench_probe.py measures
the overhead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nodestudio.api.function import function
from nodestudio.data.dataset import Dataset
from nodestudio.errors import NodeStudioError
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import Variable, is_float, toposort
from nodestudio.ir.shared import SharedVariable
from nodestudio.train.events import Snapshot

DEFAULT_BUDGET = 0.02  # share of training time the probe may take with every="auto"
DEFAULT_BATCH = 64  # rows in the probe batch (fewer when the training split is smaller)
MIN_EVERY = 5  # "auto" never probes more often than this many steps
FIRST_GAP = 10  # steps after the first snapshot (whose time includes compiling)
ACTIVATIONS = ("tanh", "sigmoid", "relu", "leaky_relu", "softplus")
SKIPPED_OPS = ("input", "parameter", "constant")


class ProbeError(NodeStudioError, ValueError):
    """Probe settings that cannot work (an interval of 0, an empty training split...)."""


class Probe:
    """Compiles the probe function for a model's training loss and takes `Snapshot`s.

    `every`: "auto" (space snapshots by measured cost, see the module docstring) or a whole
    number of steps; `batch_size`: rows of the probe batch; `seed`: which rows."""

    def __init__(self, model: Any, training_loss: Variable, params: Sequence[SharedVariable],
                 train: Dataset, every: int | str = "auto", batch_size: int = DEFAULT_BATCH,
                 seed: int = 0, budget: float = DEFAULT_BUDGET):
        if every != "auto" and (isinstance(every, bool) or not isinstance(every, int)
                                or every < 1):
            raise ProbeError(f"probe interval must be 'auto' or a whole number >= 1, "
                             f"got {every!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ProbeError(f"probe batch size must be a whole number >= 1, got {batch_size!r}")
        if not 0.0 < budget < 1.0:
            raise ProbeError(f"probe budget must be in (0, 1), got {budget!r}")
        if len(train) == 0:
            raise ProbeError(f"dataset {train.name!r}: no training examples to probe with")
        self.model, self.every, self.budget = model, every, budget
        self.input_shape = tuple(train.image_shape)
        rows = np.random.default_rng(seed).choice(len(train), min(batch_size, len(train)),
                                                  replace=False)
        self.rows = np.sort(rows)
        self.x, self.y = model.feed(train, self.rows)
        self.param_names = _names_of(model.shared, params)
        self.forward = forward_outputs(training_loss, model.nodes)
        self.ops = {key: var.owner.op.name for key, var in self.forward.items()}
        self.kinds = {key: nonlinearity(var) for key, var in self.forward.items()}
        self._params = list(params)
        wanted = self._params + list(self.forward.values())
        gradients = grad(training_loss, wanted)
        outputs = [training_loss, *gradients, *self.forward.values()]
        with _no_default_updates(outputs):  # a probe must not advance running averages
            self._fn = function([model.x, model.y], outputs, training=True)
        self._previous: Snapshot | None = None
        self._next = 0  # the iteration of the next snapshot
        self._cost: float | None = None  # seconds of the latest probe after the first
        self._last_end: float | None = None  # when the latest probe ended
        self._charge: tuple[int, float, float] | None = None  # probe to charge at next step

    def due(self, iteration: int) -> bool:
        """True when a snapshot should be taken after `iteration` steps. Called before every
        step: right after a probe it also charges the probe for the step it slowed down."""
        if self._charge is not None:
            self._charge_probe(*self._charge)
        return iteration >= self._next

    def take(self, epoch: int, iteration: int) -> Snapshot:
        """Run the probe on the current parameters; schedules the next one."""
        began = time.perf_counter()
        previous = self._previous
        steps = 0 if previous is None else iteration - previous.iteration
        self._fn.calls = iteration  # dropout masks fixed per snapshot
        out = self._fn(self.x, self.y)
        n = len(self._params)
        loss, param_grads = float(out[0]), out[1:1 + n]
        wire_grads, acts = out[1 + n:1 + n + len(self.forward)], out[1 + n + len(self.forward):]
        params = {name: _frozen(var.get_value())
                  for name, var in zip(self.param_names, self._params)}
        grads = {name: _frozen(g) for name, g in zip(self.param_names, param_grads)}
        weight_norms = {name: _norm(v) for name, v in params.items()}
        grad_norms = {name: _norm(g) for name, g in grads.items()}
        update, per_step = {}, {}
        if previous is not None:
            for name, value in params.items():
                before = previous.params.get(name)
                if before is None or previous.weight_norms[name] == 0.0:
                    continue  # no ratio to a zero matrix (biases start at zero)
                ratio = _norm(value - before) / previous.weight_norms[name]
                update[name] = ratio
                per_step[name] = ratio / max(steps, 1)
        keys = list(self.forward)
        snapshot = Snapshot(
            epoch, iteration, steps, loss, params, grads,
            {k: _frozen(a) for k, a in zip(keys, acts)},
            {k: _frozen(g) for k, g in zip(keys, wire_grads)},
            self.kinds, self.ops, grad_norms, weight_norms, update, per_step,
            tuple(int(r) for r in self.rows),
            self.input_shape, 0.0)
        end = time.perf_counter()
        object.__setattr__(snapshot, "seconds", end - began)
        self._schedule(iteration, began, end, steps)
        self._previous = snapshot
        return snapshot

    def _schedule(self, iteration: int, began: float, end: float, steps: int) -> None:
        if self.every != "auto":
            self._next = iteration + int(self.every)
            return
        if self._last_end is None:  # the first call compiled the function: not its cost
            self._next, self._last_end = iteration + FIRST_GAP, end
            return
        step_time = max((began - self._last_end) / max(steps, 1), 1e-9)
        self._last_end = end
        self._space(iteration, end - began, step_time)
        self._charge = (iteration, began, step_time)

    def _charge_probe(self, iteration: int, began: float, step_time: float) -> None:
        """The step after a probe may run slower than the others (caches, the device's
        threads waking): what it took beyond a usual step is part of the probe's cost."""
        self._charge = None
        self._space(iteration, time.perf_counter() - began - step_time, step_time)

    def _space(self, iteration: int, cost: float, step_time: float) -> None:
        self._cost = max(cost, 0.0)
        gap = math.ceil(self._cost / (self.budget * step_time))
        self._next = iteration + max(MIN_EVERY, gap)

    @property
    def interval(self) -> int | None:
        """Steps until the snapshot after the latest one (None before the first)."""
        if self._previous is None:
            return None
        return self._next - self._previous.iteration


def forward_outputs(loss: Variable, user_nodes: Mapping[str, str]) -> dict[str, Variable]:
    """The float outputs of the user's nodes that the loss depends on, in evaluation order,
    keyed by node id ("node.port" for an output that is not its node's only one); inputs,
    parameters, constants and outputs the loss does not read are left out."""
    order = toposort([loss])
    used = {id(v) for node in order for v in node.inputs} | {id(loss)}
    found: dict[str, Variable] = {}
    for node in order:
        if node.name not in user_nodes or node.op.name in SKIPPED_OPS:
            continue
        names = node.op.output_names()
        for index, var in enumerate(node.outputs):
            if not is_float(var) or id(var) not in used:  # batch norm's new running averages
                continue
            port = names[index] if index < len(names) else str(index)
            key = node.name if len(node.outputs) == 1 else f"{node.name}.{port}"
            found[key] = var
    return found


def nonlinearity(var: Variable) -> str:
    """The activation a node's output ends in: its op ("tanh"), a layer's activation
    attribute ("relu" for a dense_layer with activation relu), or "" for anything else."""
    op = var.owner.op.name
    if op in ACTIVATIONS:
        return op
    activation = var.owner.attrs.get("activation")
    return activation if isinstance(activation, str) and activation in ACTIVATIONS else ""


# --- what panels compute from a snapshot (pure NumPy, cheap, on the probe batch) -------------

SATURATION = 0.99  # |tanh| above this, a sigmoid within 0.01 of 0 or 1: a saturated unit


def saturated_fraction(kind: str, activation: np.ndarray) -> float | None:
    """Share of the (example, unit) values of a sigmoid or tanh output that are saturated
    (their local gradient below 0.02 for tanh, 0.0099 for the sigmoid); None for other kinds."""
    a = np.asarray(activation, dtype=np.float64)
    if a.size == 0:
        return None
    if kind == "tanh":
        return float(np.mean(np.abs(a) > SATURATION))
    if kind == "sigmoid":
        return float(np.mean((a < 1.0 - SATURATION) | (a > SATURATION)))
    return None


def dead_fraction(kind: str, activation: np.ndarray) -> float | None:
    """Share of a ReLU output's units that are zero for every example of the probe batch
    (dead: no gradient reaches their weights); None for other kinds. Units are the last axis
    of a (batch, units) output, the channel axis 1 of a (batch, channels, ...) one."""
    if kind != "relu":
        return None
    a = np.asarray(activation)
    if a.ndim < 2 or a.size == 0:
        return None
    per_unit = np.moveaxis(a, 1, -1).reshape(-1, a.shape[1]) if a.ndim > 2 else a
    return float(np.mean(np.all(per_unit <= 0.0, axis=0)))


def _names_of(shared: Mapping[str, SharedVariable], params: Sequence[SharedVariable]
              ) -> list[str]:
    by_id = {id(var): name for name, var in shared.items()}
    return [by_id.get(id(var), var.name) for var in params]


def _frozen(value: Any) -> np.ndarray:
    """Read-only view of a fresh host array (the function's outputs and get_value() are fresh
    copies each call, so no one else holds them)."""
    array = np.asarray(value)
    array.flags.writeable = False
    return array


def _norm(array: np.ndarray) -> float:
    """The Euclidean norm, summed in float64. Deliberately not np.dot / np.linalg.norm: those
    call OpenBLAS, whose worker threads then spin for about 0.1 s waiting for more work, taking
    a core from the OpenCL device's own threads; on a CPU device that slowed the training steps
    after each probe by three times what the probe itself cost (notes in bench_probe.py)."""
    flat = np.asarray(array, dtype=np.float64).ravel()
    return float(math.sqrt(np.sum(np.square(flat))))


class _no_default_updates:
    """Clears the default updates of the shared variables under `outputs` while a function is
    compiled (Function reads them only then), and puts them back."""

    def __init__(self, outputs: Sequence[Variable]):
        self.saved: list[tuple[SharedVariable, Any]] = []
        for node in toposort(list(outputs)):
            for var in node.outputs:
                if isinstance(var, SharedVariable) and var.default_update is not None:
                    self.saved.append((var, var.default_update))

    def __enter__(self) -> None:
        for var, _ in self.saved:
            var.default_update = None

    def __exit__(self, *exc: object) -> None:
        for var, update in self.saved:
            var.default_update = update


__all__ = ["DEFAULT_BATCH", "DEFAULT_BUDGET", "Probe", "ProbeError", "Snapshot",
           "dead_fraction", "forward_outputs", "nonlinearity", "saturated_fraction"]
