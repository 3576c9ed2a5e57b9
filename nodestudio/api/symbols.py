"""Symbolic inputs and the layer helpers of the public API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nodestudio.ir.expr import Apply, Variable, apply, fresh_name
from nodestudio.ir.layers import bind_default_updates
from nodestudio.ir.shared import SharedVariable
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, INT, TensorType


def tensor(name: str | None = None, shape: Sequence[int | None] = (), dtype: str = FLOAT,
           role: str = "auto") -> Variable:
    """A symbolic input; `None` in `shape` marks a dimension given at call time. `role`
    ("features", "labels") says what a trainer feeds it when the graph is saved and trained."""
    op = registry.get("input")
    node_name = name or fresh_name("input")
    attrs = op.normalise_attrs({"shape": tuple(shape), "dtype": dtype, "role": role},
                               node_name)
    return Apply(op, (), attrs, node_name, [TensorType(dtype, attrs["shape"])]).outputs[0]


def scalar(name: str | None = None, dtype: str = FLOAT) -> Variable:
    return tensor(name, (), dtype)


def vector(name: str | None = None, dtype: str = FLOAT) -> Variable:
    return tensor(name, (None,), dtype)


def matrix(name: str | None = None, dtype: str = FLOAT) -> Variable:
    return tensor(name, (None, None), dtype)


def ivector(name: str | None = None, role: str = "auto") -> Variable:
    """Integer labels, one per row."""
    return tensor(name, (None,), INT, role)


def iscalar(name: str | None = None) -> Variable:
    return tensor(name, (), INT)


def batch_norm(x: Any, gamma: Any, beta: Any, running_mean: SharedVariable,
               running_var: SharedVariable, axis: int = 1, eps: float = 1e-5,
               momentum: float = 0.1, mode: str = "auto") -> Variable:
    """Batch normalisation. Training functions update the running averages automatically
    (they become the shared variables' default updates)."""
    out, _, _ = apply("batch_norm", x, gamma, beta, running_mean, running_var,
                      axis=axis, eps=eps, momentum=momentum, mode=mode)
    bind_default_updates(out.owner)
    return out


def op(name: str, *inputs: Any, **attrs: Any) -> Any:
    """Apply any registry op by name (its output, or a tuple of outputs)."""
    return apply(name, *inputs, **attrs)
