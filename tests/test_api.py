"""The public API beyond the classic examples: save/load, givens, devices, batch norm updates,
training mode, kernel reports with profiling, shared values across devices."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.backend import device as device_module

pytestmark = pytest.mark.opencl


def test_save_then_load_gives_the_same_function(tmp_path):
    rng = np.random.default_rng(0)
    x, y = ns.tensor("x", (None, 4)), ns.ivector("y")
    W = ns.shared(rng.normal(size=(4, 3)), "W")
    b = ns.shared(rng.normal(size=3), "b")
    logits = ns.dense(ns.tanh(x), W, b)
    cost = ns.softmax_cross_entropy(logits, y)
    path = tmp_path / "model.json"
    ns.save({"cost": cost, "scores": ns.softmax(logits)}, path)
    loaded = ns.load(path)
    assert set(loaded.inputs) == {"x", "y"} and set(loaded.shared) == {"W", "b"}
    np.testing.assert_array_equal(loaded.shared["W"].get_value(), W.get_value())
    xv = rng.normal(size=(6, 4)).astype(np.float32)
    yv = np.array([0, 1, 2, 0, 1, 2], np.int32)
    before = ns.function([x, y], [cost, ns.softmax(logits)])(xv, yv)
    after = ns.function([loaded["x"], loaded["y"]], [loaded["cost"], loaded["scores"]])(xv, yv)
    for a, b_ in zip(before, after):
        np.testing.assert_allclose(a, b_, rtol=1e-6)


def test_saved_gradients_are_ordinary_graphs(tmp_path):
    x = ns.vector("x")
    g = ns.grad(ns.sum(ns.tanh(x) ** 2), x)
    ns.save({"g": g}, tmp_path / "grad.json")
    loaded = ns.load(tmp_path / "grad.json")
    xv = np.linspace(-1, 1, 5).astype(np.float32)
    want = 2 * np.tanh(xv) * (1 - np.tanh(xv) ** 2)
    np.testing.assert_allclose(loaded["g"].eval({loaded["x"]: xv}), want, rtol=1e-5)


def test_givens_substitute_an_expression_for_an_input():
    x, s = ns.vector("x"), ns.scalar("s")
    data = ns.shared(np.arange(4.0), "data")
    f = ns.function([s], ns.sum(x * s), givens={x: data * 2})
    assert float(f(3.0)) == pytest.approx(3 * 2 * (0 + 1 + 2 + 3))


def test_keyword_arguments_by_input_name():
    a, b = ns.scalar("a"), ns.scalar("b")
    f = ns.function([a, b], a - b)
    assert float(f(b=1.0, a=5.0)) == 4.0


def test_batch_norm_training_updates_running_averages_and_inference_uses_them():
    rng = np.random.default_rng(1)
    x = ns.tensor("x", (None, 3))
    gamma, beta = ns.shared(np.ones(3), "gamma"), ns.shared(np.zeros(3), "beta")
    mean, var = ns.shared(np.zeros(3), "rm"), ns.shared(np.ones(3), "rv")
    out = ns.batch_norm(x, gamma, beta, mean, var, momentum=0.5)
    xv = rng.normal(2.0, 3.0, (64, 3)).astype(np.float32)
    train = ns.function([x], out, training=True)
    y = train(xv)
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(0), 1, rtol=1e-3)
    np.testing.assert_allclose(mean.get_value(), 0.5 * xv.mean(0), rtol=1e-5)
    np.testing.assert_allclose(var.get_value(), 0.5 + 0.5 * xv.var(0), rtol=1e-5)
    infer = ns.function([x], out)  # no updates: inference mode, running averages
    rm, rv = mean.get_value(), var.get_value()
    np.testing.assert_allclose(infer(xv), (xv - rm) / np.sqrt(rv + 1e-5), rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(mean.get_value(), rm)  # inference leaves them alone


def test_dropout_masks_change_per_call_and_are_reproducible():
    x = ns.tensor("x", (1000,))
    f = ns.function([x], ns.dropout(x, p=0.5, seed=7), training=True)
    ones = np.ones(1000, np.float32)
    first, second = f(ones), f(ones)
    assert set(np.unique(first)) == {0.0, 2.0}
    assert 400 < np.count_nonzero(first) < 600
    assert not np.array_equal(first, second)
    again = ns.function([x], ns.dropout(x, p=0.5, seed=7), training=True)
    np.testing.assert_array_equal(again(ones), first)
    np.testing.assert_array_equal(ns.function([x], ns.dropout(x, p=0.5))(ones), ones)


def test_kernel_report_with_profiling_times_each_kernel():
    x = ns.tensor("x", (None, 8))
    W = ns.shared(np.ones((8, 4)), "W")
    f = ns.function([x], ns.relu(ns.dot(x, W) - 1.0))
    ns.enable_profiling(True)
    try:
        f(np.ones((16, 8), np.float32))
        reports = f.kernels()
    finally:
        ns.enable_profiling(False)
    assert len(reports) == 2
    assert all(r.seconds is not None and r.seconds > 0 for r in reports)
    assert "__kernel" in reports[0].source and reports[0].nodes


def test_devices_and_selection_by_name_and_environment(monkeypatch):
    infos = ns.devices()
    assert infos and infos[0].index == 0
    chosen = ns.set_device(infos[0].name[:6])
    assert chosen.name == infos[0].name
    monkeypatch.setattr(device_module, "_runtime", None)
    monkeypatch.setenv("NODESTUDIO_DEVICE", "0")
    assert device_module.runtime().info.index == 0
    monkeypatch.setenv("NODESTUDIO_DEVICE", "no such device")
    monkeypatch.setattr(device_module, "_runtime", None)
    with pytest.raises(ns.DeviceError, match="no such device"):
        device_module.runtime()
    monkeypatch.setattr(device_module, "_runtime", None)
    monkeypatch.delenv("NODESTUDIO_DEVICE")


def test_shared_values_follow_a_device_change():
    a = ns.shared(np.zeros(3), "a")
    inc = ns.function([], [], updates=[(a, a + 1.0)])
    inc()
    ns.set_device(0)  # a fresh context: the value must come along
    inc()
    np.testing.assert_array_equal(a.get_value(), [2, 2, 2])


def test_undo_updates_restores_the_previous_values():
    w = ns.shared(np.array([1.0, 2.0]), "w")
    g = ns.vector("g")
    step = ns.function([g], [], updates=[(w, w - g)])
    step(np.array([0.5, 0.5], np.float32))
    step(np.array([np.nan, 1.0], np.float32))
    assert np.isnan(w.get_value()[0])
    assert step.undo_updates()
    np.testing.assert_array_equal(w.get_value(), [0.5, 1.5])
    assert not step.undo_updates()  # only one step back
    step(np.array([1.0, 1.0], np.float32))
    np.testing.assert_array_equal(w.get_value(), [-0.5, 0.5])  # buffers still consistent
    w.set_value([9.0, 9.0])
    assert not step.undo_updates()  # replaced since: refused
    np.testing.assert_array_equal(w.get_value(), [9.0, 9.0])


def test_batch_norm_read_from_a_file_updates_its_running_averages(tmp_path):
    x = ns.tensor("x", (None, 2))
    out = ns.batch_norm(x, ns.shared(np.ones(2), "g"), ns.shared(np.zeros(2), "b"),
                        ns.shared(np.zeros(2), "rm"), ns.shared(np.ones(2), "rv"), momentum=1.0)
    ns.save({"out": out}, tmp_path / "bn.json")
    loaded = ns.load(tmp_path / "bn.json")
    xv = np.array([[1.0, 2.0], [3.0, 6.0]], np.float32)
    ns.function([loaded["x"]], loaded["out"], training=True)(xv)
    np.testing.assert_allclose(loaded.shared["rm"].get_value(), [2.0, 4.0])
    np.testing.assert_allclose(loaded.shared["rv"].get_value(), [1.0, 4.0])
