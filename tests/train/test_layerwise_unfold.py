"""Unfolding a pretrained autoencoder stack into a classifier or a deep autoencoder: the new
documents carry the pretrained values (their forward passes equal the stack's, in the float64
reference) and train from `Model.from_document`, CG included."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.ir.convert import from_document, to_document
from nodestudio.ir.layers import layer
from nodestudio.ir.reference import evaluate
from nodestudio.train.loop import Evaluator, Trainer
from nodestudio.train.model import Model
from nodestudio.train.unfold import stack_of, to_classifier, to_deep_autoencoder
from tests.train.test_layerwise import K, V, _data

RNG = np.random.default_rng(8)


def stack(tied=(True, False), loss="cross_entropy", head=True):
    x, y = ns.tensor("x", (None, V)), ns.ivector("y")
    h, outputs = x, {}
    for i, t in enumerate(tied, start=1):
        extra = {} if loss == "cross_entropy" else {"decoder": "none", "loss": loss}
        h = layer("autoencoder_layer", h, name=f"ae{i}", hidden=8 - 2 * i, tied=t, **extra)
        outputs[f"cost{i}"] = h.owner.outputs[1]
    outputs["code"] = h
    if head:
        logits = ns.dense_layer(h, K, name="out")
        outputs["loss"] = ns.softmax_cross_entropy(logits, y)
    graph = to_document(outputs)
    for key in list(graph.values):  # "pretrained" values, not the initial ones
        graph.values[key] = RNG.uniform(-1, 1, np.shape(graph.values[key])).astype(np.float32)
    return graph


def _run(graph, names, xv):
    loaded = from_document(graph)
    return evaluate([loaded.outputs[n] for n in names], {loaded.inputs["x"]: xv}, mode="infer")


def test_the_classifier_computes_the_stacks_code_and_keeps_the_head():
    graph = stack()
    xv = RNG.uniform(0, 1, (5, V))
    (code,) = _run(graph, ["code"], xv)
    clf = to_classifier(graph)
    assert [n.op for n in clf.nodes.values()].count("dense_layer") == 3
    loaded = from_document(clf)
    hidden2 = loaded.variables["hidden2"][0]
    (got,) = evaluate([hidden2], {loaded.inputs["x"]: xv}, mode="infer")
    np.testing.assert_allclose(got, code, rtol=1e-12)
    np.testing.assert_array_equal(clf.values["logits/W"], graph.values["out/W"])
    assert Model.from_document(clf).n_classes == K


def test_a_values_file_overrides_the_documents_values(tmp_path):
    graph = stack()
    values = {"ae1/W": np.full((V, 6), 0.25, np.float32)}
    clf = to_classifier(graph, values)
    np.testing.assert_array_equal(clf.values["hidden1/W"], values["ae1/W"])
    np.testing.assert_array_equal(clf.values["hidden2/W"], graph.values["ae2/W"])


@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_a_one_layer_deep_autoencoder_has_the_layers_clean_cost(loss):
    for tied in (True, False):
        graph = stack(tied=(tied,), loss=loss, head=False)
        xv = RNG.uniform(0, 1, (6, V))
        (cost,) = _run(graph, ["cost1"], xv)
        (unfolded,) = _run(to_deep_autoencoder(graph), ["loss"], xv)
        np.testing.assert_allclose(unfolded, cost, rtol=1e-10)


def test_deep_autoencoder_mirrors_the_stack_and_trains_with_cg(tmp_path):
    graph = stack()
    deep = to_deep_autoencoder(graph)
    layers = [n for n in deep.topological_order() if deep.nodes[n].op == "dense_layer"]
    assert layers == ["encoder1", "encoder2", "decoder2", "decoder1"]
    np.testing.assert_array_equal(deep.values["decoder1/W"], graph.values["ae1/W"].T)  # tied
    np.testing.assert_array_equal(deep.values["decoder2/W"], graph.values["ae2/W_prime"])
    path = tmp_path / "deep.json"
    fileformat.save(deep, path)
    model = Model.load(path)
    assert model.unsupervised
    data = _data()
    start = Evaluator(model)(data.train)[0]
    history = Trainer(model, data, "cg", epochs=2, fullbatch_iterations=5).run()
    assert history.epochs[-1].train_loss < 0.9 * start


def test_nothing_to_unfold_is_refused():
    x = ns.tensor("x", (None, V))
    graph = to_document({"out": ns.dense_layer(x, 3, name="d")})
    with pytest.raises(GraphError, match="no autoencoder_layer or rbm_layer"):
        stack_of(graph)
    with pytest.raises(GraphError, match="number of classes"):
        to_classifier(stack(head=False))


def test_the_command_line_unfolds_a_pretrained_params_file(tmp_path, capsys):
    from nodestudio.train.unfold import main
    graph = stack()
    graph.metadata = {"pretraining": {"unfold": "deep_autoencoder"}}
    fileformat.save(graph, tmp_path / "g.json")
    values = {k: np.asarray(v) * 0.5 for k, v in graph.values.items()}
    np.savez(tmp_path / "params.npz", **values)
    assert main([str(tmp_path / "g.json"), str(tmp_path / "params.npz"),
                 str(tmp_path / "deep.json")]) == 0
    deep = fileformat.load(tmp_path / "deep.json")
    np.testing.assert_array_equal(deep.values["encoder1/W"], values["ae1/W"])
    assert main([str(tmp_path / "g.json"), str(tmp_path / "params.npz"),
                 str(tmp_path / "clf.json"), "--to", "classifier"]) == 0
    assert "hidden2" in fileformat.load(tmp_path / "clf.json").nodes
    assert main([str(tmp_path / "g.json"), str(tmp_path / "missing.npz"),
                 str(tmp_path / "x.json")]) == 1
    assert "missing.npz" in capsys.readouterr().err
