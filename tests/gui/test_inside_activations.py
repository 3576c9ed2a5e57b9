"""The Activations panel and canvas mode: each node's preview holds that node's output for the
chosen example (checked against a NumPy float64 forward pass on the same rows, down to the
pixels and bars drawn), the View action and the dock's box switch it, hovering a wire with the
real mouse shows its statistics in the dock and in a popup, and previews follow the run."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QColor
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from nodestudio.graph import fileformat
from nodestudio.graph.model import Edge, PortRef
from nodestudio.gui.canvas.previews import Preview, PreviewItem, colours
from nodestudio.gui.inside.activations import node_outputs
from nodestudio.gui.inside.live import live_values
from nodestudio.train.settings import load_data

LONG = 120_000  # ms: the first compile of a graph can take a while on PoCL


@pytest.fixture
def window(studio):
    return studio()


def digits_mlp(tmp_path, hidden=16):
    """The example MLP resized for the 8 x 8 digits: 64 -> hidden tanh -> 10."""
    graph = fileformat.load("resources/examples/mlp.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W1"].attrs["shape"] = [64, hidden]
    graph.nodes["b1"].attrs["shape"] = [hidden]
    graph.nodes["W2"].attrs["shape"] = [hidden, 10]
    path = tmp_path / "digits_mlp.json"
    fileformat.save(graph, path)
    return path


def use_digits(window):
    training = window.training
    training.dataset.setCurrentIndex(training.dataset.findData("digits"))


def mouse_move(view, scene_pos: QPointF) -> None:
    """A real mouse move (no button) on the viewport at a scene point."""
    view.centerOn(scene_pos)  # in sight, whatever the docks left of the canvas
    QApplication.processEvents()  # the scroll takes effect
    at = view.mapFromScene(scene_pos)
    QTest.mouseMove(view.viewport(), at + QPoint(0, 40))  # arrive from below the wire
    QTest.mouseMove(view.viewport(), at)


def wire_middle(scene, src: str, dst: str) -> QPointF:
    s, d = PortRef.parse(src), PortRef.parse(dst)
    start = scene.nodes[s.node].port_pos("out", s.port)
    end = scene.nodes[d.node].port_pos("in", d.port)
    return (start + end) / 2


def reference_forward(x, values):
    """The digits MLP in float64: hidden, hidden_tanh, logits."""
    f = {k: np.asarray(v, dtype=np.float64) for k, v in values.items()}
    hidden = np.asarray(x, np.float64) @ f["W1"] + f["b1"]
    tanh = np.tanh(hidden)
    logits = tanh @ f["W2"] + f["b2"]
    return {"x": np.asarray(x, np.float64), "hidden": hidden, "hidden_tanh": tanh,
            "logits": logits}


def figures(text: str, label: str) -> list[float]:
    """mean, std, min, max from a "label: mean a  std b  min c  max d  shape .." line."""
    line = next(line for line in text.splitlines() if line.startswith(f"{label}:"))
    words = line.split()
    return [float(words[words.index(name) + 1]) for name in ("mean", "std", "min", "max")]


def image_pixels(item: PreviewItem) -> np.ndarray:
    """The preview's QImage read back as rows x cols x RGB."""
    image = item.image
    return np.array([[QColor(image.pixel(c, r)).getRgb()[:3] for c in range(image.width())]
                     for r in range(image.height())])


