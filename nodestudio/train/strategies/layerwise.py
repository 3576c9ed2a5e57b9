"""Greedy layer-wise pretraining: train a stack one layer at a time, each on the code of the
layers below it, which stay frozen.

    pretrainer = Layerwise(document, data, method="dae", epochs=15, optimizer="sgd", lr=0.1)
    pretrainer.subscribe(print)            # LayerStart, then that layer's trainer's events
    result = pretrainer.run()              # result.values: "<layer>/<param>" -> array
    pretrainer.model.save_values("out/params.npz")

Methods (the `nodestudio pretrain --method` table):

* `sae`: a stack of `autoencoder_layer` nodes, each trained on its reconstruction cost with
  its noise switched off (a plain stacked autoencoder);
* `dae`: the same stack denoising: each layer keeps the noise it is set to, and a layer set to
  none gets the course's masking noise at 0.3 (dA.py's corruption level);
* `dbn`: a stack of `rbm_layer` nodes, each trained by contrastive divergence with the
  layer's own CD-k / PCD settings (SGD on its CD cost; its reconstruction error monitored);
* `supervised`: a chain of `dense_layer` nodes whose last one is the output layer: the first
  hidden layer is trained with a fresh output layer of the same kind, which is then dropped;
  each next hidden layer is added and trained, with its own fresh output layer, while the
  layers below stay frozen; the last hidden layer is trained with the graph's own output
  layer. Fine-tuning everything is then ordinary training (`nodestudio train --init`).

Each layer is one run of an ordinary `Trainer` on a model of its own: the graph's features,
the layer's objective as the loss (no error output, so early stopping and the exact restore of
the best epoch watch that layer's validation cost), and the layer's parameters as the only
trainable ones (the layers below are frozen because they are not in it: `Model.freeze` is the
same rule for a whole graph). A layer's objective has its own validation figure and its own
best epoch, which one Trainer over the whole graph could not keep apart; that is why a stage is
a Trainer with its strategy (Minibatch, or ContrastiveDivergence for an RBM). `Layerwise` runs
the stages from Python and hands back each layer's History; `LayerwiseStrategy` runs them as
the epochs of one Trainer over the whole graph (one epoch per layer: what `nodestudio
pretrain` drives). `epochs` is per layer: pretraining a 3-layer stack for 10 epochs costs 30
passes over the data.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from nodestudio.data.dataset import Splits
from nodestudio.graph.model import Graph
from nodestudio.ir.expr import Apply, Variable, make_apply, toposort
from nodestudio.ir.layers import layer_params, make_layer
from nodestudio.ir.rewrite import substitute
from nodestudio.ir.shared import SharedVariable
from nodestudio.train.events import History, Observable
from nodestudio.train.loop import Trainer, TrainingError
from nodestudio.train.model import Model, ModelError
from nodestudio.train.strategies.base import Diverged, EpochResult, Stopped, Strategy
from nodestudio.train.strategies.cd import ContrastiveDivergence

METHOD_LAYERS = {"sae": "autoencoder_layer", "dae": "autoencoder_layer", "dbn": "rbm_layer",
                 "supervised": "dense_layer"}
DAE_DEFAULT_NOISE = {"noise": "masking", "noise_level": 0.3}


@dataclass(frozen=True)
class LayerStart:
    """Pretraining moves to layer `index` (1-based) of `total`: `layer` is its node id."""

    index: int
    total: int
    layer: str
    method: str
    epochs: int = 0  # the epochs the layer may train (its early stopping may end it sooner)
    kind: str = field(default="layer_start", init=False)


@dataclass
class Stage:
    """One layer's pretraining: what it minimises and what it trains."""

    layer: str
    loss: Variable
    params: list[SharedVariable]
    error: Variable | None = None  # the supervised stages report their classifier's error
    extra: dict[str, SharedVariable] = field(default_factory=dict)  # a temporary output layer
    strategy: Any = None  # None: the optimizer's (minibatch); an RBM's CD strategy


@dataclass
class LayerwiseResult:
    """Each layer's training history, in order, and the values of every shared variable of
    the graph after pretraining (the temporary output layers of `supervised` left out)."""

    method: str
    histories: dict[str, History]
    values: dict[str, np.ndarray]
    stopped: bool = False


