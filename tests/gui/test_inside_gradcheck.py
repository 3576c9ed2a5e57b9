"""The Gradient check panel: a real click on its button checks the selected node; the rows
show the relative errors of train/gradcheck.py with pass marks, and a wrong rule fails."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from nodestudio.gui.mainwindow import MainWindow
from nodestudio.ops import registry
from nodestudio.ops.elementwise import unary
from nodestudio.paths import resource_dir

pytestmark = pytest.mark.gui
EXAMPLE = resource_dir("examples") / "mlp.json"


@pytest.fixture
def window(qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    w = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    qtbot.addWidget(w)
    assert w.open_path(EXAMPLE, ask=False)
    rng = np.random.default_rng(0)  # the file starts W2 at zero: give every layer a gradient
    shapes = {"W1": (784, 800), "b1": (800,), "W2": (800, 10), "b2": (10,)}
    w.document.set_values({k: rng.normal(0, 0.3, shape).astype(np.float32)
                           for k, shape in shapes.items()})
    w.show()
    qtbot.waitExposed(w)
    yield w
    w.document.undo_stack.setClean()


def _check(window, qtbot, node):
    panel = window.show_panel("gradcheck")
    window.scene.select_nodes([node])
    assert node in panel.node_label.text() and panel.check_button.isEnabled()
    qtbot.mouseClick(panel.check_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not panel.busy, timeout=60_000)
    assert panel.error is None, panel.error
    return panel


def test_checking_the_hidden_layer_shows_each_input_passing(window, qtbot):
    panel = _check(window, qtbot, "hidden")
    result = panel.result
    assert panel.table.rowCount() == 3 and result.node == "hidden"
    for row, item in enumerate(result.items):
        assert panel.table.item(row, 0).text() == item.label
        assert float(panel.table.item(row, 2).text()) == pytest.approx(item.relative_error,
                                                                        rel=0.01, abs=1e-12)
        assert panel.table.item(row, 3).text().startswith("✓ pass")
        assert np.linalg.norm(item.autodiff) > 0  # a real gradient reached the layer
    assert "all pass" in panel.summary.text() and "1e-05" in panel.summary.text()


def test_a_wrong_tanh_rule_is_marked_fail(window, qtbot, monkeypatch):
    tanh = registry.get("tanh")
    wrong = unary(lambda F, x, o, g, at: g * (1.0 - o))  # the square left out
    monkeypatch.setitem(registry._REGISTRY, "tanh", dataclasses.replace(tanh, grad=wrong))
    panel = _check(window, qtbot, "hidden_tanh")
    assert not panel.result.passed
    assert panel.table.item(0, 3).text().startswith("✗ FAIL")
    assert "FAIL" in panel.summary.text()