@pytest.mark.opencl
def test_previews_are_each_nodes_output_for_the_chosen_example(qtbot, window, tmp_path):
    assert window.open_path(digits_mlp(tmp_path), ask=False)
    use_digits(window)
    rng = np.random.default_rng(3)
    values = {"W1": rng.normal(0, 0.3, (64, 16)), "b1": rng.normal(0, 0.1, 16),
              "W2": rng.normal(0, 0.5, (16, 10)), "b2": rng.normal(0, 0.1, 10)}
    window.document.set_values({k: v.astype(np.float32) for k, v in values.items()})
    panel = window.show_panel("activations")  # opening it switches the canvas mode on
    qtbot.waitUntil(lambda: panel.values.snapshot is not None, timeout=LONG)
    assert panel.toggle.isChecked() and window.actions.activations.isChecked()
    assert panel.source.text() == "Values: the document's parameter values on 64 rows of digits"
    snapshot = panel.values.snapshot

    # choose example 5 with the keyboard
    panel.example.lineEdit().selectAll()
    qtbot.keyClicks(panel.example.lineEdit(), "5")
    qtbot.keyClick(panel.example.lineEdit(), Qt.Key_Return)
    assert panel.example.value() == 5
    row = snapshot.rows[5]
    assert panel.row.text() == f"row {row} of the training split"

    x = load_data(window.training.settings()).train.x[list(snapshot.rows)]
    ref = reference_forward(x, values)
    items = panel.previews.items
    assert set(items) == {"x", "hidden", "hidden_tanh", "logits", "loss"}
    assert all(item.scene() is window.scene for item in items.values())

    # images: the input 8 x 8 (the data's image shape), 16 hidden units as a 4 x 4 square
    for node, shape in (("x", (8, 8)), ("hidden", (4, 4)), ("hidden_tanh", (4, 4))):
        item = items[node]
        assert item.preview.kind == "image"
        expected = ref[node][5].reshape(shape)
        np.testing.assert_allclose(item.preview.grid, expected, rtol=1e-4, atol=1e-5)
        drawn = image_pixels(item)
        want, diverging = colours(expected)
        assert diverging == (node != "x")  # grey for pixels, blue-white-red for tanh
        assert np.abs(drawn - want.astype(int)).max() <= 1  # float32 vs float64 rounding
    # bars: one per logit, heights in proportion, upwards for positive values
    logits = ref["logits"][5]
    bars = items["logits"].bars
    assert len(bars) == 10
    span = max(logits.max(), 0) - min(logits.min(), 0)
    unit = bars[int(np.argmax(np.abs(logits)))].height() / np.abs(logits).max()
    for bar, value in zip(bars, logits):
        assert bar.height() == pytest.approx(abs(value) * unit, rel=1e-3, abs=1e-3)
        assert (bar.bottom() <= items["logits"].baseline + 1e-6) == (value >= 0)
    assert unit * span == pytest.approx(72.0 - 8, rel=1e-3)  # the picture's height
    # the loss: a number, the mean cross-entropy of the probe batch
    z = ref["logits"] - ref["logits"].max(axis=1, keepdims=True)
    labels = load_data(window.training.settings()).train.y[list(snapshot.rows)]
    loss = float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(64), labels]))
    assert items["loss"].preview.kind == "scalar"
    assert float(items["loss"].preview.caption) == pytest.approx(loss, rel=1e-3)
    # previews sit on the canvas above their nodes
    for node, item in items.items():
        card = window.scene.nodes[node].mapRectToScene(window.scene.nodes[node].card())
        assert item.sceneBoundingRect().bottom() <= card.top() + 1

    # the real mouse over the hidden -> tanh wire: statistics in the dock, then the popup
    window.activateWindow()
    qtbot.waitActive(window)
    middle = wire_middle(window.scene, "hidden:out", "hidden_tanh:x")
    mouse_move(window.view, middle)
    qtbot.waitUntil(lambda: panel.wire_text.text().startswith("hidden:out → hidden_tanh:x"))
    hidden = ref["hidden"]
    text = panel.wire_text.text()
    assert figures(text, "value") == pytest.approx(
        [hidden.mean(), hidden.std(), hidden.min(), hidden.max()], rel=2e-3, abs=1e-5)
    assert "shape 64 x 16" in text
    counts, _ = np.histogram(hidden, bins=panel.histogram.bins)
    assert panel.histogram.counts.sum() == hidden.size
    assert np.abs(panel.histogram.counts - counts).sum() <= 2  # float32 at a bin edge
    popup = window.canvas_values.hover.popup
    qtbot.waitUntil(popup.isVisible, timeout=5000)
    assert popup.text.text().startswith("hidden:out → hidden_tanh:x")
    assert "gradient: mean" in popup.text.text()


@pytest.mark.opencl
def test_the_view_action_switches_the_previews(qtbot, window, tmp_path):
    assert window.open_path(digits_mlp(tmp_path), ask=False)
    use_digits(window)
    action = window.actions.activations
    assert action in window.menus["panels"].parent().actions() or action.isCheckable()

    def previews():
        return [i for i in window.scene.items() if isinstance(i, PreviewItem)]
    assert not previews()
    action.trigger()  # View > Activations on Canvas (and the toolbar button)
    panel = window.panel("activations")
    qtbot.waitUntil(lambda: len(previews()) == 5, timeout=LONG)
    assert panel.toggle.isChecked()
    action.trigger()
    assert not previews() and not panel.toggle.isChecked()
    qtbot.mouseClick(panel.toggle, Qt.LeftButton)  # the dock's box does the same
    assert len(previews()) == 5 and action.isChecked()


