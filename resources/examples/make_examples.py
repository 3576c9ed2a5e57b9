"""Write the example graphs of this folder: `python resources/examples/make_examples.py`.

Each graph follows the training convention (nodestudio/train/model.py): inputs `x` and `y`,
outputs `loss`, `error` and `prediction`. The files hold no parameter values: every parameter
node carries its initialiser in its attributes (`init`, `seed`), and is initialised from them
when the graph is loaded, so the JSON stays small and diffs well. Default training settings are
kept in the file's metadata, where `nodestudio train` reads them (see README.md here).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import nodestudio as ns
from nodestudio.graph import fileformat
from nodestudio.ir.convert import to_document
from nodestudio.ops.init import initial_value

HERE = Path(__file__).resolve().parent


def parameter(name: str, shape: tuple[int, ...], init: str, seed: int = 0) -> ns.SharedVariable:
    """A shared variable whose attributes say how to draw it again on load."""
    value = initial_value(init, shape, seed=seed)
    return ns.shared(value, name, init=init, attrs={"seed": seed})


def named(var: ns.Variable, name: str) -> ns.Variable:
    """Give a node a fixed, readable id (the automatic ones count up per process)."""
    var.owner.name = name
    return var


def classifier(logits: ns.Variable, y: ns.Variable) -> dict[str, ns.Variable]:
    return {"loss": named(ns.softmax_cross_entropy(logits, y), "loss"),
            "error": named(ns.classification_error(logits, y), "error"),
            "prediction": named(ns.softmax(logits), "prediction")}


def logistic_regression() -> dict[str, ns.Variable]:
    """784 -> 10 softmax regression, zeros init."""
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    W = parameter("W", (784, 10), "zeros")
    b = parameter("b", (10,), "zeros")
    return classifier(named(ns.dense(x, W, b), "logits"), y)


def mlp() -> dict[str, ns.Variable]:
    """784 -> 800 tanh -> 10 softmax; Glorot-uniform hidden weights, zero output layer."""
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    W1 = parameter("W1", (784, 800), "glorot_tanh", seed=1)
    b1 = parameter("b1", (800,), "zeros")
    W2 = parameter("W2", (800, 10), "zeros")
    b2 = parameter("b2", (10,), "zeros")
    hidden = named(ns.tanh(named(ns.dense(x, W1, b1), "hidden")), "hidden_tanh")
    return classifier(named(ns.dense(hidden, W2, b2), "logits"), y)


EXAMPLES: dict[str, tuple[Any, dict[str, Any]]] = {
    "logistic_regression": (logistic_regression, {
        "title": "Logistic regression (784 -> 10)",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 100, "epochs": 20}}),
    "mlp": (mlp, {
        "title": "Multilayer perceptron (784 -> 800 tanh -> 10)",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 30,
                     "patience": 10}}),
}


def write(name: str, folder: Path = HERE) -> Path:
    build, metadata = EXAMPLES[name]
    graph = to_document(build())
    for node_id, node in graph.nodes.items():  # drop parameter values: attrs recreate them
        if node.op == "parameter":
            graph.values.pop(node_id, None)
    graph.metadata = metadata
    path = folder / f"{name}.json"
    fileformat.save(graph, path)
    return path


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else HERE
    for name in EXAMPLES:
        print(write(name, folder))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
