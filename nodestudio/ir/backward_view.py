"""The backward graph that autodiff builds, as a picture's plan: which nodes, which wires, which
forward node each belongs to, and where each goes (the Backward graph panel draws it).

`ns.grad` (ir/autodiff.py) builds the gradient out of ordinary ops named
"grad/<forward node>/<op>_<k>": each forward node's rule multiplies its local gradient by the
incoming one, fan-out gradients are summed under the forward node whose output fanned out, and
broadcasting is undone by a sum in the consumer's rule. `backward_view` takes that graph apart
by those names:

- the *forward* part: the primitive forward nodes of the chosen user's nodes (a collapsed batch
  norm shows its mean, subtract, square, mean, add eps, square root, divide, scale, shift), with
  the values entering from elsewhere as small stubs;
- the *backward* part: the gradient nodes belonging to those forward nodes, grouped by forward
  node (`ViewGroup`, "the gradient of ..."), with the forward values they read ("saved") and the
  gradients arriving from outside the choice ("incoming") as stubs, and the gradients of
  parameters marked as results.

Both parts are laid out left to right in layers: the longest path to a node gives its layer,
then each node moves as late as its consumers allow (a local gradient or a saved value sits
just before the node that uses it), and the project's Sugiyama steps
(graph/sugiyama.py: barycentre ordering with exact crossing counts, then heights fitted to the
wires) order and place each layer; node sizes are this view's own, smaller than the canvas's
cards. `evaluate_view` computes every node's value on a batch with the float64 reference
interpreter, so hovering a node can say what flows through it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodestudio.graph.sugiyama import Band
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import Apply, Variable, toposort
from nodestudio.ir.names import GRADIENT_PREFIX, origin_of
from nodestudio.ir.reference import evaluate

# Sizes in scene units (the panel's own; the canvas's cards are 168 wide).
NODE_HEIGHT = 36.0
STUB_HEIGHT = 22.0
MIN_WIDTH, MAX_WIDTH = 62.0, 190.0
LETTER = 6.6  # about one character of the 11 px label
COLUMN_GAP = 46.0  # between the widest card of a layer and the next layer
GROUP_PAD = 8.0
GROUP_TITLE = 16.0

# What a node of the view is.
OP = "op"  # a primitive op (forward or backward)
SAVED = "saved"  # a forward value the backward reads (stub in the backward part)
INCOMING = "incoming"  # a gradient arriving from outside the choice (stub)
SOURCE = "source"  # a value entering the chosen forward nodes from elsewhere (stub)


@dataclass
class ViewNode:
    id: str  # unique in its part; the IR node's name for ops
    op: str
    kind: str  # OP, SAVED, INCOMING, SOURCE
    phase: str  # "forward" or "backward"
    forward: str | None  # the forward IR node it is (forward) or belongs to (backward)
    user_node: str | None  # the user's node behind it (ir/names.py)
    label: str  # what the card shows
    role: str  # in words, for the tooltip ("local gradient x incoming gradient", ...)
    shape: tuple[int | None, ...]
    variable: Variable | None = None  # what it computes (stubs: the value they stand for)
    result_of: str | None = None  # a parameter's id when this is d loss / d that parameter
    x: float = 0.0
    y: float = 0.0
    width: float = MIN_WIDTH
    height: float = NODE_HEIGHT

    @property
    def rect(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.width, self.height


@dataclass
class ViewGroup:
    """The nodes of one part that belong to one forward node (backward part) or one user's
    node (forward part), framed together."""

    key: str  # the forward IR node (backward part) / the user's node (forward part)
    title: str
    members: list[str]
    rect: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)


@dataclass
class ViewPart:
    nodes: dict[str, ViewNode] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)
    groups: dict[str, ViewGroup] = field(default_factory=dict)

    def size(self) -> tuple[float, float]:
        if not self.nodes:
            return 0.0, 0.0
        return (max(n.x + n.width for n in self.nodes.values()),
                max(n.y + n.height for n in self.nodes.values()))


@dataclass
class BackwardView:
    forward: ViewPart
    backward: ViewPart
    selection: frozenset[str] | None  # the user's nodes shown (None: all)

    def backward_of(self, forward_id: str) -> list[str]:
        """The backward nodes belonging to forward node `forward_id`."""
        group = self.backward.groups.get(forward_id)
        return list(group.members) if group is not None else []

    def variables(self) -> list[Variable]:
        """Every value the view shows, forward and backward (stubs included)."""
        seen: dict[int, Variable] = {}
        for part in (self.forward, self.backward):
            for node in part.nodes.values():
                if node.variable is not None:
                    seen.setdefault(id(node.variable), node.variable)
        return list(seen.values())


def backward_view(cost: Variable, wrt: Sequence[Variable], user_nodes: Mapping[str, str],
                  selection: Iterable[str] | None = None,
                  groups: Mapping[str, str] | None = None) -> BackwardView:
    """The forward and backward graph of `cost` differentiated with respect to `wrt` (the
    trainable parameters), restricted to the user's nodes in `selection` (a node id, or a
    group's id for every node expanded from it; None or empty: the whole graph). `groups`
    maps the user's nodes expanded from a composite on the canvas to the composite's id, so
    that the forward drawing frames them together."""
    chosen = frozenset(selection) if selection else None
    grads = grad(cost, list(wrt))
    (cost,) = expand([cost], "train")  # the primitives the gradient was built on
    order = toposort([*grads, cost])
    backward_nodes = [a for a in order if a.name.startswith(GRADIENT_PREFIX)]
    forward_nodes = [a for a in order if not a.name.startswith(GRADIENT_PREFIX)]
    forward_names = {a.name for a in forward_nodes}
    owner_of = {id(a): _forward_owner(a.name, forward_names) for a in backward_nodes}
    origin = {id(a): origin_of(a.name, user_nodes, a.op.name) for a in order}

    def wanted(apply: Apply) -> bool:
        if chosen is None:
            return True
        user = origin[id(apply)].node
        if apply.name == f"{GRADIENT_PREFIX}seed":
            user = cost.owner.name if cost.owner.name in user_nodes else \
                origin[id(cost.owner)].node
        return user is not None and any(user == s or user.startswith(s + "/") for s in chosen)

    results = {id(g.owner): w for g, w in zip(grads, wrt) if g.owner.name.startswith(
        GRADIENT_PREFIX)}
    view = BackwardView(ViewPart(), ViewPart(), chosen)
    _forward_part(view.forward, [a for a in forward_nodes if wanted(a)
                                 and a.op.name not in ("input", "parameter", "constant")
                                 or (wanted(a) and chosen is None)], origin, groups or {})
    _backward_part(view.backward, [a for a in backward_nodes if wanted(a)], owner_of, origin,
                   results, {a.name: a for a in forward_nodes})
    for part in (view.forward, view.backward):
        layout(part)
    return view


def evaluate_view(view: BackwardView, feeds: Mapping[Variable, Any], call_index: int = 0
                  ) -> dict[tuple[str, str], np.ndarray]:
    """The value of every node of the view on a batch, in float64: {(part, node id): array},
    part being "forward" or "backward". `feeds` gives the inputs (the features and labels);
    parameters hold the values set on their shared variables."""
    variables = view.variables()
    values = evaluate(variables, feeds, mode="train", call_index=call_index)
    by_var = {id(v): value for v, value in zip(variables, values)}
    out: dict[tuple[str, str], np.ndarray] = {}
    for name, part in (("forward", view.forward), ("backward", view.backward)):
        for node in part.nodes.values():
            if node.variable is not None:
                out[(name, node.id)] = by_var[id(node.variable)]
    return out


def summarise(value: np.ndarray) -> str:
    """A few lines about an array: shape, mean, spread, range, a few entries."""
    value = np.asarray(value, dtype=np.float64)
    shape = " x ".join(map(str, value.shape)) or "scalar"
    if value.size == 0:
        return f"{shape}: empty"
    if value.size == 1:
        return f"{shape}: {value.item():.6g}"
    head = ", ".join(f"{v:.4g}" for v in value.ravel()[:4])
    return (f"{shape}\nmean {value.mean():.4g} · std {value.std():.4g}\n"
            f"min {value.min():.4g} · max {value.max():.4g}\n"
            f"mean |v| {np.abs(value).mean():.4g}\nfirst: {head}{' …' if value.size > 4 else ''}")


# --- the parts --------------------------------------------------------------------------------
def _forward_part(part: ViewPart, applies: list[Apply], origin: Mapping[int, Any],
                  groups: Mapping[str, str]) -> None:
    inside = {id(a) for a in applies}
    for a in applies:
        o = origin[id(a)]
        label = a.name if o.node == a.name else _op_label(a)  # the user's own node: its id
        part.nodes[a.name] = ViewNode(
            a.name, a.op.name, OP, "forward", a.name, o.node, label,
            _forward_role(a, o), a.outputs[0].shape, a.outputs[0])
    stubs: dict[int, str] = {}
    for a in applies:
        for var in a.inputs:
            src = var.owner
            if id(src) in inside:
                part.edges.append((src.name, a.name))
                continue
            stub = stubs.get(id(var))
            if stub is None:
                stub = stubs[id(var)] = _unique(part.nodes, f"<{var.name}>")
                o = origin[id(src)]
                part.nodes[stub] = ViewNode(
                    stub, src.op.name, SOURCE, "forward", src.name, o.node,
                    _stub_label(src, var), "a value computed outside the chosen nodes",
                    var.shape, var)
            part.edges.append((stub, a.name))
    for a in applies:  # frames: the user's nodes drawn as several primitive ops, and the
        o = origin[id(a)]  # nodes expanded from one composite on the canvas
        if o.node is None:
            continue
        if o.node in groups:
            key, title = groups[o.node], f"{groups[o.node]} (expanded)"
        elif o.node != a.name:
            key, title = o.node, f"{o.node} ({o.node_op})"
        else:
            continue
        part.groups.setdefault(key, ViewGroup(key, title, [])).members.append(a.name)


def _backward_part(part: ViewPart, applies: list[Apply], owner_of: Mapping[int, str | None],
                   origin: Mapping[int, Any], results: Mapping[int, Variable],
                   forward_by_name: Mapping[str, Apply]) -> None:
    inside = {id(a) for a in applies}
    for a in applies:
        o = origin[id(a)]
        forward = owner_of[id(a)]
        node = ViewNode(a.name, a.op.name, OP, "backward", forward, o.node, _op_label(a),
                        _backward_role(a, forward, owner_of, forward_by_name),
                        a.outputs[0].shape, a.outputs[0])
        wrt = results.get(id(a))
        if wrt is not None:
            node.result_of = wrt.owner.name
            node.role = f"d loss / d {wrt.owner.name}: the gradient the optimizer uses"
            node.label = f"∂loss/∂{_short(wrt.owner.name)}"
        part.nodes[a.name] = node
    saved: dict[int, str] = {}
    incoming: dict[int, str] = {}
    for a in applies:
        for var in a.inputs:
            src = var.owner
            if id(src) in inside:
                part.edges.append((src.name, a.name))
                continue
            is_grad = src.name.startswith(GRADIENT_PREFIX)
            table = incoming if is_grad else saved
            stub = table.get(id(var))
            if stub is None:
                o = origin[id(src)]
                if is_grad:
                    stub = _unique(part.nodes, f"<from {src.name}>")
                    owner = owner_of.get(id(src))
                    part.nodes[stub] = ViewNode(
                        stub, src.op.name, INCOMING, "backward", owner, o.node,
                        f"∂ from {_short(owner or src.name)}",
                        "the gradient arriving from the nodes after the chosen ones",
                        var.shape, var)
                else:
                    stub = _unique(part.nodes, f"<{var.name}>")
                    part.nodes[stub] = ViewNode(
                        stub, src.op.name, SAVED, "forward", src.name, o.node,
                        _stub_label(src, var), "a forward value the backward pass reads",
                        var.shape, var)
                table[id(var)] = stub
            part.edges.append((stub, a.name))
    for a in applies:
        forward = owner_of[id(a)] or "seed"
        group = part.groups.get(forward)
        if group is None:
            o = origin[id(a)]
            if forward == "seed":
                title = "the seed: d loss / d loss = 1"
            else:
                title = f"gradient of {o.node or forward}"
                inner = forward.removeprefix(f"{o.node}/") if o.node else ""
                if inner and inner != forward:
                    title += f" › {forward_by_name[forward].op.name}"
            group = part.groups[forward] = ViewGroup(forward, title, [])
        group.members.append(a.name)


def _forward_owner(name: str, forward_names: set[str]) -> str | None:
    """The forward IR node a backward node's name is scoped under ("grad/<it>/op_k")."""
    rest = name
    while rest.startswith(GRADIENT_PREFIX):
        rest = rest[len(GRADIENT_PREFIX):]
    cut = rest.rfind("/")
    while cut > 0:
        if rest[:cut] in forward_names:
            return rest[:cut]
        cut = rest.rfind("/", 0, cut)
    return None


