"""The autoencoder layer against a NumPy float64 implementation fed the same random numbers
(Philox reproduced on the host by nodestudio/ops/philox.py), on the device and in the float64
reference; tied and untied gradients against PyTorch; what training and inference each do."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import GraphError, ShapeError
from nodestudio.graph import fileformat
from nodestudio.ir import build as F
from nodestudio.ir.composites import collapse_group, expand_node
from nodestudio.ir.convert import from_document, to_document
from nodestudio.ir.layers import layer, layer_params
from nodestudio.ir.reference import evaluate
from nodestudio.ops import philox
from nodestudio.ops.autoencoder import corrupt, noise_seeds

V, H, B = 7, 4, 6
RNG = np.random.default_rng(12)


def _sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


def numpy_autoencoder(x, W, b, b_prime, W_prime=None, *, noise="none", level=0.0, seed=0,
                      call=0, training=True, activation="sigmoid", decoder="sigmoid",
                      loss="cross_entropy"):
    """(hidden, cost, reconstruction) in float64, the noise drawn from the same streams."""
    act = {"sigmoid": _sigmoid, "tanh": np.tanh, "none": lambda a: a}
    u1 = philox.uniform(x.size, noise_seeds(seed)[0], call).reshape(x.shape)
    u2 = philox.uniform(x.size, noise_seeds(seed)[1], call).reshape(x.shape)
    noisy = x
    if training and noise == "masking":
        noisy = x * (u1 >= level)
    elif training and noise == "gaussian":
        noisy = x + level * np.sqrt(-2 * np.log(1 - u1)) * np.cos(2 * np.pi * u2)
    elif training and noise == "salt_and_pepper":
        noisy = np.where(u1 < level, (u2 >= 0.5).astype(float), x)
    hidden = act[activation](x @ W + b)
    decoder_w = W.T if W_prime is None else W_prime
    pre = act[activation](noisy @ W + b) @ decoder_w + b_prime
    z = act[decoder](pre)
    if loss == "cross_entropy":
        per = -(x * np.log(z) + (1 - x) * np.log(1 - z))
    else:
        per = (z - x) ** 2
    return hidden, per.sum(axis=1).mean(), z


def _values(tied=True):
    vals = {"W": RNG.uniform(-1, 1, (V, H)), "b": RNG.uniform(-.5, .5, H),
            "b_prime": RNG.uniform(-.5, .5, V)}
    if not tied:
        vals["W_prime"] = RNG.uniform(-1, 1, (H, V))
    # the layer's shared variables hold float32: the reference starts from those values
    return {k: v.astype(np.float32).astype(np.float64) for k, v in vals.items()}


def _layer(name="ae", tied=True, values=None, **attrs):
    x = ns.tensor("x", (None, V))
    hidden = layer("autoencoder_layer", x, name=name, hidden=H, tied=tied, **attrs)
    params = layer_params(hidden)
    for key, var in params.items():
        if values is not None:
            var.set_value(values[key])
    return x, hidden.owner, params


NOISES = [("none", 0.0), ("masking", 0.3), ("gaussian", 0.25), ("salt_and_pepper", 0.3)]


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("noise, level", NOISES, ids=[n for n, _ in NOISES])
def test_reference_matches_numpy_with_the_same_random_numbers(noise, level, tied):
    values = _values(tied)
    x, node, _ = _layer(tied=tied, values=values, noise=noise, noise_level=level, seed=9)
    xv = RNG.uniform(0, 1, (B, V))
    for call in (0, 3):  # a new call draws new noise
        got = evaluate(list(node.outputs), {x: xv}, mode="train", call_index=call)
        want = numpy_autoencoder(xv, *values.values(), noise=noise, level=level, seed=9,
                                 call=call)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.opencl
@pytest.mark.parametrize("noise, level", NOISES, ids=[n for n, _ in NOISES])
def test_device_matches_numpy_call_after_call(noise, level):
    values = _values(tied=False)
    x, node, _ = _layer(tied=False, values=values, noise=noise, noise_level=level, seed=4,
                        activation="tanh", decoder="none", loss="squared_error")
    fn = ns.function([x], list(node.outputs), training=True)
    xv = RNG.uniform(0, 1, (B, V)).astype(np.float32)
    for call in range(2):
        got = fn(xv)
        want = numpy_autoencoder(xv.astype(np.float64), *values.values(), noise=noise,
                                 level=level, seed=4, call=call, activation="tanh",
                                 decoder="none", loss="squared_error")
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=2e-4, atol=2e-5)


def test_noise_levels_mean_what_the_attribute_says():
    """Masking zeroes about the level's share; salt and pepper sets that share to 0 or 1,
    half each; gaussian noise has the level as its standard deviation (the layer's own
    corruption, from its streams, in the reference)."""
    x = ns.tensor("x", (None, V))
    xv = np.full((400, V), 0.5)
    checks = {
        "masking": lambda n: abs((n == 0).mean() - 0.3) < 0.02 and set(np.unique(n)) == {0, .5},
        "salt_and_pepper": lambda n: abs((n != 0.5).mean() - 0.3) < 0.02
        and abs((n == 1).mean() - 0.15) < 0.015,
        "gaussian": lambda n: abs((n - .5).std() - .3) < .01 and abs((n - .5).mean()) < .01,
    }
    for noise, check in checks.items():
        (noisy,) = evaluate([corrupt(F, x, noise, 0.3, 2)], {x: xv}, mode="train")
        assert check(noisy), noise


def test_inference_adds_no_noise_and_hidden_is_always_the_clean_code():
    values = _values()
    x, node, _ = _layer(values=values, noise="masking", noise_level=0.5, seed=1)
    xv = RNG.uniform(0, 1, (B, V))
    infer = evaluate(list(node.outputs), {x: xv}, mode="infer")
    clean = numpy_autoencoder(xv, *values.values(), training=False)
    for g, w in zip(infer, clean):
        np.testing.assert_allclose(g, w, rtol=1e-10)
    train = evaluate(list(node.outputs), {x: xv}, mode="train")
    np.testing.assert_allclose(train[0], clean[0], rtol=1e-10)  # hidden: the clean code
    assert abs(train[1] - clean[1]) > 1e-3  # the cost is the noisy input's


def test_own_stream_follows_the_node_name():
    values = _values()
    x, node, _ = _layer(name="dae1", values=values, noise="masking", noise_level=0.4)
    xv = RNG.uniform(0, 1, (B, V))
    got = evaluate(list(node.outputs), {x: xv}, mode="train")
    seed = zlib.crc32(b"dae1") % 2**31
    want = numpy_autoencoder(xv, *values.values(), noise="masking", level=0.4, seed=seed)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
@pytest.mark.parametrize("loss", ["cross_entropy", "squared_error"])
def test_gradients_match_pytorch(tied, loss):
    """Tied weights get the encoder's and the decoder's gradient (W.T) summed."""
    torch = pytest.importorskip("torch")
    values = _values(tied)
    x, node, params = _layer(tied=tied, values=values, noise="masking", noise_level=0.3,
                             seed=6, loss=loss)
    xv = RNG.uniform(0, 1, (B, V))
    grads = ns.grad(node.outputs[1], list(params.values()))
    got = evaluate(grads, {x: xv}, mode="train")

    mask = philox.uniform(xv.size, 6, 0).reshape(xv.shape) >= 0.3
    tx = torch.tensor(xv)
    tp = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    code = torch.sigmoid((tx * torch.tensor(mask)) @ tp["W"] + tp["b"])
    pre = code @ (tp["W"].T if tied else tp["W_prime"]) + tp["b_prime"]
    if loss == "cross_entropy":
        per = torch.nn.functional.binary_cross_entropy_with_logits(pre, tx, reduction="none")
    else:
        per = (torch.sigmoid(pre) - tx) ** 2
    per.sum(dim=1).mean().backward()
    assert list(params) == list(tp)
    for g, name in zip(got, params):
        np.testing.assert_allclose(g, tp[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_tied_owns_no_decoder_weights():
    _, node, tied = _layer(tied=True)
    _, _, untied = _layer(name="ae2", tied=False)
    assert list(tied) == ["W", "b", "b_prime"]
    assert list(untied) == ["W", "b", "b_prime", "W_prime"]
    assert untied["W_prime"].container.shape == (H, V)
    assert node.op.ir_input_names(node.attrs) == ["x", "W", "b", "b_prime"]
    # a document's attributes as stored (defaults left out) say the same
    assert node.op.param_names({}) == ["W", "b", "b_prime"]
    assert node.op.param_names({"tied": False})[-1] == "W_prime"
    assert node.op.param_names() == ["W", "b", "b_prime", "W_prime"]  # all it may own


def test_bad_settings_name_the_node():
    x = ns.tensor("x", (None, V))
    with pytest.raises(ShapeError, match="sigmoid decoder") as info:
        layer("autoencoder_layer", x, name="bad", hidden=3, decoder="none")
    assert info.value.node == "bad"
    with pytest.raises((ShapeError, GraphError), match="probability"):
        layer("autoencoder_layer", x, name="bad2", hidden=3, noise="masking", noise_level=1.5)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_expands_on_the_canvas_and_collapses_back(tied, tmp_path):
    values = _values(tied)
    x, node, _ = _layer(name="ae", tied=tied, values=values)
    graph = to_document({"code": node.outputs[0], "cost": node.outputs[1]})
    path = tmp_path / "ae.json"
    fileformat.save(graph, path)
    graph = fileformat.load(path)
    xv = RNG.uniform(0, 1, (B, V))

    def run(g):
        loaded = from_document(g)
        return evaluate([loaded.outputs["code"], loaded.outputs["cost"]],
                        {loaded.inputs["x"]: xv}, mode="infer")

    before = run(graph)
    inner = expand_node(graph, "ae")
    params = sorted(n for n in inner if graph.node(n).op == "parameter")
    assert params == sorted(f"ae/{p}" for p in values)
    for got, want in zip(run(graph), before):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    collapse_group(graph, "ae")
    assert graph.node("ae").op == "autoencoder_layer"
    for got, want in zip(run(graph), before):
        np.testing.assert_allclose(got, want, rtol=1e-12)
