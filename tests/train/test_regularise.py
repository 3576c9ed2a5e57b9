"""Regularisation options of the Trainer (nodestudio/train/regularise.py), each checked against
the same computation in NumPy, and the `nodestudio train` flags that set them."""

from __future__ import annotations

import json

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.cli import main
from nodestudio.data import load_dataset
from nodestudio.ops import philox
from nodestudio.train.loop import Trainer, TrainingError
from nodestudio.train.model import Model
from nodestudio.train.regularise import (
    DROP_CONNECT_SEED,
    NOISE_SEEDS,
    SHIFT_SEEDS,
    Regularisation,
    drop_connect,
    gaussian_noise,
    label_smoothing,
    random_shift,
)


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def _W0():
    return np.random.default_rng(3).normal(0.0, 0.3, (64, 10)).astype(np.float32)


def _graph(path):
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W = ns.shared(_W0(), "W")
    b = ns.shared(np.zeros(10), "b")
    logits = ns.dense(x, W, b)
    ns.save({"loss": ns.softmax_cross_entropy(logits, y),
             "error": ns.classification_error(logits, y)}, path)
    return path


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _xent_grad(X, labels, W, b):
    z = X @ W + b
    p = np.exp(_log_softmax(z))
    p[np.arange(len(X)), labels] -= 1.0
    return X.T @ p / len(X), p.mean(0)


def _one_full_batch_step(tmp_path, digits, reg):
    model = Model.load(_graph(tmp_path / "g.json"))
    trainer = Trainer(model, digits, "sgd", 0.5, batch_size=len(digits.train), epochs=1,
                      regularisation=reg)
    trainer.run()
    X, labels = model.feed(digits.train)
    return model, X.astype(np.float64), labels


def test_l1_and_l2_penalties_are_added_over_weight_matrices_only(tmp_path, digits):
    reg = Regularisation(l1=1e-3, l2=1e-2)
    model, X, labels = _one_full_batch_step(tmp_path, digits, reg)
    W0 = _W0().astype(np.float64)
    gW, gb = _xent_grad(X, labels, W0, np.zeros(10))
    gW += 1e-3 * np.sign(W0) + 2e-2 * W0  # the bias is not penalised
    np.testing.assert_allclose(model.shared["W"].get_value(), W0 - 0.5 * gW, atol=2e-5)
    np.testing.assert_allclose(model.shared["b"].get_value(), -0.5 * gb, atol=2e-5)
    # the value of the training loss
    model = Model.load(_graph(tmp_path / "h.json"))
    loss = reg.training_loss(model.loss, model.x, model.params)
    got = float(ns.function([model.x, model.y], loss)(*model.feed(digits.train)))
    z = _log_softmax(X @ W0)
    want = -z[np.arange(len(X)), labels].mean() + 1e-3 * np.abs(W0).sum() + 1e-2 * (W0**2).sum()
    assert got == pytest.approx(want, rel=1e-5)


def test_max_norm_rescales_the_columns_that_exceed_it_within_the_update(tmp_path, digits):
    limit = 2.4
    model, X, labels = _one_full_batch_step(tmp_path, digits, Regularisation(max_norm=limit))
    W0 = _W0().astype(np.float64)
    gW, gb = _xent_grad(X, labels, W0, np.zeros(10))
    W1 = W0 - 0.5 * gW
    norms = np.sqrt((W1**2).sum(0, keepdims=True))
    assert (norms > limit).any() and (norms < limit).any()  # both cases are exercised
    want = W1 * np.minimum(1.0, limit / norms)
    got = model.shared["W"].get_value()
    np.testing.assert_allclose(got, want, atol=2e-5)
    assert np.sqrt((got**2).sum(0)).max() <= limit * (1 + 1e-5)
    np.testing.assert_allclose(model.shared["b"].get_value(), -0.5 * gb, atol=2e-5)


def test_gaussian_input_noise_is_box_muller_on_two_uniform_streams():
    x = ns.tensor("x", (None, 50))
    xv = np.random.default_rng(0).normal(size=(400, 50)).astype(np.float32)
    fn = ns.function([x], gaussian_noise(x, 0.3))
    for call in range(2):  # a fresh draw on every call
        got = fn(xv)
        u1 = philox.uniform(xv.size, NOISE_SEEDS[0], call).reshape(xv.shape)
        u2 = philox.uniform(xv.size, NOISE_SEEDS[1], call).reshape(xv.shape)
        noise = np.sqrt(-2.0 * np.log(1.0 - u1)) * np.sin(np.pi * (u2 - 0.5))
        np.testing.assert_allclose(got, xv + 0.3 * noise, atol=2e-5)
        z = (got - xv) / 0.3
        assert abs(z.mean()) < 0.03 and abs(z.std() - 1.0) < 0.03


