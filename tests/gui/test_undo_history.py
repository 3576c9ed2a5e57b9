"""Every edit the studio can make is one undo step: 1,000 random edit sequences, undone fully,
give back the original document, byte for byte once saved (node, wire and value order
included); redone, the final one. The document's incremental annotation equals the annotation
of the whole graph after every edit, undo and redo."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.graph.history import capture
from nodestudio.graph.model import PortRef
from nodestudio.gui.document import Document
from nodestudio.ir.annotate import annotate
from nodestudio.ops import registry
from tests.train.examples import EXAMPLES

OPS = ["tanh", "relu", "add", "mul", "dense", "sum", "softmax", "parameter", "constant",
       "dropout", "batch_norm", "matmul", "exp", "concatenate"]


def _small_graph():
    graph = fileformat.load(EXAMPLES / "logistic_regression.json")
    graph.set_attrs("x", {"shape": [None, 6]})  # small arrays keep 1,000 sequences quick
    graph.set_attrs("W", {"shape": [6, 10]})
    return graph


def _random_attr_value(rng: random.Random, attr):
    if attr.kind == "bool":
        return rng.random() < 0.5
    if attr.kind == "choice" and attr.choices:
        return rng.choice(attr.choices)
    if attr.kind == "int":
        low = int(attr.low) if attr.low is not None else -3
        high = int(attr.high) if attr.high is not None else 5
        return rng.randint(low, min(high, low + 8))
    if attr.kind == "float":
        low = attr.low if attr.low is not None else -2.0
        high = attr.high if attr.high is not None else 2.0
        return rng.uniform(low, min(high, low + 4.0))
    return None


def _one_edit(doc: Document, rng: random.Random) -> None:
    g = doc.graph
    nodes = list(g.nodes)
    kind = rng.choice(["add", "add", "remove", "connect", "connect", "disconnect", "attrs",
                       "move", "expand", "collapse", "duplicate", "layout", "values"])
    if kind == "add":
        doc.add_node(rng.choice(OPS), position=(rng.uniform(-500, 500), rng.uniform(-500, 500)))
    elif kind == "remove" and nodes:
        doc.remove_nodes(rng.sample(nodes, k=min(len(nodes), rng.randint(1, 3))))
    elif kind == "connect" and len(nodes) > 1:
        src, dst = rng.sample(nodes, 2)
        src_op, dst_op = registry.get(g.nodes[src].op), registry.get(g.nodes[dst].op)
        ins = dst_op.input_names(g.nodes[dst].attrs)
        if ins:
            try:  # the document refuses invalid wires; a refusal must change nothing
                doc.connect(f"{src}:{rng.choice(src_op.output_names())}",
                            f"{dst}:{rng.choice(ins)}")
            except GraphError:
                pass
    elif kind == "disconnect" and g.edges:
        doc.disconnect(rng.sample(g.edges, k=min(len(g.edges), rng.randint(1, 2))))
    elif kind == "attrs" and nodes:
        node = g.nodes[rng.choice(nodes)]
        attrs = [a for a in registry.get(node.op).attrs if a.kind in
                 ("bool", "choice", "int", "float")]
        if attrs:
            attr = rng.choice(attrs)
            try:
                doc.set_attrs(node.id, {attr.name: _random_attr_value(rng, attr)})
            except GraphError:
                pass
    elif kind == "move" and nodes:
        doc.move_nodes({n: (rng.uniform(-900, 900), rng.uniform(-900, 900))
                        for n in rng.sample(nodes, k=min(len(nodes), 3))})
    elif kind == "expand":
        composites = [n for n in nodes if registry.get(g.nodes[n].op).is_composite]
        if composites:
            try:  # a composite whose inputs are not all wired cannot be expanded
                doc.expand(rng.choice(composites))
            except GraphError:
                pass
    elif kind == "collapse" and g.groups:
        try:  # refused when a wire leaves the group from a port that is none of its outputs
            doc.collapse(rng.choice(sorted(g.groups)))
        except GraphError:
            pass
    elif kind == "duplicate" and nodes:
        doc.duplicate(rng.sample(nodes, k=min(len(nodes), rng.randint(1, 3))))
    elif kind == "layout":
        doc.auto_layout()
    elif kind == "values":
        params = [n for n in nodes if g.nodes[n].op == "parameter"]
        if params:
            node = rng.choice(params)
            known = doc.annotation.types.get(PortRef(node, "out"))
            shape = tuple(known.shape) if known is not None else (2,)
            doc.set_values({node: np.full(shape, rng.random(), np.float32)})


@pytest.mark.slow
def test_a_thousand_random_edit_sequences_undo_and_redo_exactly(qapp):
    rng = random.Random(20261123)
    steps_seen = 0
    for sequence in range(1000):
        doc = Document(_small_graph())
        original, original_text = capture(doc.graph), fileformat.dumps(doc.graph)
        for _ in range(rng.randint(1, 10)):
            _one_edit(doc, rng)
        final, final_text = capture(doc.graph), fileformat.dumps(doc.graph)
        stack = doc.undo_stack
        steps_seen += stack.count()
        while stack.canUndo():
            stack.undo()
        assert capture(doc.graph) == original, f"sequence {sequence}: undo differs"
        assert fileformat.dumps(doc.graph) == original_text, f"sequence {sequence}: order"
        while stack.canRedo():
            stack.redo()
        assert capture(doc.graph) == final, f"sequence {sequence}: redo differs"
        assert fileformat.dumps(doc.graph) == final_text, f"sequence {sequence}: redo order"
        doc.deleteLater()
    assert steps_seen > 3000  # most random edits were real changes, not refusals


def _same_annotation(a, b) -> bool:
    return (a.types == b.types and a.blocked == b.blocked and a.params == b.params
            and a.parameter_nodes == b.parameter_nodes and a.owned == b.owned
            and {k: str(e) for k, e in a.errors.items()} == {k: str(e) for k, e in
                                                              b.errors.items()})


def test_the_documents_annotation_follows_edits_undo_and_redo(qapp):
    rng = random.Random(20261128)
    checked = 0
    for sequence in range(150):
        doc = Document(_small_graph())
        for step in range(12):
            choice = rng.random()
            if choice < 0.2 and doc.undo_stack.canUndo():
                doc.undo_stack.undo()
            elif choice < 0.3 and doc.undo_stack.canRedo():
                doc.undo_stack.redo()
            else:
                _one_edit(doc, rng)
            assert _same_annotation(doc.annotation, annotate(doc.graph)), \
                f"sequence {sequence}, step {step}"
            checked += 1
        doc.deleteLater()
    assert checked == 1800
