"""The training probe (train/probe.py): its snapshots against a hand-written NumPy float64
forward and backward pass, the update-to-weight ratio against plain gradient descent, the
guarantee that probing changes nothing about training, and the automatic interval."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.data import load_dataset
from nodestudio.train import probe as probe_module
from nodestudio.train.loop import Trainer
from nodestudio.train.model import Model
from nodestudio.train.probe import (
    MIN_EVERY,
    ProbeError,
    dead_fraction,
    saturated_fraction,
)

pytestmark = pytest.mark.opencl


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def _mlp(path, seed=0):
    """64 -> 16 tanh -> 12 relu -> 10, softmax cross-entropy; random init, saved and loaded as
    a document so that the keys are the file's node ids."""
    rng = np.random.default_rng(seed)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W1 = ns.shared(rng.normal(0, 0.3, (64, 16)), "W1")
    b1 = ns.shared(rng.normal(0, 0.1, 16), "b1")
    W2 = ns.shared(rng.normal(0, 0.3, (16, 12)), "W2")
    b2 = ns.shared(rng.normal(0, 0.3, 12), "b2")
    W3 = ns.shared(rng.normal(0, 0.3, (12, 10)), "W3")
    b3 = ns.shared(np.zeros(10), "b3")
    h1 = ns.tanh(ns.dense(x, W1, b1))
    h2 = ns.relu(ns.dense(h1, W2, b2))
    logits = ns.dense(h2, W3, b3)
    ns.save({"loss": ns.softmax_cross_entropy(logits, y),
             "error": ns.classification_error(logits, y)}, path)
    return Model.load(path)


