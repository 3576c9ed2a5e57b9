"""Contrastive divergence: minibatch training of the `rbm_layer`s of a graph on their CD cost,
with the RBM's monitoring figures per epoch.

The graph's loss is an RBM's `cost` (mean F(v0) - mean F(stop_gradient(v_k)), ops/rbm.py), so
its gradient is the CD-k (or PCD-k) estimate and any optimizer and schedule apply it; the
persistent chain is the layer's declared state and advances with every step. What this adds to
`Minibatch`:

* `k`: the number of Gibbs steps, raisable during training: an int, a mapping {first epoch: k}
  ({1: 1, 5: 3, 10: 10}) or a function epoch -> k; None keeps each layer's own `k`.
  `set_k(k)` changes it from the next epoch on. A change rebuilds the layer with the new k on
  the same shared variables (weights, chain) and recompiles the step; the optimizer's state
  (momentum, Adam's moments) is carried over.
* per-epoch metrics (named "<layer>/<metric>" when the graph has several RBMs):
  - `k`: the Gibbs steps the epoch ran;
  - `recon`: the layer's reconstruction error, the mean over the epoch's steps;
  - `free_energy_train`, `free_energy_valid`, `free_energy_gap` (valid - train): the mean
    free energy of up to `monitor_rows` training rows (a fixed sample) and validation rows,
    after the epoch. A gap that grows means the model fits its training data better than
    unseen data: overfitting (Hinton, "A practical guide to training RBMs", 6);
  - `pseudo_likelihood` (binary visibles only): the Theano tutorial's stochastic estimate,
    V * mean over the training sample of log sigmoid(F(x~) - F(x)), x the rounded input and
    x~ it with one bit flipped, the bit drawn per row from (seed, epoch).
* `objective`: "loss" trains on the graph's loss (an RBM's cost, or a sum of them);
  "layers" on the sum of the costs of every RBM the graph's outputs depend on, whatever the
  loss is (pretraining the RBMs inside a classifier; only the RBMs' parameters are updated);
* the run ends with the last epoch's parameters (`keep_best` is False): the CD cost on the
  validation split is noise, no measure of the model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from nodestudio.api.function import function
from nodestudio.api.symbols import tensor
from nodestudio.ir import build as F
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import Apply, Variable, make_apply, toposort
from nodestudio.ir.layers import declared_updates, layer_params
from nodestudio.ir.rewrite import substitute
from nodestudio.ops.rbm import free_energy
from nodestudio.train.strategies.minibatch import Minibatch

if TYPE_CHECKING:
    from nodestudio.train.loop import Trainer

RBM_OP = "rbm_layer"
KSchedule = int | Mapping[int, int] | Callable[[int], int] | None
OBJECTIVES = ("loss", "layers")


def is_rbm_cost(loss: Variable | None) -> bool:
    """Whether `loss` is an RBM layer's CD cost (rbm.json's loss): training it is contrastive
    divergence, so the Trainer picks this strategy for it (its figures, k schedules)."""
    owner = loss.owner if loss is not None else None
    return owner is not None and owner.op.name == RBM_OP and loss is owner.outputs[1]


def rbm_nodes(outputs: list[Variable]) -> list[Apply]:
    """The RBM layers `outputs` depend on, in graph order."""
    return [node for node in toposort(outputs) if node.op.name == RBM_OP]


class _Monitor:
    """The free energy of one RBM's input rows, compiled once per layer."""

    def __init__(self, model: Any, node: Apply):
        params = layer_params(node.outputs[0])
        self.visible = node.attrs["visible"]
        self.inputs = function([model.x], [node.inputs[0]], training=False)
        width = node.inputs[0].shape[1]
        v = tensor(f"{node.name}/monitor_v", (None, width))
        self.free_energy = function(
            [v], [free_energy(F, v, params["W"], params["vbias"], params["hbias"],
                              self.visible)], training=False)

    def rows(self, xs: np.ndarray) -> np.ndarray:
        return np.asarray(self.inputs(xs)[0], dtype=np.float64)

    def mean_free_energy(self, v: np.ndarray) -> float:
        return float(np.mean(self.free_energy(v.astype(np.float32))[0]))

    def pseudo_likelihood(self, v: np.ndarray, rng: np.random.Generator) -> float:
        x = np.round(v)
        flipped = x.copy()
        rows = np.arange(len(x))
        bits = rng.integers(0, x.shape[1], len(x))
        flipped[rows, bits] = 1.0 - flipped[rows, bits]
        f_x = self.free_energy(x.astype(np.float32))[0].astype(np.float64)
        f_flip = self.free_energy(flipped.astype(np.float32))[0].astype(np.float64)
        # log sigmoid(d) = -softplus(-d), computed stably in float64
        return float(x.shape[1] * np.mean(-np.logaddexp(0.0, -(f_flip - f_x))))


