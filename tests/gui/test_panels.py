"""The palette, the inspector, the problems panel and the log, driven with real key and mouse
input."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPoint, Qt

from nodestudio.graph import fileformat
from nodestudio.graph.model import plain
from nodestudio.gui.document import Document
from nodestudio.gui.panels import (
    OP_MIME,
    InspectorWidget,
    PaletteWidget,
    ProblemsWidget,
    op_from_mime,
    op_mime_data,
)
from nodestudio.gui.panels.palette import CATEGORY_ORDER
from nodestudio.ops import registry

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


@pytest.fixture
def document(qtbot):
    return Document(fileformat.load(EXAMPLES / "mlp.json"), EXAMPLES / "mlp.json")


@pytest.fixture
def palette(qtbot):
    widget = PaletteWidget()
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def inspector(qtbot, document):
    widget = InspectorWidget(document)
    qtbot.addWidget(widget)
    widget.resize(320, 600)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


@pytest.fixture
def problems(qtbot, document):
    widget = ProblemsWidget(document)
    qtbot.addWidget(widget)
    widget.resize(600, 240)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


def retype(qtbot, line_edit, text):
    """Replace a field's text the way a user does: select all, type, press Enter."""
    line_edit.setFocus()
    line_edit.selectAll()
    qtbot.keyClick(line_edit, Qt.Key_Backspace)
    qtbot.keyClicks(line_edit, text)
    qtbot.keyClick(line_edit, Qt.Key_Return)


# --- palette ------------------------------------------------------------------------------
def test_palette_holds_every_op_in_category_order(palette):
    assert sorted(palette.op_names()) == sorted(op.name for op in registry.all_ops())
    assert sorted(palette.visible_ops()) == sorted(palette.op_names())
    shown = [palette.tree.topLevelItem(i).text(0)
             for i in range(palette.tree.topLevelItemCount())]
    known = [c for c in CATEGORY_ORDER if c in shown]
    assert shown[:len(known)] == known and shown[0] == "Inputs"
    assert shown[-1] == "Gradients"  # what autodiff makes comes last
    assert palette._ops["conv2d_grad_input"].parent().text(0) == "Gradients"
    dense = palette._ops["dense"]
    assert dense.parent().text(0) == "Layers"
    assert not dense.icon(0).isNull()
    assert "x @ W + b" in dense.toolTip(0) and "Inputs" in dense.toolTip(0)


def test_search_narrows_case_insensitively_and_clears(qtbot, palette):
    qtbot.keyClicks(palette.search, "ReLU")
    visible = palette.visible_ops()
    assert "relu" in visible and "leaky_relu" in visible
    assert "dense" not in visible and len(visible) < len(palette.op_names())
    for name in visible:
        op = registry.get(name)
        assert "relu" in op.name.lower() or "relu" in op.doc.lower()
    assert palette.tree.topLevelItem(2).isExpanded()  # Activation, holding the matches
    assert palette._categories["Layers"].isHidden()

    qtbot.keyClicks(palette.search, "zzz")
    assert palette.visible_ops() == [] and palette.empty.isVisibleTo(palette)

    qtbot.keyClick(palette.search, Qt.Key_Escape)
    assert palette.search.text() == ""
    assert sorted(palette.visible_ops()) == sorted(palette.op_names())


def test_search_down_arrow_then_enter_activates_the_first_match(qtbot, palette):
    qtbot.keyClicks(palette.search, "tanh")
    first = palette.visible_ops()[0]
    qtbot.keyClick(palette.search, Qt.Key_Down)
    assert palette.tree.currentItem().data(0, Qt.UserRole) == first
    with qtbot.waitSignal(palette.op_activated) as signal:
        qtbot.keyClick(palette.tree, Qt.Key_Return)
    assert signal.args == [first]


def test_double_click_activates_and_drag_data_names_the_op(qtbot, palette):
    item = palette._ops["dense"]
    palette.tree.scrollToItem(item)
    centre = palette.tree.visualItemRect(item).center()
    with qtbot.waitSignal(palette.op_activated) as signal:
        # QTest's double-click lacks the press before it that item views check for
        qtbot.mousePress(palette.tree.viewport(), Qt.LeftButton, pos=centre)
        qtbot.mouseDClick(palette.tree.viewport(), Qt.LeftButton, pos=centre)
    assert signal.args == ["dense"]

    data = palette.tree.mimeData([item])
    assert data.hasFormat(OP_MIME) and bytes(data.data(OP_MIME)) == b"dense"
    assert op_from_mime(data) == "dense"
    assert palette.tree.mimeTypes() == [OP_MIME]
    assert op_from_mime(op_mime_data("softmax_cross_entropy")) == "softmax_cross_entropy"
    category = palette._categories["Layers"]
    assert not category.flags() & Qt.ItemIsDragEnabled


