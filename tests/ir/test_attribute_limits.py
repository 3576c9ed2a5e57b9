"""Attribute values from any path (a file, the inspector through `Document.set_attrs`, the
Python API) pass one check, `AttrDef.check`, so a bad one is refused naming node and
attribute; sizes are checked before anything is allocated; a variadic op's count is checked
before its ports are made."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import GraphError
from nodestudio.graph import limits
from nodestudio.graph.model import Graph
from nodestudio.ir.annotate import annotate, check_connection
from nodestudio.ir.composites import collapse_group, expand_node
from nodestudio.ir.convert import from_document
from nodestudio.ir.shared import shared
from nodestudio.ops import registry
from nodestudio.ops.init import initial_value


def mlp_graph(w_attrs: dict | None = None) -> Graph:
    g = Graph()
    g.add_node("input", {"shape": [None, 4]}, id="x")
    g.add_node("parameter", {"shape": [4, 3], "init": "glorot_tanh", **(w_attrs or {})},
               id="W")
    g.add_node("parameter", {"shape": [3], "init": "zeros"}, id="b")
    g.add_node("dense", {}, id="hidden")
    g.add_node("tanh", {}, id="out")
    for src, dst in [("x:out", "hidden:x"), ("W:out", "hidden:W"), ("b:out", "hidden:b"),
                     ("hidden:out", "out:x")]:
        g.connect(src, dst)
    return g


@pytest.mark.parametrize("attrs, fragment", [
    ({"shape": True}, "attribute 'shape' expects shape"),
    ({"shape": "45"}, "attribute 'shape' expects shape"),
    ({"shape": [0, 3]}, "attribute 'shape': dimension 0 must be a whole number from 1"),
    ({"shape": [4, -1]}, "attribute 'shape': dimension 1 must be a whole number from 1"),
    ({"shape": [4, 2**40]}, "dimension 1 must be a whole number from 1 to 2,147,483,647"),
    ({"shape": [1] * 40}, "40 entries; at most 32 dimensions"),
    ({"shape": [4, 2.5]}, "entry 1 must be a whole number, got 2.5"),
    ({"seed": math.nan}, "attribute 'seed' expects int"),
    ({"seed": 10**30}, "attribute 'seed' must lie in [0, 2147483647]"),
    ({"seed": 10**5000}, "an integer of about 5001 digits"),
    ({"seed": True}, "attribute 'seed' expects int"),
    ({"std": 1e308}, "attribute 'std' must lie in [0.0, 1e+30]"),
    ({"std": math.inf}, "attribute 'std' must be a finite number"),
    ({"value": 1e39}, "attribute 'value' must lie in"),
    ({"init": ["zeros"]}, "attribute 'init' must be one of"),
    ({"trainable": 2}, "attribute 'trainable' expects bool"),
], ids=lambda v: limits.brief(v, 40) if isinstance(v, dict) else "")
def test_bad_values_are_refused_on_every_path(attrs, fragment):
    # the API and the compiler: normalising a node's attributes
    with pytest.raises(GraphError) as exc:
        registry.get("parameter").normalise_attrs({"shape": (4, 3), **attrs}, "W")
    assert exc.value.node == "W" and fragment in str(exc.value)
    # a file or an edit: the document's node carries the error, nothing else breaks
    g = mlp_graph(attrs)
    note = annotate(g)
    assert fragment in str(note.errors["W"]) and note.blocked == {"hidden", "out"}
    with pytest.raises(GraphError, match="node 'W'"):
        from_document(g)
    # wiring checks go on (a zero dimension used to raise ZeroDivisionError in them)
    assert check_connection(g, "x:out", "out:x", note) is not None
    g.add_node("tanh", id="t")
    assert check_connection(g, "x:out", "t:x", annotate(g)) is None


def test_a_zero_dimension_is_refused_by_the_api_too():
    with pytest.raises(GraphError, match="dimension 0 must be a whole number from 1"):
        shared(np.zeros((0, 3)), "empty")
    with pytest.raises(GraphError, match="dimension 1"):
        ns.reshape(ns.matrix("m"), (4, 0))
    assert ns.reshape(ns.matrix("m"), (-1,)).type.shape == (None,)  # -1: reshape infers


def test_a_stored_value_is_checked_as_its_shape_would_be():
    g = mlp_graph()
    del g.nodes["W"].attrs["shape"]
    g.values["W"] = np.ones((4, 3), np.float32)
    assert "W" not in annotate(g).errors
    g.values["b"] = np.ones((3,), np.float32)
    del g.nodes["b"].attrs["shape"]
    assert annotate(g).types  # both taken from their values


def test_a_parameter_over_the_limit_is_refused_before_it_is_allocated(monkeypatch):
    g = mlp_graph({"shape": [20000, 20000]})
    tracemalloc.start()
    try:
        note = annotate(g)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 50e6  # a 20000 x 20000 float64 draw is 3.2 GB
    assert "needs 1.6 GB" in str(note.errors["W"]) and "NODESTUDIO_MAX_PARAMETER_BYTES" in \
        str(note.errors["W"])
    with pytest.raises(GraphError, match="node 'W'"):
        initial_value("normal", (20000, 20000), name="W")
    monkeypatch.setenv(limits.PARAMETER_BYTES_VARIABLE, "48")
    assert "W" not in annotate(mlp_graph()).errors  # 4 x 3 float32: 48 bytes, b: 12
    monkeypatch.setenv(limits.PARAMETER_BYTES_VARIABLE, "47")
    assert "needs 48 bytes" in str(annotate(mlp_graph()).errors["W"])
    monkeypatch.setenv(limits.PARAMETER_BYTES_VARIABLE, "a lot")
    assert "must be a number of bytes" in str(annotate(mlp_graph()).errors["W"])


def test_a_layer_over_the_limit_names_the_layer():
    g = Graph()
    g.add_node("input", {"shape": [None, 784]}, id="x")
    g.add_node("dense_layer", {"units": 1_000_000}, id="wide")
    g.connect("x:out", "wide:x")
    error = annotate(g).errors["wide"]
    assert error.node == "wide" and "needs 3.14 GB" in str(error)
    with pytest.raises(GraphError, match="node 'wide'"):
        from_document(g)


def test_a_constant_over_the_limit_is_refused_before_it_is_filled():
    g = Graph()
    g.add_node("constant", {"shape": [100000, 100000], "value": 1.0}, id="c")
    assert "the constant of shape (100000, 100000) needs 40 GB" in str(annotate(g).errors["c"])


def test_concatenate_counts_are_checked_before_ports_are_made():
    op = registry.get("concatenate")
    with pytest.raises(GraphError) as exc:
        op.input_names({"n": 1_000_000}, "cat")
    assert exc.value.node == "cat" and "attribute 'n' must lie in [1, 64]" in str(exc.value)
    g = Graph()
    g.add_node("input", {"shape": [None, 4]}, id="x")
    g.add_node("concatenate", {"n": 1_000_000, "axis": 1}, id="cat")
    assert "attribute 'n' must lie in [1, 64]" in str(annotate(g).errors["cat"])
    assert "must lie in [1, 64]" in check_connection(g, "x:out", "cat:x0")


def test_collapsing_a_damaged_record_is_refused_naming_the_group():
    g = mlp_graph()
    expand_node(g, "hidden")
    g.groups["hidden"]["inputs"] = 1.5  # what a script might do
    before = g.copy()
    with pytest.raises(GraphError) as exc:
        collapse_group(g, "hidden")
    assert exc.value.node == "hidden" and "'.inputs': expected an object" in str(exc.value)
    assert g == before