def _method_attrs(node: Apply, method: str) -> dict[str, Any]:
    """The attributes an autoencoder layer trains with under `method` (sae: no noise; dae:
    its own noise, or masking at 0.3 where it has none)."""
    if method == "sae":
        return {**node.attrs, "noise": "none"}
    if method == "dae" and node.attrs["noise"] == "none":
        return {**node.attrs, **DAE_DEFAULT_NOISE}
    return dict(node.attrs)


def layer_stack(model: Model, op_name: str) -> list[Apply]:
    """The nodes of op `op_name` on the way from the features to the loss, bottom first; a
    ModelError naming the file when there are none or they are not one chain."""
    order = toposort([v for v in (model.loss, model.error, model.prediction) if v is not None])
    layers = [node for node in order if node.op.name == op_name]
    if not layers:
        raise ModelError(model.source, f"no {op_name} node on the way from the features to "
                         f"the loss: there is nothing to pretrain layer by layer")
    for below, above in zip(layers, layers[1:]):
        if below not in toposort([above.inputs[0]]):
            raise ModelError(model.source, f"{op_name} nodes {below.name!r} and {above.name!r} "
                             "are not stacked (the second does not read the first's output): "
                             "layer-wise pretraining needs one chain", node=above.name)
    return layers


def _owned(node: Apply) -> list[SharedVariable]:
    return [v for v in layer_params(node.outputs[0]).values()
            if v.owner.attrs.get("trainable", True)]


def _output(node: Apply, name: str) -> Variable:
    return node.outputs[node.op.output_names().index(name)]


def autoencoder_stages(model: Model, method: str = "dae") -> list[Stage]:
    """Each autoencoder layer's cost, the layer rebuilt on the same inputs and parameters
    when the method changes its noise (the same name: the same random streams)."""
    stages = []
    for node in layer_stack(model, "autoencoder_layer"):
        attrs = _method_attrs(node, method)
        trained = node if attrs == node.attrs else make_apply(node.op, list(node.inputs), attrs,
                                                              node.name)
        stages.append(Stage(node.name, _output(trained, "cost"), _owned(node)))
    return stages


def rbm_stages(model: Model, method: str = "dbn") -> list[Stage]:
    """Each RBM minimises its CD cost (SGD on it is CD-k / PCD, the chain advancing as its
    declared update); its one-step reconstruction error is the stage's error, so early
    stopping and the best-epoch restore watch the validation reconstruction."""
    return [Stage(node.name, _output(node, "cost"), _owned(node), _output(node, "recon"),
                  strategy=ContrastiveDivergence())
            for node in layer_stack(model, "rbm_layer")]


def supervised_stages(model: Model, method: str = "supervised") -> list[Stage]:
    """Stage k trains hidden layer k and an output layer on top of it (the graph's own for
    the last hidden layer, a fresh one like it below that)."""
    layers = layer_stack(model, "dense_layer")
    if len(layers) < 2:
        raise ModelError(model.source, "supervised greedy pretraining needs hidden dense "
                         "layers below the output layer; the graph has "
                         f"{len(layers)} dense_layer node(s)")
    *hidden, output = layers
    if output.inputs[0] is not hidden[-1].outputs[0]:
        raise ModelError(model.source, f"the output layer {output.name!r} must read the last "
                         f"hidden layer {hidden[-1].name!r} directly", node=output.name)
    stages = []
    for layer in hidden:
        params = _owned(layer)
        if layer is hidden[-1]:
            stages.append(Stage(layer.name, model.loss, params + _owned(output), model.error))
            continue
        head, extra = make_layer(output.op, [layer.outputs[0]], dict(output.attrs),
                                 f"{output.name}@{layer.name}")
        outs = [v for v in (model.loss, model.error) if v is not None]
        loss, *error = substitute(outs, {output.outputs[0]: head.outputs[0]})
        stages.append(Stage(layer.name, loss, params + list(extra.values()),
                            error[0] if error else None, dict(extra)))
    return stages


STAGES: dict[str, Callable[[Model, str], list[Stage]]] = {
    "sae": autoencoder_stages, "dae": autoencoder_stages, "dbn": rbm_stages,
    "supervised": supervised_stages}