# --- inspector ------------------------------------------------------------------------------
def test_empty_and_multiple_selection(inspector):
    assert inspector.shown_nodes == [] and inspector.editors == {}
    assert "Nothing selected" in _texts(inspector)
    inspector.show_nodes(["W1", "b1", "hidden"])
    texts = _texts(inspector)
    assert "3 nodes selected" in texts and "628,000" in texts  # 784*800 + 800


def test_float_edit_commits_and_undo_shows_the_old_value(qtbot, inspector, document):
    inspector.show_nodes(["W1"])
    std = inspector.editors["std"].widget
    assert std.text() == "0.01"
    retype(qtbot, std, "2.5e-2")
    assert document.graph.nodes["W1"].attrs["std"] == 0.025
    assert std.text() == "0.025"
    assert document.undo_stack.count() == 1
    document.undo_stack.undo()
    assert document.graph.nodes["W1"].attrs["std"] == 0.01
    assert std.text() == "0.01"

    std.setFocus()
    qtbot.keyClick(std, Qt.Key_End)
    qtbot.keyClicks(std, "5")  # typing, not yet committed: a repeated selection keeps it
    inspector.show_nodes(["W1"])
    assert inspector.editors["std"].widget is std and std.text() == "0.015"


def test_out_of_range_value_is_refused_and_the_document_untouched(qtbot, inspector, document):
    node_id = document.add_node("dropout")
    steps = document.undo_stack.count()
    inspector.show_nodes([node_id])
    p = inspector.editors["p"].widget
    retype(qtbot, p, "1.5")
    assert document.graph.nodes[node_id].attrs["p"] == 0.5
    assert document.undo_stack.count() == steps
    assert p.property("invalid") is True
    assert "must lie in" in inspector.refusal and "'p'" in inspector.refusal

    retype(qtbot, p, "abc")
    assert "expects float" in inspector.refusal
    assert document.graph.nodes[node_id].attrs["p"] == 0.5

    retype(qtbot, p, "0.25")
    assert document.graph.nodes[node_id].attrs["p"] == 0.25
    assert not p.property("invalid") and inspector.refusal == ""


def test_choice_combo_edit(qtbot, inspector, document):
    inspector.show_nodes(["W1"])
    combo = inspector.editors["init"].widget
    choices = registry.get("parameter").attr("init").choices
    assert combo.currentText() == "glorot_tanh"
    qtbot.keyClick(combo, Qt.Key_Down)
    expected = choices[choices.index("glorot_tanh") + 1]
    assert document.graph.nodes["W1"].attrs["init"] == expected
    document.undo_stack.undo()
    assert combo.currentText() == "glorot_tanh"