def _noise(shape, call):
    """The N(0, 1) numbers of gaussian_noise's `call`-th draw, from the Philox reference."""
    u1 = philox.uniform(int(np.prod(shape)), NOISE_SEEDS[0], call).reshape(shape)
    u2 = philox.uniform(int(np.prod(shape)), NOISE_SEEDS[1], call).reshape(shape)
    return np.sqrt(-2.0 * np.log(1.0 - u1)) * np.sin(np.pi * (u2 - 0.5))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def test_input_noise_corrupts_what_an_autoencoder_reads_but_not_its_target():
    # A denoising autoencoder: squared_error(decoder(encoder(x + noise)), x). The noise used
    # to replace every use of x, the target included, which made the loss compare the
    # reconstruction with the noisy input.
    std = 0.5
    model = Model.load("resources/examples/autoencoder.json")
    xv = np.random.default_rng(1).uniform(size=(32, 784)).astype(np.float32)
    loss = Regularisation(input_noise=std).training_loss(model.loss, model.x, model.params)
    fn = ns.function([model.x], loss)
    W1, b1, W2, b2 = (model.shared[k].get_value().astype(np.float64)
                      for k in ("W1", "b1", "W2", "b2"))
    x64 = xv.astype(np.float64)
    for call in range(2):
        noisy = x64 + std * _noise(xv.shape, call)
        reconstruction = _sigmoid(_sigmoid(noisy @ W1 + b1) @ W2 + b2)
        want = np.mean((reconstruction - x64) ** 2)
        assert float(fn(xv)) == pytest.approx(want, rel=1e-4)
        assert np.mean((reconstruction - noisy) ** 2) > 2 * want  # the noisy target is far off


def test_augmentation_moves_the_target_with_the_input_but_noise_does_not():
    from nodestudio.train.regularise import feed_input
    x = ns.tensor("x", (None, 3))
    W = ns.shared(np.eye(3) * 2.0, "W")
    loss = ns.squared_error(ns.dot(x, W), ns.reshape(x, (-1, 3)))  # the target through a view
    seen, target = x + 1.0, x * 3.0
    fed = ns.function([x], feed_input(loss, x, seen, target))
    xv = np.arange(6.0, dtype=np.float32).reshape(2, 3)
    want = np.mean(((xv + 1.0) * 2.0 - xv * 3.0) ** 2)
    assert float(fed(xv)) == pytest.approx(want, rel=1e-6)
    same = ns.function([x], feed_input(loss, x, seen, seen))  # shifts, rotations: both move
    assert float(same(xv)) == pytest.approx(np.mean(((xv + 1.0) * 2.0 - (xv + 1.0)) ** 2))


def test_label_smoothing_mixes_in_the_uniform_distribution(digits, tmp_path):
    model = Model.load(_graph(tmp_path / "g.json"))
    eps = 0.1
    loss = label_smoothing(model.loss, eps)
    xv, yv = model.feed(digits.valid)
    got = float(ns.function([model.x, model.y], loss)(xv, yv))
    z = _log_softmax(xv.astype(np.float64) @ _W0().astype(np.float64))
    target = np.full(z.shape, eps / 10)
    target[np.arange(len(z)), yv] += 1 - eps
    assert got == pytest.approx(-(target * z).sum(-1).mean(), rel=1e-5)


def test_drop_connect_masks_the_weight_matrix_per_call(digits, tmp_path):
    model = Model.load(_graph(tmp_path / "g.json"))
    p = 0.3
    loss = drop_connect(model.loss, model.params, p)
    fn = ns.function([model.x, model.y], loss, training=True)
    xv, yv = model.feed(digits.valid)
    W0 = _W0().astype(np.float64)
    values = []
    for call in range(2):
        keep = philox.uniform(W0.size, DROP_CONNECT_SEED, call).reshape(W0.shape) >= p
        z = _log_softmax(xv.astype(np.float64) @ (W0 * keep / (1 - p)))
        values.append(float(fn(xv, yv)))
        assert values[-1] == pytest.approx(-z[np.arange(len(z)), yv].mean(), rel=1e-5)
    assert values[0] != values[1]
    infer = ns.function([model.x, model.y], model.loss)  # evaluation: W itself
    z = _log_softmax(xv.astype(np.float64) @ W0)
    assert float(infer(xv, yv)) == pytest.approx(-z[np.arange(len(z)), yv].mean(), rel=1e-5)


def test_settings_are_checked(tmp_path, digits):
    for bad in ({"l2": -1.0}, {"label_smoothing": 1.0}, {"max_norm": 0.0},
                {"drop_connect": 1.0}, {"input_noise": float("nan")}):
        with pytest.raises(ValueError):
            Regularisation(**bad)
    model = Model.load(_graph(tmp_path / "g.json"))
    with pytest.raises(TrainingError, match="minibatch optimizer"):
        Trainer(model, digits, "lbfgs", regularisation=Regularisation(l2=1e-3))