def stage_model(model: Model, stage: Stage, method: str) -> Model:
    """The model one layer trains: the graph's features, that layer's objective, its
    parameters. Its shared variables (what the trainer saves, restores and applies declared
    updates to) are that layer's own, the stage's parameters and a temporary output layer's:
    the state of the layers above (a PCD chain, running averages) stays as it is meanwhile."""
    own = {k: v for k, v in model.shared.items() if k.startswith(stage.layer + "/")}
    shared = {**own, **{v.name: v for v in (*stage.params, *stage.extra.values())}}
    return replace(model, loss=stage.loss, error=stage.error, prediction=None,
                   params=list(stage.params), shared=shared,
                   n_classes=model.n_classes if method == "supervised" else None,
                   frozen=set())


def select_stages(model: Model, method: str, layers: Sequence[str] | None) -> list[Stage]:
    """The method's stages, or those of the named layers (the studio's Pretrain action on a
    selection); a name outside the stack is a ModelError."""
    if method not in STAGES:
        raise TrainingError(f"unknown pretraining method {method!r} (known: "
                            f"{', '.join(STAGES)})")
    stages = STAGES[method](model, method)
    if layers is None:
        return stages
    unknown = sorted(set(layers) - {s.layer for s in stages})
    if unknown:
        raise ModelError(model.source, f"{', '.join(map(repr, unknown))} not in the stack of "
                         f"{METHOD_LAYERS[method]} nodes "
                         f"({', '.join(s.layer for s in stages)})")
    return [s for s in stages if s.layer in layers]


def stage_trainer(model: Model, stage: Stage, method: str, data: Splits, optimizer: Any,
                  schedule: Any, epochs: int, **settings: Any) -> Trainer:
    if stage.strategy is not None:
        settings["strategy"] = stage.strategy
    return Trainer(stage_model(model, stage, method), data, optimizer, schedule,
                   epochs=epochs, **settings)


class LayerwiseStrategy(Strategy):
    """Greedy layer-wise pretraining as one strategy of the Trainer (what `nodestudio
    pretrain --method sae|dae|dbn|supervised` runs): an epoch of the run is one layer,
    trained for the run's `epochs` (so `--epochs` is per layer) by a Trainer of its own on
    that layer's objective with a fresh optimizer of the run's kind and hyperparameters, the
    run's schedule, batch size and seed; that layer's early stopping and best-epoch restore
    are its own. The graph's loss says nothing while its layers pretrain: the run neither
    stops early on it nor restores its best epoch. Each layer's last epoch gives the run's
    figures; `<layer>/valid_cost` and `<layer>/epochs` are in its metrics."""

    keep_best = False

    def __init__(self, method: str, layers: Sequence[str] | None = None, k: Any = None):
        if method not in STAGES:
            raise TrainingError(f"unknown pretraining method {method!r} (known: "
                                f"{', '.join(STAGES)})")
        self.method, self.layers, self.name = method, layers, f"layerwise {method}"
        self.k = k  # dbn: the Gibbs steps of every RBM (ContrastiveDivergence's k)
        self.stages: list[Stage] = []
        self.current: Stage | None = None  # the stage training now
        self.per_layer, self.patience, self.min_epochs = 0, None, 0

    def check(self, trainer: Trainer) -> None:
        if trainer.optimizer is None:
            raise TrainingError(f"layer-wise pretraining needs a minibatch optimizer, not "
                                f"{trainer.method} (give one, e.g. --optimizer sgd; CG and "
                                "L-BFGS are for fine-tuning)")
        if trainer.regularisation.active:
            raise TrainingError("regularisation options do not apply to layer-wise "
                                "pretraining (each layer trains its own objective); use "
                                "them when fine-tuning")
        if self.k is not None and self.method != "dbn":
            raise TrainingError(f"--k sets the Gibbs steps of RBMs; method {self.method} "
                                "trains none")

    def set_k(self, k: int) -> None:
        """dbn: k Gibbs steps from the next epoch of the layer training now, and for the
        layers above it."""
        if self.method != "dbn":
            raise TrainingError(f"k sets the Gibbs steps of RBMs; method {self.method} "
                                "trains none")
        self.k = k
        for stage in self.stages:
            if isinstance(stage.strategy, ContrastiveDivergence):
                stage.strategy.set_k(k)

    @property
    def current_k(self) -> int | None:
        """The Gibbs steps of the RBM training now (dbn), else None."""
        strategy = self.current.strategy if self.current is not None else None
        return strategy.current_k if isinstance(strategy, ContrastiveDivergence) else None

    def prepare(self, trainer: Trainer) -> None:
        self.stages = select_stages(trainer.model, self.method, self.layers)
        if self.k is not None:
            for stage in self.stages:
                stage.strategy = ContrastiveDivergence(k=self.k)
        self.per_layer = trainer.epochs
        trainer.epochs = len(self.stages)  # one epoch of the run per layer
        # early stopping watches each layer's own validation figure, never the graph's
        self.patience, self.min_epochs = trainer.early.patience, trainer.early.min_epochs
        trainer.early.patience = None

    def run_epoch(self, trainer: Trainer, epoch: int) -> EpochResult:
        stage = self.current = self.stages[epoch - 1]
        trainer.emit(LayerStart(epoch, len(self.stages), stage.layer, self.method,
                                self.per_layer))
        optimizer = type(trainer.optimizer)(**trainer.optimizer.hyperparameters())
        inner = stage_trainer(trainer.model, stage, self.method, trainer.data, optimizer,
                              trainer.schedule, self.per_layer, batch_size=trainer.batch_size,
                              seed=trainer.seed, balanced=trainer.balanced,
                              eval_batch_size=trainer.eval_batch_size,
                              patience=self.patience, min_epochs=self.min_epochs,
                              **_probe_settings(trainer))

        def forward(event: Any) -> None:  # the layer's progress; pause and stop reach it
            if event.kind in ("finished", "failed"):  # the run's own end comes later
                return
            trainer.emit(event)
            if not trainer.may_continue():
                inner.stop()

        inner.subscribe(forward)
        history = inner.run()
        if history.failure is not None:
            raise Diverged(history.failure)
        if history.stop_reason == "stopped" or not history.epochs:
            raise Stopped
        last = history.epochs[-1]
        metrics = {f"{stage.layer}/epochs": float(len(history.epochs))}
        if last.valid_loss is not None:
            metrics[f"{stage.layer}/valid_cost"] = last.valid_loss
        metrics.update(last.metrics)
        return EpochResult(last.train_loss, last.train_error, metrics)


