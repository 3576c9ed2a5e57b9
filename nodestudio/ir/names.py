"""Which of the user's nodes an IR node belongs to, and how to say so.

The IR names the nodes it makes after the nodes they come from: a composite's expansion is
built under the scope "<composite>/" (ir/expand.py: "loss/mean_5"), a layer's own parameters
are "<layer>/<param>" (ir/layers.py: "hidden/W"), and each backward node under
"grad/<forward node>/" (ir/autodiff.py: "grad/hidden/matmul_5/matmul_10"). None of these
exists in the user's file, so a message or a selection must name the user's node instead:
`origin_of` finds it (the longest prefix, at a "/", that is one of the user's nodes; "grad/"
in front meaning "the gradient of"), and `NodeOrigin.describe` says it in words, e.g.
"the gradient of node 'hidden' (dense_layer), at its inner op div".

This is the one place that reads those names: everything that names a node to the user goes
through it (training failures, errors raised while compiling or running a training graph).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from nodestudio.errors import GraphError

GRADIENT_PREFIX = "grad/"


@dataclass(frozen=True)
class NodeOrigin:
    """Where an IR node comes from, in the user's terms.

    `node` is the user's node (a document node id), None when the IR node belongs to none
    (the seed of the gradient, a penalty the trainer adds); `node_op` its op. `gradient` says
    the IR node is part of the backward pass of `node`. `inner` is the rest of the IR name
    below `node` ("W", "log_softmax_3/exp_1"), empty when the IR node is `node` itself; `op`
    is the IR node's own op."""

    ir_name: str
    op: str
    node: str | None
    node_op: str | None
    gradient: bool
    inner: str

    @property
    def phase(self) -> str:
        return "backward" if self.gradient else "forward"

    def describe(self) -> str:
        """E.g. "node 'loss' (softmax_cross_entropy), at its inner op log_softmax";
        "the gradient of node 'sqrt_1' (sqrt), at its inner op div"; "node 'hidden'
        (dense_layer), its parameter W"."""
        if self.node is None:
            return f"{self.ir_name!r} ({self.op}), which is not a node of the graph"
        text = f"node {self.node!r}" + (f" ({self.node_op})" if self.node_op else "")
        if self.gradient:
            text = "the gradient of " + text
        if not self.inner:
            return text
        if self.op == "parameter" and "/" not in self.inner and not self.gradient:
            return f"{text}, its parameter {self.inner}"
        return f"{text}, at its inner op {self.op}"


def origin_of(ir_name: str, user_nodes: Mapping[str, str], op: str | None = None
              ) -> NodeOrigin:
    """The user's node behind IR node `ir_name`. `user_nodes` maps the user's node ids to
    their ops; `op` is the IR node's op (by default read off its name: "div_3" -> "div").

    A name that is itself a user's node is that node. Otherwise leading "grad/"s mean "the
    gradient of", and what follows belongs to itself or its longest prefix (ending at a "/")
    that is a user's node; failing that (a user's node whose own name starts with "grad/"),
    the whole name is matched the same way."""
    op = op if op is not None else _op_from_name(ir_name)
    if ir_name in user_nodes:
        return NodeOrigin(ir_name, op, ir_name, user_nodes[ir_name], False, "")
    rest = ir_name
    while rest.startswith(GRADIENT_PREFIX):
        rest = rest[len(GRADIENT_PREFIX):]
    for name, gradient in ((rest, rest != ir_name), (ir_name, False)):
        node = name if name in user_nodes else _longest_prefix(name, user_nodes)
        if node is not None:
            return NodeOrigin(ir_name, op, node, user_nodes[node], gradient,
                              name[len(node) + 1:])
    return NodeOrigin(ir_name, op, None, None, rest != ir_name, rest)


def in_user_terms(error: GraphError, user_nodes: Mapping[str, str]) -> GraphError:
    """`error`, rewritten in place when it names an IR node that is not one of the user's:
    `node` becomes the user's node (the IR name stays in `ir_node`), `port` is dropped when
    it was an inner op's port, and the message says where, as `NodeOrigin.describe` does.
    Returns `error`, so that `raise in_user_terms(exc, nodes)` keeps its type and traceback."""
    if error.node is None or error.node in user_nodes:
        return error
    origin = origin_of(error.node, user_nodes)
    error.ir_node = error.node  # type: ignore[attr-defined]
    error.node, error.port = origin.node, None
    error.args = (f"{origin.describe()}: {error.detail}",)
    return error


def _longest_prefix(name: str, user_nodes: Mapping[str, str]) -> str | None:
    cut = name.rfind("/")
    while cut > 0:
        if name[:cut] in user_nodes:
            return name[:cut]
        cut = name.rfind("/", 0, cut)
    return None


def _op_from_name(ir_name: str) -> str:
    """What fresh_name made a name from: "loss/mean_5" -> "mean"."""
    last = ir_name.rsplit("/", 1)[-1]
    base, _, counter = last.rpartition("_")
    return base if base and counter.isdigit() else last


__all__ = ["GRADIENT_PREFIX", "NodeOrigin", "in_user_terms", "origin_of"]
