"""The Results panel in the studio: what it shows after each epoch and after training, checked
against the run's History and a NumPy forward pass with the trained values."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from nodestudio.graph import fileformat
from nodestudio.gui.inside.results import ResultsPanel, ResultsView
from nodestudio.train.settings import load_data
from tests.train.test_results import moons_graph, numpy_scores

pytestmark = pytest.mark.opencl
LONG = 120_000


@pytest.fixture
def window(studio):
    return studio((1400, 900))


def _open(window, graph, tmp_path, name, training):
    graph.metadata = {"training": training}
    path = tmp_path / name
    fileformat.save(graph, path)
    assert window.open_path(path, ask=False)


def test_results_follow_each_epoch_and_match_the_run_and_numpy(qtbot, window, tmp_path):
    _open(window, moons_graph(), tmp_path, "moons.json",
          {"dataset": "moons", "lr": 0.5, "batch_size": 20, "epochs": 2})
    panel = window.show_panel("results")
    assert isinstance(panel, ResultsPanel) and panel.snapshot is None
    epoch_task_done = []
    window.training.session.epoch_task_done.connect(
        lambda task, result: epoch_task_done.append(result))
    with qtbot.waitSignal(window.training.session.finished, timeout=LONG) as done:
        window.train()
    history = done.args[0]
    qtbot.waitUntil(lambda: panel.snapshot is not None and
                    panel.snapshot.source.startswith("after training"))
    # one snapshot per epoch end, then the final one, each with the right epoch
    assert [s.source for s in epoch_task_done] == ["after epoch 1", "after epoch 2",
                                          f"after training (best epoch {history.best_epoch})"]
    for record, snapshot in zip(history.epochs, epoch_task_done):
        assert isinstance(snapshot, ResultsView)
        valid = snapshot.results["valid"]
        assert valid.epoch == record.epoch
        assert valid.error == pytest.approx(record.valid_error, abs=1e-6)
        assert "test" not in snapshot.results  # while training, only the split shown
    assert set(epoch_task_done[-1].results) == {"valid", "test"}  # at the end, both

    data = load_data(window.training.session.settings)
    results = panel.results()
    assert results.split == "valid" and results.total == len(data.valid)
    best = history.epochs[history.best_epoch - 1]
    assert 1 - np.trace(results.confusion) / results.confusion.sum() == \
        pytest.approx(best.valid_error, abs=1e-6)
    # the summary says it, in the user's terms
    wrong = len(results.misclassified)
    assert f"{len(data.valid):,} examples, {wrong:,} misclassified" in panel.summary.text()

    # the misclassified list: exactly the examples a float64 forward pass gets wrong
    values = window.training.session.values
    expected = np.argmax(numpy_scores(values, data.valid.x), axis=1)
    wrong_ids = np.flatnonzero(expected != data.valid.y)
    items = [panel.mistakes.item(i) for i in range(panel.mistakes.count())]
    assert [item.data(Qt.ItemDataRole.UserRole) for item in items] == wrong_ids.tolist()
    for item, index in zip(items, wrong_ids):
        assert item.text().startswith(f"#{index}  {expected[index]} / {data.valid.y[index]}")

    # decision regions: shown for 2-D data, the grid's class is the model's prediction
    grid = panel.snapshot.grid
    assert panel.regions_plot.isVisible() and grid is not None
    for i, j in [(0, 0), (30, 90), (60, 60), (119, 5), (100, 110)]:
        point = np.array([[grid.xs[j], grid.ys[i]]])
        assert grid.classes[i, j] == np.argmax(numpy_scores(values, point)), (i, j)
    spots = panel.points.data
    assert len(spots) == len(data.valid)
    np.testing.assert_allclose(spots["x"], data.valid.x[:, 0], rtol=1e-6)

    # clicking a misclassified example says which it is and marks it among the points
    assert items  # two epochs leave a few mistakes
    rect = panel.mistakes.visualItemRect(items[0])
    qtbot.mouseClick(panel.mistakes.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.detail.text().startswith(f"Example {wrong_ids[0]}: predicted")
    chosen = panel.chosen_point.data
    assert len(chosen) == 1 and chosen["x"][0] == pytest.approx(data.valid.x[wrong_ids[0], 0])

    # the test split, chosen in the bar, gives the run's test error
    panel.split_box.setFocus()
    qtbot.keyClick(panel.split_box, Qt.Key.Key_Down)
    assert panel.split() == "test"
    assert panel.results().total == len(data.test)
    assert panel.results().error == pytest.approx(history.test_error, abs=1e-6)
    assert panel.summary.text().startswith("Test split")


def test_refresh_shows_image_tiles_of_the_misclassified_digits(qtbot, window, tmp_path):
    # untrained logistic regression with zero weights: every score ties, argmax says 0
    graph = fileformat.load("resources/examples/logistic_regression.json")
    graph.nodes["x"].attrs["shape"] = [None, 64]
    graph.nodes["W"].attrs["shape"] = [64, 10]
    _open(window, graph, tmp_path, "digits.json", {"dataset": "digits"})
    panel = window.show_panel("results")
    qtbot.mouseClick(panel.refresh_button, Qt.MouseButton.LeftButton)
    data = load_data(window.training.settings())
    results = panel.results()
    assert results is not None
    counts = np.bincount(data.valid.y, minlength=10)
    np.testing.assert_array_equal(results.confusion[:, 0], counts)  # all predicted 0
    assert results.confusion[:, 1:].sum() == 0
    assert results.image_shape == (8, 8)
    wrong = np.flatnonzero(data.valid.y != 0)
    assert panel.mistakes.count() == len(wrong)
    assert panel.mistakes.viewMode() == panel.mistakes.ViewMode.IconMode
    first = panel.mistakes.item(0)
    assert first.data(Qt.ItemDataRole.UserRole) == wrong[0]
    assert first.text() == f"0 / {data.valid.y[wrong[0]]}"
    assert not first.icon().isNull()
    assert not panel.regions_plot.isVisible()  # 64 features: no decision regions
    assert "from the document" in panel.summary.text()


def test_a_hidden_results_panel_costs_the_run_nothing(qtbot, window, tmp_path):
    _open(window, moons_graph(), tmp_path, "moons.json",
          {"dataset": "moons", "lr": 0.5, "batch_size": 20, "epochs": 2})
    panel = window.show_panel("results")
    window.inspect_docks["results"].hide()
    done_tasks = []
    window.training.session.epoch_task_done.connect(
        lambda task, result: done_tasks.append(result) if task == panel._epoch_task else None)
    with qtbot.waitSignal(window.training.session.finished, timeout=LONG):
        window.train()
    qtbot.waitUntil(lambda: len(done_tasks) == 3)
    assert done_tasks[:2] == [None, None]  # no pass over a split while nobody looks
    assert isinstance(done_tasks[2], ResultsView)  # the final figures, for when it is opened
