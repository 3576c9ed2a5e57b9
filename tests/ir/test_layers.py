"""Layers that own their parameters: shapes and initialisers from the ParamDefs, values by
"<layer>/<param>" in documents and files, expansion into parameter nodes and back, running
averages that stay bound, and the refusals (tied owned weights, stored values of the wrong size).
No device needed: values are checked with the float64 reference interpreter."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import GraphError, ShapeError
from nodestudio.graph import fileformat
from nodestudio.graph.model import Graph, PortRef
from nodestudio.ir.annotate import annotate
from nodestudio.ir.composites import collapse_group, expand_node
from nodestudio.ir.convert import from_document, to_document
from nodestudio.ir.reference import evaluate
from nodestudio.ops import registry


def _tanh_mlp() -> tuple[ns.Variable, ns.Variable, ns.Variable]:
    x, y = ns.tensor("x", (None, 12)), ns.ivector("y")
    hidden = ns.dense_layer(x, 8, "tanh", name="hidden")
    logits = ns.dense_layer(ns.batch_norm_layer(hidden, name="bn"), 3, name="out")
    return x, y, ns.softmax_cross_entropy(logits, y)


def test_dense_layer_is_activation_of_x_W_plus_b_with_its_own_parameters():
    x = ns.tensor("x", (None, 2, 3))  # images are flattened to rows
    out = ns.dense_layer(x, 4, "relu", name="d")
    params = ns.layer_params(out)
    assert {k: v.get_value().shape for k, v in params.items()} == {"W": (6, 4), "b": (4,)}
    assert [v.name for v in params.values()] == ["d/W", "d/b"]
    xv = np.random.default_rng(0).normal(size=(5, 2, 3))
    W, b = (params[k].get_value().astype(np.float64) for k in "Wb")
    (got,) = evaluate([out], {x: xv})
    np.testing.assert_allclose(got, np.maximum(xv.reshape(5, 6) @ W + b, 0), rtol=1e-12)


@pytest.mark.parametrize("activation, init, check", [
    ("tanh", "glorot_tanh", lambda w, fi, fo: np.abs(w).max() <= math.sqrt(6 / (fi + fo))),
    ("sigmoid", "glorot_sigmoid",
     lambda w, fi, fo: math.sqrt(6 / (fi + fo)) < np.abs(w).max() <= 4 * math.sqrt(6 / (fi + fo))),
    ("relu", "he_normal", lambda w, fi, fo: abs(w.std() / math.sqrt(2 / fi) - 1) < 0.05),
])
def test_auto_initialisation_follows_the_activation(activation, init, check):
    out = ns.dense_layer(ns.tensor("x", (None, 300)), 200, activation)
    W, b = ns.layer_params(out).values()
    assert W.owner.attrs["init"] == init and b.owner.attrs["init"] == "zeros"
    assert check(W.get_value(), 300, 200)
    assert not b.get_value().any()


def test_two_layers_of_one_shape_start_different_and_reproducibly():
    x = ns.tensor("x", (None, 5))
    a = ns.layer_params(ns.dense_layer(x, 5, name="a"))["W"].get_value()
    b = ns.layer_params(ns.dense_layer(x, 5, name="b"))["W"].get_value()
    again = ns.layer_params(ns.dense_layer(x, 5, name="a"))["W"].get_value()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(a, again)


def test_batch_norm_layer_updates_its_running_averages_by_default():
    x = ns.tensor("x", (None, 3))
    out = ns.batch_norm_layer(x, momentum=0.25, name="bn")
    params = ns.layer_params(out)
    assert [p.owner.attrs["trainable"] for p in params.values()] == [True, True, False, False]
    xv = np.random.default_rng(1).normal(2.0, 3.0, size=(8, 3))
    (got,) = evaluate([out], {x: xv}, mode="train")
    np.testing.assert_allclose(got, (xv - xv.mean(0)) / np.sqrt(xv.var(0) + 1e-5), rtol=1e-9)
    mean_next = params["running_mean"].default_update
    (m,) = evaluate([mean_next], {x: xv}, mode="train")
    np.testing.assert_allclose(m, 0.25 * xv.mean(0), rtol=1e-9)


def test_a_document_keeps_layer_values_under_layer_slash_param_and_files_round_trip(tmp_path):
    x, y, cost = _tanh_mlp()
    ns.save({"loss": cost}, tmp_path / "m.json")
    graph = fileformat.load(tmp_path / "m.json")
    assert {"hidden", "bn", "out"} <= set(graph.nodes)
    assert not any(n.startswith("hidden/") for n in graph.nodes)  # no parameter nodes
    assert sorted(graph.values) == sorted(
        ["hidden/W", "hidden/b", "out/W", "out/b", "bn/gamma", "bn/beta", "bn/running_mean",
         "bn/running_var"])
    loaded = from_document(graph)
    np.testing.assert_array_equal(loaded.shared["hidden/W"].get_value(),
                                  graph.values["hidden/W"])
    note = annotate(graph)
    assert note.params["hidden"] == 12 * 8 + 8 and note.params["bn"] == 4 * 8
    assert note.total_params == 12 * 8 + 8 + 32 + 8 * 3 + 3


def test_a_value_for_no_node_is_still_refused(tmp_path):
    graph = to_document({"out": ns.dense_layer(ns.tensor("x", (None, 2)), 3, name="d")})
    text = fileformat.dumps(graph).replace('"d/W"', '"e/W"')
    with pytest.raises(ns.FileFormatError, match=r"value for unknown node 'e/W'"):
        fileformat.loads(text, "m.json")


def test_a_stored_value_of_the_wrong_shape_names_the_layer_and_parameter():
    graph = to_document({"out": ns.dense_layer(ns.tensor("x", (None, 2)), 3, name="d")})
    graph.values["d/W"] = np.zeros((2, 4))
    with pytest.raises(GraphError, match=r"node 'd', port 'W': the stored value of 'W' has shape "
                                         r"\(2, 4\), the layer needs \(2, 3\)"):
        from_document(graph)


def test_owned_weights_used_elsewhere_cannot_be_written_as_a_document():
    x = ns.tensor("x", (None, 4))
    code = ns.dense_layer(x, 2, name="enc")
    decoded = ns.dot(code, ns.transpose(ns.layer_params(code)["W"]))
    with pytest.raises(GraphError, match="parameter 'enc/W' of layer 'enc' is also used here"):
        to_document({"out": decoded})


def test_expanding_shows_the_parameters_as_nodes_and_collapsing_restores_trained_values():
    x, y, cost = _tanh_mlp()
    graph = to_document({"loss": cost})
    trained = {k: v + 1.0 for k, v in graph.values.items()}
    graph.values = dict(trained)
    original = graph.copy()
    inner = expand_node(graph, "hidden")
    assert {"hidden/W", "hidden/b"} <= set(inner)
    assert graph.nodes["hidden/W"].op == "parameter"
    assert graph.nodes["hidden/W"].attrs["shape"] == (12, 8)
    np.testing.assert_array_equal(graph.values["hidden/W"], trained["hidden/W"])
    expand_node(graph, "bn")
    loaded = from_document(graph)  # the expanded batch norm still updates its averages
    assert loaded.shared["bn/running_mean"].default_update is not None
    assert loaded.shared["bn/running_var"].default_update is not None
    collapse_group(graph, "bn")
    collapse_group(graph, "hidden")
    assert graph == original, graph.describe_difference(original)


def test_expanded_and_collapsed_layers_compute_the_same_loss():
    x, y, cost = _tanh_mlp()
    graph = to_document({"loss": cost})
    rng = np.random.default_rng(3)
    xv, yv = rng.normal(size=(6, 12)), rng.integers(0, 3, 6)

    def loss_of(g: Graph) -> float:
        loaded = from_document(g)
        feeds = {loaded.inputs["x"]: xv, loaded.inputs["y"]: yv}
        return float(evaluate([loaded.outputs["loss"]], feeds, mode="train")[0])

    before = loss_of(graph)
    for layer in ("hidden", "bn", "out"):
        expand_node(graph, layer)
    assert loss_of(graph) == pytest.approx(before, rel=1e-12)


def test_rename_moves_wires_outputs_and_the_layers_own_values():
    x, y, cost = _tanh_mlp()
    graph = to_document({"loss": cost})
    w = graph.values["hidden/W"]
    graph.rename_node("hidden", "encoder")
    assert "hidden" not in graph.nodes and graph.values["encoder/W"] is w
    assert "hidden/W" not in graph.values
    assert {str(e) for e in graph.edges} >= {"x:out -> encoder:x", "encoder:out -> bn:x"}
    loss_node = graph.outputs["loss"].node
    graph.rename_node(loss_node, "loss")
    assert str(graph.outputs["loss"]) == "loss:loss"
    for bad, words in [("bn", "already taken"), ("a/b", "not a valid name"),
                       ("", "not a valid name"), ("1st", "not a valid name")]:
        with pytest.raises(GraphError, match=words):
            graph.rename_node("encoder", bad)
    expand_node(graph, "encoder")
    with pytest.raises(GraphError, match="keeps its name; collapse 'encoder' first"):
        graph.rename_node("encoder/W", "weights")


def test_a_width_mismatch_on_dense_blames_W_in_the_composites_own_terms():
    x = ns.tensor("x", (None, 2))
    W, b = ns.shared(np.zeros((784, 800)), "W"), ns.shared(np.zeros(800), "b")
    with pytest.raises(ShapeError) as caught:
        ns.dense(x, W, b)
    assert caught.value.node.startswith("dense") and caught.value.port == "W"
    assert "a = x, b = W" in caught.value.detail
    with pytest.raises(ShapeError, match="a dense layer needs a batch of rows") as caught:
        ns.dense_layer(ns.vector("v"), 3, name="d")
    assert (caught.value.node, caught.value.port) == ("d", "x")


# --- the convolution layer ------------------------------------------------------------------


def _conv_reference(x, W, stride=(1, 1), padding=(0, 0)):
    """Cross-correlation by loops over the output positions, float64 (PyTorch's conv2d)."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    f, _, kh, kw = W.shape
    oh, ow = (x.shape[2] - kh) // sh + 1, (x.shape[3] - kw) // sw + 1
    out = np.zeros((x.shape[0], f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = np.tensordot(window, W, axes=([1, 2, 3], [1, 2, 3]))
    return out


@pytest.mark.parametrize("stride, padding", [((1, 1), (0, 0)), ((2, 1), (1, 2))])
def test_conv2d_layer_is_activation_of_conv_plus_a_bias_per_filter(stride, padding):
    x = ns.tensor("x", (None, 3, 7, 6))
    out = ns.conv2d_layer(x, 4, (3, 2), stride=stride, padding=padding, activation="tanh",
                          name="c")
    params = ns.layer_params(out)
    assert {k: v.get_value().shape for k, v in params.items()} == {"W": (4, 3, 3, 2), "b": (4,)}
    assert [v.name for v in params.values()] == ["c/W", "c/b"]
    rng = np.random.default_rng(5)
    params["b"].set_value(rng.normal(size=4))  # biases start at zero: make them count
    xv = rng.normal(size=(2, 3, 7, 6))
    W, b = (params[k].get_value().astype(np.float64) for k in "Wb")
    (got,) = evaluate([out], {x: xv})
    want = np.tanh(_conv_reference(xv, W, stride, padding) + b[None, :, None, None])
    assert got.shape == want.shape and out.type.shape == (None, 4, *want.shape[2:])
    np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("activation, init", [("tanh", "glorot_tanh"), ("none", "glorot_tanh"),
                                              ("relu", "he_normal")])
def test_conv2d_layer_initialisation_uses_the_fans_of_its_filters(activation, init):
    out = ns.conv2d_layer(ns.tensor("x", (None, 20, 12, 12)), 50, 5, activation=activation)
    W, b = ns.layer_params(out).values()
    assert W.owner.attrs["init"] == init and not b.get_value().any()
    fan_in, fan_out = 20 * 25, 50 * 25  # C * KH * KW and F * KH * KW
    w = W.get_value()
    if init == "glorot_tanh":  # Theano's LeNetConvPoolLayer, before its division by the pool
        bound = math.sqrt(6 / (fan_in + fan_out))
        assert 0.99 * bound < np.abs(w).max() <= bound
    else:
        assert abs(w.std() / math.sqrt(2 / fan_in) - 1) < 0.05


def test_conv2d_layer_refuses_rows_and_bad_geometry_naming_node_and_port():
    with pytest.raises(ShapeError, match="a conv layer needs a batch of images") as caught:
        ns.conv2d_layer(ns.tensor("x", (None, 784)), 20, 5, name="c1")
    assert (caught.value.node, caught.value.port) == ("c1", "x")
    with pytest.raises(ShapeError, match="do not fit the input") as caught:
        ns.conv2d_layer(ns.tensor("x", (None, 1, 4, 4)), 2, 5, name="c2")
    assert caught.value.node == "c2"
    with pytest.raises(ShapeError, match="'padding' must be") as caught:
        ns.conv2d_layer(ns.tensor("x", (None, 1, 8, 8)), 2, 3, padding=-1, name="c3")
    assert caught.value.node == "c3"


def _lenet_document() -> Graph:
    return fileformat.load(Path(__file__).parents[2] / "resources/examples/lenet.json")


def test_lenet_wires_carry_the_feature_map_shapes_and_layers_count_their_parameters():
    graph = _lenet_document()
    note = annotate(graph)
    assert not note.errors
    shapes = {node: str(note.types[PortRef(node, "out")]) for node in
              ("images", "conv1", "pool1", "conv2", "pool2", "flatten", "hidden", "logits")}
    assert shapes == {"images": "B x 1 x 28 x 28", "conv1": "B x 20 x 24 x 24",
                      "pool1": "B x 20 x 12 x 12", "conv2": "B x 50 x 8 x 8",
                      "pool2": "B x 50 x 4 x 4", "flatten": "B x 800", "hidden": "B x 500",
                      "logits": "B x 10"}
    assert note.params["conv1"] == 20 * 25 + 20 and note.params["conv2"] == 50 * 20 * 25 + 50
    labels = {n: registry.get(graph.nodes[n].op).label(
        registry.get(graph.nodes[n].op).normalise_attrs(graph.nodes[n].attrs, n))
        for n in ("conv1", "pool1")}
    assert labels == {"conv1": "20 @ 5x5, tanh", "pool1": "2x2"}


def test_expanding_a_conv_layer_shows_its_filters_and_collapsing_restores_them():
    graph = _lenet_document()
    loaded = from_document(graph)
    graph.values = {k: v.get_value() + 0.5 for k, v in loaded.shared.items()}  # "trained"
    original = graph.copy()
    rng = np.random.default_rng(2)
    xv, yv = rng.uniform(size=(3, 784)), rng.integers(0, 10, 3)

    def loss_of(g: Graph) -> float:
        loaded = from_document(g)
        feeds = {loaded.inputs["x"]: xv, loaded.inputs["y"]: yv}
        return float(evaluate([loaded.outputs["loss"]], feeds, mode="train")[0])

    before = loss_of(graph)
    inner = expand_node(graph, "conv2")
    assert {"conv2/W", "conv2/b"} <= set(inner)
    assert graph.nodes["conv2/W"].op == "parameter"
    assert graph.nodes["conv2/W"].attrs["shape"] == (50, 20, 5, 5)
    assert {graph.nodes[n].op for n in inner} >= {"conv2d", "reshape", "tanh"}
    np.testing.assert_array_equal(graph.values["conv2/W"], original.values["conv2/W"])
    assert loss_of(graph) == pytest.approx(before, rel=1e-12)
    collapse_group(graph, "conv2")
    assert graph == original, graph.describe_difference(original)
