"""The main window: files (open, save, errors, unknown ops, recent, examples), unsaved-change
prompts, autosave and crash recovery, themes, shortcuts, and the layout remembered between runs."""

from __future__ import annotations

import gc
import json
from pathlib import Path

import pytest
from PySide6.QtWidgets import QDockWidget, QMessageBox

from nodestudio.graph import fileformat
from nodestudio.graph.history import capture
from nodestudio.gui import files
from nodestudio.gui.mainwindow import MainWindow
from nodestudio.gui.recovery import Recovery
from nodestudio.gui.theme import theme
from tests.train.examples import EXAMPLES


@pytest.fixture
def window(qtbot, dialogs):
    w = MainWindow(autosave=False)
    qtbot.addWidget(w)
    assert w.open_path(EXAMPLES / "mlp.json", ask=False)
    return w


def test_the_window_opens_with_every_dock_and_the_graph(window):
    titles = {d.windowTitle() for d in window.findChildren(QDockWidget)}
    assert titles >= {"Palette", "Inspector", "Training", "Curves", "Problems", "History"}
    assert set(window.scene.nodes) == set(window.document.graph.nodes)
    assert window.windowTitle() == "mlp.json[*] — NodeStudio"
    window._refresh_summary()
    assert window.graph_summary.text() == "12 nodes · 636,010 parameters"


def test_save_and_reopen_gives_an_equal_graph(window, tmp_path):
    window.document.add_node("relu", position=(10.0, 20.0))
    assert window.isWindowModified()
    target = tmp_path / "edited.json"
    assert window._save_to(target)
    assert not window.isWindowModified() and window.document.path == target
    saved = capture(window.document.graph)
    assert window.open_path(target)
    assert capture(window.document.graph) == saved
    assert files.recent_files()[0] == target.resolve()


def test_a_broken_file_leaves_the_current_graph_untouched(window, dialogs, tmp_path):
    before = capture(window.document.graph)
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "nodestudio-graph", "version": 1, "nodes": [{"id": 3}]}')
    assert not window.open_path(broken)
    assert capture(window.document.graph) == before
    kind, _, text = dialogs.shown[-1]
    assert kind == "warning" and "broken.json" in text and "nodes" in text


def test_a_newer_version_file_is_refused_with_its_version(window, dialogs, tmp_path):
    data = json.loads((EXAMPLES / "mlp.json").read_text())
    data["version"] = 99
    newer = tmp_path / "newer.json"
    newer.write_text(json.dumps(data))
    assert not window.open_path(newer)
    assert "99" in dialogs.shown[-1][2] and window.document.path.name == "mlp.json"


def test_unknown_ops_load_what_can_be_loaded_and_list_the_rest(window, dialogs, tmp_path,
                                                                monkeypatch):
    graph = fileformat.load(EXAMPLES / "mlp.json")
    graph.add_node("quantum_fourier", id="qft", position=(0.0, 0.0))
    graph.connect("hidden_tanh:out", "qft:x")
    odd = tmp_path / "odd.json"
    fileformat.save(graph, odd)
    assert window.open_path(odd)
    assert "qft" not in window.document.graph.nodes and "hidden" in window.document.graph.nodes
    kind, _, text = dialogs.shown[-1]
    assert kind == "information" and "qft" in text and "quantum_fourier" in text
    assert any("qft" in message for _, message, _ in window.problems.entries())
    # saving over the file would drop the node it could not read: asked first
    from PySide6.QtWidgets import QFileDialog
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: ("", "")))
    dialogs.answer = QMessageBox.No  # -> Save As, cancelled: the file keeps its node
    assert not window.save()
    assert "qft" in fileformat.load(odd).nodes
    dialogs.answer = QMessageBox.Yes
    assert window.save()
    assert dialogs.shown[-1][0] == "question" and "1 node" in dialogs.shown[-1][2]
    assert "qft" not in fileformat.load(odd).nodes
    shown = len(dialogs.shown)
    assert window.save() and len(dialogs.shown) == shown  # the file now matches: no question


def test_a_graph_without_positions_is_laid_out_left_to_right(window, tmp_path):
    data = json.loads((EXAMPLES / "mlp.json").read_text())
    for node in data["nodes"]:
        node.pop("position", None)
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(data))
    assert window.open_path(bare)
    graph = window.document.graph
    assert all(n.position is not None for n in graph.nodes.values())
    assert all(graph.nodes[e.src.node].position[0] < graph.nodes[e.dst.node].position[0]
               for e in graph.edges)


def test_closing_with_unsaved_changes_asks_and_cancel_keeps_the_window(window, dialogs):
    window.document.add_node("tanh")
    dialogs.answer = QMessageBox.Cancel
    assert not window.close()
    assert dialogs.shown[-1][0] == "question"
    dialogs.answer = QMessageBox.Discard
    assert window.close()


