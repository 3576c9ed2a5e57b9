"""The lowered programs of a graph, as the trainer runs them: the training step (forward,
backward and the optimizer's update, exactly as `Trainer` compiles it) and the inference pass
(every output, batch norm on its running averages, no dropout). What the studio's Kernels
panel shows; the listing itself is nodestudio/api/kernels.py's, shared with `nodestudio
kernels`.

    programs = lowered_programs(graph, TrainingSettings(batch_size=100))
    step = programs[0]; step.rows[0].name, step.rows[0].nodes, step.shares()

The graph is compiled on its own copy of the parameters (the document's values, fed random
inputs of the batch's shape), so profiling a few steps changes nothing the user sees. A
full-batch method (CG, L-BFGS) has no update program: its step is the loss and gradient.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from nodestudio.api.device import current_device
from nodestudio.api.function import function
from nodestudio.api.kernels import KernelRow, profile_kernels, shares
from nodestudio.data.dataset import Dataset, Splits
from nodestudio.graph.model import Graph
from nodestudio.ir.autodiff import grad
from nodestudio.train.model import Model
from nodestudio.train.settings import TrainingSettings, build_trainer

PROFILED_RUNS = 3  # calls timed per program; each kernel's median is kept


@dataclass
class Program:
    title: str  # "training step" or "inference"
    rows: list[KernelRow]
    batch_size: int
    device: str  # "platform: device"
    seconds: float = 0.0  # wall time to compile and profile it
    notes: list[str] = field(default_factory=list)

    def shares(self) -> list[float]:
        return shares(self.rows)

    @property
    def kernel_seconds(self) -> float:
        """Summed kernel time of one call (the median of each kernel)."""
        return sum(row.seconds or 0.0 for row in self.rows)


def lowered_programs(graph: Graph, settings: TrainingSettings | None = None,
                     source: str = "<graph>", runs: int = PROFILED_RUNS) -> list[Program]:
    """The training step and the inference pass of `graph`, compiled for `settings`'
    optimizer, regularisation and batch size, each profiled over `runs` calls. Raises what
    building a Trainer raises (ModelError, RolesError, ...) when the graph cannot train."""
    settings = settings or TrainingSettings()
    model = Model.from_document(graph, source, dict(graph.metadata))
    user_nodes = dict(model.nodes)
    data = synthetic_data(model, settings.batch_size, settings.seed)
    start = time.perf_counter()
    trainer = build_trainer(model, data, settings)
    xv, yv = model.feed(data.train)
    if trainer.optimizer is not None:
        lr = settings.effective_lr() or 0.01
        # the trainer's own step function: the program training runs, guard and updates in
        step_fn, step_args, title = trainer._train_fn, [xv, yv, np.float32(lr)], "training step"
    else:
        grads = grad(model.loss, model.params)
        step_fn = function([model.x, model.y], [model.loss, *grads], training=False)
        step_args, title = [xv, yv], f"{trainer.method} loss and gradient"
    device = current_device().label
    step = Program(title, profile_kernels(step_fn, step_args, user_nodes, runs),
                   settings.batch_size, device, time.perf_counter() - start)
    start = time.perf_counter()
    outputs = [v for v in (model.loss, model.error, model.prediction) if v is not None]
    infer_fn = function([model.x, model.y], outputs, training=False)
    infer = Program("inference", profile_kernels(infer_fn, [xv, yv], user_nodes, runs),
                    settings.batch_size, device, time.perf_counter() - start)
    return [step, infer]


def synthetic_data(model: Model, batch_size: int, seed: int = 0) -> Splits:
    """One batch of random features and labels shaped as `model` wants (what the kernels
    are compiled and timed on: the values do not change which kernels run)."""
    rng = np.random.default_rng(seed)
    dims = tuple(d for d in model.x.shape[1:])
    n_features = math.prod(dims)
    classes = model.n_classes or (model.y.shape[1] if model.y.ndim == 2 and
                                  model.y.shape[1] else 2)
    x = rng.normal(size=(batch_size, n_features)).astype(np.float32)
    y = rng.integers(0, classes, batch_size).astype(np.int32)
    image = dims if len(dims) > 1 else (n_features,)
    batch = Dataset(x, y, image, classes, "random batch")
    return Splits(batch, batch, batch)


__all__ = ["PROFILED_RUNS", "Program", "lowered_programs", "synthetic_data"]