def _numpy_forward_backward(params, x, y):
    """Loss, activations and gradients of the MLP above in float64, backward by hand."""
    W1, b1, W2, b2, W3, b3 = (np.asarray(params[k], np.float64)
                              for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
    x = np.asarray(x, np.float64)
    n = len(x)
    a1 = x @ W1 + b1
    h1 = np.tanh(a1)
    a2 = h1 @ W2 + b2
    h2 = np.maximum(a2, 0.0)
    z = h2 @ W3 + b3
    shifted = z - z.max(axis=1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(p[np.arange(n), y]))
    dz = p.copy()
    dz[np.arange(n), y] -= 1.0
    dz /= n
    dh2 = dz @ W3.T
    da2 = dh2 * (a2 > 0)
    dh1 = da2 @ W2.T
    da1 = dh1 * (1.0 - h1 ** 2)
    grads = {"W3": h2.T @ dz, "b3": dz.sum(0), "W2": h1.T @ da2, "b2": da2.sum(0),
             "W1": x.T @ da1, "b1": da1.sum(0)}
    forward = [a1, h1, a2, h2, z]
    backward = [da1, dh1, da2, dh2, dz]
    return loss, grads, forward, backward


def _run(model, data, **options):
    snapshots = []
    trainer = Trainer(model, data, "sgd", options.pop("lr", 0.1),
                      batch_size=options.pop("batch_size", 50),
                      epochs=options.pop("epochs", 1), **options)
    trainer.subscribe(lambda e: snapshots.append(e) if e.kind == "snapshot" else None)
    history = trainer.run()
    return trainer, history, snapshots


def test_snapshot_matches_a_numpy_float64_backward_pass(tmp_path, digits):
    model = _mlp(tmp_path / "mlp.json")
    trainer, history, snapshots = _run(model, digits, probe_every=9, probe_batch=40)
    steps = history.iterations
    assert [s.iteration for s in snapshots] == list(range(0, steps, 9))
    assert all(s.epoch == 1 for s in snapshots) and snapshots[1].steps == 9
    snap = snapshots[-1]
    assert len(snap.rows) == 40 and snap.input_shape == (8, 8)
    assert snap.rows == tuple(trainer.probe.rows)
    xb, yb = model.feed(digits.train, trainer.probe.rows)
    loss, grads, forward, backward = _numpy_forward_backward(snap.params, xb, yb)
    assert snap.loss == pytest.approx(loss, rel=1e-5)
    assert set(snap.grads) == set(grads) == set(snap.params)
    for name, expected in grads.items():
        np.testing.assert_allclose(snap.grads[name], expected, rtol=2e-4, atol=2e-6,
                                   err_msg=name)
        assert snap.grad_norms[name] == pytest.approx(np.linalg.norm(expected), rel=1e-5)
        assert snap.weight_norms[name] == pytest.approx(
            np.linalg.norm(np.float64(snap.params[name])), rel=1e-6)
    # the forward nodes in evaluation order: dense, tanh, dense, relu, dense, the loss
    keys = list(snap.activations)
    assert [snap.ops[k] for k in keys] == ["dense", "tanh", "dense", "relu", "dense",
                                           "softmax_cross_entropy"]
    assert [snap.kinds[k] for k in keys[:5]] == ["", "tanh", "", "relu", ""]
    for key, value, gradient in zip(keys, forward, backward):
        np.testing.assert_allclose(snap.activations[key], value, rtol=1e-4, atol=1e-5,
                                   err_msg=key)
        np.testing.assert_allclose(snap.activation_grads[key], gradient, rtol=2e-4,
                                   atol=1e-7, err_msg=key)
    assert float(snap.activation_grads[keys[-1]]) == 1.0  # d loss / d loss
    # the parameters are those of the trainer at that moment: the last snapshot came after
    # `iteration` steps, and the arrays cannot be changed by a subscriber
    assert not snap.params["W1"].flags.writeable and not snap.grads["W1"].flags.writeable


def test_update_ratio_of_plain_gradient_descent_is_lr_times_relative_gradient(tmp_path,
                                                                               digits):
    # one batch of the whole training set, a probe batch of the whole training set: each
    # step is W <- W - lr * g with g the probe's gradient, so ||dW|| / ||W|| = lr ||g|| / ||W||
    model = _mlp(tmp_path / "mlp.json", seed=1)
    n = len(digits.train)
    lr = 0.5
    _, _, snaps = _run(model, digits, lr=lr, batch_size=n, epochs=4, probe_every=1,
                       probe_batch=n)
    assert [s.iteration for s in snaps] == [0, 1, 2, 3]
    assert snaps[0].update_ratios == {}
    for before, after in zip(snaps, snaps[1:]):
        for name in before.params:
            if before.weight_norms[name] == 0.0:  # b3 starts at zero: no ratio to it
                assert name not in after.update_ratios
                continue
            expected = lr * before.grad_norms[name] / before.weight_norms[name]
            assert after.update_ratios[name] == pytest.approx(expected, rel=2e-3), name
            assert after.step_ratios[name] == after.update_ratios[name]  # one step apart
            np.testing.assert_allclose(after.params[name],
                                       before.params[name] - lr * before.grads[name],
                                       rtol=1e-4, atol=1e-6)


def _bn_dropout_model(path):
    rng = np.random.default_rng(3)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W1 = ns.shared(rng.normal(0, 0.2, (64, 20)), "W1")
    b1 = ns.shared(np.zeros(20), "b1")
    gamma, beta = ns.shared(np.ones(20), "gamma"), ns.shared(np.zeros(20), "beta")
    mean = ns.shared(np.zeros(20), "bn_mean")
    var = ns.shared(np.ones(20), "bn_var")
    for shared in (mean, var):
        shared.owner.attrs["trainable"] = False
    h = ns.batch_norm(ns.dense(x, W1, b1), gamma, beta, mean, var)
    h = ns.dropout(ns.sigmoid(h), p=0.3, seed=2)
    W2 = ns.shared(rng.normal(0, 0.2, (20, 10)), "W2")
    logits = ns.dense(h, W2, ns.shared(np.zeros(10), "b2"))
    ns.save({"loss": ns.softmax_cross_entropy(logits, y)}, path)
    return Model.load(path)


def test_probing_changes_nothing_about_training(tmp_path, digits):
    # batch norm (whose running averages training functions advance) and dropout (whose
    # masks follow a call counter): the run is the same, bit for bit, with or without a probe
    path = tmp_path / "bn.json"
    plain = _bn_dropout_model(path)
    _, history, _ = _run(plain, digits, epochs=2, batch_size=200)
    probed = Model.load(path)
    _, history_probed, snaps = _run(probed, digits, epochs=2, batch_size=200, probe_every=2)
    assert len(snaps) >= 4
    assert [r.train_loss for r in history_probed.epochs] == [r.train_loss
                                                             for r in history.epochs]
    for name, value in plain.values().items():
        np.testing.assert_array_equal(probed.values()[name], value, err_msg=name)
    snap = snaps[-1]
    assert "bn_mean" not in snap.params  # not trainable: not a probed parameter
    bn_key = next(k for k, op in snap.ops.items() if op == "batch_norm")
    assert bn_key.endswith(".out")  # a node with several outputs: "node.port"
    sig_key = next(k for k, kind in snap.kinds.items() if kind == "sigmoid")
    act = np.float64(snap.activations[sig_key])
    assert saturated_fraction("sigmoid", act) == pytest.approx(
        np.mean((act < 0.01) | (act > 0.99)))


def test_unit_health_figures():
    tanh = np.array([[0.995, -0.5], [-0.999, 0.1]])
    assert saturated_fraction("tanh", tanh) == 0.5
    assert saturated_fraction("relu", tanh) is None
    relu = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 2.0]])
    assert dead_fraction("relu", relu) == pytest.approx(1 / 3)  # unit 0 is zero everywhere
    conv = np.zeros((2, 4, 3, 3))
    conv[:, 1:] = 1.0
    assert dead_fraction("relu", conv) == 0.25  # channel 0 dead
    assert dead_fraction("tanh", relu) is None


