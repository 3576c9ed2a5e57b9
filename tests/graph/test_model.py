"""The editable document: ids, wiring rules, cycles, order, copies, equality and events."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodestudio.errors import CycleError, GraphError
from nodestudio.graph.model import Edge, Graph, Node, PortRef


def chain() -> Graph:
    """x -> tanh_1 -> add_1 <- c"""
    g = Graph()
    g.add_node("input", {"shape": (None, 3)}, id="x", position=(0, 0))
    g.add_node("tanh")
    g.add_node("constant", {"value": 2.0}, id="c")
    g.add_node("add")
    g.connect("x:out", "tanh_1:x")
    g.connect(PortRef("tanh_1", "out"), ("add_1", "a"))
    g.connect("c:out", "add_1:b")
    g.set_output("y", "add_1:out")
    return g


def test_generated_ids_are_readable_and_unique():
    g = Graph()
    ids = [g.add_node("tanh").id for _ in range(3)]
    assert ids == ["tanh_1", "tanh_2", "tanh_3"]
    g.remove_node("tanh_2")
    assert g.add_node("tanh").id == "tanh_2"
    assert g.add_node("dense_1/matmul").id == "matmul_1"  # scopes do not leak into new ids


def test_explicit_duplicate_id_is_refused():
    g = Graph()
    g.add_node("tanh", id="a")
    with pytest.raises(GraphError, match="already exists") as exc:
        g.add_node("relu", id="a")
    assert exc.value.node == "a"


def test_new_ids_avoid_expanded_group_ids():
    g = Graph()
    g.groups["dense_1"] = {"op": "dense", "attrs": {}}
    assert g.add_node("dense").id == "dense_2"


def test_add_node_at_index():
    g = chain()
    g.add_node("relu", id="first", index=0)
    assert list(g.nodes)[0] == "first"


def test_remove_node_drops_edges_outputs_and_value():
    g = chain()
    g.values["c"] = np.ones(3)
    g.remove_node("c")
    assert "c" not in g.nodes and "c" not in g.values
    assert all("c" not in (e.src.node, e.dst.node) for e in g.edges)
    g.remove_node("add_1")
    assert g.outputs == {} and len(g.edges) == 1
    with pytest.raises(GraphError) as exc:
        g.remove_node("nope")
    assert exc.value.node == "nope"


def test_second_edge_into_an_input_port_is_refused():
    g = chain()
    with pytest.raises(GraphError) as exc:
        g.connect("x:out", "add_1:b")
    assert exc.value.node == "add_1" and exc.value.port == "b"
    assert "already connected to c:out" in str(exc.value)
    assert "'add_1'" in str(exc.value) and "'b'" in str(exc.value)


def test_an_edge_closing_a_cycle_is_refused_with_the_cycle():
    g = chain()
    with pytest.raises(CycleError) as exc:
        g.connect("add_1:out", "x:in")
    assert exc.value.cycle == ["add_1", "x", "tanh_1", "add_1"]
    assert "add_1 -> x -> tanh_1 -> add_1" in str(exc.value)
    with pytest.raises(CycleError):
        g.connect("tanh_1:out", "tanh_1:other")  # a self loop
    assert len(g.edges) == 3


def test_connect_to_missing_node_names_it():
    g = chain()
    with pytest.raises(GraphError) as exc:
        g.connect("ghost:out", "add_1:a")
    assert exc.value.node == "ghost"


def test_disconnect_by_edge_and_by_port():
    g = chain()
    edge = g.disconnect("add_1:b")
    assert edge == Edge(PortRef("c", "out"), PortRef("add_1", "b"))
    g.disconnect(Edge(PortRef("x", "out"), PortRef("tanh_1", "x")))
    assert len(g.edges) == 1
    with pytest.raises(GraphError) as exc:
        g.disconnect("add_1:b")
    assert exc.value.port == "b"


def test_incoming_and_consumers():
    g = chain()
    g.add_node("relu", id="r")
    g.connect("tanh_1:out", "r:x")
    assert g.incoming("add_1") == {"a": PortRef("tanh_1", "out"), "b": PortRef("c", "out")}
    assert set(g.consumers("tanh_1")) == {PortRef("add_1", "a"), PortRef("r", "x")}
    assert g.consumers("tanh_1", "other") == []


def test_topological_order_and_cycles_made_by_hand():
    g = chain()
    order = g.topological_order()
    assert order.index("x") < order.index("tanh_1") < order.index("add_1")
    assert order.index("c") < order.index("add_1")
    # a loader or a script can append edges directly; the order then reports the cycle
    g.edges.append(Edge(PortRef("add_1", "out"), PortRef("x", "in")))
    with pytest.raises(CycleError) as exc:
        g.topological_order()
    assert set(exc.value.cycle) == {"x", "tanh_1", "add_1"}
    assert exc.value.cycle[0] == exc.value.cycle[-1]


def test_port_refs_parse_at_the_last_colon():
    assert PortRef.parse("a:b:out") == PortRef("a:b", "out")
    assert str(PortRef("a:b", "out")) == "a:b:out"
    for bad in ("nocolon", ":out", "node:"):
        with pytest.raises(ValueError):
            PortRef.parse(bad)
    with pytest.raises(ValueError):
        PortRef("a", "b:c")


def test_copy_is_deep_and_equal():
    g = chain()
    g.values["c"] = np.arange(3.0)
    g.metadata["k"] = [1, 2]
    other = g.copy()
    assert other == g
    other.values["c"][0] = 9
    other.nodes["c"].attrs["value"] = 3.0
    other.metadata["k"].append(3)
    assert g.values["c"][0] == 0 and g.nodes["c"].attrs["value"] == 2.0
    assert g.metadata["k"] == [1, 2]


def test_equality_compares_everything():
    g = chain()
    assert g == chain()
    variants = []
    a = chain(); a.move("x", (1, 0)); variants.append(a)
    a = chain(); a.set_attrs("c", {"value": 3.0}); variants.append(a)
    a = chain(); a.disconnect("add_1:b"); variants.append(a)
    a = chain(); a.outputs["z"] = PortRef("x", "out"); variants.append(a)
    a = chain(); a.values["c"] = np.zeros(2); variants.append(a)
    a = chain(); a.metadata["title"] = "t"; variants.append(a)
    a = chain(); a.nodes["c"].group = "g"; variants.append(a)
    for v in variants:
        assert v != g, v.describe_difference(g)


def test_equality_ignores_edge_order_and_tuple_vs_list():
    g = chain()
    other = chain()
    other.edges.reverse()
    other.nodes["x"].attrs["shape"] = [None, 3]
    assert g == other


def test_values_compare_dtype_shape_and_nan():
    g, h = chain(), chain()
    g.values["c"] = np.array([1.0, np.nan])
    h.values["c"] = np.array([1.0, np.nan])
    assert g == h
    h.values["c"] = np.array([1.0, np.nan], dtype=np.float32)
    assert g != h


def test_observers_hear_every_change_and_can_unsubscribe():
    g = Graph()
    events: list[tuple[str, object]] = []
    stop = g.subscribe(lambda ev, payload: events.append((ev, payload)))
    g.add_node("tanh", id="t")
    g.add_node("relu", id="r")
    edge = g.connect("t:out", "r:x")
    g.set_attrs("t", {"a": 1})
    g.set_attrs("t", {"b": 2})
    g.set_attrs("t", {"c": 3}, replace=True)
    g.move("t", (5, 6))
    g.remove_node("r")
    names = [e for e, _ in events]
    assert names == ["node_added", "node_added", "edge_added", "attrs_changed", "attrs_changed",
                     "attrs_changed", "moved", "edge_removed", "node_removed"]
    assert events[2][1] == edge
    assert events[4][1] == ("t", {"a": 1}, {"a": 1, "b": 2})
    assert events[5][1] == ("t", {"a": 1, "b": 2}, {"c": 3})
    assert events[6][1] == ("t", None, (5.0, 6.0))
    assert isinstance(events[8][1], Node) and events[8][1].id == "r"
    stop()
    g.add_node("tanh")
    assert len(events) == 9


# --- property: connect keeps the graph acyclic, and the order respects every edge -----------------
@settings(max_examples=60, deadline=None)
@given(st.integers(2, 12), st.lists(st.tuples(st.integers(0, 11), st.integers(0, 11),
                                              st.integers(0, 2)), max_size=40))
def test_connect_never_admits_a_cycle(n, attempts):
    g = Graph()
    for i in range(n):
        g.add_node("op", id=f"n{i}")
    for a, b, port in attempts:
        a, b = a % n, b % n
        try:
            g.connect(f"n{a}:out", f"n{b}:in{port}")
        except CycleError as exc:
            assert exc.cycle[0] == exc.cycle[-1] == f"n{a}"
        except GraphError:
            pass
    assert g.find_cycle() is None
    order = g.topological_order()
    assert sorted(order) == sorted(g.nodes)
    rank = {nid: i for i, nid in enumerate(order)}
    assert all(rank[e.src.node] < rank[e.dst.node] for e in g.edges)
