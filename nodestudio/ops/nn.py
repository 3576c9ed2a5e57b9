"""Neural-network ops: the random generator, and the composites (dense, dropout, batch norm,
losses, penalties) that expand into primitive ops. A composite's shape rule and reference come
from its expansion, so each is written exactly once."""

from __future__ import annotations

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops import philox
from nodestudio.ops.registry import (
    ANY_FLOAT,
    FLOAT,
    INT,
    AttrDef,
    OpDef,
    PortDef,
    TensorType,
    register,
)
from nodestudio.ops.shapes import normalise_axes

MODES = ("auto", "train", "infer")
_MODE = AttrDef("mode", "choice", "auto", "train: batch statistics / random masks; infer: "
                "running averages / identity; auto: follow the compiled function", choices=MODES)


def effective_mode(attrs, mode: str) -> str:
    return mode if attrs.get("mode", "auto") == "auto" else attrs["mode"]


def _uniform_ref(x, seed, _call=0):
    return philox.uniform(x.size, seed, _call).reshape(x.shape)


register(OpDef("random_uniform_like", "Random",
               "uniform [0, 1) numbers shaped like x, new on every call (counter-based Philox)",
               (PortDef("x"),), attrs=(AttrDef("seed", "int", -1, "stream seed; -1: a stream "
                                               "of its own, drawn from the node's name",
                                               low=-1, special="own stream", stream=True),),
               shape=lambda types, at: [TensorType(FLOAT, types[0].shape)],
               reference=_uniform_ref, kernel="random", stateful=True,
               grad=lambda F, ins, outs, gs, at: [None]))


# --- composites ---------------------------------------------------------------------------------
def _dense(F, ins, at, mode):
    x, W, b = ins
    return [F.matmul(x, W) + b]


register(OpDef("dense", "Layers", "x @ W + b (a matmul and a bias add)",
               (PortDef("x"), PortDef("W"), PortDef("b")), expand=_dense))


def _dropout(F, ins, at, mode):
    (x,) = ins
    if effective_mode(at, mode) == "infer" or at["p"] == 0.0:
        return [x]
    keep = F.ge(F.random_uniform_like(x, seed=F.stream_seed(at["seed"])), at["p"])
    return [x * keep * (1.0 / (1.0 - at["p"]))]


register(OpDef("dropout", "Regularisation",
               "zero each unit with probability p during training and scale the rest by "
               "1 / (1 - p); the identity at inference", (PortDef("x"),),
               attrs=(AttrDef("p", "float", 0.5, "drop probability", low=0.0, high=0.99),
                      AttrDef("seed", "int", -1, "mask stream seed; -1: a stream of its own, "
                              "drawn from the node's name (so every dropout has its own mask, "
                              "and a saved graph draws the same ones again)", low=-1,
                              special="own stream"), _MODE),
               expand=_dropout, stateful=True, label=lambda at: f"p={at['p']:g}"))


def batch_norm_expansion(F, ins, at, mode):
    x, gamma, beta, running_mean, running_var = ins
    axis = normalise_axes((at["axis"],), x.ndim)[0]
    channels = x.shape[axis]
    if channels is None:
        raise ShapeError("batch norm needs a known size along its feature axis", port="x")
    stat_axes = tuple(i for i in range(x.ndim) if i != axis)
    bshape = tuple(channels if i == axis else 1 for i in range(x.ndim))
    eps, momentum = at["eps"], at["momentum"]
    if effective_mode(at, mode) == "train":
        mean = F.mean(x, axis=stat_axes, keepdims=True)
        centred = x - mean
        var = F.mean(F.square(centred), axis=stat_axes, keepdims=True)
        xhat = centred / F.sqrt(var + eps)
        mean_next = running_mean * (1.0 - momentum) + F.reshape(mean, (channels,)) * momentum
        var_next = running_var * (1.0 - momentum) + F.reshape(var, (channels,)) * momentum
    else:
        xhat = (x - F.reshape(running_mean, bshape)) / F.sqrt(F.reshape(running_var, bshape) + eps)
        mean_next, var_next = running_mean, running_var
    out = xhat * F.reshape(gamma, bshape) + F.reshape(beta, bshape)
    return [out, mean_next, var_next]


