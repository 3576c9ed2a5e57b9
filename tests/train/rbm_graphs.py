"""Small RBM graphs and data for the trainer and CLI tests."""

from __future__ import annotations

import numpy as np

from nodestudio.data.dataset import Dataset, Splits
from nodestudio.graph import fileformat
from nodestudio.graph.model import Graph


def rbm_graph(width: int, hidden: int, **attrs) -> Graph:
    """x (None, width) -> rbm_layer "rbm1"; outputs loss = its CD cost, recon, hidden."""
    graph = Graph()
    graph.add_node("input", {"shape": [None, width], "dtype": "float32"}, id="x")
    graph.add_node("rbm_layer", {"hidden": hidden, **attrs}, id="rbm1")
    graph.connect("x:out", "rbm1:v")
    graph.set_output("loss", "rbm1:cost")
    graph.set_output("recon", "rbm1:recon")
    graph.set_output("features", "rbm1:hidden")
    return graph


def save_rbm_graph(path, width: int, hidden: int, **attrs):
    fileformat.save(rbm_graph(width, hidden, **attrs), path)
    return path


def binary_splits(n: int = 240, width: int = 16, seed: int = 0) -> Splits:
    """Binary rows from two prototypes with 10 % of the bits flipped: a structure an RBM
    learns within a few epochs."""
    rng = np.random.default_rng(seed)
    prototypes = (rng.random((2, width)) < 0.5).astype(np.float32)
    labels = rng.integers(0, 2, n)
    flips = rng.random((n, width)) < 0.1
    x = np.abs(prototypes[labels] - flips).astype(np.float32)

    def part(rows, name):
        return Dataset(x[rows], labels[rows], (width,), 2, name)
    a, b = int(n * 0.7), int(n * 0.85)
    return Splits(part(slice(0, a), "train"), part(slice(a, b), "valid"),
                  part(slice(b, n), "test"))
