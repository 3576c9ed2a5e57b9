"""Write the example graphs of this folder: `python resources/examples/make_examples.py`.

Each graph follows the training convention (nodestudio/train/model.py): inputs `x` and `y`,
outputs `loss`, `error` and `prediction` (the autoencoder has no `y` and no `error`: its loss
compares the reconstruction with `x`). The files hold no parameter values: every parameter
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
from nodestudio.graph.layout import layered_positions
from nodestudio.ir.convert import to_document
from nodestudio.ops.init import initial_value

HERE = Path(__file__).resolve().parent


def parameter(name: str, shape: tuple[int, ...], init: str, seed: int = 0,
              **attrs: Any) -> ns.SharedVariable:
    """A shared variable whose attributes say how to draw it again on load (`value` for a
    constant; `trainable=False` for state such as batch-norm running averages)."""
    value = initial_value(init, shape, seed=seed,
                          **{k: v for k, v in attrs.items() if k != "trainable"})
    return ns.shared(value, name, init=init, attrs={"seed": seed, **attrs})


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


def deep_mlp() -> dict[str, ns.Variable]:
    """784 -> 512 -> 256 -> 10: each hidden layer dense, batch norm, relu, dropout 0.5; He-normal
    hidden weights, zero output layer. The running averages are parameters with
    trainable=False: the trainer updates them, inference uses them."""
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    h = x
    for i, (n_in, n_out) in enumerate([(784, 512), (512, 256)], start=1):
        W = parameter(f"W{i}", (n_in, n_out), "he_normal", seed=i)
        b = parameter(f"b{i}", (n_out,), "zeros")
        gamma = parameter(f"bn{i}_gamma", (n_out,), "constant", value=1.0)
        beta = parameter(f"bn{i}_beta", (n_out,), "zeros")
        mean = parameter(f"bn{i}_mean", (n_out,), "zeros", trainable=False)
        var = parameter(f"bn{i}_var", (n_out,), "constant", value=1.0, trainable=False)
        h = named(ns.dense(h, W, b), f"hidden{i}")
        h = named(ns.batch_norm(h, gamma, beta, mean, var), f"hidden{i}_bn")
        h = named(ns.relu(h), f"hidden{i}_relu")
        h = named(ns.dropout(h, p=0.5, seed=i), f"hidden{i}_dropout")
    W3 = parameter("W3", (256, 10), "zeros")
    b3 = parameter("b3", (10,), "zeros")
    return classifier(named(ns.dense(h, W3, b3), "logits"), y)


def autoencoder() -> dict[str, ns.Variable]:
    """784 -> 256 sigmoid -> 784 sigmoid, trained to reconstruct its input (squared error
    against `x`); Glorot-uniform (sigmoid) weights, zero biases. No `y`: unsupervised."""
    x = ns.tensor("x", (None, 784))
    W1 = parameter("W1", (784, 256), "glorot_sigmoid", seed=1)
    b1 = parameter("b1", (256,), "zeros")
    W2 = parameter("W2", (256, 784), "glorot_sigmoid", seed=2)
    b2 = parameter("b2", (784,), "zeros")
    code = named(ns.sigmoid(named(ns.dense(x, W1, b1), "encoder")), "code")
    recon = named(ns.sigmoid(named(ns.dense(code, W2, b2), "decoder")), "reconstruction")
    return {"loss": named(ns.squared_error(recon, x), "loss"), "prediction": recon}


def lenet() -> dict[str, ns.Variable]:
    """Theano's convolutional_mlp (LeNet-5 as in the deep learning tutorials): 784 pixels ->
    1 x 28 x 28 -> 20 filters of 5 x 5, tanh -> 2 x 2 max-pool -> 50 filters of 5 x 5, tanh ->
    2 x 2 max-pool -> 800 -> 500 tanh -> 10 softmax. The layers own their parameters (Glorot
    uniform for tanh, drawn per node; the output layer zeros, as the tutorial's logistic
    regression). tanh(pool(conv + b)) there is pool(tanh(conv + b)) here: both are monotonic,
    so the values are the same."""
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    h = named(ns.reshape(x, (-1, 1, 28, 28)), "images")
    for i, filters in enumerate((20, 50), start=1):
        h = ns.conv2d_layer(h, filters, (5, 5), activation="tanh", name=f"conv{i}")
        h = named(ns.max_pool2d(h, (2, 2)), f"pool{i}")
    h = named(ns.reshape(h, (-1, 800)), "flatten")
    h = ns.dense_layer(h, 500, "tanh", name="hidden")
    return classifier(ns.dense_layer(h, 10, init="zeros", name="logits"), y)


def autoencoder_stack(x: ns.Variable, widths, levels) -> ns.Variable:
    """Autoencoder layers ae1, ae2, ... (sigmoid, tied, cross-entropy), each reading the
    previous one's clean code, with masking noise at the given levels (0: none)."""
    from nodestudio.ir.layers import layer
    h = x
    for i, (width, level) in enumerate(zip(widths, levels), start=1):
        noise = {"noise": "masking", "noise_level": level} if level else {}
        h = layer("autoencoder_layer", h, name=f"ae{i}", hidden=width, **noise)
    return h


