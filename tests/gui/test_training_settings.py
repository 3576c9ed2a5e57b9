"""The Training dock's settings agree with `nodestudio train`: switching optimizer starts from
that optimizer's defaults, preprocessing is a setting, and notes on the data reach the log."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from nodestudio.cli import _settings, build_parser
from nodestudio.graph import fileformat
from nodestudio.gui.document import Document
from nodestudio.gui.training import TrainingPanel

LONG = 120_000  # ms: the first compile of a graph can take a while on PoCL


@pytest.fixture
def panel(qtbot):
    panel = TrainingPanel()
    qtbot.addWidget(panel)
    panel.show()
    yield panel
    assert panel.session.shutdown(timeout=30)


def _metadata(name):
    return fileformat.load(f"resources/examples/{name}.json").metadata


def _choose(qtbot, combo, text):
    """Pick an entry as a keyboard user does: arrow keys on the combo box."""
    target = combo.findText(text)
    assert target >= 0, text
    while combo.currentIndex() != target:
        key = Qt.Key.Key_Down if combo.currentIndex() < target else Qt.Key.Key_Up
        qtbot.keyClick(combo, key)
    assert combo.currentText() == text


def _cli(metadata, optimizer):
    """The settings `nodestudio train GRAPH --optimizer OPTIMIZER` uses for that graph."""
    args = build_parser().parse_args(["train", "g.json", "--data", "digits", "--out", "o",
                                      "--optimizer", optimizer])
    return _settings(args, metadata)


def test_a_new_optimizer_starts_from_its_own_defaults_as_on_the_command_line(qtbot, panel):
    panel.set_graph_metadata(_metadata("mlp"))  # sgd, lr 0.1
    panel.set_graph_metadata(_metadata("deep_mlp"))  # adam, lr 0.001: another file opened
    deep = _metadata("deep_mlp")
    _choose(qtbot, panel.optimizer, "sgd")
    # sgd is not deep_mlp's optimizer: its default rate, not the 0.1 typed for the last file
    assert panel.lr.text() == "" and panel.lr.placeholderText() == "default 0.01"
    shown = panel.settings()
    assert shown.effective_lr() == _cli(deep, "sgd").effective_lr() == 0.01
    assert shown.hyperparameter_values() == _cli(deep, "sgd").hyperparameter_values()
    _choose(qtbot, panel.optimizer, "adam")  # back to the graph's own: its stored rate
    assert panel.lr.text() == "0.001"


def test_stored_hyperparameters_belong_to_the_stored_optimizer(qtbot, panel):
    stored = {"training": {"optimizer": "momentum", "lr": 0.05, "hyper": {"momentum": 0.5}}}
    panel.set_graph_metadata(stored)
    assert panel.hyper.editors["momentum"].text() == "0.5" and panel.lr.text() == "0.05"
    _choose(qtbot, panel.optimizer, "nesterov")
    assert panel.hyper.editors["momentum"].text() == "0.9" and panel.lr.text() == ""
    assert panel.settings().hyperparameter_values() == \
        _cli(stored, "nesterov").hyperparameter_values() == {"lr": 0.01, "momentum": 0.9}
    _choose(qtbot, panel.optimizer, "momentum")
    assert panel.settings().hyperparameter_values() == \
        _cli(stored, "momentum").hyperparameter_values()
    assert (panel.settings().lr, panel.settings().hyper) == (0.05, {"momentum": 0.5})


def test_preprocessing_is_a_setting_kept_with_the_graph(qtbot, panel):
    assert panel.settings().preprocess == "auto"
    assert panel.form.labelForField(panel.preprocess).text() == "Preprocessing"
    _choose(qtbot, panel.preprocess, "standardise")
    settings = panel.settings()
    assert settings.preprocess == "standardise"
    assert settings.to_metadata()["preprocess"] == "standardise"
    panel.set_graph_metadata({"training": {"preprocess": "none"}})
    assert panel.preprocess.currentText() == "none" and panel.settings().preprocess == "none"
    panel.set_graph_metadata({"training": {"preprocess": "standardize"}})  # another spelling
    assert panel.settings().preprocess == "standardise"


def _digits_graph():
    graph = fileformat.load("resources/examples/logistic_regression.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W"].attrs["shape"] = [64, 10]
    return graph


@pytest.mark.opencl
@pytest.mark.parametrize("choice, level, text", [
    ("none", "warning", "dataset 'digits': feature values span 0..16 and are not preprocessed; "
                        "consider Preprocessing: scale (Training dock, Data)"),
    ("auto", "info", "dataset 'digits': feature values span 0..16; preprocessing 'auto' "
                     "scales them to [0, 1]"),
])
def test_what_the_data_needs_reaches_the_log(qtbot, panel, choice, level, text):
    panel.set_document(Document(_digits_graph()))
    panel.dataset.setCurrentIndex(panel.dataset.findData("digits"))
    _choose(qtbot, panel.preprocess, choice)
    panel.epochs.setValue(1)
    logged = []
    panel.log.connect(lambda lvl, message, node: logged.append((lvl, message)))
    with qtbot.waitSignal(panel.session.finished, timeout=LONG):
        qtbot.mouseClick(panel.train_button, Qt.MouseButton.LeftButton)
    assert (level, text) in logged
    started = next(message for _, message in logged if message.startswith("Training"))
    assert f"preprocessing {choice}" in started and "sgd (lr 0.1)" in started


def test_the_preprocessing_chosen_stays_when_another_graph_is_opened(qtbot, panel):
    _choose(qtbot, panel.preprocess, "scale")
    panel.set_graph_metadata(_metadata("mlp"))
    assert panel.settings().preprocess == "scale"  # like the dataset: the user's choice
