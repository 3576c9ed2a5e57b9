"""The Gradient flow panel after short training runs in the studio: the plotted gradient norms
are the probe's and those of a NumPy float64 backward pass on the same batch, the unit-health
table matches NumPy, and a deep sigmoid net with a tiny initialisation raises the vanishing-
gradient warning naming its first layer; panels redraw at most once a second however many
snapshots come."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PySide6.QtCore import Qt

import nodestudio as ns
from nodestudio.graph import fileformat
from nodestudio.gui.inside import live as live_module
from nodestudio.gui.inside.live import live_values
from nodestudio.gui.training import session as session_module
from nodestudio.train.settings import load_data

LONG = 120_000  # ms: the first compile of a graph can take a while on PoCL

pytestmark = pytest.mark.opencl


@pytest.fixture
def window(studio):
    return studio()


def _train(qtbot, window, epochs, batch_size=20, lr="0.1"):
    training = window.training
    training.dataset.setCurrentIndex(training.dataset.findData("digits"))
    training.batch_size.setValue(batch_size)
    training.epochs.setValue(epochs)
    training.lr.setText(lr)
    with qtbot.waitSignal(training.session.finished, timeout=LONG):
        qtbot.mouseClick(training.train_button, Qt.MouseButton.LeftButton)


def _digits_mlp(tmp_path):
    """The example MLP resized for the 8 x 8 digits: 64 -> 16 tanh -> 10."""
    graph = fileformat.load("resources/examples/mlp.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W1"].attrs["shape"] = [64, 16]
    graph.nodes["b1"].attrs["shape"] = [16]
    graph.nodes["W2"].attrs["shape"] = [16, 10]
    path = tmp_path / "digits_mlp.json"
    fileformat.save(graph, path)
    return path


def _numpy_gradients(p, x, y):
    """dense -> tanh -> dense -> softmax cross-entropy in float64, backward by hand."""
    W1, b1, W2, b2 = (np.asarray(p[k], np.float64) for k in ("W1", "b1", "W2", "b2"))
    n = len(x)
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = e / e.sum(axis=1, keepdims=True)
    dz[np.arange(n), y] -= 1.0
    dz /= n
    da = (dz @ W2.T) * (1.0 - h ** 2)
    return h, {"W1": x.T @ da, "b1": da.sum(0), "W2": h.T @ dz, "b2": dz.sum(0)}


def test_plotted_gradient_norms_are_the_probes_and_numpys(qtbot, window, tmp_path):
    assert window.open_path(_digits_mlp(tmp_path), ask=False)
    panel = window.show_panel("gradients")
    _train(qtbot, window, epochs=2)
    live = live_values(window)
    latest = live.latest
    assert latest is not None and len(live.series) >= 2
    qtbot.waitUntil(lambda: panel.status.text().startswith("Probe batch"))
    assert f"iteration {latest.iteration}," in panel.status.text()

    train = load_data(window.training.settings()).train  # the data the run trained on
    rows = list(latest.rows)
    x, y = np.asarray(train.x[rows], np.float64), train.y[rows]
    h, reference = _numpy_gradients(latest.params, x, y)
    assert set(panel.norm_curves) == set(reference)
    for name, g in reference.items():
        curve = panel.norm_curves[name]
        assert curve.xData[-1] == latest.iteration
        assert curve.yData[-1] == latest.grad_norms[name]  # what is plotted is the probe's
        assert curve.yData[-1] == pytest.approx(np.linalg.norm(g), rel=1e-4), name
        # the histogram of the current gradients counts every value that is not zero
        assert panel.grad_hists[name].yData.sum() == np.count_nonzero(latest.grads[name])
    # the update ratios are plotted per step, between consecutive snapshots
    ratio = panel.ratio_curves["W1"]
    assert ratio.yData[-1] == pytest.approx(latest.step_ratios["W1"])

    # the health table: the share of saturated tanh values, from the NumPy forward pass
    assert panel.health.rowCount() == 1
    assert [panel.health.item(0, c).text() for c in range(2)] == ["hidden_tanh", "tanh"]
    assert panel.health.item(0, 2).text() == f"{100 * np.mean(np.abs(h) > 0.99):.1f} %"
    assert not panel.warning.isVisible()


def _deep_sigmoid(path, depth=8, width=32):
    """`depth` sigmoid layers of `width` units, weights drawn with std 0.01: each layer
    multiplies the backward signal by about 0.25 * 0.01 * sqrt(width), so the first layers'
    gradients vanish."""
    rng = np.random.default_rng(0)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    h, fan_in = x, 64
    for i in range(1, depth + 1):
        W = ns.shared(rng.normal(0.0, 0.01, (fan_in, width)), f"W{i}")
        b = ns.shared(np.zeros(width), f"b{i}")
        h, fan_in = ns.sigmoid(ns.dense(h, W, b)), width
    W = ns.shared(rng.normal(0.0, 0.01, (width, 10)), "W_out")
    logits = ns.dense(h, W, ns.shared(np.zeros(10), "b_out"))
    ns.save({"loss": ns.softmax_cross_entropy(logits, y),
             "error": ns.classification_error(logits, y)}, path)
    return path


def test_a_deep_sigmoid_net_warns_of_vanishing_gradients_naming_the_layer(qtbot, window,
                                                                          tmp_path):
    assert window.open_path(_deep_sigmoid(tmp_path / "deep_sigmoid.json"), ask=False)
    panel = window.show_panel("gradients")
    _train(qtbot, window, epochs=1, batch_size=100)
    latest = live_values(window).latest
    qtbot.waitUntil(panel.warning.isVisible)
    text = panel.warning.text()
    assert "Vanishing gradients" in text
    first_layer = window.document.graph.consumers("W1")[0].node
    assert f"W1 (layer {first_layer})" in text
    relative = latest.grad_norms["W1"] / latest.weight_norms["W1"]
    assert relative < 1e-7
    assert "W_out" not in text  # the last layer still learns
    # every layer is a sigmoid: the table lists all eight
    assert panel.health.rowCount() == 8
    assert {panel.health.item(r, 1).text() for r in range(8)} == {"sigmoid"}


def test_panels_redraw_at_most_once_a_second_however_many_snapshots_come(qtbot, window,
                                                                         tmp_path,
                                                                         monkeypatch):
    # Redrawing at every snapshot took the GUI thread tens of milliseconds each time, which
    # a 2-core machine takes from the device's threads (benchmarks/bench_probe.py --studio).
    monkeypatch.setattr(session_module, "SNAPSHOT_INTERVAL", 0.0)  # every snapshot comes in
    monkeypatch.setattr(live_module, "DRAW_INTERVAL", 0.3)
    assert window.open_path(_digits_mlp(tmp_path), ask=False)
    panel = window.show_panel("gradients")
    window.training.session.probe_every = 2
    live = live_values(window)
    snapshots, draws, redraws = [], [], []
    live.changed.connect(lambda s: s is not None and snapshots.append(s))
    live.draw.connect(lambda s: s is not None and draws.append((time.monotonic(), s)))
    redraw = panel.redraw
    monkeypatch.setattr(panel, "redraw", lambda: (redraws.append(1), redraw()))
    began = time.monotonic()
    _train(qtbot, window, epochs=3, batch_size=10)
    seconds = time.monotonic() - began
    assert len(snapshots) >= 50  # 3 epochs of 100 steps, a snapshot every 2
    assert draws[0][1] is snapshots[0]  # the first at once
    assert draws[-1][1] is snapshots[-1] is live.latest  # the last when the run ended
    gaps = [b[0] - a[0] for a, b in zip(draws, draws[1:-1])]  # all but the final flush
    # Qt's coarse timers may fire up to 5 % early: the spacing holds within that
    assert all(gap >= 0.3 * 0.95 - 0.01 for gap in gaps), gaps
    assert len(draws) <= 2 + math.ceil(seconds / 0.3)
    assert len(redraws) == len(draws) + 1 < len(snapshots)  # + 1: cleared as the run began
    # every snapshot is still in the series that the plots draw
    assert [p.iteration for p in live.series] == [s.iteration for s in snapshots]
    assert list(panel.norm_curves["W1"].xData)[-1] == snapshots[-1].iteration
