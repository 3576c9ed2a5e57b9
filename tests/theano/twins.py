"""Helpers for the tutorial-model tests: a small MNIST split from mnist5k, and the float64
PyTorch side of each comparison."""

from __future__ import annotations

import functools

import numpy as np
import torch

from nodestudio.data.builtin import load_builtin


@functools.cache
def small_mnist(n_train: int = 600, n_test: int = 300, seed: int = 0):
    """(x_train, y_train, x_test, y_test): pixels in [0, 1] float32, labels int32."""
    data = load_builtin("mnist5k")
    order = np.random.RandomState(seed).permutation(len(data.x))[:n_train + n_test]
    x = (data.x[order] / 255.0).astype(np.float32)
    y = data.y[order].astype(np.int32)
    return x[:n_train], y[:n_train], x[n_train:], y[n_train:]


def t64(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def param(a) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=True)


def sgd_step(params, cost: torch.Tensor, lr: float) -> float:
    for p in params:
        p.grad = None
    cost.backward()
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    return float(cost.detach())


def error_rate(scores: torch.Tensor, labels) -> float:
    return float((scores.argmax(1).numpy() != np.asarray(labels)).mean())


def assert_costs_close(ours, theirs, rtol: float = 0.01) -> None:
    ours, theirs = np.asarray(ours, np.float64), np.asarray(theirs, np.float64)
    assert ours.shape == theirs.shape
    worst = np.max(np.abs(ours - theirs) / np.maximum(np.abs(theirs), 1e-8))
    assert worst <= rtol, f"costs differ by {worst:.2%}: {ours[:5]} vs {theirs[:5]}"