def test_autosave_writes_a_recovery_file_that_the_next_start_restores(qtbot, window,
                                                                     dialogs):
    node = window.document.add_node("softplus", position=(1.0, 2.0))
    window.autosave_now()
    assert window.recovery.pending()
    edited = capture(window.document.graph)
    # a crash: the window never closes normally, and the lock on its autosave goes with its
    # process (while a window lives, another never offers its autosave: test_recovery.py)
    crashed, window.recovery = window.recovery, Recovery()
    del crashed
    gc.collect()
    dialogs.answer = QMessageBox.Yes
    second = MainWindow(autosave=False)
    qtbot.addWidget(second)
    assert second.offer_recovery()
    assert capture(second.document.graph) == edited and node in second.document.graph.nodes
    assert second.document.modified and second.document.path.name == "mlp.json"
    dialogs.answer = QMessageBox.Discard
    assert second.close()
    assert not second.recovery.pending()


def test_saving_removes_the_recovery_file(window, tmp_path):
    window.document.add_node("tanh")
    window.autosave_now()
    assert window.recovery.pending()
    window._save_to(tmp_path / "g.json")
    assert not window.recovery.pending()


def test_examples_and_recent_menus_list_files(window):
    examples = [a.text() for a in window.menus["examples"].actions()]
    assert "Multilayer perceptron (784 -> 800 tanh -> 10)" in examples  # metadata.title
    assert "Logistic regression (784 -> 10)" in examples
    window._refresh_recent_menu()
    assert window.menus["recent"].actions()[0].text() == "mlp.json"


def test_the_theme_switches_and_is_remembered(qtbot, window):
    window.actions.themes["light"].trigger()
    assert theme().name == "light"
    second = MainWindow(autosave=False)
    qtbot.addWidget(second)
    assert theme().name == "light" and second.actions.themes["light"].isChecked()
    window.set_theme("dark")


def test_the_layout_is_remembered_between_runs(qtbot, window, dialogs):
    window.docks["curves"].hide()
    window.document.undo_stack.setClean()
    assert window.close()
    second = MainWindow(autosave=False)
    qtbot.addWidget(second)
    second.show()
    assert second.docks["curves"].isHidden()
    second.reset_layout()
    assert not second.docks["curves"].isHidden()


def test_help_lists_menu_and_canvas_shortcuts(window):
    rows = dict((action, keys) for keys, action in window.actions.shortcut_rows())
    assert rows["Undo"] and rows["Train"] == "F5" and rows["Find Op in Palette"] == "Ctrl+F"
    assert "Quick-add an op at the cursor" in rows


def test_find_op_shows_the_palette_and_focuses_its_search(qtbot, window):
    window.show()
    qtbot.waitExposed(window)
    window.docks["palette"].hide()
    window.actions.find_op.trigger()
    assert window.docks["palette"].isVisible()
    qtbot.waitUntil(lambda: window.palette.search.hasFocus())


def test_parameters_save_beside_the_graph_and_load_back(window, tmp_path):
    import numpy as np
    doc = window.document
    trained = {"W2": np.full((800, 10), 0.5, np.float32), "b2": np.arange(10, dtype=np.float32)}
    doc.set_values(trained, "Train")
    path = tmp_path / "mlp.npz"
    doc.save_parameters(path)
    doc.set_values({"W2": np.zeros((800, 10), np.float32)})
    assert sorted(doc.load_parameters(path)) == ["W2", "b2"]
    assert np.array_equal(doc.graph.values["W2"], trained["W2"])
    doc.undo_stack.undo()
    assert not doc.graph.values["W2"].any()


def test_parameters_of_the_wrong_shape_are_refused_naming_the_array(window, tmp_path):
    import numpy as np

    from nodestudio.errors import GraphError
    path = tmp_path / "bad.npz"
    np.savez(path, W2=np.zeros((3, 3), np.float32))
    with pytest.raises(GraphError, match=r"W2.*\(3, 3\).*\(800, 10\)"):
        window.document.load_parameters(path)


def test_screenshot_mode_writes_a_png_of_the_whole_window(qapp, tmp_path):
    from nodestudio.gui.app import run_studio
    out = tmp_path / "shot.png"
    assert run_studio(str(EXAMPLES / "logistic_regression.json"), str(out)) == 0
    from PySide6.QtGui import QImage
    image = QImage(str(out))
    assert (image.width(), image.height()) == (1600, 1000)
    assert len({image.pixel(x, 500) for x in range(0, 1600, 40)}) > 3  # not a blank frame


def test_screenshot_of_a_missing_graph_fails_with_status_2(qapp, tmp_path, dialogs):
    from nodestudio.gui.app import run_studio
    assert run_studio(str(tmp_path / "nope.json"), str(tmp_path / "x.png")) == 2
    assert not Path(tmp_path / "x.png").exists()


def _digits_window(qtbot, tmp_path) -> MainWindow:
    """The window on logistic regression resized for the 8 x 8 digits (quick to train)."""
    graph = fileformat.load(EXAMPLES / "logistic_regression.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W"].attrs["shape"] = [64, 10]
    path = tmp_path / "digits.json"
    fileformat.save(graph, path)
    w = MainWindow(autosave=False)
    qtbot.addWidget(w)
    assert w.open_path(path, ask=False)
    panel = w.training
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
    panel.batch_size.setValue(50)
    return w


