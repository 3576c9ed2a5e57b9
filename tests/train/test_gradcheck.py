"""The gradient check (nodestudio/train/gradcheck.py): autodiff against central differences
in float64 passes on dense, tanh, softmax cross-entropy and batch norm, and flags a wrong
gradient rule."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from nodestudio.graph import fileformat
from nodestudio.ops import registry
from nodestudio.ops.elementwise import unary
from nodestudio.train.gradcheck import THRESHOLD, check_node
from nodestudio.train.model import Model

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def _model(name: str, seed: int = 0) -> Model:
    """The example with random parameters (the files start some at zero, which would leave
    nothing but zero gradients upstream) and positive running variances."""
    model = Model.from_document(fileformat.load(EXAMPLES / name), name)
    rng = np.random.default_rng(seed)
    values = {key: (np.abs(rng.normal(1, 0.2, v.shape)) if key.endswith("_var") else
                    rng.normal(0, 0.3, v.shape)) for key, v in model.values().items()}
    model.set_values(values)
    return model


def _batch(features: int = 784, n: int = 8, seed: int = 1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, features)), rng.integers(0, 10, n).astype(np.int32)


@pytest.mark.parametrize("node, labels", [
    ("hidden", ["input x", "parameter W", "parameter b"]),  # dense
    ("hidden_tanh", ["input x"]),
    ("loss", ["input logits"]),  # softmax cross-entropy; the int labels are skipped
])
def test_correct_rules_pass_on_the_mlp(node, labels):
    x, y = _batch()
    result = check_node(_model("mlp.json"), node, x, y)
    assert [item.label.split(" (")[0] for item in result.items] == labels
    for item in result.items:
        assert np.linalg.norm(item.autodiff) > 1e-6  # a real gradient, not 0 == 0
        assert item.relative_error < THRESHOLD and item.passed, item
    assert result.passed and result.batch_size == 8
    if node == "loss":
        assert result.skipped and "integer" in result.skipped[0]


def test_batch_norm_inputs_and_parameters_pass_and_running_averages_are_skipped():
    x, y = _batch()
    result = check_node(_model("deep_mlp.json"), "hidden1_bn", x, y)
    assert [item.label.split(" (")[0] for item in result.items] == [
        "input x", "parameter gamma", "parameter beta"]
    assert all(np.linalg.norm(i.autodiff) > 1e-6 and i.passed for i in result.items)
    assert len(result.skipped) == 2 and all("running" in s for s in result.skipped)


def test_a_wrong_tanh_rule_is_flagged(monkeypatch):
    tanh = registry.get("tanh")
    wrong = unary(lambda F, x, o, g, at: g * (1.0 - o))  # the square left out
    monkeypatch.setitem(registry._REGISTRY, "tanh", dataclasses.replace(tanh, grad=wrong))
    x, y = _batch()
    model = _model("mlp.json")  # built after the patch: its tanh carries the wrong rule
    at_tanh = check_node(model, "hidden_tanh", x, y)
    assert not at_tanh.passed and at_tanh.items[0].relative_error > 100 * THRESHOLD
    upstream = check_node(model, "hidden", x, y)  # the error flows into the layer below
    assert not upstream.passed
    downstream = check_node(model, "loss", x, y)  # above tanh nothing changes
    assert downstream.passed


def test_float32_batches_and_a_node_off_the_loss_path():
    x, y = _batch()
    model = _model("mlp.json")
    result = check_node(model, "logits", x.astype(np.float32), y)
    assert result.passed and len(result.items) == 3
    with pytest.raises(Exception, match="does not depend"):
        check_node(model, "prediction", x, y)