register(OpDef("batch_norm", "Layers",
               "normalise by batch mean and variance, then scale and shift; training updates "
               "the running averages that inference uses",
               (PortDef("x"), PortDef("gamma"), PortDef("beta"),
                PortDef("running_mean", update="running_mean_next"),
                PortDef("running_var", update="running_var_next")),
               outputs=(PortDef("out"), PortDef("running_mean_next"), PortDef("running_var_next")),
               attrs=(AttrDef("axis", "int", 1, "feature (channel) axis"),
                      AttrDef("eps", "float", 1e-5, "added to the variance", low=0.0),
                      AttrDef("momentum", "float", 0.1, "running-average rate", low=0.0, high=1.0),
                      _MODE),
               expand=batch_norm_expansion))


def _mode_switch(F, ins, at, mode):
    train, infer = ins
    if train.dtype != infer.dtype or train.ndim != infer.ndim or any(
            a is not None and b is not None and a != b for a, b in zip(train.shape, infer.shape)):
        raise ShapeError(f"both branches must have one type: train is {train.type}, infer is "
                         f"{infer.type}", port="infer")
    return [train if effective_mode(at, mode) == "train" else infer]


register(OpDef("mode_switch", "Layers",
               "its train input in training functions, its infer input in inference ones: "
               "how an expanded batch norm or dropout keeps switching as the layer does",
               (PortDef("train"), PortDef("infer")), attrs=(_MODE,), expand=_mode_switch,
               label=lambda at: at["mode"]))


def _softmax_xent(F, ins, at, mode):
    logits, labels = ins
    if logits.ndim == 0:
        raise ShapeError("softmax cross-entropy needs logits with a class axis, got a scalar",
                         port="logits")
    classes = logits.shape[-1]
    if classes is None:
        raise ShapeError("softmax cross-entropy needs a known number of classes", port="logits")
    picked = F.sum(F.log_softmax(logits, axis=-1) * F.one_hot(labels, classes), axis=-1)
    return [-F.mean(picked)]


def _bce(F, ins, at, mode):
    p, t = ins
    return [-F.mean(t * F.log(p) + (1.0 - t) * F.log(1.0 - p))]


def _classification_error(F, ins, at, mode):
    scores, labels = ins
    return [F.mean(F.neq(F.argmax(scores, axis=-1), labels))]


_LOGITS = (PortDef("logits", dtype=ANY_FLOAT), PortDef("labels", dtype=INT))
_PAIR = (PortDef("prediction"), PortDef("target"))
for _name, _doc, _ports, _fn in [
    ("softmax_cross_entropy", "mean negative log-likelihood of integer labels under softmax "
     "(through log-softmax, stable)", _LOGITS, _softmax_xent),
    ("binary_cross_entropy", "mean of -(t log p + (1 - t) log(1 - p)) for probabilities p",
     _PAIR, _bce),
    ("squared_error", "mean of (prediction - target)²", _PAIR,
     lambda F, ins, at, mode: [F.mean(F.square(ins[0] - ins[1]))]),
    ("absolute_error", "mean of |prediction - target|", _PAIR,
     lambda F, ins, at, mode: [F.mean(F.abs(ins[0] - ins[1]))]),
    ("classification_error", "fraction of rows whose argmax differs from the label",
     (PortDef("scores", dtype=ANY_FLOAT), PortDef("labels", dtype=INT)), _classification_error),
]:
    register(OpDef(_name, "Losses", _doc, _ports, outputs=(PortDef("loss"),), expand=_fn,
                   role="error" if _name == "classification_error" else "loss"))

_WEIGHT = (AttrDef("weight", "float", 1.0, "multiplier (the regularisation strength)", low=0.0),)
register(OpDef("l1_penalty", "Regularisation", "weight * sum |w|", (PortDef("w"),),
               outputs=(PortDef("loss"),), attrs=_WEIGHT,
               expand=lambda F, ins, at, mode: [F.sum(F.abs(ins[0])) * at["weight"]],
               label=lambda at: f"λ={at['weight']:g}"))
register(OpDef("l2_penalty", "Regularisation", "weight * sum w²", (PortDef("w"),),
               outputs=(PortDef("loss"),), attrs=_WEIGHT,
               expand=lambda F, ins, at, mode: [F.sum(F.square(ins[0])) * at["weight"]],
               label=lambda at: f"λ={at['weight']:g}"))

__all__ = ["effective_mode", "MODES", "np"]
