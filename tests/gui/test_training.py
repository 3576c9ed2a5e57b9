"""The Training panel, its session and the Curves panel, driven like a user would."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QComboBox

from nodestudio.graph import fileformat
from nodestudio.gui.document import Document
from nodestudio.gui.theme import apply_theme, theme
from nodestudio.gui.training import CurvesPanel, TrainingPanel
from nodestudio.gui.training.curves import CSV_COLUMNS
from nodestudio.gui.training.fields import NumberEdit
from nodestudio.train.events import EpochRecord, History
from nodestudio.train.loop import TrainingError

LONG = 120_000  # ms: generous, the first compile of a graph can take a while on PoCL


def digits_graph():
    """Logistic regression 64 -> 10: the example graph resized for the 8 x 8 digits."""
    graph = fileformat.load("resources/examples/logistic_regression.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W"].attrs["shape"] = [64, 10]
    return graph


@pytest.fixture
def panel(qtbot):
    panel = TrainingPanel()
    curves = CurvesPanel()
    curves.connect_session(panel.session)
    panel.curves = curves  # kept alive with the panel for the tests
    qtbot.addWidget(panel)
    qtbot.addWidget(curves)
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
    panel.batch_size.setValue(50)
    panel.lr.setText("0.1")
    yield panel
    assert panel.session.shutdown(timeout=30)


def _train(qtbot, panel, epochs):
    panel.epochs.setValue(epochs)
    with qtbot.waitSignal(panel.session.finished, timeout=LONG) as finished:
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    return finished.args[0]


@pytest.mark.opencl
def test_train_button_trains_and_values_land_in_the_document_as_one_undo_step(qtbot, panel,
                                                                            tmp_path):
    document = Document(digits_graph())
    panel.set_document(document)
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
    panel.batch_size.setValue(50)
    messages = []
    panel.log.connect(lambda level, text, node: messages.append((level, text)))
    states, running, outcomes = [], [], []
    panel.session.state_changed.connect(states.append)
    panel.running_changed.connect(running.append)
    panel.finished_run.connect(outcomes.append)

    history = _train(qtbot, panel, 3)

    assert history.stop_reason == "epochs" and len(history.epochs) == 3
    assert states[0] == "compiling" and states[-1] == "idle" and "running" in states
    assert running == [True, False] and outcomes == [True]
    run = panel.curves.runs[-1]
    assert [r.epoch for r in run.epochs] == [1, 2, 3]
    for series in ("train_error", "valid_error", "train_loss", "valid_loss"):
        xs, ys = run.items[series].getData()
        assert list(xs) == [1, 2, 3], series  # exactly one point per epoch
    assert document.undo_stack.count() == 1
    assert document.undo_stack.text(0) == "Train: 3 epochs (sgd)"
    trained = document.graph.values["W"]
    assert trained.shape == (64, 10) and np.abs(trained).max() > 0
    assert panel.train_button.isEnabled() and "test error" in panel.progress.format()
    assert any(level == "info" and text.startswith("Finished after 3 epochs")
               and "test error" in text for level, text in messages)
    assert sum(text.startswith("Epoch ") for _, text in messages) == 3

    document.undo_stack.undo()
    assert "W" not in document.graph.values  # back to the untrained (initialised) graph

    path = tmp_path / "curves.csv"
    panel.curves.export_csv(path)
    rows = list(csv.DictReader(path.read_text().splitlines()))
    assert len(rows) == 3 and rows[0]["optimizer"] == "sgd"
    assert float(rows[2]["valid_error"]) == pytest.approx(history.epochs[2].valid_error)


@pytest.mark.opencl
def test_stop_ends_training_early_with_reason_stopped(qtbot, panel):
    panel.batch_size.setValue(10)
    panel.epochs.setValue(500)
    with qtbot.waitSignal(panel.session.epoch_end, timeout=LONG):
        assert panel.train(digits_graph(), "digits")
    assert panel.session.state == "running" and panel.pause_button.isEnabled()
    with qtbot.waitSignal(panel.session.finished, timeout=LONG) as finished:
        qtbot.mouseClick(panel.stop_button, Qt.MouseButton.LeftButton)
        assert panel.session.state == "stopping"
    history = finished.args[0]
    assert history.stop_reason == "stopped" and 1 <= len(history.epochs) < 500
    assert panel.session.values  # the best epoch's arrays, ready for the document


@pytest.mark.opencl
def test_pause_and_resume(qtbot, panel):
    panel.epochs.setValue(3)
    with qtbot.waitSignal(panel.session.epoch_end, timeout=LONG):
        panel.train(digits_graph(), "digits")
    qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
    assert panel.session.state == "paused" and panel.pause_button.text() == "Resume"
    with qtbot.waitSignal(panel.session.finished, timeout=LONG) as finished:
        qtbot.mouseClick(panel.pause_button, Qt.MouseButton.LeftButton)
        assert panel.session.state == "running"
    assert len(finished.args[0].epochs) == 3


@pytest.mark.opencl
def test_shutdown_mid_training_joins_the_worker(qtbot, qtlog, panel):
    panel.batch_size.setValue(5)
    panel.epochs.setValue(1000)
    with qtbot.waitSignal(panel.session.batch_progress, timeout=LONG):
        panel.train(digits_graph(), "digits")
    thread = panel.session._thread
    finished = []
    panel.session.finished.connect(finished.append)
    assert panel.session.shutdown(timeout=30)
    assert not thread.is_alive() and not panel.session.running
    qtbot.wait(50)  # let any event posted before the shutdown arrive: it must be dropped
    QApplication.processEvents()
    assert finished == []
    assert [r.message for r in qtlog.records if "propagateSizeHints" not in r.message] == []
    assert panel.train(digits_graph(), "again")  # the panel is usable again


@pytest.mark.opencl
def test_graph_without_loss_fails_with_a_message(qtbot, panel):
    graph = digits_graph()
    graph.remove_node(graph.outputs["loss"].node)
    with qtbot.waitSignal(panel.session.failed, timeout=LONG) as failed:
        panel.train(graph, "no-loss")
    message, node = failed.args
    assert "the graph has no loss: wire a loss op" in message and node is None
    assert panel.progress.format() == "Failed" and panel.train_button.isEnabled()
    assert panel.session.state == "idle"


def test_an_ambiguous_loss_is_offered_as_fixes_that_mend_the_graph(qtbot, panel):
    graph = digits_graph()
    del graph.outputs["loss"], graph.outputs["error"]
    graph.add_node("l2_penalty", {"weight": 1e-4}, id="penalty")
    graph.connect("W:out", "penalty:w")  # a second scalar output nothing consumes
    with qtbot.waitSignal(panel.session.fixable, timeout=LONG) as offered:
        panel.train(graph, "two-losses")
    message, fixes = offered.args
    assert "which output is the loss to minimise: loss:loss, penalty:loss" in message
    assert [f.label for f in fixes] == ["Mark loss:loss as the loss",
                                        "Mark penalty:loss as the loss"]
    qtbot.waitUntil(lambda: not panel.session.running, timeout=LONG)
    fixes[0].apply(graph)
    assert str(graph.outputs["loss"]) == "loss:loss"


@pytest.mark.opencl
def test_features_of_the_wrong_width_offer_the_datasets_shape(qtbot, panel):
    graph = digits_graph()
    graph.nodes["x"].attrs["shape"] = [None, 2]
    graph.nodes["W"].attrs["shape"] = [2, 10]
    notes = []
    panel.session.roles_note.connect(notes.append)
    with qtbot.waitSignal(panel.session.fixable, timeout=LONG) as offered:
        panel.train(graph, "narrow")
    message, fixes = offered.args
    assert "input 'x' is B x 2" in message and "'digits:train' has 64 (8 x 8)" in message
    assert [f.label for f in fixes] == ["Set the shape of x to B x 64"]
    assert notes == ["Training roles: features x, labels y, loss loss:loss, error error:loss, "
                     "prediction prediction:out"]
    qtbot.waitUntil(lambda: not panel.session.running, timeout=LONG)
    fixes[0].apply(graph)
    assert list(graph.nodes["x"].attrs["shape"]) == [None, 64]


@pytest.mark.opencl
def test_a_broken_node_is_named_in_the_failure(qtbot, panel):
    graph = digits_graph()
    graph.disconnect(next(e for e in graph.edges if e.dst.node == "logits" and
                          e.dst.port == "b"))
    logged, selected, outcomes = [], [], []
    panel.log.connect(lambda level, text, node: logged.append((level, node)))
    panel.node_failed.connect(selected.append)
    panel.finished_run.connect(outcomes.append)
    with qtbot.waitSignal(panel.session.failed, timeout=LONG) as failed:
        panel.train(graph, "broken")
    assert failed.args[1] == "logits"
    assert ("error", "logits") in logged and selected == ["logits"] and outcomes == [False]


@pytest.mark.opencl
def test_divergence_fails_naming_the_node(qtbot, panel):
    # loss + log(relu(probe)): sgd pushes probe down by lr / probe per step, from 1 to below 0
    # within a few steps, where log(relu(probe)) = log(0) = -inf (as in tests/train/test_loop.py)
    graph = digits_graph()
    graph.add_node("parameter", {"shape": [], "dtype": "float32", "init": "constant",
                                 "value": 1.0, "trainable": True}, id="probe")
    graph.add_node("relu", {}, id="probe_relu")
    graph.add_node("log", {}, id="probe_log")
    graph.add_node("add", {}, id="total")
    graph.connect("probe:out", "probe_relu:x")
    graph.connect("probe_relu:out", "probe_log:x")
    graph.connect("loss:loss", "total:a")
    graph.connect("probe_log:out", "total:b")
    graph.outputs["loss"] = graph.outputs["loss"].__class__("total", "out")
    with qtbot.waitSignal(panel.session.failed, timeout=LONG) as failed:
        panel.train(graph, "diverging")
    message, node = failed.args
    assert "diverged" in message and node == "probe_log"
    assert panel.session.history.stop_reason == "diverged"
    assert panel.session.values == {}  # nothing goes back to the document


def test_the_hyperparameter_form_follows_the_optimizer(panel):
    panel.optimizer.setCurrentText("adam")
    assert list(panel.hyper.editors) == ["beta1", "beta2", "eps"]
    assert panel.lr.placeholderText() == "default 0.001" and panel.lr.text() == ""
    panel.hyper.editors["beta1"].setText("0.8")
    assert panel.settings().hyper == {"beta1": 0.8}
    panel.hyper.editors["beta1"].setText("1.5")
    assert panel.hyper.editors["beta1"].property("invalid") is True
    with pytest.raises(TrainingError, match="Beta 1"):
        panel.settings()

    panel.optimizer.setCurrentText("momentum")
    assert list(panel.hyper.editors) == ["momentum", "variant"]
    assert isinstance(panel.hyper.editors["variant"], QComboBox)
    panel.hyper.editors["variant"].setCurrentText("smoothed")
    assert panel.settings().hyper == {"variant": "smoothed"}

    panel.optimizer.setCurrentText("adam")  # what was typed for adam comes back
    assert panel.hyper.editors["beta1"].text() == "1.5"

    panel.optimizer.setCurrentText("lbfgs")
    assert panel.hyper.editors == {}
    assert not panel.form.isRowVisible(panel.lr)
    assert not panel.form.isRowVisible(panel.batch_size)
    assert panel.settings().optimizer == "lbfgs"

    panel.optimizer.setCurrentText("sgd")
    assert panel.lr.text() == "0.1" and panel.form.isRowVisible(panel.lr)


def test_schedule_parameters_follow_the_schedule(panel):
    panel.schedule.setCurrentText("step")
    assert list(panel.schedule_form.editors) == ["factor", "every"]
    panel.schedule_form.editors["every"].setText("50")
    settings = panel.settings()
    assert settings.schedule == "step" and settings.schedule_params == {"factor": 0.5,
                                                                        "every": 50}
    panel.schedule_form.editors["every"].setText("2.5")
    with pytest.raises(TrainingError, match="whole"):
        panel.settings()
    panel.schedule.setCurrentText("constant")
    assert panel.schedule_form.editors == {} and panel.settings().schedule == "constant"


def test_defaults_come_from_the_graph_metadata(panel):
    panel.set_graph_metadata(fileformat.load("resources/examples/mlp.json").metadata)
    s = panel.settings()
    assert (s.optimizer, s.lr, s.batch_size, s.epochs, s.patience) == ("sgd", 0.1, 20, 30, 10)
    assert s.dataset == "digits"  # not named by the file: the user's choice stays
    assert panel.early.isChecked() and panel.patience.isEnabled()
    panel.set_graph_metadata(fileformat.load("resources/examples/deep_mlp.json").metadata)
    s = panel.settings()
    assert (s.optimizer, s.lr, s.patience) == ("adam", 0.001, 5)
    panel.set_graph_metadata({})
    s = panel.settings()
    assert (s.optimizer, s.lr, s.batch_size, s.patience) == ("sgd", None, 100, None)
    document = Document(digits_graph())
    panel.set_document(document)  # logistic_regression.json: sgd, lr 0.1, batch 100
    assert (panel.settings().lr, panel.settings().epochs) == (0.1, 20)
    document.replace(fileformat.load("resources/examples/deep_mlp.json"), None)
    assert panel.settings().optimizer == "adam"  # an opened file brings its own defaults


def test_regularisation_fields_reach_the_settings(panel):
    panel.l2.setText("1e-4")
    panel.max_norm.setText("3")
    panel.drop_connect.setValue(0.2)
    panel.shift.setValue(2)
    r = panel.settings().regularisation
    assert (r.l2, r.max_norm, r.drop_connect, r.shift) == (1e-4, 3.0, 0.2, 2)
    panel.max_norm.setText("-3")
    with pytest.raises(TrainingError, match="greater than 0"):
        panel.settings()


def test_bad_settings_log_an_error_instead_of_training(panel):
    logged = []
    panel.log.connect(lambda level, text, node: logged.append((level, text)))
    panel.lr.setText("-1")
    assert panel.lr.property("invalid") is True
    assert not panel.train(digits_graph(), "bad")
    assert logged and logged[0][0] == "error" and "cannot train" in logged[0][1]
    assert not panel.session.running


def test_a_dataset_file_becomes_a_choice(panel, tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("a,b,label\n0,1,0\n1,0,1\n")
    panel.dataset.add_dataset(str(path))
    assert panel.dataset.currentText() == "table.csv"
    assert panel.settings().dataset == str(path)
    assert panel.dataset.itemData(panel.dataset.count() - 1) != str(path)  # "Open…" stays last
    panel.dataset.add_dataset(str(path))
    assert [panel.dataset.itemData(i) for i in range(panel.dataset.count())].count(
        str(path)) == 1


def test_number_edit_validates_as_typed(qtbot):
    edit = NumberEdit(optional=True, low=0.0)
    qtbot.addWidget(edit)
    qtbot.keyClicks(edit, "3e-4")
    assert edit.value() == pytest.approx(3e-4) and edit.property("invalid") is False
    edit.setText("")
    assert edit.value() is None
    edit.setText("-2")
    assert edit.property("invalid") is True and "at least 0" in edit.problem()


# --- curves without training ---------------------------------------------------------------

def _records(n, offset=0.0):
    return [EpochRecord(e, 1.0 / e + offset, 0.5 / e, 1.2 / e + offset, 0.6 / e, 0.1)
            for e in range(1, n + 1)]


def test_curves_keep_earlier_runs_faded_and_export(qtbot, tmp_path):
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.resize(800, 300)
    curves.begin_run("sgd")
    for r in _records(4):
        curves.add_epoch(r, best_epoch=r.epoch)
    curves.end_run(History(epochs=_records(4), best_epoch=4, test_error=0.1))
    curves.begin_run("adam")
    for r in _records(2, 0.1):
        curves.add_epoch(r, best_epoch=1)
    assert [run.label for run in curves.runs] == ["run 1 · sgd", "run 2 · adam"]
    curves.flush()  # points are drawn in batches while a run goes on
    old = curves.runs[0].items["valid_error"]  # validation solid, faded: not the newest run
    assert old.opts["pen"].style() == Qt.PenStyle.SolidLine
    assert old.opts["pen"].color().alpha() < 255
    assert curves.runs[0].items["train_error"].opts["pen"].style() == Qt.PenStyle.DashLine
    assert curves.runs[1].items["valid_error"].opts["pen"].color().alpha() == 255
    assert old.name() == "run 1 · sgd"
    assert list(curves.runs[0].items["valid_error"].getData()[1]) == pytest.approx(
        [100 * r.valid_error for r in _records(4)])
    assert curves._best_lines["error"].value() == 1

    csv_path = tmp_path / "c.csv"
    curves.export_csv(csv_path)
    rows = list(csv.reader(csv_path.read_text().splitlines()))
    assert tuple(rows[0]) == CSV_COLUMNS and len(rows) == 1 + 4 + 2
    assert rows[5][:3] == ["2", "adam", "1"]

    png = tmp_path / "c.png"
    curves.export_png(png)
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 100 and image.height() > 100
    colours = {image.pixel(x, y) for x in range(0, image.width(), 7)
               for y in range(0, image.height(), 7)}
    assert len(colours) > 10  # drawn plots, not a blank rectangle

    curves.clear()  # the current run is still going: it stays
    assert [run.number for run in curves.runs] == [2]
    curves.end_run(None)
    curves.clear()
    assert curves.runs == []


def test_curves_batch_line_log_scale_and_theme(qtbot):
    from nodestudio.gui.training.session import BatchProgress
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.begin_run("sgd")
    for step in range(1, 5):
        curves.add_batch(BatchProgress(1, 3, step, 4, step, 1.0, 1.0 / step, 1000.0, 0.1))
    qtbot.waitUntil(lambda: curves.runs[0].items["batch"].getData()[0] is not None
                    and len(curves.runs[0].items["batch"].getData()[0]) == 4)
    xs, ys = curves.runs[0].items["batch"].getData()
    assert list(xs) == [0.25, 0.5, 0.75, 1.0]
    curves.log_loss.setChecked(True)
    assert curves.loss_plot.getPlotItem().getAxis("left").logMode
    app = QApplication.instance()
    try:
        apply_theme(app, "light")
        assert curves.error_plot.backgroundBrush().color().name() == theme().base
        assert "batch" in curves.runs[0].items  # curves were rebuilt with the new colours
    finally:
        apply_theme(app, "dark")
    assert curves.error_plot.backgroundBrush().color().name() == theme().base
