"""NaN reaches the divergence guard through relu: a hidden layer relu(log(dense(x))) takes the
log of negative pre-activations, and the device must carry those NaN through relu to the loss
(as NumPy and PyTorch do) instead of turning them into 0 and training on."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.data import load_dataset
from nodestudio.graph import fileformat
from nodestudio.train.loop import Trainer
from nodestudio.train.model import Model


@pytest.mark.opencl
def test_relu_of_a_log_of_negative_values_stops_training_and_names_the_log(tmp_path):
    digits = load_dataset("digits", seed=0)
    rng = np.random.default_rng(0)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W1 = ns.shared(rng.normal(0, 0.1, (64, 16)), "W1")
    b1 = ns.shared(np.zeros(16), "b1")
    W2 = ns.shared(rng.normal(0, 0.1, (16, 10)), "W2")
    b2 = ns.shared(np.zeros(10), "b2")
    pre = ns.dense(x, W1, b1)
    hidden = ns.relu(ns.log(pre))
    logits = ns.dense(hidden, W2, b2)
    path = tmp_path / "relu_log.json"
    ns.save({"loss": ns.softmax_cross_entropy(logits, y),
             "error": ns.classification_error(logits, y)}, path)
    log_node = next(n.id for n in fileformat.load(path).nodes.values() if n.op == "log")

    model = Model.load(path)
    batch = digits.train.x[:647]
    hidden_now = ns.function([x], hidden)(batch)
    assert np.isnan(hidden_now).mean() > 0.2  # what fmax(NaN, 0) used to turn into zeros

    start = model.values()
    history = Trainer(model, digits, "sgd", 0.1, batch_size=647, epochs=2).run()
    failure = history.failure
    assert history.stop_reason == "diverged" and failure is not None
    assert failure.iteration == 0 and failure.epoch == 1
    assert failure.node == log_node and failure.phase == "forward" and failure.rolled_back
    assert log_node in failure.message and "nan" in failure.message
    assert all(model.values()[n].tobytes() == v.tobytes() for n, v in start.items())
