"""The Backward graph panel (nodestudio/gui/inside/backward.py) on a 2-D toy classifier with
batch norm: what it draws for a selection, hovering with the real mouse, values against the
reference interpreter, batch norm expanded and collapsed, the running statistics plot."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PySide6.QtCore import QEvent, QPointF, Qt
from PySide6.QtGui import QMouseEvent
from PySide6.QtWidgets import QApplication

from nodestudio.graph import fileformat
from nodestudio.gui.mainwindow import MainWindow
from nodestudio.ir.autodiff import grad
from nodestudio.ir.reference import evaluate
from nodestudio.train.model import Model
from nodestudio.train.settings import TrainingSettings, build_trainer, load_data
from tests.ir.test_backward_view import FORWARD_PRIMITIVES, bn_graph_dict

LONG = 120_000
SETTINGS = TrainingSettings(dataset="moons", optimizer="sgd", lr=0.2, batch_size=50, epochs=2,
                            seed=3)


def bn_graph():
    return fileformat.loads(json.dumps(bn_graph_dict()))


@pytest.fixture
def window(qtbot, dialogs):
    w = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    qtbot.addWidget(w)
    w.show_graph(bn_graph(), None)
    w.training.load_settings(SETTINGS)
    w.show()
    qtbot.waitExposed(w)
    return w


def open_panel(window, selection):
    window.scene.select_nodes(selection)
    panel = window.show_panel("backward")
    panel.rebuild()
    return panel


def hover(view, item):
    """A real mouse move (no button held) onto the middle of a card, on the view's viewport."""
    rect = item.sceneBoundingRect()
    view.centerOn(rect.center())
    viewport = view.viewport()
    local = QPointF(view.mapFromScene(rect.center()))
    where = QPointF(viewport.mapToGlobal(local.toPoint()))
    QApplication.sendEvent(viewport, QMouseEvent(QEvent.MouseMove, local, where, Qt.NoButton,
                                                 Qt.NoButton, Qt.NoModifier))


def test_batch_norm_selected_draws_its_primitives_and_hovering_lights_the_forward_node(
        qtbot, window):
    panel = open_panel(window, ["bn"])
    forward_ops = sorted(c.node.op for c in panel.forward_view.cards.values()
                         if c.node.kind == "op")
    assert forward_ops == sorted(FORWARD_PRIMITIVES + ["reshape", "reshape"])
    assert "Backward graph of bn" in panel.heading.text()
    assert "the first 50 training examples of moons" in panel.heading.text()
    # a gradient op of the division (x - mean) / sqrt(var + eps): its forward node lights up
    (card,) = [c for c in panel.backward_view.cards.values()
               if c.node.kind == "op" and c.node.op == "neg"
               and panel.view.forward.nodes[c.node.forward].op == "div"]
    assert panel.forward_view.lit() == []
    hover(panel.backward_view, card)
    assert panel.forward_view.lit() == [card.node.forward]
    assert card.node.id in panel.backward_view.lit()
    assert panel.backward_view.frames[card.node.forward].lit
    assert set(panel.backward_view.lit()) >= set(panel.view.backward_of(card.node.forward))
    # its value on the batch, as the reference interpreter computes it independently
    model = Model.from_document(window.document.graph)
    data = load_data(SETTINGS)
    x, y = model.feed(data.train, slice(0, 50))
    value = panel.values[("backward", card.node.id)]
    by_name = dict(zip([p.name for p in model.params],
                       evaluate(grad(model.loss, model.params), {model.x: x, model.y: y},
                                "train")))
    (gamma_card,) = [c for c in panel.backward_view.cards.values() if c.node.result_of == "gamma"]
    np.testing.assert_allclose(panel.values[("backward", gamma_card.node.id)], by_name["gamma"],
                               rtol=1e-12)
    assert f"mean {value.mean():.4g}" in panel.info.text()
    # and the other way: a forward node lights its gradient group
    forward_card = panel.forward_view.cards[card.node.forward]
    hover(panel.forward_view, forward_card)
    assert set(panel.backward_view.lit()) >= set(panel.view.backward_of(card.node.forward))
    assert panel.forward_view.lit() == [card.node.forward]


def test_nothing_selected_shows_the_whole_graph_and_a_selection_narrows_it(qtbot, window):
    panel = open_panel(window, [])
    whole = {c.node.user_node for c in panel.forward_view.cards.values()}
    assert {"x", "hidden", "bn", "act", "logits", "loss"} <= whole
    assert "the whole graph" in panel.heading.text()
    assert sorted(n.result_of for n in panel.view.backward.nodes.values() if n.result_of) == \
        ["W1", "W2", "b1", "b2", "beta", "gamma"]
    window.scene.select_nodes(["act"])
    qtbot.waitUntil(lambda: [c.node.op for c in panel.forward_view.cards.values()
                             if c.node.kind == "op"] == ["tanh"], timeout=5000)
    assert not panel.stats.isVisible()