def test_bool_and_int_edits(qtbot, inspector, document):
    inspector.show_nodes(["W1"])
    box = inspector.editors["trainable"].widget
    qtbot.mouseClick(box, Qt.LeftButton, pos=QPoint(10, box.height() // 2))
    assert document.graph.nodes["W1"].attrs["trainable"] is False
    seed = inspector.editors["seed"].widget
    retype(qtbot, seed.lineEdit(), "42")
    assert document.graph.nodes["W1"].attrs["seed"] == 42


def test_dropout_seed_shows_own_stream_at_minus_one_and_takes_a_typed_seed(qtbot, inspector,
                                                                           document):
    document.edit("add dropout", lambda g: g.add_node("dropout", {}, id="drop"))
    inspector.show_nodes(["drop"])
    seed = inspector.editors["seed"].widget
    assert seed.text() == "own stream" and seed.value() == -1
    retype(qtbot, seed.lineEdit(), "7")
    assert document.graph.nodes["drop"].attrs["seed"] == 7
    seed.setFocus()
    qtbot.keyClick(seed, Qt.Key_PageDown)  # down by ten: held at the lowest value
    qtbot.keyClick(seed, Qt.Key_Return)
    assert seed.text() == "own stream" and document.graph.nodes["drop"].attrs["seed"] == -1


def test_shape_edit_updates_the_types(qtbot, inspector, document):
    inspector.show_nodes(["W1"])
    shape = inspector.editors["shape"].widget
    assert shape.text() == "784, 800"
    with qtbot.waitSignal(document.annotated):
        retype(qtbot, shape, "784, 512")
    assert plain(document.graph.nodes["W1"].attrs["shape"]) == [784, 512]
    qtbot.waitUntil(lambda: "784 x 512" in _texts(inspector))

    inspector.show_nodes(["x"])
    shape = inspector.editors["shape"].widget
    assert shape.text() == "B, 784"
    retype(qtbot, shape, "None, 28, 28")
    assert plain(document.graph.nodes["x"].attrs["shape"]) == [None, 28, 28]
    assert shape.text() == "B, 28, 28"
    retype(qtbot, shape, "B, abc")
    assert "not a whole number" in inspector.refusal
    assert plain(document.graph.nodes["x"].attrs["shape"]) == [None, 28, 28]


def test_axes_edit(qtbot, inspector, document):
    node_id = document.add_node("sum")
    inspector.show_nodes([node_id])
    axes = inspector.editors["axis"].widget
    assert axes.text() == ""
    retype(qtbot, axes, "0, 1")
    assert plain(document.graph.nodes[node_id].attrs["axis"]) == [0, 1]
    retype(qtbot, axes, "")
    assert document.graph.nodes[node_id].attrs["axis"] is None


def test_expand_then_collapse(qtbot, inspector, document):
    inspector.show_nodes(["hidden"])
    assert inspector.collapse_button is None
    with qtbot.waitSignal(inspector.selection_requested) as signal:
        qtbot.mouseClick(inspector.expand_button, Qt.LeftButton)
    assert "hidden" not in document.graph.nodes
    members = [n for n, node in document.graph.nodes.items() if node.group == "hidden"]
    assert members and sorted(signal.args[0]) == sorted(members)
    assert sorted(inspector.shown_nodes) == sorted(members)

    inspector.show_nodes([members[0]])  # one member: its own editor offers the collapse too
    assert inspector.collapse_button is not None
    qtbot.mouseClick(inspector.collapse_button, Qt.LeftButton)
    assert document.graph.nodes["hidden"].op == "dense"
    assert not any(node.group for node in document.graph.nodes.values())
    assert inspector.shown_nodes == ["hidden"]


def test_form_follows_removal_and_parameter_values(qtbot, inspector, document):
    import numpy as np
    inspector.show_nodes(["b1"])
    assert "not yet" in _texts(inspector)
    document.set_values({"b1": np.arange(800, dtype=np.float32)})
    qtbot.waitUntil(lambda: "399.5" in _texts(inspector))  # the mean
    assert "799" in _texts(inspector)
    document.remove_nodes(["b1"])
    qtbot.waitUntil(lambda: inspector.shown_nodes == [])
    assert "Nothing selected" in _texts(inspector)


# --- problems ------------------------------------------------------------------------------
def test_missing_input_is_listed_and_clicking_it_names_the_node(qtbot, problems, document):
    assert problems.entries() == []
    assert problems.summary.text() == "No problems"
    edge = next(e for e in document.graph.edges if str(e.dst) == "hidden:x")
    with qtbot.waitSignal(problems.counts_changed) as counts:
        document.disconnect([edge])
    assert counts.args == [0, 1]
    level, message, node = problems.entries()[0]
    assert (level, node) == ("warning", "hidden") and "missing input" in message
    assert problems.summary.text() == "1 warning"

    item = problems.tree.topLevelItem(0)
    with qtbot.waitSignal(problems.node_activated) as signal:
        qtbot.mouseClick(problems.tree.viewport(), Qt.LeftButton,
                         pos=problems.tree.visualItemRect(item).center())
    assert signal.args == ["hidden"]
    with qtbot.waitSignal(problems.node_activated) as signal:
        qtbot.keyClick(problems.tree, Qt.Key_Return)
    assert signal.args == ["hidden"]

    with qtbot.waitSignal(problems.counts_changed) as counts:
        document.undo_stack.undo()
    assert counts.args == [0, 0] and problems.entries() == []


def test_shape_problem_is_an_error(qtbot, problems, document):
    with qtbot.waitSignal(problems.counts_changed) as counts:
        document.set_attrs("W2", {"shape": (500, 10)})
    assert counts.args[0] >= 1
    assert ("error", "logits") == problems.entries()[0][::2]


def test_log_messages_with_levels_and_clear(qtbot):
    from nodestudio.gui.panels.log import LogWidget
    log = LogWidget()
    qtbot.addWidget(log)
    log.log("info", "Loaded mlp.json")
    with qtbot.waitSignal(log.message_logged) as logged:
        log.log("error", "training diverged: the loss is NaN", node="loss")
    assert logged.args == ["error", "training diverged: the loss is NaN"]
    log.log("warning", "learning rate looks high")
    assert log.entries() == [("info", "Loaded mlp.json", None),
                             ("error", "training diverged: the loss is NaN", "loss"),
                             ("warning", "learning rate looks high", None)]
    assert log.summary.text() == "3 messages"
    assert log.tree.topLevelItem(1).text(1) == "loss"
    assert log.tree.topLevelItem(1).text(2).count(":") == 2  # HH:MM:SS
    with pytest.raises(ValueError):
        log.log("fatal", "no such level")

    qtbot.mouseClick(log.clear_button, Qt.LeftButton)
    assert log.entries() == []
    assert not log.clear_button.isEnabled()


def _texts(widget) -> str:
    """Every label's text in a widget, joined: what a user can read there."""
    from PySide6.QtWidgets import QLabel
    return "\n".join(label.text() for label in widget.findChildren(QLabel)
                     if label.isVisibleTo(widget))