def _probe_settings(trainer: Trainer) -> dict[str, Any]:
    """The run's live snapshots (the studio's panels) for a layer's own trainer: the same
    interval and rows, on that layer's objective and parameters."""
    probe = trainer.probe
    if probe is None:
        return {}
    return {"probe_every": probe.every, "probe_batch": len(probe.rows)}


class Layerwise:
    """Pretrains the stack of a graph layer by layer, outside a Trainer; see the module
    docstring. Trainer settings (`optimizer`, `lr` or `schedule`, `batch_size`, `seed`,
    `patience`, ...) apply to every layer; `epochs` is per layer."""

    def __init__(self, graph: Graph | Model, data: Splits, method: str, epochs: int = 10,
                 optimizer: str = "sgd", lr: float | None = None, source: str = "<graph>",
                 layers: Sequence[str] | None = None, **trainer_settings: Any):
        self.method, self.data, self.epochs = method, data, epochs
        self.optimizer, self.lr, self.settings = optimizer, lr, trainer_settings
        self.model = graph if isinstance(graph, Model) else Model.from_document(
            graph, source, graph.metadata)
        self.model.check_data(data)
        self.stages = select_stages(self.model, method, layers)
        self._events = Observable()
        self._stop = threading.Event()
        self.current: Trainer | None = None

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]:
        return self._events.subscribe(callback)

    def stop(self) -> None:
        """End the current layer's training after its step; no further layer starts."""
        self._stop.set()
        if self.current is not None:
            self.current.stop()

    def run(self) -> LayerwiseResult:
        histories: dict[str, History] = {}
        for index, stage in enumerate(self.stages, start=1):
            if self._stop.is_set():
                break
            self._events.emit(LayerStart(index, len(self.stages), stage.layer, self.method,
                                         self.epochs))
            trainer = stage_trainer(self.model, stage, self.method, self.data, self.optimizer,
                                    self.lr, self.epochs, **self.settings)
            trainer.subscribe(self._events.emit)
            self.current = trainer
            if self._stop.is_set():
                break
            histories[stage.layer] = trainer.run()
            if histories[stage.layer].failure is not None:
                break
        self.current = None
        return LayerwiseResult(self.method, histories, self.model.values(),
                               self._stop.is_set())


__all__ = ["DAE_DEFAULT_NOISE", "LayerStart", "Layerwise", "LayerwiseResult",
           "LayerwiseStrategy", "METHOD_LAYERS", "STAGES", "Stage", "layer_stack",
           "select_stages", "stage_model"]