@pytest.mark.opencl
def test_train_from_the_window_then_undo_the_trained_values(qtbot, tmp_path):
    w = _digits_window(qtbot, tmp_path)
    before = dict(w.document.graph.metadata)
    w.training.epochs.setValue(3)
    with qtbot.waitSignal(w.training.finished_run, timeout=120_000) as done:
        w.actions.train.trigger()
    assert done.args == [True]
    run = w.curves.runs[-1]
    assert len(run.epochs) == 3  # one point per epoch
    assert set(w.document.graph.values) >= {"W", "b"}
    assert "Train" in w.document.undo_stack.undoText()
    assert any("Finished" in message for _, message, _ in w.log_panel.entries())
    stored = w.document.graph.metadata["training"]  # the settings travel with the graph
    assert (stored["dataset"], stored["epochs"], stored["batch_size"]) == ("digits", 3, 50)
    assert "device" not in stored
    w.actions.reset_params.trigger()
    assert "W" not in w.document.graph.values and "training" in w.document.graph.metadata
    w.document.undo_stack.undo()
    assert "W" in w.document.graph.values
    w.document.undo_stack.undo()
    assert "W" not in w.document.graph.values
    assert w.document.graph.metadata == before  # undoing the run restores the old settings


@pytest.mark.opencl
def test_closing_the_window_mid_training_stops_and_joins_the_worker(qtbot, tmp_path):
    w = _digits_window(qtbot, tmp_path)
    w.training.epochs.setValue(500)
    with qtbot.waitSignal(w.training.session.epoch_end, timeout=120_000):
        w.actions.train.trigger()
    assert w.training.session.running
    w.document.undo_stack.setClean()
    assert w.close()
    assert not w.training.session.running


def test_a_session_from_palette_to_saved_file_undoes_and_redoes_exactly(qtbot, dialogs,
                                                                        tmp_path):
    """The issue's walk-through in one window: build a graph from the palette (one node by a
    real drag and drop), wire it with the mouse, meet a refused wire, edit an attribute in the
    inspector, undo everything and redo it, save, reopen: the same graph."""
    from PySide6.QtCore import QPointF, Qt
    from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent
    from PySide6.QtWidgets import QApplication

    from nodestudio.gui.canvas.items import INPUT, OUTPUT
    from tests.gui.test_canvas import drag, port

    w = MainWindow(autosave=False)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitExposed(w)
    doc, scene, view = w.document, w.scene, w.view
    empty = capture(doc.graph)

    # 1. a real drag and drop: the palette's own drag data dropped on the canvas
    data = w.palette.tree.mimeData([w.palette._ops["input"]])
    at = view.viewport().rect().center() - QPointF(250, 0).toPoint()
    for event in (QDragEnterEvent(at, Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier),
                  QDragMoveEvent(at, Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier),
                  QDropEvent(QPointF(at), Qt.CopyAction, data, Qt.LeftButton, Qt.NoModifier)):
        QApplication.sendEvent(view.viewport(), event)
        assert event.isAccepted()
    [x] = doc.graph.nodes
    # 2. two more from the palette (activated: added at the centre), moved apart by the model
    w.palette.op_activated.emit("tanh")
    w.palette.op_activated.emit("softmax_cross_entropy")
    tanh, loss = (n for n in doc.graph.nodes if n != x)
    doc.move_nodes({tanh: (doc.graph.nodes[x].position[0] + 300, 0.0),
                    loss: (doc.graph.nodes[x].position[0] + 600, 0.0)})
    view.fit_all()
    qtbot.wait(10)

    # 3. wire with the mouse; a refused wire adds nothing and says why
    drag(view, port(scene, f"{x}:out", OUTPUT), port(scene, f"{tanh}:x", INPUT))
    assert any(e.dst.node == tanh for e in doc.graph.edges)
    edges = len(doc.graph.edges)
    drag(view, port(scene, f"{tanh}:out", OUTPUT), port(scene, f"{loss}:labels", INPUT))
    assert len(doc.graph.edges) == edges
    assert scene.last_refusal and "int32" in scene.last_refusal
    assert "refused" in w.statusBar().currentMessage()

    # 4. an attribute edited in the inspector by typing
    scene.select_nodes([x])
    shape = w.inspector.editors["shape"].widget
    shape.setFocus()
    shape.selectAll()
    qtbot.keyClicks(shape, "B, 10")
    qtbot.keyClick(shape, Qt.Key_Return)
    assert doc.graph.nodes[x].attrs["shape"] in ([None, 10], (None, 10))
    final = capture(doc.graph)

    # 5. undo all the way back, redo all the way forward (through the window's actions)
    while doc.undo_stack.canUndo():
        w.actions.undo.trigger()
    assert capture(doc.graph) == empty and not scene.nodes
    while doc.undo_stack.canRedo():
        w.actions.redo.trigger()
    assert capture(doc.graph) == final and set(scene.nodes) == {x, tanh, loss}

    # 6. save and reopen: an equal graph
    assert w._save_to(tmp_path / "walk.json")
    assert w.open_path(tmp_path / "walk.json")
    assert capture(w.document.graph) == final
