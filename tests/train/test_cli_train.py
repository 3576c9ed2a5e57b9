"""`nodestudio train` and `nodestudio evaluate`, run in-process on the `digits` data, and the
example graphs of resources/examples/."""

from __future__ import annotations

import argparse
import contextlib
import io
import json

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.api.device import current_device
from nodestudio.cli import _training_settings, main
from nodestudio.data import load_dataset
from nodestudio.graph import fileformat
from nodestudio.train.loop import Trainer
from nodestudio.train.model import Model
from tests.train.examples import EXAMPLES, make_examples

pytestmark = pytest.mark.opencl

EPOCH_KEYS = ["epoch", "train_loss", "train_error", "valid_loss", "valid_error", "seconds"]
TRAIN = ["--data", "digits", "--optimizer", "momentum", "--lr", "0.5", "--batch-size", "647",
         "--epochs", "6", "--patience", "2", "--seed", "1"]


def _classifier(path, features=64, extra=None, with_loss=True):
    x, y = ns.tensor("x", (None, features)), ns.ivector("y")
    W, b = ns.shared(np.zeros((features, 10)), "W"), ns.shared(np.zeros(10), "b")
    logits = ns.dense(x, W, b)
    loss = ns.softmax_cross_entropy(logits, y)
    if extra is not None:
        loss = loss + extra()
    ns.save({"loss" if with_loss else "cost": loss,
             "error": ns.classification_error(logits, y)}, path)
    return str(path)


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return _classifier(tmp_path_factory.mktemp("graphs") / "softmax64.json")


@pytest.fixture(scope="module")
def trained(graph, tmp_path_factory):
    """One `nodestudio train` run: (output folder, stderr)."""
    out = tmp_path_factory.mktemp("run")
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert main(["train", graph, *TRAIN, "--out", str(out)]) == 0
    return out, err.getvalue()


def test_metrics_json_has_the_documented_schema_and_the_apis_values(graph, trained):
    out, stderr = trained
    metrics = json.loads((out / "metrics.json").read_text())
    assert list(metrics) == ["epochs", "best_epoch", "test_error", "test_loss", "settings"]
    assert all(list(record) == EPOCH_KEYS for record in metrics["epochs"])
    assert [r["epoch"] for r in metrics["epochs"]] == list(range(1, len(metrics["epochs"]) + 1))
    # the same settings through the API give the same numbers: the CLI adds nothing of its own
    history = Trainer(Model.load(graph), load_dataset("digits", seed=1), "momentum", 0.5,
                      batch_size=647, epochs=6, patience=2, seed=1).run()
    api = history.metrics()
    drop = lambda records: [{k: v for k, v in r.items() if k != "seconds"} for r in records]
    assert drop(metrics["epochs"]) == drop(api["epochs"])
    assert (metrics["best_epoch"], metrics["test_error"], metrics["test_loss"]) == (
        api["best_epoch"], api["test_error"], api["test_loss"])
    lines = [line for line in stderr.splitlines() if line.startswith("epoch")]
    assert len(lines) == len(metrics["epochs"]) and all("samples/s" in line for line in lines)


def test_the_effective_settings_are_printed_first_and_kept_in_metrics_json(trained):
    out, stderr = trained
    settings = json.loads((out / "metrics.json").read_text())["settings"]
    assert settings["optimizer"] == "momentum"
    assert settings["hyperparameters"] == {"lr": 0.5, "momentum": 0.9, "variant": "classic"}
    assert (settings["batch_size"], settings["epochs"], settings["patience"]) == (647, 6, 2)
    assert (settings["preprocess"], settings["preprocessing_applied"]) == ("auto", "scale")
    assert (settings["dataset"], settings["seed"], settings["schedule"]) == (
        "digits", 1, {"kind": "constant"})
    assert settings["device"] == current_device().label
    first = stderr.splitlines()[0]
    assert first == ("settings: momentum (lr 0.5, momentum 0.9, variant classic), batch 647, "
                     "6 epochs, patience 2, preprocessing auto, seed 1 on digits")


