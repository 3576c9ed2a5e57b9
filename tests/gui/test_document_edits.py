"""Document edits as recorded changes: each is one undo step that holds what it changed (not the
graph), undo and redo are exact to the byte, a failing edit leaves nothing behind, the canvas
follows, and a layer resized after training drops the weights that no longer fit."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.graph.history import MoveStep, NodeStep
from nodestudio.graph.model import Graph, PortRef
from nodestudio.gui.canvas import GraphScene
from nodestudio.gui.document import Document
from nodestudio.train.roles import Fix
from tests.train.examples import EXAMPLES


def mlp() -> Graph:
    return fileformat.load(EXAMPLES / "mlp.json")


@pytest.fixture
def doc(qapp):
    document = Document(mlp())
    scene = GraphScene(document)  # the canvas listens, as in the studio
    yield document, scene
    scene.detach()


def scene_matches(document: Document, scene: GraphScene) -> bool:
    return set(scene.nodes) == set(document.graph.nodes) and \
        set(scene.edges) == set(document.graph.edges)


def undo_redo_exact(document: Document, before: str) -> None:
    after = fileformat.dumps(document.graph)
    document.undo_stack.undo()
    assert fileformat.dumps(document.graph) == before
    document.undo_stack.redo()
    assert fileformat.dumps(document.graph) == after


def test_a_failing_edit_changes_nothing_and_the_canvas_follows_back(doc):
    document, scene = doc
    before = fileformat.dumps(document.graph)

    def change(g: Graph) -> None:
        g.add_node("relu", id="r", index=0)
        g.remove_node("hidden")
        g.set_attrs("logits", {"units": 3})
        g.move("x", (1.0, 2.0))
        g.values["W2"] = np.zeros((800, 10), np.float32)
        g.outputs.pop("loss")
        g.metadata["title"] = "half done"
        g.connect("r:out", "r:x")  # a cycle: refused

    with pytest.raises(GraphError, match="cycle"):
        document.edit("Doomed", change)
    assert fileformat.dumps(document.graph) == before
    assert document.undo_stack.count() == 0 and scene_matches(document, scene)
    assert scene.nodes["x"].pos().x() == document.graph.nodes["x"].position[0]


def test_each_document_method_is_one_exact_undo_step(doc, tmp_path):
    document, scene = doc
    graph = document.graph
    params = tmp_path / "params.npz"
    np.savez(params, W2=np.ones((800, 10), np.float32))
    edits = [
        lambda: document.rename("hidden_tanh", "h"),
        lambda: document.mark_output("prediction", None),
        lambda: document.mark_output("prediction", "h:out"),
        lambda: document.mark_input("y", "labels"),
        lambda: document.apply_fix(Fix("Reseed", lambda g: g.set_attrs("W1", {"seed": 3}))),
        lambda: document.set_values({"b2": np.full(10, 0.5, np.float32)}),
        lambda: document.apply_training({"b1": np.ones(800, np.float32)}, {"lr": 0.1}, "Train"),
        lambda: document.load_parameters(params),
        lambda: document.reset_parameters(),
        lambda: document.expand("hidden"),
        lambda: document.collapse("hidden"),
        lambda: document.paste(document.copy_nodes(["W1", "b1", "hidden"])),
        lambda: document.auto_layout(),
        lambda: document.remove_nodes(["logits", "x"]),
    ]
    for number, edit in enumerate(edits, 1):
        before = fileformat.dumps(graph)
        edit()
        assert document.undo_stack.count() == number, f"edit {number}"
        undo_redo_exact(document, before)
        assert scene_matches(document, scene), f"edit {number}"
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert fileformat.dumps(graph) == fileformat.dumps(mlp())  # the file as it was opened


def test_an_undo_step_holds_the_change_not_the_graph(qapp):
    graph = Graph()
    last = graph.add_node("input", {"shape": [None, 4]}, id="x").id
    for i in range(1000):
        last = graph.add_node("relu", id=f"r{i}", position=(float(i), 0.0)).id if i else \
            graph.add_node("relu", id="r0", position=(0.0, 0.0)).id
        graph.connect(f"{'x' if i == 0 else f'r{i - 1}'}:out", f"{last}:x")
    document = Document(graph)
    document.move_nodes({"r500": (5.0, 5.0)})
    document.add_node("tanh", position=(1.0, 1.0))
    move, add = (document.undo_stack.command(i).change for i in range(2))
    assert move.steps == (MoveStep("r500", (500.0, 0.0), (5.0, 5.0)),) and not move.parts
    assert len(add.steps) == 1 and isinstance(add.steps[0], NodeStep) and not add.parts
    document.remove_nodes(["r500"])  # two wires and the node
    delete = document.undo_stack.command(2).change
    assert [type(s).__name__ for s in delete.steps] == ["EdgeStep", "EdgeStep", "NodeStep"]


def test_an_edit_that_changes_nothing_is_no_undo_step(doc):
    document, _ = doc
    document.set_attrs("prediction", dict(document.graph.nodes["prediction"].attrs))
    document.move_nodes({"x": document.graph.nodes["x"].position})
    document.edit("Nothing", lambda g: g.set_attrs("x", {"shape": [None, 9]}) or
                  g.set_attrs("x", {"shape": [None, 784]}))
    assert document.undo_stack.count() == 0


def test_an_edit_inside_an_edit_is_part_of_it(doc):
    document, _ = doc
    document.edit("Outer", lambda g: (g.move("x", (0.0, 0.0)),
                                      document.add_node("relu", position=(3.0, 3.0))))
    assert document.undo_stack.count() == 1 and "relu_1" in document.graph.nodes
    document.undo_stack.undo()
    assert "relu_1" not in document.graph.nodes


def layer_graph() -> Graph:
    g = Graph()
    g.add_node("input", {"shape": [None, 6]}, id="x")
    g.add_node("dense_layer", {"units": 4}, id="d")
    g.add_node("tanh", id="t")
    g.connect("x:out", "d:x")
    g.connect("d:out", "t:x")
    return g


def test_resizing_a_trained_layer_drops_the_weights_that_no_longer_fit(qapp):
    document = Document(layer_graph())
    trained = {"d/W": np.ones((6, 4), np.float32), "d/b": np.ones(4, np.float32)}
    document.apply_training(trained, {}, "Train")
    document.set_attrs("t", {})  # an unrelated edit keeps them
    document.move_nodes({"x": (9.0, 9.0)})
    assert set(document.graph.values) == {"d/W", "d/b"}
    before = fileformat.dumps(document.graph)
    document.set_attrs("d", {"units": 5})
    assert "d/W" not in document.graph.values and "d/b" not in document.graph.values
    note = document.annotation
    assert note.status("d") == "ok" and note.owned["d/W"].shape == (6, 5)
    undo_redo_exact(document, before)
    document.undo_stack.undo()
    assert document.graph.values["d/W"] is trained["d/W"] or \
        np.array_equal(document.graph.values["d/W"], trained["d/W"])
    document.set_attrs("x", {"shape": [None, 3]})  # the incoming width changes too
    assert set(document.graph.values) == {"d/b"}  # the bias still fits
    assert document.annotation.owned["d/W"].shape == (3, 4)


def test_a_re_routed_wire_is_judged_without_copying_the_graph(doc, monkeypatch):
    from nodestudio.gui.canvas.gestures import WireGesture

    document, _ = doc
    graph = document.graph
    relu = document.add_node("relu")
    monkeypatch.setattr(Graph, "copy", lambda self: pytest.fail("the graph was copied"))
    picked = next(e for e in graph.edges if e.dst == PortRef("logits", "x"))
    gesture = WireGesture(document, picked.src, True, picked)
    assert gesture.problem(PortRef(relu, "x"), False) is None
    assert "already fed" in gesture.problem(PortRef("hidden", "x"), False)
    assert gesture.problem(picked.dst, False) is None  # put back where it was
    picked = next(e for e in graph.edges if e.dst == PortRef("hidden", "x"))  # x -> hidden
    gesture = WireGesture(document, PortRef("W2", "out"), True, picked)
    # W2 (800 x 10) into hidden.x: a shape error, judged with hidden's other inputs as typed
    assert "inner dimensions" in gesture.problem(PortRef("hidden", "x"), False)


def test_collapsing_around_an_expanded_neighbour_undoes_exactly(doc):
    """Expanding `hidden` moves `logits` aside; `logits` is then expanded too, so collapsing
    `hidden` moves the logits group back through its record: undo must restore the record."""
    document, scene = doc
    original = fileformat.dumps(document.graph)
    document.expand("hidden")
    assert "logits" in document.graph.groups["hidden"]["shifted"]
    document.expand("logits")
    expanded = fileformat.dumps(document.graph)
    position = list(document.graph.groups["logits"]["position"])
    document.collapse("hidden")
    assert document.graph.groups["logits"]["position"] != position  # moved back with it
    undo_redo_exact(document, expanded)
    document.undo_stack.undo()
    assert document.graph.groups["logits"]["position"] == position
    while document.undo_stack.canUndo():
        document.undo_stack.undo()
    assert fileformat.dumps(document.graph) == original and scene_matches(document, scene)


def test_the_annotated_signal_says_which_nodes_changed(doc, qtbot):
    document, _ = doc
    with qtbot.waitSignal(document.annotated):
        document.set_attrs("W2", {"seed": 3})
    assert document.annotation_changes is None  # the first signal of a document: any node
    with qtbot.waitSignal(document.annotated):
        document.set_attrs("W2", {"seed": 4})
    assert document.annotation_changes == {"W2"}
    with qtbot.waitSignal(document.annotated):
        document.remove_nodes(["hidden_tanh"])
    assert {"logits", "loss", "error", "prediction"} <= document.annotation_changes
    assert "W1" not in document.annotation_changes
