"""The Filters panel: tiles read back from the drawn image equal the reshaped weight columns,
a real click on a tile shows that unit, typed and automatic tile shapes, and live values from
the trainer's probe during a run."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPointF, Qt

from nodestudio.graph import fileformat
from nodestudio.gui.inside.filters import tile_shape
from nodestudio.gui.inside.live import live_values

LONG = 120_000  # ms: the first compile of a graph can take a while on PoCL


@pytest.fixture
def window(studio):
    return studio()


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


def _click_tile(qtbot, panel, unit):
    """A real left click in the middle of tile `unit`, through the view's viewport."""
    top, left = panel.tile_origin(unit)
    middle = QPointF(left + panel.shape[1] / 2, top + panel.shape[0] / 2)
    point = panel.graphics.mapFromScene(panel.image.mapToScene(middle))
    qtbot.mouseClick(panel.graphics.viewport(), Qt.MouseButton.LeftButton, pos=point)


def test_tiles_are_the_reshaped_weight_columns_and_a_click_shows_the_unit(qtbot, window):
    assert window.open_path("resources/examples/mlp.json", ask=False)
    rng = np.random.default_rng(4)
    W1 = rng.normal(0.0, 0.1, (784, 800)).astype(np.float32)
    W2 = rng.normal(0.0, 0.1, (800, 10)).astype(np.float32)
    window.document.set_values({"W1": W1, "W2": W2})
    panel = window.show_panel("filters")
    qtbot.waitUntil(lambda: panel.weights is not None and panel.weights.shape == W1.shape)
    assert panel.layer.currentData() == "W1"  # the first layer by default
    assert [panel.layer.itemData(i) for i in range(panel.layer.count())] == ["W1", "W2"]
    assert "→ hidden" in panel.layer.currentText()
    assert panel.shape == (28, 28) and panel.count == 100
    for unit in (0, 7, 55, 99):
        np.testing.assert_array_equal(panel.tile(unit), W1[:, unit].reshape(28, 28))
    scale = float(np.abs(W1).max())
    assert panel.colorbar.levels() == pytest.approx((-scale, scale))  # zero in the middle
    assert panel.source.text() == "trained values"

    _click_tile(qtbot, panel, 37)
    assert panel.unit == 37
    column = W1[:, 37]
    np.testing.assert_array_equal(panel.unit_image.image, column.reshape(28, 28))
    assert f"unit 37: incoming weights from {column.min():.4g} to {column.max():.4g}" in \
        panel.unit_label.text()
    assert panel.highlight.isVisible()
    _click_tile(qtbot, panel, 3)
    assert panel.unit == 3

    # the second layer: 800 inputs per unit, shown as the closest rectangle, 25 x 32
    panel.layer.setCurrentIndex(1)
    assert panel.shape == (25, 32) and panel.count == 10
    for unit in range(10):
        np.testing.assert_array_equal(panel.tile(unit), W2[:, unit].reshape(25, 32))


@pytest.mark.parametrize("rows, typed, image, expected", [
    (784, "", None, (28, 28)), (64, "", None, (8, 8)), (800, "", None, (25, 32)),
    (784, "", (28, 28), (28, 28)), (12, "", (3, 4), (3, 4)), (13, "", None, (1, 13)),
    (784, "14x56", None, (14, 56)), (784, "14 56", None, (14, 56)),
])
def test_tile_shapes(rows, typed, image, expected):
    assert tile_shape(rows, typed, image) == expected


def test_a_typed_shape_that_does_not_fit_says_why():
    with pytest.raises(ValueError, match="5x5 holds 25 values, but each unit has 64"):
        tile_shape(64, "5x5")


@pytest.mark.opencl
def test_typed_shapes_and_live_tiles_during_training(qtbot, window, tmp_path):
    assert window.open_path(_digits_mlp(tmp_path), ask=False)
    panel = window.show_panel("filters")
    qtbot.waitUntil(lambda: panel.weights is not None)
    assert panel.shape == (8, 8) and panel.count == 16
    assert panel.source.text() == "initial values"

    panel.shape_edit.setFocus()
    qtbot.keyClicks(panel.shape_edit, "4x16")
    qtbot.keyClick(panel.shape_edit, Qt.Key.Key_Return)
    assert panel.shape == (4, 16) and panel.problem.text() == ""
    W = panel.weights
    np.testing.assert_array_equal(panel.tile(5), W[:, 5].reshape(4, 16))
    panel.shape_edit.clear()
    qtbot.keyClicks(panel.shape_edit, "5x5")
    qtbot.keyClick(panel.shape_edit, Qt.Key.Key_Return)
    assert "holds 25 values" in panel.problem.text() and panel.shape == (8, 8)
    panel.shape_edit.clear()
    qtbot.keyClick(panel.shape_edit, Qt.Key.Key_Return)

    # live: each snapshot's weights are what the tiles show while the run goes
    seen = []

    def check(snapshot):
        if snapshot is not None and window.training.session.running:
            W = snapshot.params["W1"]
            seen.append(all(np.array_equal(panel.tile(j), W[:, j].reshape(8, 8))
                            for j in range(panel.count)))
            seen.append(panel.source.text().startswith("live: iteration"))

    live_values(window).draw.connect(check)  # when the panel redraws
    training = window.training
    training.dataset.setCurrentIndex(training.dataset.findData("digits"))
    training.batch_size.setValue(20)
    training.epochs.setValue(2)
    with qtbot.waitSignal(training.session.finished, timeout=LONG):
        qtbot.mouseClick(training.train_button, Qt.MouseButton.LeftButton)
    assert seen and all(seen)
    trained = window.document.parameter_values()["W1"]
    qtbot.waitUntil(lambda: panel.source.text() == "trained values")
    np.testing.assert_array_equal(panel.tile(15), trained[:, 15].reshape(8, 8))
