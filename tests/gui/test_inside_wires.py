"""Gradients on the wires: in an 8-layer sigmoid MLP with small weights, the wires near the
input are drawn thinner and colder than near the loss, with each wire's figure equal to the
mean |gradient| of an independent NumPy float64 backward pass and to the probe's snapshot;
the pens are what the canvas paints; the real mouse on a wire shows value and gradient
statistics; switching the mode off restores the wires."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtGui import QColor

from nodestudio.graph import fileformat
from nodestudio.graph.model import Edge, Graph, PortRef
from nodestudio.gui.canvas.wire_overlay import MAX_WIDTH, MIN_WIDTH, WireScale, colour_at
from nodestudio.gui.inside.wires import log_ticks
from nodestudio.train.settings import load_data
from tests.gui.test_inside_activations import LONG, figures, mouse_move, use_digits, window

__all__ = ["window"]  # the fixture, shared with the Activations tests

DEPTH, WIDTH = 8, 16


def deep_sigmoid(tmp_path):
    """64 -> 8 x (16 sigmoid) -> 10, softmax cross-entropy."""
    graph = Graph()
    graph.add_node("input", {"shape": [None, 64], "dtype": "float32"}, id="x")
    graph.add_node("input", {"shape": [None], "dtype": "int32"}, id="y")
    previous, n_in = "x", 64
    for i in range(1, DEPTH + 2):
        n_out = 10 if i == DEPTH + 1 else WIDTH
        graph.add_node("parameter", {"shape": [n_in, n_out], "init": "zeros"}, id=f"W{i}")
        graph.add_node("parameter", {"shape": [n_out], "init": "zeros"}, id=f"b{i}")
        graph.add_node("dense", id=f"d{i}")
        graph.connect(f"{previous}:out", f"d{i}:x")
        graph.connect(f"W{i}:out", f"d{i}:W")
        graph.connect(f"b{i}:out", f"d{i}:b")
        previous, n_in = f"d{i}", n_out
        if i <= DEPTH:
            graph.add_node("sigmoid", id=f"s{i}")
            graph.connect(f"d{i}:out", f"s{i}:x")
            previous = f"s{i}"
    graph.add_node("softmax_cross_entropy", id="loss")
    graph.connect(f"{previous}:out", "loss:logits")
    graph.connect("y:out", "loss:labels")
    graph.set_output("loss", "loss:loss")
    path = tmp_path / "deep_sigmoid.json"
    fileformat.save(graph, path)
    return path


def numpy_backward(x, labels, values):
    """mean |dL/da| leaving each sigmoid and each dense layer, in float64."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    a, acts = np.asarray(x, np.float64), []
    for i in range(1, DEPTH + 1):
        a = 1.0 / (1.0 + np.exp(-(a @ f[f"W{i}"] + f[f"b{i}"])))
        acts.append(a)
    logits = a @ f[f"W{DEPTH + 1}"] + f[f"b{DEPTH + 1}"]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    grad = (p - np.eye(10)[labels]) / len(labels)  # dL/dlogits
    found = {f"d{DEPTH + 1}": grad}
    grad = grad @ f[f"W{DEPTH + 1}"].T
    for i in range(DEPTH, 0, -1):
        found[f"s{i}"] = grad
        grad = grad * acts[i - 1] * (1 - acts[i - 1])
        found[f"d{i}"] = grad
        grad = grad @ f[f"W{i}"].T
    return {k: float(np.mean(np.abs(g))) for k, g in found.items()}


def out_wire(node: str, dst: str, port: str = "x") -> Edge:
    return Edge(PortRef(node, "out"), PortRef(dst, port))