def _forward_role(a: Apply, o: Any) -> str:
    where = o.describe()
    return f"forward: {where}"


def _backward_role(a: Apply, forward: str | None, owner_of: Mapping[int, str | None],
                   forward_by_name: Mapping[str, Apply]) -> str:
    """What this node does in the chain rule, told from its inputs."""
    if forward is None:
        return "the seed of the backward pass: d loss / d loss = 1"
    fwd = forward_by_name.get(forward)
    grad_inputs = [v for v in a.inputs if v.owner.name.startswith(GRADIENT_PREFIX)]
    foreign = [v for v in grad_inputs if owner_of.get(id(v.owner)) != forward]
    of = f"the gradient of {forward}"
    if a.op.name == "add" and len(foreign) == len(a.inputs) == 2:
        return f"{of}: sum of the gradients from its consumers (fan-out)"
    if a.op.name in ("sum", "reshape") and fwd is not None and fwd.op.is_elementwise and \
            a.outputs[0].shape in [v.shape for v in fwd.inputs] and \
            a.inputs[0].shape != a.outputs[0].shape:
        return f"{of}: broadcasting undone (summed back to the input's shape)"
    if not grad_inputs:
        return f"{of}: part of its local gradient (from forward values only)"
    if len(grad_inputs) < len(a.inputs):
        return f"{of}: local gradient × incoming gradient (reads forward values)"
    return f"{of}: a step of its rule on the incoming gradient"