@pytest.mark.opencl
def test_expanding_batch_norm_round_trips_and_trains_to_the_same_numbers(qtbot, window):
    document = window.document
    before = fileformat.dumps(document.graph)
    inner = document.expand("bn")
    panel = open_panel(window, inner)
    forward = sorted(c.node.op for c in panel.forward_view.cards.values() if c.node.kind == "op")
    assert sorted(FORWARD_PRIMITIVES + ["reshape", "reshape"]) == \
        [op for op in forward if op in FORWARD_PRIMITIVES + ["reshape"]]
    assert "bn" in panel.view.forward.groups  # framed as the expanded batch norm
    assert panel.stats.isVisible()  # its running statistics are still found
    expanded = fileformat.dumps(document.graph)
    document.collapse("bn")
    assert fileformat.dumps(document.graph) == before  # byte for byte, wires in their order

    one = TrainingSettings(**{**SETTINGS.__dict__, "epochs": 1})

    def train(text):
        model = Model.from_document(fileformat.loads(text))
        trainer = build_trainer(model, load_data(one), one)
        history = trainer.run()
        return [r.train_loss for r in history.epochs], model.values()

    losses, values = train(before)
    losses_x, values_x = train(expanded)
    assert losses == losses_x
    for key in ("W1", "b1", "gamma", "beta", "W2", "b2"):
        np.testing.assert_array_equal(values[key], values_x[key], err_msg=key)


@pytest.mark.opencl
def test_expanded_batch_norm_trains_exactly_as_the_collapsed_one_over_several_epochs():
    """Same seed, four epochs: the same losses and errors (validation included: the expanded
    batch norm still normalises by its running averages at inference), the same best epoch,
    and the same trained values, running averages included."""
    graph = bn_graph()
    before = fileformat.dumps(graph)
    from nodestudio.ir.composites import expand_node
    expand_node(graph, "bn")
    settings = TrainingSettings(**{**SETTINGS.__dict__, "epochs": 4, "lr": 0.5})
    runs = []
    for text in (before, fileformat.dumps(graph)):
        model = Model.from_document(fileformat.loads(text))
        history = build_trainer(model, load_data(settings), settings).run()
        runs.append((history, model.values()))
    (history, values), (history_x, values_x) = runs
    assert [r.as_dict() | {"seconds": 0} for r in history.epochs] == \
        [r.as_dict() | {"seconds": 0} for r in history_x.epochs]
    assert (history.best_epoch, history.test_loss, history.test_error) == \
        (history_x.best_epoch, history_x.test_loss, history_x.test_error)
    assert len(history.epochs) == 4
    assert values.keys() == values_x.keys()
    for key in values:
        np.testing.assert_array_equal(values[key], values_x[key], err_msg=key)
    assert not np.array_equal(values["rmean"], 0.0)  # the running averages did move
    assert not np.array_equal(values["rvar"], 1.0)


@pytest.mark.opencl
def test_running_statistics_are_plotted_at_each_epoch(qtbot, window):
    panel = open_panel(window, ["bn"])
    assert panel.stats.isVisible()
    assert panel.stats.series("bn") == [(0.0, 0.0, 1.0)]  # the initial running averages
    untrained = fileformat.dumps(window.document.graph)
    with qtbot.waitSignal(window.training.session.finished, timeout=LONG):
        assert window.training.train()
    qtbot.waitUntil(lambda: len(panel.stats.series("bn")) == 3, timeout=5000)
    # after epoch 1: the running averages a headless run of one epoch ends with
    settings = TrainingSettings(**{**window.training.settings().__dict__, "epochs": 1})
    model = Model.from_document(fileformat.loads(untrained))
    build_trainer(model, load_data(settings), settings).run()
    epoch, mean, var = panel.stats.series("bn")[1]
    assert epoch == 1.0
    assert mean == pytest.approx(float(np.mean(model.values()["rmean"])), rel=1e-6)
    assert var == pytest.approx(float(np.mean(model.values()["rvar"])), rel=1e-6)
    values = window.document.graph.values
    epoch, mean, var = panel.stats.series("bn")[-1]
    assert epoch == 2.0
    assert mean == pytest.approx(float(np.mean(values["rmean"])), rel=1e-6)
    assert var == pytest.approx(float(np.mean(values["rvar"])), rel=1e-6)
    assert mean != 0.0 and var != 1.0
    curves = panel.stats.plot.getPlotItem().listDataItems()
    assert [c.name() for c in curves] == ["running mean", "running variance"]
    # the values were recomputed with the trained parameters
    hover(panel.backward_view, next(c for c in panel.backward_view.cards.values()
                                    if c.node.result_of == "gamma"))
    assert "mean" in panel.info.text()
