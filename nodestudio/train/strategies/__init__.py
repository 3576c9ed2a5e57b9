"""Training strategies: what one epoch of a method does, driven by the `Trainer`
(see base.py for the interface)."""

from nodestudio.train.strategies.base import Diverged, EpochResult, Stopped, Strategy
from nodestudio.train.strategies.cd import ContrastiveDivergence
from nodestudio.train.strategies.fullbatch import FullBatch
from nodestudio.train.strategies.minibatch import Minibatch

__all__ = ["ContrastiveDivergence", "Diverged", "EpochResult", "FullBatch", "Minibatch",
           "Stopped", "Strategy"]
