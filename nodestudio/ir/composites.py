"""Expanding a composite node of a document into its primitive nodes, and collapsing it back.

The primitives are not written twice: the one composite node is converted to IR on placeholder
inputs of the right types, the op's own `expand` builds the subgraph (exactly what the compiler
uses), and that subgraph is converted back into document nodes. Inner nodes get ids
"<composite id>/<op>_<k>" and `group = <composite id>`.

`graph.groups[<composite id>]` records what collapsing needs (all JSON, so it survives a save):

    {"op", "attrs", "position", "group", "index", "mode",
     "nodes":   [inner node ids],
     "inputs":  {port: {"from": "node:port" | None,      # what fed the composite's input
                        "to": ["inner:port", ...]}},     # the inner ports it feeds now
     "outputs": {port: {"from": "inner:port" | None,     # the inner port standing for it
                        "passthrough": in_port | None,   # output that *is* an input (dropout
                                                         #   at inference): no inner node
                        "to": ["node:port", ...]}},      # its consumers at expansion time
     "graph_outputs": {name: port},
     "params":  [names of the layer's own parameters, now parameter nodes "<id>/<name>"],
     "updates": {parameter node id: "inner:port"}}  # next values of running averages

The "updates" entry keeps what the composite node did for the shared variables it updates while
training (batch norm's running averages): the file loader binds them again, so an expanded
layer trains exactly as the collapsed one.

Collapsing works from the current wiring where it can (an inner output given a new consumer is
rewired to the composite), and refuses, naming node and port, what it cannot express.
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from nodestudio.errors import GraphError, ShapeError
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.model import Edge, Graph, Node, PortRef
from nodestudio.graph.records import group_record_problem
from nodestudio.ir import build, expr
from nodestudio.ir.convert import from_document, ir_to_graph
from nodestudio.ir.expand import MODES
from nodestudio.ir.expr import Apply, Variable, make_apply, name_scope, toposort
from nodestudio.ir.layers import owned_attrs, owned_types, param_key
from nodestudio.ops import registry
from nodestudio.ops.registry import TensorType


def expand_node(graph: Graph, node_id: str, mode: str = "auto") -> list[str]:
    """Replace composite `node_id` by its primitive nodes for `mode`; returns their ids.

    "auto" (the canvas's) keeps what the op does in both modes: where its training and
    inference expansions differ (batch statistics or running averages, a dropout mask or
    none), both are built, sharing what they have in common, and a `mode_switch` node picks
    one per compiled function, as the composite itself does."""
    if mode not in (*MODES, "auto"):
        raise ValueError(f"mode must be one of {(*MODES, 'auto')}, got {mode!r}")
    node = graph.node(node_id)
    op = registry.get(node.op, node=node_id)
    if not op.is_composite:
        raise GraphError(f"op {op.name!r} is not a composite; only composites expand",
                         node=node_id)
    if node_id in graph.groups:
        raise GraphError("a group with this id is already expanded", node=node_id)
    attrs = op.normalise_attrs(node.attrs, node_id)
    in_ports, out_ports = op.input_names(attrs), op.output_names()
    incoming = graph.incoming(node_id)

    # 1. The composite on placeholders, expanded by the op itself.
    holders: dict[Apply, str] = {}
    in_types = _input_types(graph, node_id, in_ports, incoming)
    for port, type_ in in_types.items():
        holder = Apply(registry.get("input"), (), {"shape": type_.shape, "dtype": type_.dtype},
                       f"{node_id}/<{port}>", [type_])
        holders[holder] = port
    params = _owned_parameter_nodes(op, list(in_types.values()), attrs, node_id)
    try:
        with name_scope(f"{node_id}/"):
            ins = [h.outputs[0] for h in holders] + [p.outputs[0] for p in params]
            if mode == "auto":
                outs = _switched(op.expand(build, ins, attrs, "train"),
                                 op.expand(build, ins, attrs, "infer"))
            else:
                outs = op.expand(build, ins, attrs, mode)
    except ShapeError as exc:
        if exc.node is None:
            raise ShapeError(exc.detail, node=node_id, port=exc.port) from None
        raise
    _name_inner(outs, holders, node_id, graph, fixed=set(params))
    sub, ids = ir_to_graph(dict(zip(out_ports, outs, strict=True)), reserved=frozenset(graph.nodes))
    holder_ids = {ids[h]: port for h, port in holders.items() if h in ids}
    inner = [nid for nid in sub.nodes if nid not in holder_ids]

    # 2. The record collapsing needs, taken before anything changes.
    record: dict[str, Any] = {
        "op": node.op, "attrs": copy.deepcopy(node.attrs),
        "position": None if node.position is None else list(node.position),
        "group": node.group, "index": list(graph.nodes).index(node_id), "mode": mode,
        "nodes": inner,
        "inputs": {p: {"from": str(incoming[p]) if p in incoming else None, "to": []}
                   for p in in_ports},
        "outputs": {}, "graph_outputs": {n: ref.port for n, ref in graph.outputs.items()
                                         if ref.node == node_id},
        "params": op.param_names(attrs), "updates": {},
    }
    new_src: dict[str, PortRef] = {}  # composite output port -> what replaces it
    for port, var in zip(out_ports, outs, strict=True):
        passthrough = holders.get(var.owner)
        if passthrough is not None:
            new_src[port] = incoming[passthrough]
        else:
            new_src[port] = PortRef(ids[var.owner], var.port)
        record["outputs"][port] = {
            "from": None if passthrough else str(new_src[port]), "passthrough": passthrough,
            "to": [str(d) for d in graph.consumers(node_id, port)]}
    record["updates"] = _updates(op, attrs, incoming, node_id, new_src)
    out_edges = [e for e in graph.edges if e.src.node == node_id]
    wires = graph.edges.of(node_id)  # each replaced in place by the wires standing for it
    anchors = _anchors(graph, wires, [[e] for e in wires])
    anchor_of = dict(zip(wires, anchors))
    graph_outputs = dict(record["graph_outputs"])
    owned_values = {k: graph.values[k] for k in graph.owned_keys(node_id)}

    # 3. Swap the composite for its primitives (through the model, so listeners hear of it).
    index = record["index"]
    orders = _orders(graph)
    graph.remove_node(node_id)
    ox, oy = node.position if node.position is not None else (0.0, 0.0)
    layout = layered_positions(sub, inner)  # the primitive ops laid out as their own graph
    left = min((x for x, _ in layout.values()), default=0.0)
    for k, nid in enumerate(inner):
        n = sub.nodes[nid]
        lx, ly = layout[nid]
        graph.add_node(n.op, n.attrs, id=nid, position=(ox + lx - left, oy + ly),
                       group=node_id, index=index + k)
        if nid in sub.values:
            graph.values[nid] = sub.values[nid]
    graph.values.update(owned_values)  # trained layer weights: now the parameter nodes' values
    _make_room(graph, record, inner, ox)
    placed: list[tuple[int | None, Edge]] = []
    for e in sub.edges:
        if e.src.node in holder_ids:
            port = holder_ids[e.src.node]
            placed.append((anchor_of.get(Edge(incoming[port], PortRef(node_id, port))),
                           Edge(incoming[port], e.dst)))
            record["inputs"][port]["to"].append(str(e.dst))
        else:
            graph.connect(e.src, e.dst)
    placed += [(anchor_of[e], Edge(new_src[e.src.port], e.dst)) for e in out_edges]
    _connect_in_place(graph, placed)
    for name, port in graph_outputs.items():
        graph.outputs[name] = new_src[port]
    graph.groups[node_id] = record
    _restore_orders(graph, orders)
    return inner


def collapse_group(graph: Graph, group_id: str) -> Node:
    """Put the composite back in place of the nodes expanded from it; returns it."""
    record = graph.groups.get(group_id)
    if record is None:
        raise GraphError("no expanded group with this id", node=group_id)
    problem = group_record_problem(record)  # what the file reader checks, for one made here
    if problem is not None:
        raise GraphError(f"cannot collapse: its record groups[{group_id!r}] is damaged at "
                         f"'{problem[0] or '.'}': {problem[1]}", node=group_id)
    for nested, rec in list(graph.groups.items()):  # a composite expanded inside this group
        if isinstance(rec, dict) and rec.get("group") == group_id and nested in graph.groups:
            collapse_group(graph, nested)
    if group_id in graph.nodes:
        raise GraphError("cannot collapse: a node already has the group's id", node=group_id)
    members = [nid for nid, n in graph.nodes.items() if n.group == group_id]
    inside = set(members)
    inputs: dict[str, dict[str, Any]] = record.get("inputs", {})
    outputs: dict[str, dict[str, Any]] = record.get("outputs", {})

    # Plan everything first, so a refusal leaves the document untouched.
    in_src: dict[str, PortRef | None] = {}
    boundary = {d for info in inputs.values() for d in info.get("to", [])}
    for port, info in inputs.items():
        in_src[port] = _current_source(graph, info, inside)
    for e in graph.edges:
        if e.dst.node in inside and e.src.node not in inside and str(e.dst) not in boundary:
            raise GraphError(f"cannot collapse {group_id!r}: {e.src} feeds an inner port that "
                             f"is not one of the group's inputs", node=e.dst.node,
                             port=e.dst.port)
    rewire: list[tuple[Edge, str]] = []  # (edge now, composite output port it should leave)
    for e in graph.edges:
        if e.src.node in inside and e.dst.node not in inside:
            rewire.append((e, _port_for(outputs, str(e.src), str(e.dst), group_id, e.src)))
    passthrough_edges: list[Edge] = []
    for port, info in outputs.items():
        src = in_src.get(info.get("passthrough") or "")
        for dst in info.get("to", []) if src is not None else []:
            edge = Edge(src, PortRef.parse(dst))
            if edge in graph.edges:
                rewire.append((edge, port))
                passthrough_edges.append(edge)
    named: dict[str, str] = {}
    for name, ref in graph.outputs.items():
        recorded = record.get("graph_outputs", {}).get(name)
        if ref.node in inside:
            named[name] = _port_for(outputs, str(ref), None, group_id, ref, recorded)
        elif recorded is not None and outputs.get(recorded, {}).get("passthrough") and \
                ref == in_src.get(outputs[recorded]["passthrough"]):
            named[name] = recorded

    # Each of the composite's wires goes where the first of the wires it stands for is.
    wires = [Edge(src, PortRef(group_id, port)) for port, src in in_src.items()
             if src is not None]
    replaced = [[e for e in graph.edges.out_of(src.node) if e.src == src and e.dst.node in inside
                 and str(e.dst) in inputs[port].get("to", [])]
                for port, src in in_src.items() if src is not None]
    wires += [Edge(PortRef(group_id, port), edge.dst) for edge, port in rewire]
    replaced += [[edge] for edge, _ in rewire]
    removed = [e for nid in members for e in graph.edges.of(nid)] + passthrough_edges
    anchors = _anchors(graph, removed, replaced)
    members_at = [i for i, nid in enumerate(graph.nodes) if nid in inside]
    index = members_at[0] if members_at else record.get("index")  # where its nodes stand

    # Apply the plan.
    kept = {k: graph.values[k] for k in (param_key(group_id, p) for p in record.get("params", []))
            if k in graph.values}  # parameter nodes' values go back to the layer
    orders = _orders(graph)
    for edge in passthrough_edges:
        graph.disconnect(edge)
    for nid in members:
        graph.remove_node(nid)
    origins = record.get("shifted_from", {})
    for nid, dx in record.get("shifted", {}).items():  # close the room expanding made
        node = graph.nodes.get(nid)
        x0 = origins.get(nid)
        if node is not None and node.position is not None and x0 is not None and \
                abs(node.position[0] - (x0 + dx)) < 1e-6:  # not moved since: exactly back
            graph.move(nid, (x0, node.position[1]))
        else:
            _shift(graph, nid, -dx)
    position = record.get("position")
    node = graph.add_node(record["op"], copy.deepcopy(record["attrs"]), id=group_id,
                          position=None if position is None else tuple(position),
                          group=record.get("group"), index=index)
    _connect_in_place(graph, [(anchor, edge) for anchor, edge in zip(anchors, wires)])
    for name, port in named.items():
        graph.outputs[name] = PortRef(group_id, port)
    graph.values.update(kept)
    del graph.groups[group_id]
    _restore_orders(graph, orders)
    return node


def _anchors(graph: Graph, removed: list[Edge], replaced: list[list[Edge]]) -> list[int | None]:
    """For each list of wires in `replaced`: how many wires that stay (not in `removed`) come
    before the first of them in the edge list; None for an empty list."""
    gone = sorted({graph.edges.index(e) for e in removed})
    out = []
    for edges in replaced:
        if not edges:
            out.append(None)
            continue
        first = min(graph.edges.index(e) for e in edges)
        out.append(first - sum(1 for i in gone if i < first))
    return out


def _connect_in_place(graph: Graph, placed: list[tuple[int | None, Edge]]) -> None:
    """Connect each edge where its anchor says (see _anchors: the wires that stayed come
    first in the list, so each lands exactly where what it replaces stood); None: last."""
    order = sorted(range(len(placed)), key=lambda k: (placed[k][0] is None, placed[k][0] or 0, k))
    for inserted, k in enumerate(order):
        anchor, edge = placed[k]
        graph.connect(edge.src, edge.dst, index=None if anchor is None else anchor + inserted)


def _orders(graph: Graph) -> tuple[list[str], list[str]]:
    return list(graph.outputs), list(graph.values)


def _restore_orders(graph: Graph, orders: tuple[list[str], list[str]]) -> None:
    """Graph outputs and values in their order from before (removing a node drops those that
    name it; they come back at the end): the saved file stays the same, byte for byte."""
    for table, order in zip((graph.outputs, graph.values), orders):
        place = {key: i for i, key in enumerate(order)}
        items = sorted(table.items(), key=lambda kv: place.get(kv[0], len(place)))
        if [k for k, _ in items] != list(table):
            table.clear()
            table.update(items)


def _make_room(graph: Graph, record: dict[str, Any], inner: list[str], ox: float) -> None:
    """Move the nodes right of an expanded composite further right by the width its primitive
    nodes take, so they do not land on top of each other; collapsing moves them back."""
    xs = [graph.nodes[n].position[0] for n in inner if graph.nodes[n].position is not None]
    width = max(xs, default=ox) - ox
    record["shifted"] = {}
    if width <= 0:
        return
    for nid, n in graph.nodes.items():
        if nid not in inner and n.position is not None and n.position[0] > ox:
            record["shifted"][nid] = width
    record["shifted_from"] = {}  # x + width - width need not give x back in floating point
    for nid in record["shifted"]:
        x, y = graph.nodes[nid].position
        record["shifted_from"][nid] = x
        graph.move(nid, (x + width, y))


def _shift(graph: Graph, nid: str, dx: float) -> None:
    """Move a node sideways; a node expanded since then moves as its group (its recorded
    position and every member)."""
    node = graph.nodes.get(nid)
    if node is not None:
        if node.position is not None:
            graph.move(nid, (node.position[0] + dx, node.position[1]))
        return
    record = graph.groups.get(nid)
    if not isinstance(record, dict):
        return  # deleted since
    if record.get("position") is not None:  # a new list: undo keeps the old one (history.py)
        record["position"] = [record["position"][0] + dx, record["position"][1]]
    for member in record.get("nodes", ()):
        _shift(graph, member, dx)


def expand_all(graph: Graph, mode: str = "auto") -> list[str]:
    """Expand every composite node (repeatedly, in case an expansion holds composites); the
    mode switches an "auto" expansion leaves stay (they are what keeps both modes)."""
    expanded: list[str] = []
    while True:
        todo = [nid for nid, n in graph.nodes.items() if _is_composite(n.op)
                and not (mode == "auto" and n.op == "mode_switch")]
        if not todo:
            return expanded
        for nid in todo:
            expand_node(graph, nid, mode)
            expanded.append(nid)


# --- helpers -----------------------------------------------------------------------------------
def _is_composite(op_name: str) -> bool:
    try:
        return registry.get(op_name).is_composite
    except GraphError:
        return False


def _switched(train: list[Variable], infer: list[Variable]) -> list[Variable]:
    """One variable per output that works in both modes: the inference expansion's nodes that
    the training one already has (same op, attributes, data and inputs) are shared, and where
    an output still differs a `mode_switch` picks the branch."""
    known: dict[tuple, Apply] = {}
    for node in toposort(train):
        known.setdefault(_key(node, node.inputs), node)
    mapped: dict[int, Variable] = {}
    for node in toposort(infer):
        inputs = [mapped.get(id(v), v) for v in node.inputs]
        twin = known.get(_key(node, inputs)) if node.inputs or node.op.name == "constant" \
            else None  # two placeholders alike are still two inputs
        if twin is None and any(a is not b for a, b in zip(inputs, node.inputs)):
            attrs = {k: v for k, v in node.attrs.items() if k != "n" or not node.op.variadic}
            twin = make_apply(node.op, inputs, attrs, node.name, node.data)
            known.setdefault(_key(twin, inputs), twin)
        if twin is not None:
            mapped.update({id(a): b for a, b in zip(node.outputs, twin.outputs)})
    outs = []
    for t, i in zip(train, infer, strict=True):
        i = mapped.get(id(i), i)
        outs.append(t if t is i else expr.apply("mode_switch", t, i))
    return outs


def _key(node: Apply, inputs) -> tuple:
    data = node.data
    if isinstance(data, np.ndarray):
        data = (data.dtype.str, data.shape, data.tobytes())
    return (node.op.name, repr(sorted(node.attrs.items())), repr(data),
            tuple(id(v) for v in inputs))


def _input_types(graph: Graph, node_id: str, ports: list[str],
                 incoming: dict[str, PortRef]) -> dict[str, TensorType]:
    """Types of the values entering the composite, from the IR of the nodes upstream of it."""
    upstream: set[str] = set()
    stack = [src.node for src in incoming.values()]
    while stack:
        nid = stack.pop()
        if nid not in upstream:
            upstream.add(nid)
            stack.extend(src.node for src in graph.incoming(nid).values())
    part = Graph()
    part.nodes = {k: n for k, n in graph.nodes.items() if k in upstream}
    part.edges = [e for e in graph.edges if e.dst.node in upstream]
    part.values = {k: v for k, v in graph.values.items() if k in upstream}
    for port in ports:
        if port not in incoming:
            raise GraphError("missing input: a composite expands only with its inputs "
                             "connected (their types shape the expansion)", node=node_id,
                             port=port)
        part.outputs[port] = incoming[port]
    loaded = from_document(part, strict=True)
    return {port: loaded.outputs[port].type for port in ports}


def _owned_parameter_nodes(op, input_types: list[TensorType], attrs: dict[str, Any],
                           node_id: str) -> list[Apply]:
    """A layer's own parameters as the parameter nodes "<node>/<param>" of its expansion (no
    data: a trained value stays in the document's values under the same key)."""
    source = registry.get("parameter")
    nodes = []
    for param, type_ in zip(op.owned_params(attrs),
                            owned_types(op, input_types, attrs, node_id).values()):
        key = param_key(node_id, param.name)
        p_attrs = source.normalise_attrs(owned_attrs(op, param, attrs, node_id, type_.shape), key)
        nodes.append(Apply(source, (), p_attrs, key, [type_]))
    return nodes


def _updates(op, attrs: dict[str, Any], incoming: dict[str, PortRef], node_id: str,
             new_src: dict[str, PortRef]) -> dict[str, str]:
    """{parameter node id: "inner:port"} for the inputs and owned parameters the composite
    updates while training (see the module docstring)."""
    targets = {spec.name: incoming[spec.name].node for spec in op.inputs
               if spec.update and spec.name in incoming}
    targets.update({p.name: param_key(node_id, p.name) for p in op.params if p.update})
    updates = {}
    for spec in (*op.inputs, *op.params):
        target = targets.get(spec.name)
        if spec.update and target is not None and new_src[spec.update].node != target:
            updates[target] = str(new_src[spec.update])  # (at inference it is itself: none)
    return updates


def _name_inner(outs: list[Variable], holders: dict[Apply, str], node_id: str,
                graph: Graph, fixed: set[Apply] = frozenset()) -> None:
    """Readable, deterministic ids for the fresh inner Applies: '<node_id>/<op>_<k>'."""
    counts: dict[str, int] = {}
    for apply in toposort(outs):
        if apply in holders or apply in fixed:
            continue
        k = counts.get(apply.op.name, 0) + 1
        while f"{node_id}/{apply.op.name}_{k}" in graph.nodes:
            k += 1
        counts[apply.op.name] = k
        apply.name = f"{node_id}/{apply.op.name}_{k}"


def _current_source(graph: Graph, info: dict[str, Any], inside: set[str]) -> PortRef | None:
    """What feeds a composite input now: the outside source of one of the inner ports it fed
    at expansion, else the recorded source if that node still exists."""
    for dst in info.get("to", []):
        ref = PortRef.parse(dst)
        if ref.node in inside:
            src = graph.incoming(ref.node).get(ref.port)
            if src is not None and src.node not in inside:
                return src
    recorded = info.get("from")
    if recorded is not None:
        ref = PortRef.parse(recorded)
        if ref.node in graph.nodes and ref.node not in inside:
            return ref
    return None


def _port_for(outputs: dict[str, dict[str, Any]], src: str, dst: str | None, group_id: str,
              ref: PortRef, preferred: str | None = None) -> str:
    """The composite output port standing for inner port `src` (ties: the recorded one)."""
    ports = [p for p, info in outputs.items() if info.get("from") == src]
    if not ports:
        raise GraphError(f"cannot collapse {group_id!r}: this inner port is used outside the "
                         f"group but is none of its outputs", node=ref.node, port=ref.port)
    for p in ports:
        if p == preferred or (dst is not None and dst in outputs[p].get("to", [])):
            return p
    return ports[0]


__all__ = ["expand_node", "collapse_group", "expand_all"]