def test_previews_choose_a_picture_by_shape():
    assert Preview.of(np.arange(784.0), (28, 28)).grid.shape == (28, 28)
    assert Preview.of(np.arange(64.0), ()).grid.shape == (8, 8)  # a square
    assert Preview.of(np.arange(10.0), ()).kind == "bars"
    heat = Preview.of(np.arange(800.0) - 400, ())
    assert heat.kind == "heat" and np.isnan(heat.grid).sum() == heat.grid.size - 800
    np.testing.assert_array_equal(heat.grid.ravel()[:800], np.arange(800.0) - 400)
    assert Preview.of(np.float32(2.5)).caption == "2.5"
    assert Preview.of(np.ones((3, 1, 5))).grid.shape == (3, 5)  # rows stacked
    assert Preview.of(np.ones((3, 4, 5))).kind == "maps"  # feature maps: test_inside_conv.py


@pytest.mark.opencl
def test_previews_follow_the_run(qtbot, window, tmp_path):
    assert window.open_path(digits_mlp(tmp_path), ask=False)
    use_digits(window)
    panel = window.show_panel("activations")
    qtbot.waitUntil(lambda: panel.values.snapshot is not None, timeout=LONG)
    seen = []

    def check(snapshot):
        if snapshot is None or not window.training.session.running:
            return
        outputs = node_outputs(snapshot, panel.example.value())
        seen.append(all(np.array_equal(panel.shown[k].values, np.ravel(v).astype(np.float64))
                        for k, v in outputs.items() if k != "loss"))
        seen.append(panel.source.text().startswith("Values: training run: epoch"))

    live_values(window).draw.connect(check)  # connected after the panel: it has redrawn
    training = window.training
    training.batch_size.setValue(50)
    training.epochs.setValue(1)
    with qtbot.waitSignal(training.session.finished, timeout=LONG):
        qtbot.mouseClick(training.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(seen) >= 2, timeout=5000)
    assert all(seen)
    # after the run: the trained values the document now holds, newer than the last snapshot
    qtbot.waitUntil(lambda: "document's parameter values" in panel.source.text(),
                    timeout=LONG)
    snapshot = panel.values.snapshot
    trained = window.document.parameter_values()
    x = load_data(window.training.settings()).train.x[list(snapshot.rows)]
    ref = reference_forward(x, trained)
    example = panel.example.value()
    np.testing.assert_allclose(panel.shown["hidden_tanh"].values, ref["hidden_tanh"][example],
                               rtol=1e-4, atol=1e-5)
    edge = Edge(PortRef("hidden", "out"), PortRef("hidden_tanh", "x"))
    assert window.canvas_values.wire(edge)[0] is window.canvas_values.snapshot.activations[
        "hidden"]


def test_a_dataset_that_does_not_fit_the_graph_is_named(qtbot, window):
    assert window.open_path("resources/examples/mlp.json", ask=False)  # 784 features
    use_digits(window)  # 64
    panel = window.show_panel("activations")
    qtbot.waitUntil(lambda: panel.source.text().startswith("Cannot compute"), timeout=LONG)
    assert "expects 784 features" in panel.source.text()
    assert "'digits:train' has 64" in panel.source.text()
    assert panel.refresh_button.isEnabled() and not panel.previews.items


@pytest.mark.opencl
def test_another_graph_drops_the_old_values(qtbot, window, tmp_path):
    assert window.open_path(digits_mlp(tmp_path), ask=False)
    use_digits(window)
    panel = window.show_panel("activations")
    assert panel.previews.items["hidden"].preview.grid.shape == (4, 4)  # 16 units
    wide = tmp_path / "wide"
    wide.mkdir()
    assert window.open_path(digits_mlp(wide, hidden=25), ask=False)  # the same node ids
    assert not panel.previews.items or panel.values.snapshot is None
    qtbot.waitUntil(lambda: "hidden" in panel.previews.items, timeout=LONG)
    assert panel.previews.items["hidden"].preview.grid.shape == (5, 5)  # 25 units

    # with the mode off, a wire keeps its plain tooltip: no popup, no hit tests
    panel.toggle.click()
    assert not window.canvas_values.hover.enabled
    window.activateWindow()
    qtbot.waitActive(window)
    mouse_move(window.view, wire_middle(window.scene, "hidden:out", "hidden_tanh:x"))
    qtbot.wait(1200)  # longer than the tooltip's delay
    assert not window.canvas_values.hover.popup.isVisible()