# --- labels -----------------------------------------------------------------------------------
def _op_label(a: Apply) -> str:
    if a.op.name == "constant" and a.outputs[0].ndim == 0:
        value = a.attrs.get("value") if a.data is None else np.asarray(a.data).item()
        return f"const {value:.4g}" if isinstance(value, (int, float)) else "const"
    return a.op.name


def _stub_label(src: Apply, var: Variable) -> str:
    if src.op.name == "constant" and var.ndim == 0:
        return _op_label(src)
    return _short(var.name)


def _short(name: str) -> str:
    """The last parts of a long IR name, for a card."""
    parts = name.split("/")
    return "/".join(parts[-2:]) if len(parts) > 2 else name


def _unique(taken: Mapping[str, Any], name: str) -> str:
    k, candidate = 1, name
    while candidate in taken:
        k += 1
        candidate = f"{name}#{k}"
    return candidate


# --- layout -----------------------------------------------------------------------------------
def layout(part: ViewPart) -> None:
    """Place `part`'s nodes in layers left to right (see the module docstring) and frame its
    groups."""
    nodes = part.nodes
    if not nodes:
        return
    for n in nodes.values():
        n.height = NODE_HEIGHT if n.kind == OP else STUB_HEIGHT
        text = max(len(n.label), len(_shape_text(n.shape)) if n.kind == OP else 0)
        n.width = min(MAX_WIDTH, max(MIN_WIDTH, 16.0 + LETTER * text))
    feeders: dict[str, list[str]] = {k: [] for k in nodes}
    consumers: dict[str, list[str]] = {k: [] for k in nodes}
    for u, v in part.edges:
        feeders[v].append(u)
        consumers[u].append(v)
    order = _topological(list(nodes), feeders, consumers)
    layer: dict[str, int] = {}
    for n in order:
        layer[n] = 1 + max((layer[f] for f in feeders[n]), default=-1)
    for n in reversed(order):  # then as late as possible: a local gradient, a stub or a
        if consumers[n]:  # constant sits just before the node that uses it
            layer[n] = min(layer[c] for c in consumers[n]) - 1
    used = sorted(set(layer.values()))
    renumber = {old: new for new, old in enumerate(used)}
    layer = {n: renumber[k] for n, k in layer.items()}
    band = Band(len(used), 1.0)
    index = {n: band.add(layer[n], nodes[n].height, nodes[n].height / 2) for n in order}
    for u, v in dict.fromkeys(part.edges):
        band.wire(index[u], index[v], 0, 0, 1.0, leads=bool(feeders[u]))
    band.order()
    middles = band.rows()
    column = [0.0] * len(used)
    for n in order:
        column[layer[n]] = max(column[layer[n]], nodes[n].width)
    left = [0.0]
    for width in column[:-1]:
        left.append(left[-1] + width + COLUMN_GAP)
    top = min(float(middles[index[n]]) - nodes[n].height / 2 for n in order)
    for n in order:
        node = nodes[n]
        node.x = left[layer[n]] + (column[layer[n]] - node.width) / 2
        node.y = float(middles[index[n]]) - node.height / 2 - top + GROUP_TITLE + GROUP_PAD
    for group in part.groups.values():
        members = [nodes[m] for m in group.members]
        x0 = min(n.x for n in members) - GROUP_PAD
        y0 = min(n.y for n in members) - GROUP_PAD - GROUP_TITLE
        x1 = max(n.x + n.width for n in members) + GROUP_PAD
        y1 = max(n.y + n.height for n in members) + GROUP_PAD
        group.rect = (x0, y0, x1 - x0, y1 - y0)


def _topological(ids: list[str], feeders: Mapping[str, list[str]],
                 consumers: Mapping[str, list[str]]) -> list[str]:
    pending = {n: len(feeders[n]) for n in ids}
    ready = [n for n in ids if pending[n] == 0]
    order: list[str] = []
    while ready:
        n = ready.pop(0)
        order.append(n)
        for c in consumers[n]:
            pending[c] -= 1
            if pending[c] == 0:
                ready.append(c)
    return order


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return " x ".join("B" if d is None else str(d) for d in shape) or "scalar"


shape_text = _shape_text

__all__ = ["BackwardView", "INCOMING", "OP", "SAVED", "SOURCE", "ViewGroup", "ViewNode",
           "ViewPart", "backward_view", "evaluate_view", "layout", "shape_text", "summarise"]