def stacked_dae() -> dict[str, ns.Variable]:
    """The course's stacked denoising autoencoder (SdA.py) on 784 pixels: three denoising
    autoencoder layers of 500 (masking noise 0.1, 0.2, 0.3), whose clean codes feed a softmax
    output layer (zeros). `nodestudio pretrain --method dae` trains the autoencoders one by
    one on their reconstruction costs; `nodestudio train --init` then fine-tunes the whole
    classifier (the autoencoders' `hidden` outputs are its hidden layers)."""
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    h = autoencoder_stack(x, (500, 500, 500), (0.1, 0.2, 0.3))
    return classifier(ns.dense_layer(h, 10, init="zeros", name="logits"), y)


def deep_autoencoder() -> dict[str, ns.Variable]:
    """A stack of autoencoder layers 784 -> 256 -> 64 -> 16 (no labels) to pretrain with
    `nodestudio pretrain --method sae` and unfold (`python -m nodestudio.train.unfold`) into
    the deep autoencoder 784 -> 256 -> 64 -> 16 -> 64 -> 256 -> 784 carrying the pretrained
    values, which trains by CG (its defaults; train/unfold.py). Its own `loss` is the sum of
    the three layers' reconstruction costs, so `nodestudio train` on this file trains the
    layers all at once (each on its own cost), the non-greedy way."""
    x = ns.tensor("x", (None, 784))
    code = autoencoder_stack(x, (256, 64, 16), (0, 0, 0))
    layers = [code.owner]
    while layers[0].inputs[0].owner.op.name == "autoencoder_layer":
        layers.insert(0, layers[0].inputs[0].owner)
    costs = [node.outputs[1] for node in layers]
    loss = named(named(costs[0] + costs[1], "cost12") + costs[2], "loss")
    return {"loss": loss, "prediction": layers[0].outputs[2], "code": code}


def rbm() -> dict[str, ns.Variable]:
    """The course's rbm.py: a Bernoulli RBM of 784 visible and 500 hidden units trained by
    persistent CD-15 with 20 particles; `loss` is its CD cost (SGD on it is PCD),
    `prediction` p(h | v). Its one-step reconstruction error is no `error` output (that role is
    a fraction misclassified, shown in %): `nodestudio pretrain --method rbm` reports it with
    the free-energy gap and the pseudo-likelihood each epoch."""
    from nodestudio.ir.layers import layer
    x = ns.tensor("x", (None, 784))
    hidden = layer("rbm_layer", x, name="rbm", hidden=500, k=15, persistent=True,
                   particles=20)
    outs = dict(zip(hidden.owner.op.output_names(), hidden.owner.outputs))
    return {"loss": outs["cost"], "prediction": hidden}


def dbn() -> dict[str, ns.Variable]:
    """The course's DBN.py on 784 pixels: three Bernoulli RBMs of 500 (CD-1), whose p(h | v)
    feed the next one and finally a softmax output layer (zeros). `nodestudio pretrain
    --method dbn` trains the RBMs one by one; `nodestudio train --init` fine-tunes the
    classifier (the sigmoid net the RBMs' weights define)."""
    from nodestudio.ir.layers import layer
    x, y = ns.tensor("x", (None, 784)), ns.ivector("y")
    h = x
    for i in range(1, 4):
        h = layer("rbm_layer", h, name=f"rbm{i}", hidden=500)
    return classifier(ns.dense_layer(h, 10, init="zeros", name="logits"), y)


