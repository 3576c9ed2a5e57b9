"""`nodestudio pretrain --method sae|dae|dbn|supervised` then `nodestudio train --init`."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.cli import main
from nodestudio.graph import fileformat
from nodestudio.ir.convert import to_document
from nodestudio.ir.layers import layer

KINDS = {"sae": "autoencoder_layer", "dae": "autoencoder_layer", "dbn": "rbm_layer",
         "supervised": "dense_layer"}


def _graph(kind, path):
    """digits (64 features) -> two layers of `kind` -> softmax 10."""
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    h = x
    for i, units in enumerate((32, 16), start=1):
        h = (ns.dense_layer(h, units, "sigmoid", name=f"l{i}") if kind == "dense_layer"
             else layer(kind, h, name=f"l{i}", hidden=units))
    logits = ns.dense_layer(h, 10, name="logits")
    loss = ns.softmax_cross_entropy(logits, y)
    loss.owner.name = "loss"
    fileformat.save(to_document({"loss": loss}), path)
    return path


@pytest.mark.parametrize("method", list(KINDS))
def test_pretrain_writes_params_that_train_starts_from(method, tmp_path):
    graph = _graph(KINDS[method], tmp_path / "g.json")
    out = tmp_path / "pre"
    assert main(["pretrain", str(graph), "--method", method, "--data", "digits", "--epochs",
                 "2", "--lr", "0.1", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2  # one per layer
    assert metrics["epochs"][0]["metrics"]["l1/epochs"] == 2.0
    with np.load(out / "params.npz") as archive:
        values = dict(archive)
    assert not any("@" in k for k in values)
    assert main(["train", str(graph), "--init", str(out / "params.npz"), "--data", "digits",
                 "--epochs", "1", "--out", str(tmp_path / "ft")]) == 0


def test_options_that_do_not_apply_are_refused(tmp_path, capsys):
    graph = _graph("autoencoder_layer", tmp_path / "g.json")
    base = ["pretrain", str(graph), "--data", "digits", "--out", str(tmp_path / "o")]
    assert main([*base, "--method", "dae", "--l2", "0.1"]) != 0
    assert "regularisation options do not apply" in capsys.readouterr().err
    assert main([*base, "--method", "sae", "--k", "3"]) != 0
    assert "--k sets the Gibbs steps" in capsys.readouterr().err


def test_dbn_takes_k(tmp_path):
    graph = _graph("rbm_layer", tmp_path / "g.json")
    out = tmp_path / "pre"
    assert main(["pretrain", str(graph), "--method", "dbn", "--k", "2", "--data", "digits",
                 "--epochs", "1", "--out", str(out)]) == 0
    record = json.loads((out / "metrics.json").read_text())["epochs"][0]["metrics"]
    assert "l1/epochs" in record and any(name.endswith("recon") for name in record)
