"""Train > Pretrain in the studio: the dialog opened from the Train menu's shortcut, one short
epoch of the RBM example on mnist5k through the Training dock's session, per-layer progress,
the values written back as one undo step, the Filters panel turning to the layer trained."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from nodestudio.gui.inside.live import live_values
from nodestudio.gui.training.pretrain import PretrainRequest, stack_layers, stored_request

LONG = 180_000  # ms: compiling and one epoch of PCD-15 on a loaded PoCL machine


@pytest.fixture
def window(studio):
    return studio()


def _type(qtbot, box, text):
    box.setFocus()
    qtbot.keyClick(box, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(box, text)


def test_pretrain_from_the_train_menu_writes_w_back_as_one_undo_step(qtbot, window):
    assert window.open_path("resources/examples/rbm.json", ask=False)
    assert window.actions.pretrain in window.menuBar().actions()[-2].menu().actions()
    filters = window.show_panel("filters")
    names = [filters.layer.itemData(i) for i in range(filters.layer.count())]
    assert set(names) == {"rbm/W", "rbm/chain"}
    filters.layer.setCurrentIndex(names.index("rbm/chain"))  # looking elsewhere
    before = dict(window.document.parameter_values())
    assert "rbm/W" not in before  # the example holds no values: the initialiser's

    progress_texts: list[str] = []
    window.training.session.batch_progress.connect(
        lambda _: progress_texts.append(window.training.progress.format()))
    qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    dialog = window.pretrain_dialog
    assert dialog is not None and dialog.isVisible()
    assert dialog.method.currentText() == "rbm"  # from the example's metadata
    assert dialog.checked_layers() == ["rbm"]
    assert dialog.batch_size.value() == 20 and dialog.lr.value() == pytest.approx(0.1)
    _type(qtbot, dialog.epochs, "1")
    assert dialog.epochs.value() == 1
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    session = window.training.session
    assert session.running and session.pretraining == PretrainRequest(
        "rbm", None, 1, "sgd", 0.1, 20, None)
    panel = window.panel("pretraining")
    assert window.docks["training"].isVisible() and window.inside.docks["pretraining"].isVisible()
    qtbot.waitUntil(lambda: filters.layer.currentData() == "rbm/W", timeout=LONG)
    with qtbot.waitSignal(session.finished, timeout=LONG):
        pass
    assert any(text.startswith("Layer 1 / 1 (rbm) · epoch 1 / 1") for text in progress_texts)
    assert not window.actions.train.isEnabled() or not session.running

    values = window.document.parameter_values()
    W = values["rbm/W"]
    assert W.shape == (784, 500) and np.all(np.isfinite(W))
    np.testing.assert_array_equal(W, session.values["rbm/W"])
    assert not np.allclose(values["rbm/chain"], 0.0)  # the particles moved
    assert window.document.graph.metadata["pretraining"] == {
        "method": "rbm", "epochs": 1, "optimizer": "sgd", "batch_size": 20, "lr": 0.1}
    assert window.document.graph.metadata["training"]["epochs"] == 15  # Train's, untouched
    assert window.document.undo_stack.undoText() == "Pretrain rbm: all layers, 1 epochs"

    # per-layer progress: the layer, its epochs, its figures as the run measured them
    record = session.history.epochs[-1]
    status = window.training.status.text()
    assert status.startswith("Pretrained rbm: 1 epoch;")
    assert f"free-energy gap {record.metrics['free_energy_gap']:.4g}" in status
    assert f"pseudo-likelihood {record.metrics['pseudo_likelihood']:.4g}" in status
    row = panel.row("rbm")
    assert row[:3] == ["rbm", "done", "1"]
    assert row[3] == f"{record.train_loss:.4g}"
    assert row[4] == f"{record.metrics['recon']:.4g}"
    assert row[5] == f"{record.metrics['free_energy_gap']:.4g}"
    assert row[6] == f"{record.metrics['pseudo_likelihood']:.4g}"
    assert len(panel.plots["recon"].getPlotItem().listDataItems()) == 1

    # an RBM's filters are shown tile by tile ("auto"): each to its own largest |weight|
    assert filters.scale.currentData() == "auto" and filters.per_tile()
    for unit in (0, 42):
        column = W[:, unit]
        np.testing.assert_allclose(filters.tile(unit),
                                   (column / np.abs(column).max()).reshape(28, 28), rtol=1e-6)
    filters.scale.setCurrentIndex(filters.scale.findData("shared"))
    np.testing.assert_array_equal(filters.tile(42), W[:, 42].reshape(28, 28))

    window.document.undo_stack.undo()  # one step takes the values back
    assert "rbm/W" not in window.document.parameter_values()
    assert "pretraining" in window.document.graph.metadata  # the example's own settings
    assert window.document.graph.metadata["pretraining"]["epochs"] == 15
    window.document.undo_stack.redo()
    np.testing.assert_array_equal(window.document.parameter_values()["rbm/W"], W)


def test_the_dialog_checks_the_selected_layers_and_refuses_an_empty_choice(qtbot, window):
    assert window.open_path("resources/examples/dbn.json", ask=False)
    graph = window.document.graph
    stack = stack_layers(graph, "dbn")
    assert len(stack) == 3
    window.scene.select_nodes([stack[1]])
    qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    dialog = window.pretrain_dialog
    dialog.method.setCurrentText("dbn")
    assert dialog.checked_layers() == [stack[1]]
    request = dialog.request()
    assert request.layers == (stack[1],)
    assert type(request.strategy(graph)).__name__ == "LayerwiseStrategy"
    for i in range(dialog.layers.count()):
        dialog.layers.item(i).setCheckState(Qt.CheckState.Unchecked)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    assert dialog.isVisible() and "at least one layer" in dialog.problem.text()
    assert not window.training.session.running
    dialog.reject()


def test_stored_settings_fall_back_to_defaults_field_by_field():
    request = stored_request({"pretraining": {"method": "nope", "epochs": 3, "lr": "x",
                                              "optimizer": "cg", "k": 2}})
    assert (request.method, request.epochs, request.lr, request.optimizer, request.k) == (
        "rbm", 3, 0.1, "sgd", 2)


def test_k_may_be_a_schedule_typed_as_the_command_line_takes_it(qtbot, window):
    assert window.open_path("resources/examples/dbn.json", ask=False)
    qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    dialog = window.pretrain_dialog
    dialog.method.setCurrentText("dbn")
    _type(qtbot, dialog.k, "1:1, 5:3, 10:10")
    request = dialog.request()
    assert request.k == {1: 1, 5: 3, 10: 10}
    assert request.to_metadata()["k"] == "1:1,5:3,10:10"
    assert stored_request({"pretraining": request.to_metadata()}).k == request.k
    assert "k 1:1,5:3,10:10" in request.describe()
    strategy = request.strategy(window.document.graph)
    assert strategy.k == {1: 1, 5: 3, 10: 10}
    for bad, words in (("three", "EPOCH:K pairs"), ("0", "at least 1"), ("1:0", "at least 1")):
        _type(qtbot, dialog.k, bad)
        qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                         Qt.MouseButton.LeftButton)
        assert dialog.isVisible() and words in dialog.problem.text(), bad
    assert not window.training.session.running
    dialog.reject()


def test_a_dbn_pretrains_layer_by_layer_with_per_layer_progress(qtbot, window):
    assert window.open_path("resources/examples/dbn.json", ask=False)
    filters = window.show_panel("filters")
    session = window.training.session
    started, texts = [], []
    session.layer_started.connect(lambda event: started.append(
        (event.index, event.total, event.layer, filters.layer.currentData())))
    session.batch_progress.connect(lambda _: texts.append(window.training.progress.format()))
    epochs, snapshots = [], []
    session.epoch_end.connect(lambda event: epochs.append(event.record.epoch))
    live = live_values(window)
    session.snapshot.connect(lambda snap: snapshots.append(
        (snap.iteration, snap.epoch, sorted({k.partition("/")[0] for k in snap.params}),
         filters.layer.currentData(), sorted(k for k in live.parameters() if k.endswith("/W")))))
    qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    dialog = window.pretrain_dialog
    assert dialog.method.currentText() == "dbn" and dialog.checked_layers() == [
        "rbm1", "rbm2", "rbm3"]
    dialog.epochs.setValue(1)
    qtbot.mouseClick(dialog.buttons.button(QDialogButtonBox.StandardButton.Ok),
                     Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(session.finished, timeout=LONG):
        pass
    # each layer in turn, and the Filters panel on its weights when it starts
    assert [s[:3] for s in started] == [(1, 3, "rbm1"), (2, 3, "rbm2"), (3, 3, "rbm3")]
    assert [s[3] for s in started] == ["rbm1/W", "rbm2/W", "rbm3/W"]
    assert any(t.startswith("Layer 2 / 3 (rbm2) · epoch 1 / 1") for t in texts)
    assert epochs == [1, 2, 3]  # the layers' epochs one after the other on the curves
    # live snapshots of each layer as it trains, its steps counted on over the run, while
    # the panels still see every layer's weights
    layers = [layer for _, _, layer, _, _ in snapshots]
    assert [["rbm1"], ["rbm2"], ["rbm3"]] == [x for i, x in enumerate(layers)
                                            if i == 0 or x != layers[i - 1]]
    iterations = [it for it, *_ in snapshots]
    assert iterations == sorted(iterations) and len(set(iterations)) == len(iterations)
    assert [e for _, e, layer, _, _ in snapshots if layer == ["rbm3"]][0] == 3
    assert all(names == ["logits/W", "rbm1/W", "rbm2/W", "rbm3/W"]
               for *_, names in snapshots)
    panel = window.panel("pretraining")
    for layer in ("rbm1", "rbm2", "rbm3"):
        row = panel.row(layer)
        assert row[1:3] == ["done", "1"] and row[4] != "–"  # its reconstruction error
    values = window.document.parameter_values()
    assert all(f"rbm{i}/W" in values for i in (1, 2, 3)) and "logits/W" in values
    assert window.document.undo_stack.undoText() == "Pretrain dbn: all layers, 1 epochs"


def test_pause_resume_and_stop_reach_a_pretraining_run(qtbot, window):
    assert window.open_path("resources/examples/rbm.json", ask=False)
    session, training = window.training.session, window.training
    qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    window.pretrain_dialog.epochs.setValue(50)
    window.pretrain_dialog.accept()
    with qtbot.waitSignal(session.batch_progress, timeout=LONG):
        pass
    assert not window.actions.pretrain.isEnabled() and not window.actions.train.isEnabled()
    qtbot.mouseClick(training.pause_button, Qt.MouseButton.LeftButton)
    assert session.state == "paused" and training.pause_button.text() == "Resume"
    qtbot.mouseClick(training.pause_button, Qt.MouseButton.LeftButton)
    assert session.state == "running"
    qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(session.finished, timeout=LONG) as finished:
        pass
    assert finished.args[0].stop_reason == "stopped"
    assert window.actions.pretrain.isEnabled()