def test_a_new_optimizer_trains_at_its_own_default_rate(tmp_path, capsys):
    # a graph that stores sgd at 0.5 (as mlp.json stores sgd at 0.1), trained with --optimizer
    # adam: Adam's default 0.001, exactly what the API's default Adam does
    path = tmp_path / "stored.json"
    _classifier(path)
    document = json.loads(path.read_text())
    document["metadata"]["training"] = {"optimizer": "sgd", "lr": 0.5}
    path.write_text(json.dumps(document))
    out = tmp_path / "run"
    assert main(["train", str(path), "--data", "digits", "--optimizer", "adam", "--epochs",
                 "2", "--batch-size", "200", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert ("nodestudio: note: adam starts from its own defaults; the graph's lr 0.5 (stored "
            "for sgd) is not used") in err
    assert "settings: adam (lr 0.001, beta1 0.9, beta2 0.999, eps 1e-08)" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["settings"]["hyperparameters"]["lr"] == 0.001
    api = Trainer(Model.load(path), load_dataset("digits"), "adam", batch_size=200,
                  epochs=2).run().metrics()
    assert [e["train_loss"] for e in metrics["epochs"]] == [e["train_loss"]
                                                            for e in api["epochs"]]
    # a rate given on the command line is used, and nothing is said about the stored one
    assert main(["train", str(path), "--data", "digits", "--optimizer", "adam", "--lr", "0.01",
                 "--epochs", "1", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "not used" not in err and "settings: adam (lr 0.01," in err


def test_a_csv_of_raw_pixels_is_scaled_like_the_built_in_and_says_so(graph, tmp_path, capsys):
    # resources/datasets/digits.csv.gz holds the built-in digits (0..16) as a plain table
    runs = {}
    for data in ("digits", "resources/datasets/digits.csv.gz"):
        out = tmp_path / data.replace("/", "_")
        assert main(["train", graph, "--data", data, "--epochs", "2", "--out", str(out)]) == 0
        runs[data] = json.loads((out / "metrics.json").read_text())
        assert runs[data]["settings"]["preprocessing_applied"] == "scale"
    assert [e["valid_error"] for e in runs["digits"]["epochs"]] == [
        e["valid_error"] for e in runs["resources/datasets/digits.csv.gz"]["epochs"]]
    err = capsys.readouterr().err
    assert ("nodestudio: info: dataset 'digits.csv.gz': feature values span 0..16; "
            "preprocessing 'auto' scales them to [0, 1]") in err


def test_unscaled_raw_values_draw_a_warning(graph, tmp_path, capsys):
    assert main(["train", graph, "--data", "resources/datasets/digits.csv.gz", "--preprocess",
                 "none", "--epochs", "1", "--out", str(tmp_path)]) == 0
    assert ("nodestudio: warning: dataset 'digits.csv.gz': feature values span 0..16 and are "
            "not preprocessed; consider --preprocess scale") in capsys.readouterr().err
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["settings"]["preprocessing_applied"] == "none"


def test_evaluate_uses_the_preprocessing_training_used(graph, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", graph, "--data", "digits", "--preprocess", "standardise",
                 "--epochs", "2", "--out", str(out)]) == 0
    test_error = json.loads((out / "metrics.json").read_text())["test_error"]
    capsys.readouterr()
    evaluate = ["evaluate", graph, "--params", str(out / "params.npz"), "--data", "digits"]
    assert main([*evaluate, "--preprocess", "standardize"]) == 0
    assert capsys.readouterr().out.split()[5] == f"{100 * test_error:.2f}%"


def test_params_npz_round_trips_through_evaluate(graph, trained, capsys):
    out, _ = trained
    with np.load(out / "params.npz", allow_pickle=False) as params:
        assert sorted(params.files) == ["W", "b"]
        assert params["W"].shape == (64, 10) and params["W"].dtype == np.float32
    metrics = json.loads((out / "metrics.json").read_text())
    assert main(["evaluate", graph, "--params", str(out / "params.npz"), "--data", "digits",
                 "--seed", "1"]) == 0
    words = capsys.readouterr().out.split()
    assert words[:2] == ["test", "loss"] and words[3:5] == ["test", "error"]
    assert float(words[2]) == pytest.approx(metrics["test_loss"], abs=1e-6)
    assert words[5] == f"{100 * metrics['test_error']:.2f}%"


def test_two_runs_with_one_seed_write_identical_metrics(graph, trained, tmp_path, capsys):
    first = json.loads((trained[0] / "metrics.json").read_text())
    assert main(["train", graph, *TRAIN, "--out", str(tmp_path)]) == 0
    second = json.loads((tmp_path / "metrics.json").read_text())
    for metrics in (first, second):
        for record in metrics["epochs"]:
            record.pop("seconds")
    assert first == second


def test_divergence_exits_1_naming_the_node(tmp_path, capsys):
    path = _classifier(tmp_path / "planted.json", extra=lambda: ns.log(
        ns.relu(ns.shared(np.float32(1.0), "probe"))))
    log_node = next(n.id for n in fileformat.load(path).nodes.values() if n.op == "log")
    out = tmp_path / "out"
    assert main(["train", path, "--data", "digits", "--lr", "0.1", "--batch-size", "647",
                 "--out", str(out)]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("nodestudio: training diverged at iteration 6")
    assert repr(log_node) in last
    assert not (out / "metrics.json").exists() and not (out / "params.npz").exists()


def test_divergence_in_a_gradient_names_the_users_node(tmp_path, capsys):
    # sqrt(p * p) at p = 0: the gradient's inner division by sqrt(0) is Inf; the message names
    # the file's sqrt node and the op, never the backward node "grad/sqrt_N/div_M"
    path = _classifier(tmp_path / "sqrt.json", extra=lambda: ns.sqrt(
        ns.shared(np.float32(0.0), "p") * ns.shared(np.float32(0.0), "q")))
    sqrt_node = next(n.id for n in fileformat.load(path).nodes.values() if n.op == "sqrt")
    assert main(["train", path, "--data", "digits", "--lr", "0.1", "--batch-size", "647",
                 "--out", str(tmp_path / "out")]) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("nodestudio: training diverged at iteration 0 (epoch 1)")
    assert (f"first produced in the gradient of node {sqrt_node!r} (sqrt), at its inner op div "
            "(backward pass:") in last
    assert "grad/" not in last


def _one_line_failure(argv, capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("nodestudio: ") and "Traceback" not in err
    return err


def test_bad_input_is_a_one_line_error(graph, tmp_path, capsys):
    out = ["--out", str(tmp_path / "o")]
    assert "missing.json" in _one_line_failure(
        ["train", str(tmp_path / "missing.json"), "--data", "digits", *out], capsys)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    logits = ns.dense(x, ns.shared(np.zeros((64, 10)), "W"), ns.shared(np.zeros(10), "b"))
    ns.save({"error": ns.classification_error(logits, y)}, tmp_path / "noloss.json")
    assert "the graph has no loss" in _one_line_failure(
        ["train", str(tmp_path / "noloss.json"), "--data", "digits", *out], capsys)
    assert "unknown optimizer 'adamw'" in _one_line_failure(
        ["train", graph, "--data", "digits", "--optimizer", "adamw", *out], capsys)
    assert "unknown dataset 'digitz'" in _one_line_failure(
        ["train", graph, "--data", "digitz", *out], capsys)
    wide = _classifier(tmp_path / "wide.json", features=784)
    assert "has 64" in _one_line_failure(["train", wide, "--data", "digits", *out], capsys)
    assert "learning rate" in _one_line_failure(
        ["train", graph, "--data", "digits", "--lr", "-1", *out], capsys)
    np.savez(tmp_path / "other.npz", W=np.zeros((3, 3), np.float32))
    assert "parameters do not match" in _one_line_failure(
        ["evaluate", graph, "--params", str(tmp_path / "other.npz"), "--data", "digits"], capsys)


def test_settings_come_from_the_command_line_then_the_file_then_the_defaults():
    args = argparse.Namespace(optimizer=None, lr=None, batch_size=32, epochs=None, patience=None)
    settings = _training_settings(args, {"training": {"lr": 0.1, "epochs": 7, "batch_size": 8}})
    assert settings == {"optimizer": "sgd", "lr": 0.1, "batch_size": 32, "epochs": 7,
                        "patience": None}


# --- the example graphs ------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["logistic_regression", "mlp"])
def test_the_example_files_are_what_the_script_writes_without_values(name, tmp_path):
    written = make_examples().write(name, tmp_path)
    assert written.read_bytes() == (EXAMPLES / f"{name}.json").read_bytes()
    document = json.loads(written.read_text())
    assert document["values"] == {}
    model = Model.load(EXAMPLES / f"{name}.json")
    assert model.x.shape == (None, 784) and model.n_classes == 10
    assert model.error is not None and model.metadata["training"]["optimizer"] == "sgd"
    if name == "mlp":  # initialised from the attributes: the same Glorot draw every time
        W1 = model.shared["W1"].get_value()
        limit = np.sqrt(6.0 / (784 + 800))
        assert W1.shape == (784, 800) and 0.9 * limit < np.abs(W1).max() <= limit
        np.testing.assert_array_equal(W1, Model.load(EXAMPLES / "mlp.json").shared["W1"]
                                      .get_value())
        assert not model.shared["W2"].get_value().any()


def test_the_logistic_regression_example_trains_on_mnist5k_with_its_defaults(tmp_path, capsys):
    assert main(["train", str(EXAMPLES / "logistic_regression.json"), "--data", "mnist5k",
                 "--epochs", "2", "--out", str(tmp_path)]) == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2 and metrics["test_error"] < 0.25
    assert "samples/s" in capsys.readouterr().err


def test_ctrl_c_asks_the_trainer_to_stop():
    import os
    import signal

    from nodestudio.cli import _stop_on_interrupt

    class Stoppable:
        stopped = False

        def stop(self):
            self.stopped = True
    trainer = Stoppable()
    before = signal.getsignal(signal.SIGINT)
    with _stop_on_interrupt(trainer):
        os.kill(os.getpid(), signal.SIGINT)  # Python runs the handler between bytecodes
        for _ in range(1000):
            if trainer.stopped:
                break
    assert trainer.stopped and signal.getsignal(signal.SIGINT) is before
