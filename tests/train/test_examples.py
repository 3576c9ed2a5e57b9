"""The deep MLP (batch norm, dropout) and autoencoder example graphs: written by
make_examples.py, trained from the command line with their stored defaults, batch-norm running
averages updated by training and used by inference."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nodestudio.cli import main
from nodestudio.data import load_dataset
from nodestudio.train.model import Model
from tests.train.examples import EXAMPLES, make_examples


@pytest.mark.parametrize("name", ["deep_mlp", "autoencoder"])
def test_the_files_are_what_the_script_writes(name, tmp_path):
    written = make_examples().write(name, tmp_path)
    assert written.read_bytes() == (EXAMPLES / f"{name}.json").read_bytes()
    assert json.loads(written.read_text())["values"] == {}
    model = Model.load(EXAMPLES / f"{name}.json")
    assert model.x.shape == (None, 784)
    assert model.metadata["training"]["optimizer"] == "adam"
    if name == "deep_mlp":
        assert model.n_classes == 10 and not model.unsupervised
        assert [p.name for p in model.params if p.ndim == 2] == ["W1", "W2", "W3"]
        state = sorted(set(model.shared) - {p.name for p in model.params})
        assert state == ["bn1_mean", "bn1_var", "bn2_mean", "bn2_var"]  # not trainable
        assert not model.shared["bn1_mean"].get_value().any()
        assert (model.shared["bn1_var"].get_value() == 1).all()
    else:
        assert model.unsupervised and model.error is None and model.n_classes is None


def _train(name, out):
    assert main(["train", str(EXAMPLES / f"{name}.json"), "--data", "mnist5k",
                 "--epochs", "2", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    first, second = metrics["epochs"]
    assert second["train_loss"] < first["train_loss"]
    assert second["valid_loss"] < first["valid_loss"]
    with np.load(out / "params.npz") as archive:
        return metrics, dict(archive)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def test_the_deep_mlp_trains_and_inference_uses_the_running_averages(tmp_path):
    metrics, p = _train("deep_mlp", tmp_path)
    assert metrics["test_error"] < 0.3
    for i, width in ((1, 512), (2, 256)):  # updated by training, from zeros and ones
        assert p[f"bn{i}_mean"].shape == (width,) and np.abs(p[f"bn{i}_mean"]).max() > 1e-3
        assert np.abs(p[f"bn{i}_var"] - 1).max() > 1e-3 and (p[f"bn{i}_var"] > 0).all()
    # the test loss (inference mode) is the NumPy forward pass on the running averages,
    # with dropout the identity
    data = load_dataset("mnist5k", seed=0)
    h = data.test.x.astype(np.float64)
    for i in (1, 2):
        h = h @ p[f"W{i}"] + p[f"b{i}"]
        h = (h - p[f"bn{i}_mean"]) / np.sqrt(p[f"bn{i}_var"] + 1e-5)
        h = np.maximum(h * p[f"bn{i}_gamma"] + p[f"bn{i}_beta"], 0.0)
    z = _log_softmax(h @ p["W3"] + p["b3"])
    want = -z[np.arange(len(z)), data.test.y].mean()
    assert metrics["test_loss"] == pytest.approx(want, rel=1e-4)


def test_the_autoencoder_trains_to_reconstruct_its_input(tmp_path):
    metrics, p = _train("autoencoder", tmp_path)
    data = load_dataset("mnist5k", seed=0)
    x = data.test.x.astype(np.float64)
    sig = lambda a: 1.0 / (1.0 + np.exp(-a))  # noqa: E731
    recon = sig(sig(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
    assert metrics["test_loss"] == pytest.approx(((recon - x) ** 2).mean(), rel=1e-4)
    assert metrics["test_error"] is None and metrics["test_loss"] < ((x - x.mean()) ** 2).mean()
