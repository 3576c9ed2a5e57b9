"""The starting points of File > New from Template; rewrite them with
`python resources/templates/make_templates.py`.

Templates are built from layers that own their parameters (`dense_layer`, `batch_norm_layer`),
so each is a handful of nodes a student can read at a glance and change by editing `units` or
`activation`; the examples beside them (resources/examples/) show the same networks with
explicit parameter nodes, as the Theano course writes them. The files hold no values: every
layer draws its weights from its initialiser when the graph is loaded. The roles are marked
(features `x`, labels `y`, outputs loss, error, prediction), and the training settings that suit
each are kept in the metadata.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nodestudio as ns
from nodestudio.graph import fileformat
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.model import Graph
from nodestudio.ir.convert import to_document

HERE = Path(__file__).resolve().parent


def named(var: ns.Variable, name: str) -> ns.Variable:
    var.owner.name = name
    return var


def inputs() -> tuple[ns.Variable, ns.Variable]:
    return ns.tensor("x", (None, 784), role="features"), ns.ivector("y", role="labels")


def classifier(logits: ns.Variable, y: ns.Variable) -> dict[str, ns.Variable]:
    return {"loss": named(ns.softmax_cross_entropy(logits, y), "loss"),
            "error": named(ns.classification_error(logits, y), "error"),
            "prediction": named(ns.softmax(logits), "prediction")}


def logistic_regression() -> dict[str, ns.Variable]:
    x, y = inputs()
    return classifier(ns.dense_layer(x, 10, init="zeros", name="logits"), y)


def mlp() -> dict[str, ns.Variable]:
    x, y = inputs()
    hidden = ns.dense_layer(x, 500, "tanh", name="hidden")
    return classifier(ns.dense_layer(hidden, 10, name="logits"), y)


def deep_mlp() -> dict[str, ns.Variable]:
    x, y = inputs()
    h = x
    for i, units in enumerate((512, 256), start=1):
        h = ns.dense_layer(h, units, name=f"dense{i}")
        h = named(ns.relu(ns.batch_norm_layer(h, name=f"bn{i}")), f"relu{i}")
        h = ns.dropout(h, p=0.5, seed=i)
        named(h, f"dropout{i}")
    return classifier(ns.dense_layer(h, 10, name="logits"), y)


def autoencoder() -> dict[str, ns.Variable]:
    x = ns.tensor("x", (None, 784), role="features")
    code = ns.dense_layer(x, 128, "sigmoid", name="encoder")
    recon = ns.dense_layer(code, 784, "sigmoid", name="decoder")
    return {"loss": named(ns.binary_cross_entropy(recon, x), "loss"), "prediction": recon}


TEMPLATES: dict[str, tuple[Any, dict[str, Any]]] = {
    "logistic_regression": (logistic_regression, {
        "title": "Logistic regression",
        "description": "784 inputs -> 10 classes: one dense layer and softmax cross-entropy",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 100, "epochs": 20}}),
    "mlp": (mlp, {
        "title": "Multilayer perceptron",
        "description": "784 -> 500 tanh -> 10: the Theano tutorial's MLP",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 20,
                     "patience": 5}}),
    "deep_mlp": (deep_mlp, {
        "title": "Deep MLP with batch norm and dropout",
        "description": "784 -> 512 -> 256 -> 10: dense, batch norm, relu and dropout 0.5 "
                       "in each hidden layer",
        "training": {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 20,
                     "patience": 5}}),
    "autoencoder": (autoencoder, {
        "title": "Autoencoder",
        "description": "784 -> 128 sigmoid -> 784 sigmoid, trained to reconstruct its input "
                       "(cross-entropy)",
        "training": {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 20,
                     "patience": 5}}),
}


def build(name: str) -> Graph:
    make, metadata = TEMPLATES[name]
    graph = to_document(make())
    graph.values = {}  # layers draw their weights from their initialisers
    graph.metadata = dict(metadata)
    for node_id, position in layered_positions(graph).items():
        graph.nodes[node_id].position = position
    return graph


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else HERE
    for name in TEMPLATES:
        path = folder / f"{name}.json"
        fileformat.save(build(name), path)
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
