"""Hostile files in the studio: far-away positions, training settings of the wrong types,
attribute values the inspector's editors cannot hold, a zero dimension typed into a shape, a
concatenate of a million inputs. Each opens (or is refused in the log, naming the place) and
the window stays usable."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
from PySide6.QtCore import QPointF

from nodestudio.graph.limits import POSITION_LIMIT
from nodestudio.train.settings import TRAIN_DEFAULTS
from tests.gui.test_panels import retype

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
MLP = json.loads((EXAMPLES / "mlp.json").read_text(encoding="utf-8"))


@pytest.fixture
def window(studio):
    return studio((1200, 800))


def hostile(tmp_path: Path, change) -> Path:
    doc = copy.deepcopy(MLP)
    change(doc)
    path = tmp_path / "hostile.nsg"
    path.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    return path


def node(doc: dict, node_id: str) -> dict:
    return next(n for n in doc["nodes"] if n["id"] == node_id)


def test_a_node_at_1e19_is_brought_back_and_the_canvas_stays_its_size(qtbot, window,
                                                                      tmp_path):
    # it froze the studio for 42-177 s
    path = hostile(tmp_path, lambda d: node(d, "hidden").update(position=[9.3e18, 1.8e19]))
    assert window.open_path(path, ask=False)
    assert window.document.graph.nodes["hidden"].position == (POSITION_LIMIT, POSITION_LIMIT)
    window.view.fit_all()
    window.view.viewport().repaint()
    room = window.view.sceneRect()
    assert room.contains(QPointF(POSITION_LIMIT, POSITION_LIMIT))
    assert room.right() <= 2 * POSITION_LIMIT and room.bottom() <= 2 * POSITION_LIMIT
    # dragging it further out keeps it within the limit too
    window.document.move_nodes({"hidden": (1e30, -1e30)})
    assert window.document.graph.nodes["hidden"].position == (POSITION_LIMIT, -POSITION_LIMIT)


@pytest.mark.parametrize("stored, field", [
    ({"epochs": None}, "metadata.training.epochs: expected a whole number >= 1"),
    ({"regularisation": []}, "metadata.training.regularisation: expected an object"),
    ({"hyper": 5}, "metadata.training.hyper: expected an object"),
    ({"optimizer": "x"}, "metadata.training.optimizer: expected one of"),
    ({"min_epochs": 2**31}, "metadata.training.min_epochs: expected a whole number >= 0"),
    ("fast", "metadata.training: expected an object"),
])
def test_training_settings_of_the_wrong_types_fall_back_with_a_message(qtbot, window, tmp_path,
                                                                       stored, field):
    # the Training panel used to fail on open with each of these
    path = hostile(tmp_path, lambda d: d["metadata"].update(
        training={**d["metadata"]["training"], **stored} if isinstance(stored, dict)
        else stored))
    assert window.open_path(path, ask=False)
    warnings = [m for level, m, _ in window.log_panel.entries() if level == "warning"]
    assert any(field in m for m in warnings), warnings
    panel = window.training
    assert panel.epochs.value() == TRAIN_DEFAULTS["epochs"]
    assert panel.optimizer.currentText() == TRAIN_DEFAULTS["optimizer"]
    assert panel.settings().epochs == TRAIN_DEFAULTS["epochs"]  # usable as it stands


@pytest.mark.parametrize("attr, value", [
    ("seed", math.nan), ("seed", 2**40), ("shape", True), ("shape", [0, 800]),
    ("std", 1e308), ("init", ["zeros"]), ("trainable", [1]),
])
def test_the_inspector_shows_values_its_editors_cannot_hold(qtbot, window, tmp_path, attr,
                                                            value):
    path = hostile(tmp_path, lambda d: node(d, "W1")["attrs"].update({attr: value}))
    assert window.open_path(path, ask=False)
    window.inspector.show_nodes(["W1"])
    assert f"attribute '{attr}'" in str(window.document.annotation.errors["W1"])
    assert f"attribute '{attr}'" in window.inspector.problem_label.text()


@pytest.mark.parametrize("typed, fragment", [
    ("0, 800", "dimension 0 must be a whole number from 1"),
    ("784, -1", "dimension 1 must be a whole number from 1"),
    ("784, 99999999999", "dimension 1 must be a whole number from 1"),
])
def test_a_zero_or_negative_dimension_typed_in_is_refused(qtbot, window, tmp_path, typed,
                                                          fragment):
    assert window.open_path(EXAMPLES / "mlp.json", ask=False)
    steps = window.document.undo_stack.count()
    window.inspector.show_nodes(["W1"])
    shape = window.inspector.editors["shape"].widget
    retype(qtbot, shape, typed)
    assert fragment in window.inspector.refusal and "'shape'" in window.inspector.refusal
    assert window.document.graph.nodes["W1"].attrs["shape"] == [784, 800]
    assert window.document.undo_stack.count() == steps
    assert not window.document.annotation.errors  # every check goes on as before


def test_a_concatenate_of_a_million_inputs_opens_with_its_problem(qtbot, window, tmp_path):
    # 12 s and 1.1 GB to make its ports
    path = hostile(tmp_path, lambda d: node(d, "hidden_tanh").update(
        op="concatenate", attrs={"n": 1_000_000, "axis": 1}))
    assert window.open_path(path, ask=False)
    window.inspector.show_nodes(["hidden_tanh"])
    assert "attribute 'n' must lie in [1, 64]" in window.inspector.problem_label.text()
    assert window.scene.nodes["hidden_tanh"].inputs == []


def test_a_hostile_file_is_refused_in_the_log_naming_the_place(qtbot, window, tmp_path):
    path = tmp_path / "deep.nsg"
    path.write_text('{"format": "nodestudio-graph", "version": 1, "nodes": [], "metadata": '
                    '{"x": ' + "[" * 1000 + "]" * 1000 + "}}", encoding="utf-8")
    before = window.document.graph
    assert not window.open_path(path, ask=False)
    level, message, _ = window.log_panel.entries()[-1]
    assert level == "error" and str(path) in message
    assert "at $.metadata.x[0][0]...: nested more than 64 levels deep" in message
    assert window.document.graph is before
