"""`theano.tensor.nnet`: activations, the cross-entropies and `conv2d`."""

from __future__ import annotations

import nodestudio as ns
from nodestudio.ir.expr import as_variable
from nodestudio.theano._support import TheanoCompatError
from nodestudio.theano.tensor.nnet.conv import conv2d


def sigmoid(x): return ns.sigmoid(x)
def softplus(x): return ns.softplus(x)
def softmax(x, axis: int = -1): return ns.softmax(x, axis=axis)
def logsoftmax(x, axis: int = -1): return ns.log_softmax(x, axis=axis)


def relu(x, alpha=0):
    """max(0, x), or max(alpha * x, x) for a leaky slope alpha (Theano's relu)."""
    if isinstance(alpha, (int, float)) and alpha == 0:
        return ns.relu(x)
    x = as_variable(x)
    return ns.maximum(x * alpha, x)


def binary_crossentropy(output, target):
    """Elementwise -(target log output + (1 - target) log(1 - output)), not averaged."""
    output = as_variable(output)
    return -(target * ns.log(output) + (1.0 - target) * ns.log(1.0 - output))


def categorical_crossentropy(coding_dist, true_dist):
    """Per row: -log p[label] for integer labels, -sum(t log p) for a target distribution."""
    p = as_variable(coding_dist)
    t = as_variable(true_dist)
    if t.dtype in ("int32", "int64"):
        if t.ndim != p.ndim - 1:
            raise TheanoCompatError(f"categorical_crossentropy of {p.type} with labels {t.type}")
        classes = p.shape[-1]
        if classes is None:  # Theano's own spelling: gather the labels' log-probabilities
            arange = ns.arange
            return -ns.log(p)[arange(t.shape[0]), t]
        return -ns.sum(ns.log(p) * ns.one_hot(t, classes), axis=-1)
    return -ns.sum(t * ns.log(p), axis=-1)


__all__ = ["binary_crossentropy", "categorical_crossentropy", "conv2d", "logsoftmax", "relu",
           "sigmoid", "softmax", "softplus"]
