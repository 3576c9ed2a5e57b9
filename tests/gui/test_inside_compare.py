"""The Compare panel: variants run one after another through the studio's session; the table
and the plot hold each run's History, and each run is in the Curves dock's runs list."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint, Qt

from nodestudio.graph import fileformat
from nodestudio.gui.inside.compare import RESULT_COLUMNS, ComparePanel
from nodestudio.gui.mainwindow import MainWindow

pytestmark = pytest.mark.opencl
LONG = 120_000


@pytest.fixture
def window(qtbot, dialogs, tmp_path):
    w = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    graph = fileformat.load("resources/examples/logistic_regression.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W"].attrs["shape"] = [64, 10]
    graph.metadata = {"training": {"dataset": "digits", "epochs": 1, "batch_size": 50}}
    fileformat.save(graph, tmp_path / "digits.json")
    assert w.open_path(tmp_path / "digits.json", ask=False)
    yield w
    assert w.training.shutdown(timeout=30)
    w.document.undo_stack.setClean()


def test_two_variants_run_in_turn_and_the_table_and_plot_hold_their_histories(qtbot, window):
    panel = window.show_panel("compare")
    assert isinstance(panel, ComparePanel)
    assert panel.editor.rowCount() == 2  # the dock's optimizer and Adam, to start from
    panel.set_variant(0, "sgd", 0.1, 50)
    panel.set_variant(1, "adam", None, 50)
    histories, starts = [], []
    window.training.session.finished.connect(histories.append)
    window.training.session.run_started.connect(starts.append)

    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert not panel.run_button.isEnabled() and panel.stop_button.isEnabled()
    qtbot.waitUntil(lambda: panel.status.text().startswith("Done"), timeout=2 * LONG)

    assert [s.optimizer for s in starts] == ["sgd", "adam"]
    assert starts[0].lr == 0.1 and starts[1].lr is None and starts[1].batch_size == 50
    assert len(histories) == 2 and all(len(h.epochs) == 1 for h in histories)
    assert panel.status.text() == "Done: 2 of 2 variants finished"
    # each variant is a run of the Curves dock's list, in order
    runs = window.curves.runs[-2:]
    assert [r.optimizer for r in runs] == ["sgd", "adam"]
    assert [v.run for v in panel.variants] == runs

    rows = {row["Variant"]: row for row in panel.result_rows()}
    assert set(rows) == {"sgd · lr 0.1 · batch 50", "adam · default lr · batch 50"}
    for variant, history, run in zip(panel.variants, histories, runs):
        row = rows[variant.label]
        best = history.epochs[history.best_epoch - 1]
        assert row["Run"] == f"run {run.number}"
        assert row["Valid %"] == f"{100 * best.valid_error:.2f}"
        assert row["Epoch"] == str(history.best_epoch)
        assert row["Test %"] == f"{100 * history.test_error:.2f}"
        assert row["Time (s)"] == f"{history.seconds:.1f}"
        assert row["Status"] == "finished"
        xs, ys = panel.curves()[variant.number].getData()
        assert list(xs) == [r.epoch for r in history.epochs]
        assert list(ys) == pytest.approx([100 * r.valid_error for r in history.epochs])
    assert len(panel.curves()) == 2
    legend = [label.text for _, label in panel.legend.items]
    assert legend == [f"run {r.number} · {v.label}" for r, v in zip(runs, panel.variants)]

    # sorting by test error: a click on the column's header
    column = RESULT_COLUMNS.index("Test %")
    header = panel.table.horizontalHeader()
    x = header.sectionViewportPosition(column) + header.sectionSize(column) // 2
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, 5))
    shown = [float(row["Test %"]) for row in panel.result_rows()]
    assert shown == sorted(shown) or shown == sorted(shown, reverse=True)
    qtbot.mouseClick(header.viewport(), Qt.MouseButton.LeftButton,
                     pos=QPoint(x, 5))
    again = [float(row["Test %"]) for row in panel.result_rows()]
    assert again == list(reversed(shown))
    assert panel.run_button.isEnabled() and not panel.stop_button.isEnabled()


def test_a_bad_variant_is_refused_naming_its_row(qtbot, window):
    panel = window.show_panel("compare")
    panel.editor.item(1, 2).setText("ten")
    started = []
    window.training.session.run_started.connect(started.append)
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)
    assert started == []
    assert panel.status.text() == "Cannot compare: variant 2: batch size 'ten' is not a " \
                                  "whole number >= 1"
