"""Recorded changes (the mechanism behind every undo step in the studio), snapshots and
restore."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nodestudio.graph import fileformat
from nodestudio.graph.history import Recorder, capture, diff_dicts, restore
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


def record(graph: Graph, change) -> object:
    recorder = Recorder(graph)
    unsubscribe = graph.subscribe(recorder.observe)
    try:
        change(graph)
        return recorder.finish()
    finally:
        unsubscribe()


def test_random_changes_undo_and_redo_to_the_byte():
    """Any change made through the Graph methods, direct edits of values, outputs, groups and
    metadata included, replays backwards to the exact file and forwards again."""
    from tests.ir.test_incremental_annotation import _graph, _one_edit

    rng = random.Random(5)
    replayed = 0
    for _ in range(200):
        graph = _graph()
        for _ in range(rng.randint(0, 6)):  # some history first
            _one_edit(graph, rng)
        before = fileformat.dumps(graph)

        def change(g: Graph) -> None:
            for _ in range(rng.randint(1, 4)):
                _one_edit(g, rng)
            if rng.random() < 0.3:
                g.metadata = {**g.metadata, "note": rng.random()}
            if rng.random() < 0.3 and g.outputs:
                g.outputs.pop(next(iter(g.outputs)))
        step = record(graph, change)
        after = fileformat.dumps(graph)
        if step is None:
            assert after == before
            continue
        step.undo(graph)
        assert fileformat.dumps(graph) == before
        step.redo(graph)
        assert fileformat.dumps(graph) == after
        replayed += 1
    assert replayed > 150


def test_rollback_puts_everything_back_and_tells_listeners(mlp):
    before = fileformat.dumps(mlp)
    events: list[str] = []
    recorder = Recorder(mlp)
    mlp.subscribe(recorder.observe)
    mlp.remove_node("hidden")
    mlp.add_node("relu", id="r", index=0)
    mlp.values["W2"] = np.ones((800, 10), np.float32)
    mlp.metadata["title"] = "changed"
    mlp.subscribe(lambda event, payload: events.append(event))
    recorder.rollback()
    assert fileformat.dumps(mlp) == before
    assert events.count("edge_added") == 4 and "node_added" in events and "node_removed" in events
    assert events[-1] == "document_changed"


def test_a_change_keeps_only_what_differs(mlp):
    mlp.values["W1"] = np.zeros((784, 800), np.float32)
    step = record(mlp, lambda g: (g.move("x", (1.0, 1.0)),
                                  g.values.__setitem__("b1", np.ones(800, np.float32))))
    assert len(step.steps) == 1
    (name, values), = step.parts
    assert name == "values" and [k for _, k, _ in values.added] == ["b1"]
    assert not values.removed  # b1 had no value before; W1's array is not held


def test_dict_differences_keep_order_and_move_as_little_as_possible():
    old = {k: object() for k in "abcdef"}
    new = {k: old[k] for k in "acdefb"}  # b moved to the end
    new["g"] = object()
    change = diff_dicts(old, new, lambda a, b: a is b)
    assert [k for _, k, _ in change.removed] == ["b"]
    assert [k for _, k, _ in change.added] == ["b", "g"]
    assert list(change.apply(dict(new), False, lambda v: v)) == list(old)
    assert list(change.apply(dict(old), True, lambda v: v)) == list(new)
    assert diff_dicts(old, dict(old), lambda a, b: a is b) is None
