"""Training roles: marked on the graph (an input's role, the named outputs) or inferred where the
graph leaves no doubt; what cannot be told is a problem with the fixes that mend it; the command
line reads the marks the studio saves."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.cli import main
from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.ir.convert import to_document
from nodestudio.train.roles import mark_input, mark_output, resolve_roles


def _net(features: str = "pixels", labels: str = "digit", penalty: bool = False):
    """64 -> 10 softmax regression with free names, as a user builds it: no outputs marked."""
    x, y = ns.tensor(features, (None, 64)), ns.ivector(labels)
    logits = ns.dense_layer(x, 10, name="logits")
    outputs = {"a": ns.softmax_cross_entropy(logits, y)}
    outputs["a"].owner.name = "xent"
    if penalty:  # a second scalar that nothing consumes
        outputs["b"] = ns.l2_penalty(ns.shared(np.ones(3), "extra"))
        outputs["b"].owner.name = "penalty"
    graph = to_document(outputs)
    graph.outputs = {}
    graph.values = {}
    return graph


def test_the_obvious_roles_are_inferred_and_said():
    graph = _net()
    roles = resolve_roles(graph)
    assert (roles.features, roles.labels, str(roles.loss)) == ("pixels", "digit",
                                                               "xent:loss")
    assert roles.problems == []
    assert roles.inferred == ["took 'pixels' as the features, the only float input",
                              "took 'digit' as the labels, the only integer input",
                              "took xent:loss as the loss, the only scalar "
                              "output"]


def test_two_loss_candidates_ask_and_a_mark_settles_it():
    graph = _net(penalty=True)
    roles = resolve_roles(graph)
    [problem] = roles.problems
    assert problem.message.startswith("which output is the loss to minimise:")
    assert [f.label for f in problem.fixes] == ["Mark xent:loss as the loss",
                                                "Mark penalty:loss as the loss"]
    mark_output(graph, "loss", "xent:loss")
    again = resolve_roles(graph)
    assert again.problems == [] and str(again.loss) == "xent:loss"
    assert not any("loss" in note for note in again.inferred)  # marked, not inferred


def test_marking_an_input_unmarks_the_one_that_had_the_role():
    graph = _net()
    graph.add_node("input", {"shape": [None, 64], "role": "features"}, id="other")
    assert resolve_roles(graph).features == "other"  # marked beats inferred
    mark_input(graph, "pixels", "features")
    assert graph.nodes["other"].attrs["role"] == "auto"
    problems = resolve_roles(graph).problems
    assert [p.message for p in problems] == [
        "input 'other' is neither the features nor the labels, so training cannot feed it: "
        "delete it or mark it"]
    with pytest.raises(GraphError, match="only input nodes take"):
        mark_input(graph, "logits", "labels")
    with pytest.raises(GraphError, match="unknown output role 'cost'"):
        mark_output(graph, "cost", "logits:out")


def test_a_non_scalar_marked_as_the_loss_is_a_problem_offering_the_scalar():
    graph = _net()
    mark_output(graph, "loss", "logits:out")
    [problem] = resolve_roles(graph).problems
    assert problem.message == ("the output marked as the loss, logits:out, is B x 10, not a "
                               "float scalar")
    assert [f.label for f in problem.fixes] == ["Mark xent:loss as the loss"]


def test_a_graph_without_a_features_input_says_what_to_add():
    graph = _net()
    graph.remove_node("pixels")
    messages = [p.message for p in resolve_roles(graph).problems]
    assert messages[0].startswith("the graph has no input for the dataset's features")


@pytest.mark.opencl
def test_the_command_line_trains_what_the_studio_marked(tmp_path, capsys):
    graph = _net(penalty=True)
    mark_output(graph, "loss", "xent:loss")
    fileformat.save(graph, tmp_path / "marked.json")
    out = tmp_path / "run"
    assert main(["train", str(tmp_path / "marked.json"), "--data", "digits", "--epochs", "3",
                 "--optimizer", "adam", "--lr", "0.01", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "roles: features pixels, labels digit, loss xent:loss" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_error"] < 0.5  # the inferred classification error is reported
    with np.load(out / "params.npz") as params:
        assert set(params.files) == {"logits/W", "logits/b", "extra"}  # the layer's own W, b
