"""The training engine: the model convention of graph files, the training loop (early stopping,
divergence guard, events), optimizers (update pairs built on the graph, run on the device),
learning-rate schedules (host-side numbers fed as the `lr` input) and full-batch CG / L-BFGS."""

from nodestudio.train import schedules
from nodestudio.train.fullbatch import FullBatchResult, ParameterVector, minimize_fullbatch
from nodestudio.train.loop import EarlyStopping, Evaluator, Trainer, TrainingError
from nodestudio.train.model import DataMismatchError, Model, ModelError
from nodestudio.train.optimizers import (
    OPTIMIZERS,
    SGD,
    AdaGrad,
    Adam,
    Adaptive,
    Hyper,
    Momentum,
    Nesterov,
    Optimizer,
    RMSProp,
    make_optimizer,
)
from nodestudio.train.schedules import SCHEDULES, Schedule, make_schedule

__all__ = [
    "DataMismatchError", "EarlyStopping", "Evaluator", "Model", "ModelError", "Trainer",
    "TrainingError",
    "OPTIMIZERS", "SCHEDULES", "SGD", "AdaGrad", "Adam", "Adaptive", "FullBatchResult", "Hyper",
    "Momentum", "Nesterov", "Optimizer", "ParameterVector", "RMSProp", "Schedule",
    "make_optimizer", "make_schedule", "minimize_fullbatch", "schedules",
]