def test_the_cli_flags_train_with_every_option(tmp_path, digits):
    graph = _graph(tmp_path / "g.json")
    assert main(["train", str(graph), "--data", "digits", "--epochs", "2", "--lr", "0.1",
                 "--l1", "1e-5", "--l2", "1e-4", "--input-noise", "0.05",
                 "--label-smoothing", "0.1", "--max-norm", "2", "--drop-connect", "0.1",
                 "--out", str(tmp_path / "run")]) == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    first, second = metrics["epochs"]
    assert second["train_loss"] < first["train_loss"]
    assert second["valid_loss"] < first["valid_loss"]
    with np.load(tmp_path / "run" / "params.npz") as params:
        assert np.sqrt((params["W"] ** 2).sum(0)).max() <= 2.0 * (1 + 1e-5)


def test_a_loaded_batch_norm_gets_its_running_averages_updated_by_the_trainer(tmp_path,
                                                                              digits):
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W = ns.shared(_W0(), "W")
    b = ns.shared(np.zeros(10), "b")
    gamma, beta = ns.shared(np.ones(10), "gamma"), ns.shared(np.zeros(10), "beta")
    mean = ns.shared(np.zeros(10), "mean", attrs={"trainable": False})
    var = ns.shared(np.ones(10), "var", attrs={"trainable": False})
    logits = ns.batch_norm(ns.dense(x, W, b), gamma, beta, mean, var, momentum=0.25)
    ns.save({"loss": ns.softmax_cross_entropy(logits, y)}, tmp_path / "bn.json")
    model = Model.load(tmp_path / "bn.json")  # the loader binds the running averages
    assert model.shared["mean"].default_update.owner.op.name == "batch_norm"
    Trainer(model, digits, "sgd", 0.0, batch_size=len(digits.train), epochs=1).run()
    X, _ = model.feed(digits.train)
    h = X.astype(np.float64) @ _W0()
    np.testing.assert_allclose(model.shared["mean"].get_value(), 0.25 * h.mean(0), atol=1e-5)
    np.testing.assert_allclose(model.shared["var"].get_value(), 0.75 + 0.25 * h.var(0),
                               rtol=1e-4)


def _shifted_reference(xv, call, s):
    """Each 28 x 28 image moved by (dy, dx) = floor(u * (2s + 1)) - s, zeros shifted in."""
    n, images = 2 * s + 1, xv.reshape(-1, 28, 28)
    dy = np.floor(philox.uniform(len(images), SHIFT_SEEDS[0], call) * n).astype(int) - s
    dx = np.floor(philox.uniform(len(images), SHIFT_SEEDS[1], call) * n).astype(int) - s
    out = np.zeros_like(images)
    for i, (a, b) in enumerate(zip(dy, dx)):
        out[i, max(a, 0):28 + min(a, 0), max(b, 0):28 + min(b, 0)] = \
            images[i, max(-a, 0):28 + min(-a, 0), max(-b, 0):28 + min(-b, 0)]
    return out.reshape(xv.shape), dy, dx


@pytest.mark.parametrize("max_shift", [1, 2])
def test_random_shifts_move_each_image_by_whole_pixels(max_shift):
    x = ns.tensor("x", (None, 784))
    xv = np.random.default_rng(0).random((60, 784)).astype(np.float32)
    fn = ns.function([x], random_shift(x, max_shift))
    for call in range(2):  # new shifts on every call
        want, dy, dx = _shifted_reference(xv, call, max_shift)
        np.testing.assert_array_equal(fn(xv), want)
        assert set(dy) == set(dx) == set(range(-max_shift, max_shift + 1))
    small = ns.tensor("x", (None, 64))
    with pytest.raises(ValueError, match="28 x 28"):
        Regularisation(shift=1).training_loss(ns.sum(small), small, [])


def test_the_cli_trains_with_random_shifts(tmp_path):
    from pathlib import Path
    example = Path(__file__).resolve().parents[2] / "resources/examples/logistic_regression.json"
    assert main(["train", str(example), "--data", "mnist5k", "--epochs", "2", "--shift", "1",
                 "--out", str(tmp_path)]) == 0
    first, second = json.loads((tmp_path / "metrics.json").read_text())["epochs"]
    assert second["train_loss"] < first["train_loss"]
    assert second["valid_loss"] < first["valid_loss"]


@pytest.mark.opencl
def test_input_noise_reaches_through_layers_that_own_their_parameters(tmp_path):
    """The noisy copy of the graph keeps each layer's own weights (they are the layer's last
    inputs in the IR): the template autoencoder trains as a denoising one."""
    from nodestudio.paths import resource_dir
    graph = resource_dir("templates") / "autoencoder.json"
    assert main(["train", str(graph), "--data", "mnist5k", "--epochs", "1",
                 "--input-noise", "0.2", "--out", str(tmp_path / "run")]) == 0
