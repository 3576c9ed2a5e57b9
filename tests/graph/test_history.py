"""Snapshots and restore: the mechanism behind every undo step in the studio."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.graph import fileformat
from nodestudio.graph.history import capture, restore
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.model import Graph
from tests.train.examples import EXAMPLES


@pytest.fixture
def mlp() -> Graph:
    return fileformat.load(EXAMPLES / "mlp.json")


def test_restore_brings_back_every_part_of_the_document(mlp):
    before = capture(mlp)
    original = mlp.copy()
    mlp.remove_node("hidden")
    mlp.set_attrs("prediction", {"axis": 0})
    mlp.move("x", (5.0, 6.0))
    mlp.add_node("relu", id="r")
    mlp.connect("logits:out", "r:x")
    mlp.values["W2"] = np.ones((800, 10), np.float32)
    mlp.metadata["title"] = "changed"
    restore(mlp, before)
    assert mlp == original, mlp.describe_difference(original)


def test_restore_emits_one_event_per_difference(mlp):
    before = capture(mlp)
    mlp.move("x", (1.0, 1.0))
    mlp.disconnect("hidden:x")
    events: list[str] = []
    mlp.subscribe(lambda event, payload: events.append(event))
    restore(mlp, before)
    assert sorted(events) == ["edge_added", "moved"]


def test_state_shares_arrays_instead_of_copying(mlp):
    mlp.values["W1"] = np.zeros((784, 800), np.float32)
    state = capture(mlp)
    assert dict(state.values)["W1"] is mlp.values["W1"]
    assert state.to_graph().values["W1"] is mlp.values["W1"]
    assert state == capture(mlp)


def test_states_differ_when_an_array_differs(mlp):
    mlp.values["b1"] = np.zeros(800, np.float32)
    a = capture(mlp)
    mlp.values["b1"] = np.ones(800, np.float32)
    assert capture(mlp) != a


def test_layered_layout_runs_every_wire_rightwards(mlp):
    positions = layered_positions(mlp)
    assert set(positions) == set(mlp.nodes)
    for edge in mlp.edges:
        assert positions[edge.src.node][0] < positions[edge.dst.node][0], edge
    assert len(set(positions.values())) == len(positions)  # no two nodes on one spot
