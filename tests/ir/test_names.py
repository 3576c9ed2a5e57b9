"""ir/names.py: every node of the expanded and backward graphs is told as the user's node it
comes from ("the gradient of node 'hidden' (dense_layer), at its inner op div")."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodestudio.errors import GraphError, ShapeError
from nodestudio.graph import fileformat
from nodestudio.ir.autodiff import grad
from nodestudio.ir.convert import from_document
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import toposort
from nodestudio.ir.names import in_user_terms, origin_of

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
NODES = {"x": "input", "hidden": "dense_layer", "hidden_tanh": "tanh", "sqrt_1": "sqrt",
         "loss": "softmax_cross_entropy", "enc": "dense_layer", "enc/out": "tanh"}


@pytest.mark.parametrize(("ir_name", "op", "node", "phase", "text"), [
    ("hidden_tanh", "tanh", "hidden_tanh", "forward", "node 'hidden_tanh' (tanh)"),
    ("loss/mean_5", "mean", "loss", "forward",
     "node 'loss' (softmax_cross_entropy), at its inner op mean"),
    ("loss/log_softmax_3", None, "loss", "forward",  # the op read off the name
     "node 'loss' (softmax_cross_entropy), at its inner op log_softmax"),
    ("hidden/W", "parameter", "hidden", "forward", "node 'hidden' (dense_layer), its parameter W"),
    ("grad/hidden/matmul_5/matmul_10", "matmul", "hidden", "backward",
     "the gradient of node 'hidden' (dense_layer), at its inner op matmul"),
    ("grad/sqrt_1/div_3", "div", "sqrt_1", "backward",
     "the gradient of node 'sqrt_1' (sqrt), at its inner op div"),
    ("grad/loss/log_softmax_3/exp_1", "exp", "loss", "backward",
     "the gradient of node 'loss' (softmax_cross_entropy), at its inner op exp"),
    ("grad/grad/hidden_tanh/mul_2", "mul", "hidden_tanh", "backward",  # a second derivative
     "the gradient of node 'hidden_tanh' (tanh), at its inner op mul"),
    ("enc/out/mul_3", "mul", "enc/out", "forward",  # the longest prefix that is a node
     "node 'enc/out' (tanh), at its inner op mul"),
    ("enc/mul_3", "mul", "enc", "forward", "node 'enc' (dense_layer), at its inner op mul"),
    ("grad/seed", "constant", None, "backward",
     "'grad/seed' (constant), which is not a node of the graph"),
    ("regularisation/abs_2", "abs", None, "forward",
     "'regularisation/abs_2' (abs), which is not a node of the graph"),
    ("hidden_tanh_2", "tanh", None, "forward",  # a prefix only counts up to a "/"
     "'hidden_tanh_2' (tanh), which is not a node of the graph"),
])
def test_origin_of(ir_name, op, node, phase, text):
    origin = origin_of(ir_name, NODES, op)
    assert (origin.node, origin.phase, origin.describe()) == (node, phase, text)
    assert origin.ir_name == ir_name


def test_a_users_node_called_grad():
    nodes = {"grad": "dense_layer", "w": "parameter"}
    assert origin_of("grad", nodes).describe() == "node 'grad' (dense_layer)"
    # its own expansion (nothing after "grad/" is a node), and its gradient
    assert origin_of("grad/matmul_4", nodes).describe() == \
        "node 'grad' (dense_layer), at its inner op matmul"
    assert origin_of("grad/grad/add_2", nodes).describe() == \
        "node 'grad' (dense_layer), at its inner op add"
    assert origin_of("grad/w/mul_1", nodes).describe() == \
        "the gradient of node 'w' (parameter), at its inner op mul"


def test_errors_are_rewritten_in_place():
    error = ShapeError("expects float32, got int32", node="grad/hidden/add_5/sum_6", port="a")
    assert in_user_terms(error, NODES) is error  # same type, same traceback
    assert error.node == "hidden" and error.port is None
    assert error.ir_node == "grad/hidden/add_5/sum_6"
    assert str(error) == ("the gradient of node 'hidden' (dense_layer), at its inner op sum: "
                          "expects float32, got int32")
    # a user's node, or none: left as they are
    kept = GraphError("bad", node="hidden", port="x")
    assert str(in_user_terms(kept, NODES)) == "node 'hidden', port 'x': bad"
    assert kept.port == "x" and not hasattr(kept, "ir_node")
    assert str(in_user_terms(GraphError("bad"), NODES)) == "bad"


@pytest.mark.parametrize("example", sorted(p.name for p in EXAMPLES.glob("*.json")))
def test_every_node_of_a_training_graph_maps_to_a_node_of_the_file(example):
    # the forward graph expanded to primitives, and the backward graph of every parameter:
    # each node is one of the file's, or the gradient of one, except the gradient's seed
    document = fileformat.load(EXAMPLES / example)
    loaded = from_document(document)
    nodes = {node_id: node.op for node_id, node in document.nodes.items()}
    params = [v for v in loaded.shared.values()  # what the trainer differentiates for
              if v.dtype == "float32" and v.owner.attrs.get("trainable", True)]
    grads = grad(loaded.outputs["loss"], params)
    order = toposort(expand([loaded.outputs["loss"], *grads], "train"))
    assert any(n.name.startswith("grad/") for n in order)
    for node in order:
        origin = origin_of(node.name, nodes, node.op.name)
        assert origin.node in document.nodes or node.name == "grad/seed", node.name
        assert (origin.phase == "backward") == node.name.startswith("grad/")