def test_auto_interval_keeps_the_probe_within_its_budget(tmp_path, digits, monkeypatch):
    model = _mlp(tmp_path / "mlp.json")
    trainer = Trainer(model, digits, "sgd", 0.1, batch_size=50, epochs=1, probe_every="auto")
    probe = trainer.probe
    clock = iter([0.0, 5.0,  # the first probe: compiling, 5 s, not its cost
                  5.5, 5.52,  # 10 steps later (50 ms each), a probe of 20 ms
                  5.6,  # the step after it: 80 ms, 30 ms more than a usual step
                  ])
    monkeypatch.setattr(probe_module.time, "perf_counter", lambda: next(clock))
    assert probe.due(0)
    probe.take(1, 0)
    assert probe.interval == probe_module.FIRST_GAP and not probe.due(9) and probe.due(10)
    probe.take(1, 10)
    # 20 ms of probe in at most 2% of the time: 1 s of training, 20 steps of 50 ms
    assert probe.interval == 20
    # then the step after the probe shows it cost 50 ms in all: 2.5 s, 50 steps
    assert not probe.due(11)
    assert probe.interval == 50 >= MIN_EVERY


def _cpu_ticks_of_other_threads() -> int:
    """CPU time (clock ticks, user + system) used so far by the process's other threads."""
    me, total = threading.get_native_id(), 0
    for tid in os.listdir("/proc/self/task"):
        if int(tid) == me:
            continue
        try:
            with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as stat:
                text = stat.read()
        except OSError:  # the thread has ended
            continue
        fields = text[text.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="reads Linux /proc")
def test_the_probe_leaves_no_thread_busy_after_it(tmp_path, digits):
    # The weight norms once came from np.dot: OpenBLAS's worker threads then spin for ~0.1 s
    # waiting for more work, taking a core from the OpenCL device's threads, and the training
    # steps after each probe ran slower than the probe itself cost (benchmarks/bench_probe.py).
    # Parameters large enough for OpenBLAS to use its threads (over 10000 values).
    rng = np.random.default_rng(0)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W1, b1 = ns.shared(rng.normal(0, 0.1, (64, 512)), "W1"), ns.shared(np.zeros(512), "b1")
    W2, b2 = ns.shared(rng.normal(0, 0.1, (512, 40)), "W2"), ns.shared(np.zeros(40), "b2")
    logits = ns.dense(ns.tanh(ns.dense(x, W1, b1)), W2, b2)
    ns.save({"loss": ns.softmax_cross_entropy(logits, y)}, tmp_path / "wide.json")
    model = Model.load(tmp_path / "wide.json")
    trainer = Trainer(model, digits, "sgd", 0.1, batch_size=50, epochs=1, probe_every=5)
    probe = trainer.probe
    probe.take(1, 0)  # compiles
    for iteration in (5, 10):
        time.sleep(0.3)  # whatever ran before has settled
        probe.take(1, iteration)
        after = _cpu_ticks_of_other_threads()
        time.sleep(0.3)
        idle = _cpu_ticks_of_other_threads() - after
        assert idle <= 2, f"other threads used {idle} ticks in the 0.3 s after a probe"


@pytest.mark.parametrize("options, words", [
    ({"probe_every": 0}, "probe interval"),
    ({"probe_every": "often"}, "probe interval"),
    ({"probe_every": 5, "probe_batch": 0}, "probe batch size"),
])
def test_bad_probe_settings_are_refused_by_name(tmp_path, digits, options, words):
    model = _mlp(tmp_path / "mlp.json")
    with pytest.raises(ProbeError, match=words):
        Trainer(model, digits, "sgd", 0.1, batch_size=50, epochs=1, **options)
