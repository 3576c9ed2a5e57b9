"""What a new user met first (issue 8): problems and the log apart, problems of the graph shown
only, runs listed beside the curves and kept with their graph, plots and menus that read well in
both themes. Real windows, real clicks and key presses."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QPoint, QSettings, Qt
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from nodestudio.graph import fileformat
from nodestudio.gui.mainwindow import MainWindow
from nodestudio.gui.theme import DARK, LIGHT, theme
from nodestudio.gui.training.runs import BEST
from nodestudio.train.events import EpochRecord, History
from nodestudio.train.settings import TrainingSettings
from tests.gui.conftest import Dialogs
from tests.train.examples import EXAMPLES


@pytest.fixture
def dialogs(monkeypatch):
    return Dialogs(monkeypatch)


@pytest.fixture
def window(qtbot, dialogs):
    w = MainWindow(autosave=False)
    qtbot.addWidget(w)
    w.resize(1600, 1000)
    w.show()
    qtbot.waitExposed(w)
    assert w.open_path(EXAMPLES / "mlp.json", ask=False)
    yield w
    w.set_theme("dark", remember=False)
    w.document.undo_stack.setClean()


def _records(n, valid=0.3):
    return [EpochRecord(e, 1.0 / e, 0.5 / e, 1.2 / e, valid / e, 0.1) for e in range(1, n + 1)]


def _run(window, n_epochs, optimizer="sgd", failure=None, **settings):
    """Feed the Curves dock as the training session does for one run."""
    curves = window.curves
    curves.begin_run(TrainingSettings(optimizer=optimizer, **settings))
    for record in _records(n_epochs):
        curves.add_epoch(record, best_epoch=record.epoch)
    curves.end_run(History(epochs=_records(n_epochs), best_epoch=n_epochs or None), failure)
    return curves.runs[-1]


def _plotted(window) -> int:
    """Curves drawn in the error plot (the best-epoch line left out)."""
    return len(window.curves.error_plot.getPlotItem().listDataItems())


def _check_box_centre(tree, item) -> QPoint:
    """Where a user clicks to toggle an item's checkbox: the style's indicator rectangle."""
    option = QStyleOptionViewItem()
    option.initFrom(tree.viewport())
    option.rect = tree.visualItemRect(item)
    option.features = (QStyleOptionViewItem.ViewItemFeature.HasCheckIndicator
                       | QStyleOptionViewItem.ViewItemFeature.HasDecoration
                       | QStyleOptionViewItem.ViewItemFeature.HasDisplay)
    option.decorationSize = tree.iconSize()
    option.text = item.text(0)
    rect = tree.style().subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, option,
                                       tree)
    return rect.center()


# --- problems and the log ---------------------------------------------------------------------
def test_the_log_is_its_own_dock_in_view_panels(window):
    assert window.docks["log"].widget() is window.log_panel
    panel_actions = {a.text(): a for a in window.menus["panels"].actions()}
    assert {"Problems", "Log", "Curves"} <= set(panel_actions)
    panel_actions["Log"].trigger()  # closes it, as the menu item would
    assert window.docks["log"].isHidden()
    panel_actions["Log"].trigger()
    assert not window.docks["log"].isHidden()
    opened = [m for _, m, _ in window.log_panel.entries() if m.startswith("Opened")]
    assert opened and opened[-1] == f"Opened mlp.json (12 nodes) from {EXAMPLES.resolve()}"
    assert window.problems.entries() == []  # an opened file is not a problem


def test_epoch_messages_go_to_the_log_and_leave_the_problems_in_place(qtbot, window):
    edge = next(e for e in window.document.graph.edges if str(e.dst) == "hidden:x")
    window.document.disconnect([edge])
    qtbot.waitUntil(lambda: window.problems.counts == (0, 1))
    problems = window.problems.entries()
    for epoch in range(1, 301):  # what a long run logs
        window.training.log.emit("info", f"Epoch {epoch}: train loss 0.5", None)
    assert window.problems.entries() == problems
    assert window.problems.tree.topLevelItem(0).text(1) == "hidden"
    assert sum(m.startswith("Epoch ") for _, m, _ in window.log_panel.entries()) == 300
    assert window.docks["problems"].windowTitle() == "Problems (1)"


def test_opening_another_graph_drops_the_old_graphs_problems(qtbot, window, tmp_path):
    graph = fileformat.load(EXAMPLES / "mlp.json")
    graph.add_node("quantum_fourier", id="qft", position=(0.0, 0.0))
    odd = tmp_path / "odd.json"
    fileformat.save(graph, odd)
    assert window.open_path(odd)
    assert any("qft" in m for _, m, _ in window.problems.entries())
    assert window.open_path(EXAMPLES / "logistic_regression.json")
    qtbot.waitUntil(lambda: window.document.annotation is not None)
    assert window.problems.entries() == []
    assert window.problems.summary.text() == "No problems"
    assert window.docks["problems"].windowTitle() == "Problems"
    log = [m for _, m, _ in window.log_panel.entries()]
    assert f"Opened odd.json (12 nodes, 1 left out: see Problems) from {tmp_path}" in log
    assert log[-1].startswith("Opened logistic_regression.json (")


def test_a_training_failure_at_a_node_is_a_problem_until_the_next_graph(qtbot, window):
    """A real run that fails before its first epoch: the problem names the node, the Curves list
    the run as failed without a curve, and opening another graph clears both."""
    edge = next(e for e in window.document.graph.edges if str(e.dst) == "logits:b")
    window.document.disconnect([edge])
    with qtbot.waitSignal(window.training.finished_run, timeout=120_000) as done:
        window.actions.train.trigger()
    assert done.args == [False]
    failures = [(level, node) for level, m, node in window.problems.entries()
                if m.startswith("Training failed")]
    assert failures == [("error", "logits")]
    assert any(m.startswith("Training failed") for _, m, _ in window.log_panel.entries())
    run = window.curves.runs[-1]
    assert run.status == "failed" and run.epochs == [] and not run.plottable
    assert _plotted(window) == 0  # nothing drawn for it
    item = window.curves.runs_list.topLevelItem(0)
    assert item.text(BEST) == "failed" and not item.flags() & Qt.ItemIsUserCheckable
    assert item.data(0, Qt.CheckStateRole) is None  # no checkbox: nothing to show or hide
    assert "logits" in item.toolTip(0)

    assert window.open_path(EXAMPLES / "logistic_regression.json")
    assert window.problems.entries() == [] and window.curves.runs == []
    assert window.curves.runs_list.topLevelItemCount() == 0


# --- runs -------------------------------------------------------------------------------------
def test_runs_belong_to_their_graph(qtbot, window, tmp_path):
    _run(window, 3, "sgd", lr=0.1, batch_size=20)
    _run(window, 2, "adam", lr=0.001, batch_size=100, hyper={"beta1": 0.8})
    assert [r.label for r in window.curves.runs] == ["run 1 · sgd", "run 2 · adam"]
    rows = window.curves.runs_list
    assert [rows.topLevelItem(i).text(0) for i in range(2)] == ["run 2", "run 1"]  # newest first
    assert rows.topLevelItem(0).text(2) == "adam · lr 0.001 · batch 100 · beta1=0.8"
    assert rows.topLevelItem(1).text(BEST) == f"{100 * 0.3 / 3:.2f} %"

    assert window.open_path(EXAMPLES / "logistic_regression.json")
    assert window.curves.runs == [] and _plotted(window) == 0
    assert window.curves.summary.text() == "No training yet"
    _run(window, 1, "momentum")
    assert [r.label for r in window.curves.runs] == ["run 1 · momentum"]  # its own numbering

    assert window.open_path(EXAMPLES / "mlp.json")
    assert [r.label for r in window.curves.runs] == ["run 1 · sgd", "run 2 · adam"]
    assert _plotted(window) == 4  # training and validation of each run

    window.document.add_node("relu", position=(0.0, 0.0))  # Save As takes the runs along
    assert window._save_to(tmp_path / "mine.json")
    assert len(window.curves.runs) == 2
    assert window.open_path(tmp_path / "mine.json")
    assert len(window.curves.runs) == 2


def test_the_checkbox_hides_a_run_and_the_legend_does_not_grow(qtbot, window):
    for i in range(8):  # many runs: they used to fill a legend over the plot
        _run(window, 3, "sgd", lr=0.1 * (i + 1))
    assert window.curves.error_plot.getPlotItem().legend is None
    assert window.curves.runs_list.topLevelItemCount() == 8
    assert _plotted(window) == 16

    tree = window.curves.runs_list
    item = tree.topLevelItem(3)
    run = item.data(0, Qt.UserRole)
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton, pos=_check_box_centre(tree, item))
    assert not run.visible and item.checkState(0) == Qt.Unchecked
    assert run.items == {} and _plotted(window) == 14
    tree.setCurrentItem(item, 0)
    qtbot.keyClick(tree, Qt.Key_Space)  # the keyboard toggles it back
    assert run.visible and _plotted(window) == 16

    chosen = tree.topLevelItem(5).data(0, Qt.UserRole)  # a click on a row brings it forward
    qtbot.mouseClick(tree.viewport(), Qt.LeftButton,
                     pos=tree.visualItemRect(tree.topLevelItem(5)).center())
    assert chosen.items["valid_error"].opts["pen"].color().alpha() == 255
    assert window.curves.runs[-1].items["valid_error"].opts["pen"].color().alpha() < 255
    assert window.curves._best_lines["error"].value() == chosen.best_epoch

    qtbot.keyClick(tree, Qt.Key_Delete)  # forgets the selected run
    assert chosen not in window.curves.runs and len(window.curves.runs) == 7


# --- themes and menus -------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["light", "dark"])
def test_the_plots_follow_the_theme_chosen_in_the_menu(qtbot, window, name):
    _run(window, 3)
    window.set_theme("light" if name == "dark" else "dark", remember=False)
    window.actions.themes[name].trigger()
    t = LIGHT if name == "light" else DARK
    assert theme() is t
    for plot in (window.curves.error_plot, window.curves.loss_plot):
        image = plot.grab().toImage()
        corner = image.pixelColor(3, 3)
        assert corner.name() == t.base, plot.title
        axis = plot.getPlotItem().getAxis("left")
        assert axis.textPen().color().name() == t.muted
        assert plot.getPlotItem().titleLabel.opts["color"] == t.text
    lightness = window.curves.error_plot.grab().toImage().pixelColor(3, 3).lightness()
    assert (lightness > 200) if name == "light" else (lightness < 60)


def test_a_window_started_in_the_light_theme_has_light_plots(qtbot, dialogs):
    QSettings().setValue("ui/theme", "light")
    w = MainWindow(autosave=False)
    qtbot.addWidget(w)
    try:
        w.resize(1200, 800)
        w.show()
        qtbot.waitExposed(w)
        assert w.curves.error_plot.grab().toImage().pixelColor(3, 3).name() == LIGHT.base
    finally:
        w.set_theme("dark")


def test_the_examples_menu_shows_the_examples_titles_and_opens_them(window):
    actions = window.menus["examples"].actions()
    titles = {a.text(): a for a in actions}
    for path in sorted(EXAMPLES.glob("*.json")):
        title = json.loads(path.read_text())["metadata"]["title"]
        assert title in titles, path.name
    assert "Mlp" not in titles and "Deep Mlp" not in titles
    titles["Logistic regression (784 -> 10)"].trigger()
    assert window.document.path.name == "logistic_regression.json"


def test_more_outputs_than_classes_is_a_warning_in_the_log(qtbot, window, tmp_path):
    """A dense layer left at 100 units as the logits of mnist5k's 10 digits trains, and the log
    says which layer to change."""
    from tests.train.test_loop import _dense_classifier
    path = tmp_path / "wide.json"
    graph = _dense_classifier(path, 100)
    graph.nodes["x"].attrs["shape"] = [None, 784]
    fileformat.save(graph, path)
    assert window.open_path(path, ask=False)
    window.training.epochs.setValue(1)
    with qtbot.waitSignal(window.training.finished_run, timeout=120_000) as done:
        window.actions.train.trigger()
    assert done.args == [True]
    warnings = [m for level, m, _ in window.log_panel.entries() if level == "warning"]
    assert any(m.startswith("the graph's output distinguishes 100 classes, but dataset "
                            "'mnist5k' has 10: 90 of its outputs are never a label (set the "
                            "units of 'out' to 10)") for m in warnings), warnings