class ContrastiveDivergence(Minibatch):
    """CD-k / PCD-k training of a graph's RBM layers; see the module docstring."""

    name = "cd"
    keep_best = False

    def __init__(self, k: KSchedule = None, monitor_rows: int = 1000,
                 objective: str = "loss"):
        super().__init__()
        if objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
        self.objective = objective
        if isinstance(k, int) and k < 1 or isinstance(k, Mapping) and (
                not k or min(k.values()) < 1):
            raise ValueError(f"k must be >= 1, got {k!r}")
        self.k, self.monitor_rows = k, int(monitor_rows)
        self.nodes: list[Apply] = []
        self._monitors: list[_Monitor] = []
        self._sample: np.ndarray | None = None

    def set_k(self, k: int) -> None:
        """Use k Gibbs steps from the next epoch on (the studio's Training dock calls it from
        the GUI thread during a run: one attribute, read when an epoch starts)."""
        if isinstance(k, bool) or int(k) != k or int(k) < 1:
            raise ValueError(f"k must be a whole number >= 1, got {k!r}")
        self.k = int(k)

    @property
    def current_k(self) -> int | None:
        """The Gibbs steps of the RBMs being trained now (the first's, when they differ);
        None before the run has prepared."""
        return self.nodes[0].attrs["k"] if self.nodes else None

    def k_at(self, epoch: int) -> int | None:
        if self.k is None or isinstance(self.k, int):
            return self.k
        if isinstance(self.k, Mapping):
            started = [e for e in self.k if e <= epoch]
            return self.k[max(started)] if started else None
        return int(self.k(epoch))

    # --- the Strategy interface -----------------------------------------------------------
    def check(self, trainer: Trainer) -> None:
        super().check(trainer)
        from nodestudio.train.loop import TrainingError
        if not rbm_nodes(self._watched(trainer)):
            what = "loss" if self.objective == "loss" else "outputs"
            raise TrainingError(f"contrastive divergence trains rbm_layer nodes, but the "
                                f"{what} of {trainer.model.source} depend(s) on none")
        if not _trained(rbm_nodes(self._watched(trainer)), trainer):
            raise TrainingError(f"every rbm_layer of {trainer.model.source} is frozen: "
                                "contrastive divergence has nothing to train")

    def prepare(self, trainer: Trainer) -> None:
        if self.objective == "layers":  # the RBMs' own costs, whatever the graph's loss is
            costs = [node.outputs[1]
                     for node in _trained(rbm_nodes(self._watched(trainer)), trainer)]
            total = costs[0]
            for cost in costs[1:]:
                total = total + cost
            trainer.training_loss = total
            trainer.grads = grad(total, trainer.model.params)
        # only the RBMs whose parameters train: a DBN stage's loss reads the frozen layers
        # below it, whose figures (and rebuilds when k changes) would be work for nothing
        self.nodes = _trained(rbm_nodes([trainer.training_loss]), trainer)
        super().prepare(trainer)
        self._monitors = [_Monitor(trainer.model, node) for node in self.nodes]
        train = trainer.data.train
        rng = np.random.default_rng(trainer.seed)
        count = min(self.monitor_rows, len(train))
        self._sample = np.sort(rng.choice(len(train), count, replace=False))

    def parameters(self, trainer: Trainer) -> list:
        if self.objective == "loss":
            return trainer.model.params
        owned = {id(var) for node in self.nodes
                 for var in layer_params(node.outputs[0]).values()}
        return [p for p in trainer.model.params if id(p) in owned]

    def extras(self, trainer: Trainer) -> dict[str, Variable]:
        return {self._metric(node, "recon"): node.outputs[2] for node in self.nodes}

    def run_epoch(self, trainer: Trainer, epoch: int):
        wanted = self.k_at(epoch)
        if wanted is not None and any(n.attrs["k"] != wanted for n in self.nodes):
            self._rebuild(trainer, wanted)
        return super().run_epoch(trainer, epoch)

    def epoch_metrics(self, trainer: Trainer, epoch: int,
                      means: dict[str, float]) -> dict[str, float]:
        metrics = dict(means)
        model, data = trainer.model, trainer.data
        train_x, _ = model.feed(data.train, self._sample)
        valid = data.valid
        valid_x = model.feed(valid, slice(0, self.monitor_rows))[0] if len(valid) else None
        for node, monitor in zip(self.nodes, self._monitors):
            metrics[self._metric(node, "k")] = float(node.attrs["k"])
            rows = monitor.rows(train_x)
            f_train = monitor.mean_free_energy(rows)
            metrics[self._metric(node, "free_energy_train")] = f_train
            if valid_x is not None:
                f_valid = monitor.mean_free_energy(monitor.rows(valid_x))
                metrics[self._metric(node, "free_energy_valid")] = f_valid
                metrics[self._metric(node, "free_energy_gap")] = f_valid - f_train
            if monitor.visible == "bernoulli":
                rng = np.random.default_rng([trainer.seed, epoch])
                metrics[self._metric(node, "pseudo_likelihood")] = \
                    monitor.pseudo_likelihood(rows, rng)
        return metrics

    # --- helpers ----------------------------------------------------------------------------
    def _watched(self, trainer: Trainer) -> list[Variable]:
        model = trainer.model
        if self.objective == "loss":
            return [model.loss]
        return [v for v in (model.loss, model.error, model.prediction) if v is not None]

    def _metric(self, node: Apply, name: str) -> str:
        return name if len(self.nodes) == 1 else f"{node.name}/{name}"

    def _rebuild(self, trainer: Trainer, k: int) -> None:
        """The RBM layers with k Gibbs steps, on the same shared variables; the step
        recompiled with the optimizer's state carried over."""
        replacements: dict[Variable, Variable] = {}
        rebuilt = []
        for node in self.nodes:
            new = make_apply(node.op, list(node.inputs), {**node.attrs, "k": k}, node.name)
            for var, nxt in declared_updates(new):  # the chain now follows the new layer
                var.default_update = nxt
            replacements.update(zip(node.outputs, new.outputs))
            rebuilt.append(new)
        model = trainer.model
        names = ("loss", "error", "prediction")
        current = [getattr(model, n) for n in names]
        present = [v for v in current if v is not None]
        new_outputs = iter(substitute([*present, trainer.training_loss], replacements))
        for name, var in zip(names, current):
            if var is not None:
                setattr(model, name, next(new_outputs))
        trainer.training_loss = next(new_outputs)
        trainer.grads = grad(trainer.training_loss, model.params)
        from nodestudio.train.loop import Evaluator
        trainer.evaluator = Evaluator(model, trainer.eval_batch_size)
        state = [v.get_value() for v in trainer.optimizer.state()]
        calls = self.train_fn.calls
        self.nodes = rebuilt
        super().prepare(trainer)  # a fresh step: new gradients, new optimizer state...
        for var, value in zip(trainer.optimizer.state(), state):
            var.set_value(value)  # ...holding the old state's values
        self.train_fn.calls = calls  # the random streams go on, they do not start again
        self._monitors = [_Monitor(model, node) for node in self.nodes]


def _trained(nodes: list[Apply], trainer: Trainer) -> list[Apply]:
    """The RBM layers among `nodes` that own a parameter the trainer trains (not frozen)."""
    trained = {id(p) for p in trainer.model.params}
    return [node for node in nodes
            if any(id(v) in trained for v in layer_params(node.outputs[0]).values())]


__all__ = ["ContrastiveDivergence", "is_rbm_cost", "rbm_nodes"]
