"""Raising contrastive divergence's k during a run from the Training dock: the Gibbs-steps row
shows while an RBM trains (Train on an RBM's cost picks contrastive divergence), Apply makes
the run use the new k from its next epoch, and the epochs' records say which k each ran."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt

from nodestudio.train.loop import TrainingError

LONG = 120_000  # ms: compiling on a loaded PoCL machine


def _small_rbm(tmp_path, k: int = 1) -> str:
    """rbm.json cut down to scikit-learn's 8x8 digits: 64 visible units, 16 hidden."""
    with open("resources/examples/rbm.json", encoding="utf-8") as file:
        doc = json.load(file)
    doc["nodes"][0]["attrs"]["shape"] = [None, 64]
    doc["nodes"][1]["attrs"].update(hidden=16, k=k, persistent=False)
    doc["metadata"]["training"] = {"dataset": "digits", "optimizer": "sgd", "lr": 0.05,
                                   "batch_size": 50, "epochs": 400, "patience": None}
    path = tmp_path / "small_rbm.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


@pytest.fixture
def window(studio):
    return studio()


def test_k_raised_from_the_training_dock_applies_from_the_next_epoch(qtbot, window, tmp_path):
    assert window.open_path(_small_rbm(tmp_path), ask=False)
    training = window.training
    assert training.gibbs.isHidden()  # nothing trains
    records = []
    training.session.epoch_end.connect(lambda event: records.append(event.record))
    panel = window.show_panel("pretraining")  # follows a Train run by CD as well
    qtbot.mouseClick(training.train_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(records) >= 1, timeout=LONG)
    assert records[0].metrics["k"] == 1.0  # Train on an RBM's cost: contrastive divergence
    assert "free_energy_gap" in records[0].metrics
    qtbot.waitUntil(lambda: panel.layers == ["rbm"] and panel.epochs["rbm"] >= 1, timeout=LONG)
    assert panel.heading.text() == "Training rbm by contrastive divergence"
    row = panel.row("rbm")
    assert row[1] == "training" and row[4] != "–"  # its reconstruction error
    row = training.gibbs
    assert not row.isHidden() and row.spin.value() == 1 and row.note.text() == "now 1"
    assert not row.apply.isEnabled()  # nothing to apply yet

    row.spin.setFocus()
    qtbot.keyClick(row.spin, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(row.spin, "3")
    assert row.spin.value() == 3 and row.apply.isEnabled()
    qtbot.mouseClick(row.apply, Qt.MouseButton.LeftButton)
    applied_after = len(records)
    assert row.note.text() == "k = 3 from the next epoch" and not row.apply.isEnabled()

    qtbot.waitUntil(lambda: any(r.metrics["k"] == 3.0 for r in records), timeout=LONG)
    qtbot.waitUntil(lambda: row.note.text() == "now 3", timeout=LONG)
    ks = [r.metrics["k"] for r in records]
    first_three = ks.index(3.0)
    # the epochs that had ended before the click ran k = 1; the GUI hears of epochs after
    # the training thread has run them, so how many more ran k = 1 depends on that lag (the
    # exact epoch is checked in tests/train/test_rbm_training.py)
    assert first_three >= applied_after and set(ks[:first_three]) == {1.0}
    assert row.spin.value() == 3
    qtbot.mouseClick(training.stop_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(training.session.finished, timeout=LONG):
        pass
    assert row.isHidden()
    assert all(r.metrics["k"] == 3.0 for r in training.session.history.epochs[first_three:])
    assert panel.row("rbm")[1] == "done"
    # no error output: the Curves' error plot has no lonely best-epoch line; the loss plot has
    curves = window.curves
    assert not curves._best_lines["error"].isVisible()
    assert curves._best_lines["loss"].isVisible()


def test_the_row_stays_hidden_for_a_network_without_rbms(qtbot, window):
    assert window.open_path("resources/examples/logistic_regression.json", ask=False)
    training = window.training
    training.epochs.setValue(2)
    seen = []
    training.session.epoch_end.connect(lambda _: seen.append(training.gibbs.isHidden()))
    qtbot.mouseClick(training.train_button, Qt.MouseButton.LeftButton)
    with qtbot.waitSignal(training.session.finished, timeout=LONG):
        pass
    assert seen and all(seen)
    with pytest.raises(TrainingError, match="no RBM is training"):
        training.session.set_gibbs_steps(2)
