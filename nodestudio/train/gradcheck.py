"""The gradient check of one node: autodiff against central finite differences.

    result = check_node(model, "hidden", xv, yv)
    for item in result.items: print(item.label, item.relative_error, item.passed)

For each float input of the node (and each parameter a layer owns), the gradient of the
training loss that autodiff builds (nodestudio/ir/autodiff.py, the gradient rules of the op
registry) is compared with central differences (L(v + h) - L(v - h)) / 2h of the same loss. Both
run in the float64 reference interpreter (nodestudio/ir/reference.py) on the given batch, in
training mode with the dropout masks of one fixed call, so what is compared is the gradient
rules themselves, with no float32 rounding in the way: a correct rule agrees to about 1e-8, a
wrong one (a missing square in tanh's derivative) is off by far more than THRESHOLD. (The
device's float32 kernels are checked against this same interpreter by the conformance tests.)

A value with many elements is checked on `samples` of them picked at random, plus one random
direction over all of them (the directional derivative against the dot product of the autodiff
gradient with that direction), so the cost is 2 * (samples + 1) forward evaluations per input.
The relative error of an input is |a - n| / max(|a| + |n|, tiny) over those numbers as
vectors (a: autodiff, n: numeric).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodestudio.errors import GraphError
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import Apply, Variable, toposort
from nodestudio.ir.layers import layer_params
from nodestudio.ir.reference import evaluate
from nodestudio.ir.rewrite import substitute
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, TensorType
from nodestudio.train.model import Model

THRESHOLD = 1e-5  # the largest relative error that passes (float64 on both sides)
STEP = 1e-6  # h, relative to max(1, |v|) for a single element, absolute along a unit direction
SAMPLES = 6  # elements checked one by one per input, besides the random direction
TINY = 1e-12  # below this both gradients count as zero


@dataclass(frozen=True)
class InputCheck:
    label: str  # "input x (from 'x')", "parameter W (layer 'hidden')"
    shape: tuple[int, ...]
    autodiff: np.ndarray  # the sampled elements, then the directional derivative
    numeric: np.ndarray
    relative_error: float
    threshold: float
    note: str = ""  # e.g. "no gradient reaches the loss"

    @property
    def passed(self) -> bool:
        return self.relative_error <= self.threshold


@dataclass
class GradCheck:
    node: str
    op: str
    items: list[InputCheck]
    batch_size: int
    threshold: float = THRESHOLD
    step: float = STEP
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)  # inputs that have no gradient (int)

    @property
    def passed(self) -> bool:
        return all(item.passed for item in self.items)


def check_node(model: Model, node_id: str, x: np.ndarray, y: np.ndarray, *,
               samples: int = SAMPLES, step: float = STEP, threshold: float = THRESHOLD,
               seed: int = 0, call_index: int = 0) -> GradCheck:
    """Check the gradients of `model.loss` with respect to each input of node `node_id` (and
    the parameters it owns) on the batch (x, y). GraphError when the node is not on the
    loss's path."""
    start = time.perf_counter()
    node = _find(model, node_id)
    feeds: dict[Variable, Any] = {model.x: x, model.y: y}
    ports = list(node.op.input_names(node.attrs)) if node.inputs else []
    wrt: list[tuple[str, Variable]] = []
    skipped = []
    seen: set[int] = set()
    for index, var in enumerate(node.inputs):
        port = ports[index] if index < len(ports) else f"input {index}"
        if id(var) in seen:
            continue
        seen.add(id(var))
        if var.dtype != FLOAT:
            skipped.append(f"{port} (from {var.owner.name!r}): integer, no gradient")
            continue
        kind = "parameter" if var.owner.op.name == "parameter" else "input"
        if kind == "parameter" and not var.owner.attrs.get("trainable", True):
            skipped.append(f"{port} (from {var.owner.name!r}): not trainable (a running "
                           "average), no gradient in training")
            continue
        wrt.append((f"{kind} {port} (from {var.owner.name!r})", var))
    for name, var in layer_params(node.outputs[0]).items():
        if id(var) not in seen:
            seen.add(id(var))
            wrt.append((f"parameter {name} (of {node_id!r})", var))
    if not wrt:
        raise GraphError("this node has no float input to check the gradient of", node=node_id)
    loss = model.loss
    autodiff = evaluate(grad(loss, [v for _, v in wrt]), feeds, mode="train",
                        call_index=call_index)
    values = evaluate([v for _, v in wrt], feeds, mode="train", call_index=call_index)
    rng = np.random.default_rng(seed)
    items = []
    for (label, var), g, value in zip(wrt, autodiff, values):
        items.append(_check_one(loss, var, label, np.asarray(value), np.asarray(g), feeds,
                                rng, samples, step, threshold, call_index))
    return GradCheck(node_id, node.op.name, items, len(x), threshold, step,
                     time.perf_counter() - start, skipped)


def _find(model: Model, node_id: str) -> Apply:
    for node in toposort([model.loss]):
        if node.name == node_id:
            return node
    raise GraphError("the loss does not depend on this node, so it has no gradient to check",
                     node=node_id)


def _check_one(loss: Variable, var: Variable, label: str, value: np.ndarray, g: np.ndarray,
               feeds: Mapping[Variable, Any], rng: np.random.Generator, samples: int,
               step: float, threshold: float, call_index: int) -> InputCheck:
    """Finite differences of the loss with `var` replaced by a fed placeholder."""
    op = registry.get("input")
    attrs = op.normalise_attrs({"shape": tuple(var.shape), "dtype": FLOAT, "role": "auto"},
                               "gradcheck")
    placeholder = Apply(op, (), attrs, "gradcheck/value",
                        [TensorType(FLOAT, attrs["shape"])]).outputs[0]
    (probe,) = substitute([loss], {var: placeholder})

    def loss_at(v: np.ndarray) -> float:
        return float(evaluate([probe], {**feeds, placeholder: v}, mode="train",
                              call_index=call_index)[0])

    flat = value.reshape(-1)
    picks = rng.choice(flat.size, size=min(samples, flat.size), replace=False)
    auto, numeric = [], []
    for i in picks:
        h = step * max(1.0, abs(float(flat[i])))
        up, down = flat.copy(), flat.copy()
        up[i] += h
        down[i] -= h
        numeric.append((loss_at(up.reshape(value.shape)) - loss_at(down.reshape(value.shape)))
                       / (2 * h))
        auto.append(float(g.reshape(-1)[i]))
    direction = rng.normal(size=value.shape)
    direction /= max(np.linalg.norm(direction), TINY)
    numeric.append((loss_at(value + step * direction) - loss_at(value - step * direction))
                   / (2 * step))
    auto.append(float(np.sum(g * direction)))
    a, n = np.array(auto), np.array(numeric)
    scale = np.linalg.norm(a) + np.linalg.norm(n)
    error = float(np.linalg.norm(a - n) / scale) if scale > TINY else 0.0
    note = "no gradient reaches the loss (both are zero)" if scale <= TINY else ""
    return InputCheck(label, tuple(value.shape), a, n, error, threshold, note)


__all__ = ["SAMPLES", "STEP", "THRESHOLD", "GradCheck", "InputCheck", "check_node"]
