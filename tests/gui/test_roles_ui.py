"""The studio's side of training roles: renaming (F2, the inspector), marking outputs and
inputs (context menu, inspector), the toolbar's hint, the fixes Train offers, the templates
and the dataset shown on the inputs. Real widgets, real keys and clicks."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from nodestudio.graph import fileformat
from nodestudio.graph.model import PortRef
from nodestudio.gui import files
from nodestudio.gui.mainwindow import MainWindow
from nodestudio.ir.convert import to_document


def _two_losses():
    """digits-sized softmax regression whose loss is ambiguous: the cross-entropy and a
    penalty are both scalar outputs that nothing consumes."""
    import numpy as np

    import nodestudio as ns
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    xent = ns.softmax_cross_entropy(ns.dense_layer(x, 10, name="logits"), y)
    xent.owner.name = "xent"
    penalty = ns.l2_penalty(ns.shared(np.ones(3), "extra"))
    penalty.owner.name = "penalty"
    graph = to_document({"a": xent, "b": penalty})
    graph.outputs, graph.values = {}, {}
    return graph


@pytest.fixture
def window(qtbot, dialogs, tmp_path):
    w = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(w)
    w.resize(1400, 900)
    w.show()
    qtbot.waitExposed(w)
    path = tmp_path / "two.json"
    fileformat.save(_two_losses(), path)
    assert w.open_path(path, ask=False)
    w.training.dataset.setCurrentIndex(w.training.dataset.findData("digits"))
    qtbot.waitUntil(lambda: w.document.annotation is not None)
    return w


def test_f2_renames_in_the_inspector_and_undo_brings_the_old_name_back(qtbot, window):
    w = window
    w.scene.select_nodes(["logits"])
    w.actions.rename.trigger()  # F2
    edit = w.inspector.name_edit
    assert edit.hasFocus() and edit.selectedText() == "logits"
    qtbot.keyClicks(edit, "classifier")
    qtbot.keyClick(edit, Qt.Key_Return)
    graph = w.document.graph
    assert "classifier" in graph.nodes and "logits" not in graph.nodes
    assert w.scene.selected_node_ids() == ["classifier"]
    qtbot.waitUntil(lambda: w.inspector.shown_nodes == ["classifier"])
    w.inspector.name_edit.selectAll()
    qtbot.keyClicks(w.inspector.name_edit, "x")  # taken: refused, the name stays
    qtbot.keyClick(w.inspector.name_edit, Qt.Key_Return)
    assert "already taken" in w.inspector.refusal and "classifier" in graph.nodes
    w.document.undo_stack.undo()
    assert "logits" in w.document.graph.nodes and "classifier" not in w.document.graph.nodes


def test_train_offers_the_fixes_and_the_chosen_one_marks_the_loss_then_trains(qtbot, window):
    w = window
    qtbot.waitUntil(lambda: w.roles_hint.text().startswith("Train needs: which output"))
    with qtbot.waitSignal(w.training.finished_run, timeout=120_000):
        qtbot.keyClick(w.view, Qt.Key_F5)
    qtbot.waitUntil(lambda: w.fix_dialog is not None)
    dialog = w.fix_dialog
    assert [b.text() for b in dialog.buttons] == ["Mark xent:loss as the loss",
                                                  "Mark penalty:loss as the loss"]
    with qtbot.waitSignal(w.training.finished_run, timeout=120_000) as done:
        qtbot.mouseClick(dialog.buttons[0], Qt.LeftButton)
    assert done.args == [True]
    assert str(w.document.graph.outputs["loss"]) == "xent:loss"
    assert w.document.undo_stack.undoText().startswith("Train")  # the run came after the fix
    w.document.undo_stack.undo()
    assert w.document.undo_stack.undoText() == "Mark xent:loss as the loss"


def test_the_context_menu_and_the_inspector_mark_roles(qtbot, window):
    w = window
    item = w.scene.nodes["penalty"]
    menu = w.view.context_menu(item.mapToScene(item.card().center()))
    [mark] = [a for a in menu.actions() if a.text() == "Mark loss as the loss"]
    mark.trigger()
    assert str(w.document.graph.outputs["loss"]) == "penalty:loss"
    w.scene.select_nodes(["xent"])
    qtbot.waitUntil(lambda: w.inspector.shown_nodes == ["xent"])
    combo = w.inspector.findChild(type(w.training.optimizer), "role:loss")
    combo.setCurrentText("loss")  # the inspector's Training role for the port "loss"
    assert str(w.document.graph.outputs["loss"]) == "xent:loss"
    item = w.scene.nodes["x"]
    menu = w.view.context_menu(item.mapToScene(item.card().center()))
    [labels] = [a for a in menu.actions() if a.text() == "Use as the labels"]
    labels.trigger()
    assert w.document.graph.nodes["x"].attrs["role"] == "labels"
    qtbot.waitUntil(lambda: w.document.roles.problems != [])  # an int input left over now


def test_the_hint_marks_an_inferred_loss_and_the_inputs_show_the_dataset(qtbot, window):
    w = window
    w.document.remove_nodes(["penalty"])
    qtbot.waitUntil(lambda: w.roles_hint.text() == "Train will minimise xent:loss (inferred)")
    assert w.scene.nodes["xent"].roles == {"loss": ("loss", True)}  # drawn hollow: inferred
    qtbot.mouseClick(w.roles_hint.button, Qt.LeftButton)
    assert w.document.graph.outputs["loss"] == PortRef("xent", "loss")
    qtbot.waitUntil(lambda: w.roles_hint.text() == "Train minimises xent:loss")
    assert w.scene.nodes["xent"].roles == {"loss": ("loss", False)}
    assert w.scene.nodes["x"].binding == "digits: 8 x 8"
    assert w.scene.nodes["y"].binding == "digits: 10 classes"
    w.training.dataset.setCurrentIndex(w.training.dataset.findData("spirals"))
    assert w.scene.nodes["x"].binding == "spirals: 2"


def test_new_from_template_opens_an_untitled_copy_that_trains_as_it_is(qtbot, window):
    w = window
    names = [a.text() for a in w.menus["templates"].actions()]
    assert names == ["Logistic regression", "Multilayer perceptron",
                     "Deep MLP with batch norm and dropout", "Autoencoder"]
    w.document.undo_stack.setClean()
    w.menus["templates"].actions()[1].trigger()
    graph = w.document.graph
    assert w.document.path is None and w.document.title == "Untitled"
    assert {n.op for n in graph.nodes.values()} >= {"dense_layer", "softmax_cross_entropy"}
    assert w.document.roles.problems == [] and w.document.roles.features == "x"
    template = fileformat.load(files.template_files()[1])
    assert graph == template  # the template's own nodes, laid out as saved
