"""`nodestudio pretrain --method rbm` and `nodestudio train --init`, in-process on `digits`."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest

from nodestudio.cli import main
from nodestudio.graph import fileformat
from nodestudio.graph.model import Graph
from nodestudio.train.pretrain import METHODS, parse_k
from tests.train.rbm_graphs import save_rbm_graph

pytestmark = pytest.mark.opencl

COMMON = ["--data", "digits", "--batch-size", "50", "--lr", "0.05", "--seed", "2"]


def _run(*argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def _classifier(path, hidden=16):
    """x -> rbm1 (its p(h|v)) -> a softmax output layer: what pretraining prepares."""
    graph = Graph()
    graph.add_node("input", {"shape": [None, 64], "dtype": "float32"}, id="x")
    graph.add_node("input", {"shape": [None], "dtype": "int32"}, id="y")
    graph.add_node("rbm_layer", {"hidden": hidden, "seed": 1}, id="rbm1")
    graph.add_node("dense_layer", {"units": 10}, id="out")
    graph.add_node("softmax_cross_entropy", {}, id="loss")
    graph.connect("x:out", "rbm1:v")
    graph.connect("rbm1:hidden", "out:x")
    graph.connect("out:out", "loss:logits")
    graph.connect("y:out", "loss:labels")
    graph.set_output("loss", "loss:loss")
    fileformat.save(graph, path)
    return path


def test_pretrain_rbm_writes_params_and_the_monitoring_metrics(tmp_path):
    graph = save_rbm_graph(tmp_path / "rbm.json", 64, 16, seed=4)
    code, out, err = _run("pretrain", graph, "--method", "rbm", "--epochs", "2", "--k", "1:1,2:2",
                          "--out", tmp_path / "pre", *COMMON)
    assert code == 0, err
    assert "recon" in err and "free_energy_gap" in err  # the epoch lines show them
    with np.load(tmp_path / "pre" / "params.npz") as saved:
        assert set(saved.files) == {"rbm1/W", "rbm1/vbias", "rbm1/hbias", "rbm1/chain"}
        W = saved["rbm1/W"]
    assert W.shape == (64, 16)
    metrics = json.loads((tmp_path / "pre" / "metrics.json").read_text())
    first, last = (e["metrics"] for e in metrics["epochs"])
    assert set(first) == {"k", "recon", "free_energy_train", "free_energy_valid",
                          "free_energy_gap", "pseudo_likelihood"}
    assert (first["k"], last["k"]) == (1, 2)  # --k 1:1,2:2
    assert last["recon"] < first["recon"]
    assert metrics["best_epoch"] == 2  # the last epoch's parameters are the result


def test_train_init_starts_from_the_pretrained_values(tmp_path):
    graph = _classifier(tmp_path / "dbn1.json")
    code, _, err = _run("pretrain", graph, "--method", "rbm", "--epochs", "1",
                        "--out", tmp_path / "pre", *COMMON)
    assert code == 0, err
    with np.load(tmp_path / "pre" / "params.npz") as pre:
        pretrained = {name: pre[name] for name in pre.files}
    # the RBM moved, the output layer (not on any RBM's cost) did not
    initial = fileformat.load(graph)
    from nodestudio.train.model import Model
    fresh = Model.from_document(initial).values()
    assert not np.allclose(pretrained["rbm1/W"], fresh["rbm1/W"])
    np.testing.assert_array_equal(pretrained["out/W"], fresh["out/W"])
    # lr 0: training changes nothing, so what it saves is what --init loaded
    code, _, err = _run("train", graph, "--init", tmp_path / "pre" / "params.npz", "--epochs",
                        "1", "--out", tmp_path / "fine", "--data", "digits", "--lr", "0")
    assert code == 0, err
    with np.load(tmp_path / "fine" / "params.npz") as fine:
        for name, value in pretrained.items():
            np.testing.assert_array_equal(fine[name], value, err_msg=name)


def test_train_init_names_missing_and_misshaped_values(tmp_path):
    graph = _classifier(tmp_path / "dbn.json")
    other = save_rbm_graph(tmp_path / "rbm.json", 64, 16)
    code, _, err = _run("pretrain", other, "--method", "rbm", "--epochs", "1",
                        "--out", tmp_path / "pre", *COMMON)
    assert code == 0, err
    code, _, err = _run("train", graph, "--init", tmp_path / "pre" / "params.npz",
                        "--out", tmp_path / "x", "--data", "digits")
    assert code == 2
    assert "params.npz" in err and "missing 'out/W', 'out/b'" in err
    wide = _classifier(tmp_path / "wide.json", hidden=20)
    code, _, _ = _run("pretrain", graph, "--method", "rbm", "--epochs", "1",
                      "--out", tmp_path / "pre16", *COMMON)
    code, _, err = _run("train", wide, "--init", tmp_path / "pre16" / "params.npz",
                        "--out", tmp_path / "y", "--data", "digits")
    assert code == 2
    assert "'rbm1/W' has shape (64, 16), the graph wants (64, 20)" in err
    assert "'out/W' has shape (16, 10), the graph wants (20, 10)" in err


def test_pretrain_refuses_a_graph_without_rbm_layers_and_a_bad_k(tmp_path):
    from tests.train.examples import EXAMPLES
    code, _, err = _run("pretrain", EXAMPLES / "logistic_regression.json", "--method", "rbm",
                        "--out", tmp_path / "o", "--data", "mnist5k")
    assert code == 2 and "rbm_layer" in err
    code, _, err = _run("pretrain", save_rbm_graph(tmp_path / "r.json", 64, 8), "--method",
                        "rbm", "--k", "two", "--out", tmp_path / "o", "--data", "digits")
    assert code == 2 and "--k" in err


def test_the_method_table():
    assert "rbm" in METHODS
    assert parse_k("3") == 3 and parse_k("1:1,5:3") == {1: 1, 5: 3} and parse_k(None) is None
