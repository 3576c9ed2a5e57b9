"""`Graph.edges` is a list that also indexes each node's wires (`EdgeList`): whatever is done to
it, through the graph's methods or to the list directly (the loader, undo, scripts), each
node's wires come out as a plain scan of the list would give them."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodestudio.graph.model import Edge, EdgeList, Graph, PortRef

NODES = ["a", "b", "c", "d"]
edges = st.builds(lambda s, sp, d, dp: Edge(PortRef(s, sp), PortRef(d, dp)),
                  st.sampled_from(NODES), st.sampled_from(["out", "aux"]),
                  st.sampled_from(NODES), st.sampled_from(["x", "y"]))
operations = st.one_of(
    st.tuples(st.just("append"), edges),
    st.tuples(st.just("insert"), st.integers(-6, 12), edges),
    st.tuples(st.just("del"), st.integers(-6, 12)),
    st.tuples(st.just("remove"), edges),
    st.tuples(st.just("pop"), st.integers(-6, 12)),
    st.tuples(st.just("del slice"), st.integers(0, 6), st.integers(0, 6)),
    st.tuples(st.just("set"), st.integers(-6, 12), edges),
    st.tuples(st.just("extend"), st.lists(edges, max_size=3)),
    st.tuples(st.just("reverse")), st.tuples(st.just("clear")),
    st.tuples(st.just("many inserts"), st.integers(0, 3), edges),
)


def apply(target: list, op: tuple) -> None:
    kind = op[0]
    try:
        if kind == "append":
            target.append(op[1])
        elif kind == "insert":
            target.insert(op[1], op[2])
        elif kind == "del":
            del target[op[1]]
        elif kind == "remove":
            target.remove(op[1])
        elif kind == "pop":
            target.pop(op[1])
        elif kind == "del slice":
            del target[op[1]:op[2]]
        elif kind == "set":
            target[op[1]] = op[2]
        elif kind == "extend":
            target.extend(op[1])
        elif kind == "reverse":
            target.reverse()
        elif kind == "clear":
            target.clear()
        elif kind == "many inserts":  # keys halved again and again at one place
            for _ in range(70):
                target.insert(op[1], op[2])
    except (IndexError, ValueError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.lists(edges, max_size=8), st.lists(operations, max_size=12))
def test_the_index_follows_every_list_operation(start, ops):
    indexed, plain = EdgeList(start), list(start)
    for op in ops:
        apply(indexed, op)
        apply(plain, op)
        assert list(indexed) == plain
        for node in NODES:
            assert indexed.into(node) == [e for e in plain if e.dst.node == node]
            assert indexed.out_of(node) == [e for e in plain if e.src.node == node]
            assert indexed.of(node) == [e for e in plain if node in (e.src.node, e.dst.node)]
        for edge in set(plain):
            assert indexed.index(edge) == plain.index(edge) and edge in indexed
        assert all((e in indexed) == (e in plain) for e in [Edge(PortRef("a", "out"),
                                                                  PortRef("z", "x"))])


def test_assigning_a_list_makes_an_indexed_copy():
    g = Graph()
    for n in NODES:
        g.add_node("add", id=n)
    wires = [Edge(PortRef("a", "out"), PortRef("b", "x")), Edge(PortRef("b", "out"),
                                                               PortRef("c", "x"))]
    g.edges = wires
    assert isinstance(g.edges, EdgeList) and g.edges == wires and g.edges is not wires
    assert g.incoming("c") == {"x": PortRef("b", "out")}
    assert g.consumers("a") == [PortRef("b", "x")]
    wires.clear()  # the graph's list is its own
    assert len(g.edges) == 2
    copied = g.copy()
    copied.disconnect("c:x")
    assert len(g.edges) == 2 and len(copied.edges) == 1
    assert g.path("a", "c") == ["a", "b", "c"] and copied.path("a", "c") is None


def test_deleting_beyond_the_start_is_an_index_error_as_for_a_list():
    # found by the property above: `del l[-3]` of two wires deleted the last one
    two = [Edge(PortRef("a", "out"), PortRef("b", "x")), Edge(PortRef("b", "out"),
                                                              PortRef("c", "x"))]
    indexed = EdgeList(two)
    with pytest.raises(IndexError):
        del indexed[-3]
    assert list(indexed) == two and indexed.into("c") == [two[1]]