@pytest.mark.opencl
def test_vanishing_gradients_show_as_thin_cold_wires_near_the_input(qtbot, window, tmp_path):
    assert window.open_path(deep_sigmoid(tmp_path), ask=False)
    use_digits(window)
    rng = np.random.default_rng(0)
    values = {}
    for i in range(1, DEPTH + 2):
        n_in = 64 if i == 1 else WIDTH
        n_out = 10 if i == DEPTH + 1 else WIDTH
        values[f"W{i}"] = rng.normal(0.0, 0.1, (n_in, n_out))  # small: gradients vanish
        values[f"b{i}"] = np.zeros(n_out)
    window.document.set_values({k: v.astype(np.float32) for k, v in values.items()})
    panel = window.show_panel("wires")  # opening it switches the mode on and computes
    qtbot.waitUntil(lambda: panel.values.snapshot is not None, timeout=LONG)
    assert panel.toggle.isChecked()
    snapshot = panel.values.snapshot
    data = load_data(window.training.settings()).train
    rows = list(snapshot.rows)
    reference = numpy_backward(data.x[rows], data.y[rows], values)

    # the sigmoid chain from the input to the loss
    chain = [out_wire(f"s{i}", f"d{i + 1}") for i in range(1, DEPTH + 1)]
    chain.append(Edge(PortRef(f"d{DEPTH + 1}", "out"), PortRef("loss", "logits")))
    sources = [e.src.node for e in chain]
    shown = [panel.magnitudes[e] for e in chain]
    for node, magnitude in zip(sources, shown):
        probed = float(np.mean(np.abs(snapshot.activation_grads[node].astype(np.float64))))
        assert magnitude == pytest.approx(probed, rel=1e-12)  # the snapshot's figure
        assert magnitude == pytest.approx(reference[node], rel=1e-3)  # NumPy float64
    assert all(a < b for a, b in zip(shown, shown[1:]))  # decays towards the input
    assert shown[-1] / shown[0] > 1e3  # vanishing: orders of magnitude
    for edge in (out_wire(f"d{i}", f"s{i}") for i in range(1, DEPTH + 1)):
        assert panel.magnitudes[edge] == pytest.approx(reference[edge.src.node], rel=1e-3)

    # the pens: log scale over every wire shown, thin and cold near the input
    scale = WireScale(list(panel.magnitudes.values()))
    assert (scale.low, scale.high) == (min(panel.magnitudes.values()),
                                       max(panel.magnitudes.values()))
    pens = [window.scene.edges[e].overlay_pen for e in chain]
    widths = [pen.widthF() for pen in pens]
    assert all(a < b for a, b in zip(widths, widths[1:]))
    for pen, magnitude in zip(pens, shown):
        assert pen.widthF() == pytest.approx(scale.width(magnitude))
        assert pen.color() == colour_at(scale.position(magnitude))
    first, last = pens[0].color(), pens[-1].color()
    assert first.blue() > first.red() and last.red() > last.blue()  # cold to hot
    assert MIN_WIDTH <= widths[0] < widths[-1] <= MAX_WIDTH
    # a wire from a parameter carries the parameter's gradient
    w1 = window.scene.edges[out_wire("W1", "d1", "W")]
    assert panel.magnitudes[w1.edge] == pytest.approx(
        float(np.mean(np.abs(snapshot.grads["W1"].astype(np.float64)))))
    # the inputs' wires have no gradient: drawn as usual
    assert window.scene.edges[out_wire("x", "d1")].overlay_pen is None
    assert panel.bar.scale is panel.scale
    assert log_ticks(scale.low, scale.high)[0] == scale.low

    # what the canvas paints: the pen's colour a quarter along the widest wire
    hot = window.scene.edges[chain[-1]]
    window.view.centerOn(hot.sceneBoundingRect().center())
    qtbot.wait(50)
    point = window.view.mapFromScene(hot.mapToScene(hot._path.pointAtPercent(0.25)))
    pixel = QColor(window.view.viewport().grab().toImage().pixel(point))
    want = pens[-1].color()
    assert max(abs(pixel.red() - want.red()), abs(pixel.green() - want.green()),
               abs(pixel.blue() - want.blue())) <= 40

    # the real mouse on the coldest wire: its figures in the dock and in the popup
    window.activateWindow()
    qtbot.waitActive(window)
    cold = window.scene.edges[chain[0]]
    mouse_move(window.view, cold.mapToScene(cold._path.pointAtPercent(0.3)))
    qtbot.waitUntil(lambda: panel.wire_text.text().startswith("s1:out → d2:x"))
    text = panel.wire_text.text()
    assert float(text.split("mean |gradient| ")[1].split()[0]) == pytest.approx(
        reference["s1"], rel=1e-3)
    grad = snapshot.activation_grads["s1"].astype(np.float64)
    assert figures(text, "gradient") == pytest.approx(
        [grad.mean(), grad.std(), grad.min(), grad.max()], rel=2e-3, abs=1e-12)
    popup = window.canvas_values.hover.popup
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    assert "s1:out → d2:x" in popup.text.text()
    assert popup.grads.isVisible() and popup.grads.counts.sum() == grad.size

    # off: every wire as before
    panel.toggle.click()
    assert all(item.overlay_pen is None for item in window.scene.edges.values())


def test_scale_positions_and_ticks():
    scale = WireScale([1e-6, 1e-3, 0.0, float("nan")])
    assert (scale.low, scale.high) == (1e-6, 1e-3)
    assert scale.position(1e-6) == 0.0 and scale.position(1e-3) == 1.0
    assert scale.position(10 ** -4.5) == pytest.approx(0.5)
    assert scale.pen(0.0).style() != scale.pen(1e-6).style()  # no gradient: dotted
    assert log_ticks(2e-6, 5e-3) == [2e-6, 1e-5, 1e-4, 1e-3, 5e-3]