EXAMPLES: dict[str, tuple[Any, dict[str, Any]]] = {
    "logistic_regression": (logistic_regression, {
        "title": "Logistic regression (784 -> 10)",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 100, "epochs": 20}}),
    "mlp": (mlp, {
        "title": "Multilayer perceptron (784 -> 800 tanh -> 10)",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 30,
                     "patience": 10}}),
    "deep_mlp": (deep_mlp, {
        "title": "Deep MLP with batch norm and dropout (784 -> 512 -> 256 -> 10, relu)",
        "training": {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 20,
                     "patience": 5}}),
    "autoencoder": (autoencoder, {
        "title": "Autoencoder (784 -> 256 sigmoid -> 784 sigmoid, squared error)",
        "training": {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 20,
                     "patience": 5}}),
    "lenet": (lenet, {
        "title": "LeNet (conv 20@5x5 tanh, pool 2x2, conv 50@5x5 tanh, pool 2x2, 500 tanh, 10)",
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 50, "epochs": 20,
                     "patience": 5}}),
    "stacked_dae": (stacked_dae, {
        "title": "Stacked denoising autoencoder (784 -> 500 -> 500 -> 500 -> 10)",
        "pretraining": {"method": "dae", "optimizer": "sgd", "lr": 0.1, "batch_size": 20,
                        "epochs": 5, "unfold": "classifier"},
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 30,
                     "patience": 10}}),
    "deep_autoencoder": (deep_autoencoder, {
        "title": "Deep autoencoder stack (784 -> 256 -> 64 -> 16), pretrained then unfolded",
        "pretraining": {"method": "sae", "optimizer": "sgd", "lr": 0.1, "batch_size": 20,
                        "epochs": 5, "unfold": "deep_autoencoder"},
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 5}}),
    "rbm": (rbm, {
        "title": "RBM on MNIST (784 visible, 500 hidden, PCD-15, 20 particles)",
        "pretraining": {"method": "rbm", "optimizer": "sgd", "lr": 0.1, "batch_size": 20,
                        "epochs": 15},
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 15}}),
    "dbn": (dbn, {
        "title": "Deep belief net (784 -> 500 -> 500 -> 500 -> 10, RBMs by CD-1)",
        "pretraining": {"method": "dbn", "optimizer": "sgd", "lr": 0.05, "batch_size": 20,
                        "epochs": 5, "unfold": "classifier"},
        "training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20, "epochs": 30,
                     "patience": 10}}),
}


# Graphs laid out on two rows: the node that starts the second row. One row of LeNet's ten
# layers is too wide to read at once on a screen (the canvas draws cards far out as tiles).
SECOND_ROW = {"lenet": "pool2"}
SECOND_ROW_DROP = 330.0  # canvas units: room for the previews above the second row's cards
SPREAD = 1.25  # wider columns there: room for the feature maps' wire labels (B x 20 x 24 x 24)


def write(name: str, folder: Path = HERE) -> Path:
    build, metadata = EXAMPLES[name]
    graph = to_document(build())
    for key in list(graph.values):  # drop parameter values: attrs recreate them
        node = graph.nodes.get(key)
        owner = graph.nodes.get(key.rpartition("/")[0])  # "conv1/W": a layer's own parameter
        if (node is not None and node.op == "parameter") or (node is None and owner is not None):
            del graph.values[key]
    graph.metadata = metadata
    positions = layered_positions(graph)
    if name in SECOND_ROW:  # a chain too long for one screen: the rest on a row below
        first, drop = positions[SECOND_ROW[name]][0], SECOND_ROW_DROP
        positions = {node_id: (SPREAD * (x - first), y + drop) if x >= first
                     else (SPREAD * x, y) for node_id, (x, y) in positions.items()}
    for node_id, position in positions.items():
        graph.nodes[node_id].position = position
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
