"""A new user's first network: an MLP 784-100-10 built on an empty canvas with real mouse and
keyboard events (palette drags, port-to-port drags, the inspector, a role marked from the
context menu), in at most 12 actions, trained from F5 on mnist5k to under 15% test error; the
same graph saved and trained with `nodestudio train` gives the same numbers. The inputs come
shaped for the Training dock's dataset: the first one dropped takes its examples as rows
(B x 784), the second its labels (B, int32)."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from nodestudio.cli import main
from nodestudio.gui.canvas.items import INPUT, OUTPUT
from nodestudio.gui.mainwindow import MainWindow
from tests.gui.test_canvas import drag, port

MAX_ACTIONS = 12


class User:
    """Does what a user does in the window, one counted action at a time."""

    def __init__(self, qtbot, window: MainWindow):
        self.qtbot, self.w, self.actions = qtbot, window, 0

    def drop(self, op: str, at: QPoint) -> str:
        """Drag an op from the palette and drop it on the canvas at a viewport point."""
        w, view = self.w, self.w.view
        before = set(w.document.graph.nodes)
        data = w.palette.tree.mimeData([w.palette._ops[op]])
        for event in (QDragEnterEvent(at, Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier),
                      QDragMoveEvent(at, Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier),
                      QDropEvent(QPointF(at), Qt.CopyAction, data, Qt.LeftButton,
                                 Qt.NoModifier)):
            QApplication.sendEvent(view.viewport(), event)
        self.actions += 1
        [new] = set(w.document.graph.nodes) - before
        return new

    def wire(self, src: str, dst: str) -> None:
        """Drag from an output port to an input port with the mouse."""
        scene = self.w.scene
        edges = len(self.w.document.graph.edges)
        drag(self.w.view, port(scene, src, OUTPUT), port(scene, dst, INPUT))
        assert len(self.w.document.graph.edges) == edges + 1, scene.last_refusal
        self.actions += 1

    def select(self, node: str) -> None:
        """Click the node's header (selection is not counted: it comes with the next edit)."""
        scene, view = self.w.scene, self.w.view
        item = scene.nodes[node]
        centre = view.mapFromScene(item.mapToScene(QPointF(20, 8)))
        self.qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=centre)
        assert self.w.inspector.shown_nodes == [node]

    def type_attr(self, node: str, name: str, text: str) -> None:
        """Select the node and type a value into the inspector's field for `name`."""
        self.select(node)
        widget = self.w.inspector.editors[name].widget
        widget.setFocus()
        if hasattr(widget, "selectAll"):
            widget.selectAll()
        elif hasattr(widget, "lineEdit"):
            widget.lineEdit().selectAll()
        self.qtbot.keyClicks(widget, text)
        self.qtbot.keyClick(widget, Qt.Key_Return)
        self.actions += 1

    def pick(self, node: str, name: str, choice: str) -> None:
        """Select the node and pick a choice in the inspector's list by typing it."""
        self.select(node)
        combo = self.w.inspector.editors[name].widget
        combo.setFocus()
        self.qtbot.keyClicks(combo, choice)
        assert combo.currentText() == choice
        self.actions += 1

    def mark(self, node: str, text: str) -> None:
        """Right-click a node and choose a context-menu entry."""
        view, item = self.w.view, self.w.scene.nodes[node]
        menu = view.context_menu(item.mapToScene(item.card().center()))
        [action] = [a for a in menu.actions() if a.text() == text]
        action.trigger()
        self.actions += 1


@pytest.mark.opencl
@pytest.mark.slow
def test_an_mlp_built_from_an_empty_canvas_trains_from_f5_as_the_cli_does(qtbot, tmp_path,
                                                                        capsys, dialogs):
    w = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    qtbot.waitExposed(w)
    w.new_document()
    assert not w.document.graph.nodes
    user = User(qtbot, w)
    w.view.zoom_by(0.6)  # room for five cards side by side
    centre = w.view.viewport().rect().center()
    row = [centre + QPoint(dx, -60) for dx in (-400, -200, 0, 200)]

    x = user.drop("input", row[0])
    assert w.document.graph.nodes[x].attrs == {"shape": [None, 784], "dtype": "float32",
                                                "role": "features"}
    hidden = user.drop("dense_layer", row[1])  # units: 100 by default
    user.wire(f"{x}:out", f"{hidden}:x")
    user.pick(hidden, "activation", "tanh")
    logits = user.drop("dense_layer", row[2])
    user.wire(f"{hidden}:out", f"{logits}:x")
    user.type_attr(logits, "units", "10")
    loss = user.drop("softmax_cross_entropy", row[3])
    user.wire(f"{logits}:out", f"{loss}:logits")
    labels = user.drop("input", row[2] + QPoint(0, 150))
    assert w.document.graph.nodes[labels].attrs == {"shape": [None], "dtype": "int32",
                                                     "role": "labels"}
    user.wire(f"{labels}:out", f"{loss}:labels")
    user.mark(loss, "Mark loss as the loss")
    assert user.actions <= MAX_ACTIONS

    graph = w.document.graph
    assert graph.nodes[hidden].attrs["units"] == 100
    assert str(graph.outputs["loss"]) == f"{loss}:loss"
    assert w.document.roles.problems == [] and w.document.roles.features == x
    qtbot.waitUntil(lambda: w.roles_hint.text() == f"Train minimises {loss}:loss")
    assert w.scene.nodes[x].binding == "mnist5k: 28 x 28"  # what the Training dock will feed
    path = tmp_path / "mlp_from_scratch.json"
    w.document.save(path)  # the untrained graph, for the command line below

    w.view.setFocus()
    with qtbot.waitSignal(w.training.finished_run, timeout=600_000) as done:
        qtbot.keyClick(w.view, Qt.Key_F5)
    assert done.args == [True]
    history = w.training.session.history
    assert history.test_error < 0.15
    assert any(text.startswith("Training roles: features ") for _, text, _ in
               w.log_panel.entries())

    out = tmp_path / "cli"
    assert main(["train", str(path), "--data", "mnist5k", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_error"] == pytest.approx(history.test_error, abs=1e-9)
    assert metrics["test_loss"] == pytest.approx(history.test_loss, rel=1e-6)
    assert metrics["best_epoch"] == history.best_epoch
    assert "settings: adam (lr 0.001" in capsys.readouterr().err
