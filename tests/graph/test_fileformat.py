"""Graph files: round trips, the frozen files of every version, atomic saves, and an error that
names file, JSON path and field for every way a file can be wrong."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nodestudio.errors import FileFormatError
from nodestudio.graph import fileformat
from nodestudio.graph.model import Edge, Graph, PortRef

DATA = Path(__file__).resolve().parent.parent / "data"
V0 = DATA / "graph_v0.json"
V1 = DATA / "graph_v1.json"


# --- frozen files --------------------------------------------------------------------------------
def test_frozen_v1_mlp_loads():
    g = fileformat.load(V1)
    assert list(g.nodes) == ["x", "labels", "W1", "b1", "hidden", "tanh_1", "W2", "b2",
                             "logits", "probs", "loss"]
    assert g.nodes["hidden"].op == "dense" and g.nodes["hidden"].position == (200.0, 100.0)
    assert g.incoming("loss") == {"logits": PortRef("logits", "out"),
                                  "labels": PortRef("labels", "out")}
    assert g.outputs == {"probs": PortRef("probs", "out"), "loss": PortRef("loss", "loss")}
    assert g.values["W1"].dtype == np.float32 and g.values["W1"].shape == (4, 8)
    assert np.all(g.values["b2"] == 0)
    assert g.metadata["title"] == "two-layer MLP"


def test_frozen_v1_is_what_the_writer_writes():
    # The writer's layout is part of the format: saving the frozen file again gives it back.
    assert fileformat.dumps(fileformat.load(V1)) == V1.read_text(encoding="utf-8")


def test_frozen_v0_migrates():
    g = fileformat.load(V0)
    assert g.nodes["x"].op == "input" and g.nodes["x"].position == (0.0, 0.0)
    assert g.nodes["rect"].op == "abs_rect"  # the legacy name stays; conversion maps it
    assert g.nodes["total"].attrs == {"axis": None}
    assert set(g.edges) == {Edge(PortRef("x", "out"), PortRef("matmul_1", "a")),
                            Edge(PortRef("W", "out"), PortRef("matmul_1", "b")),
                            Edge(PortRef("matmul_1", "out"), PortRef("rect", "x")),
                            Edge(PortRef("rect", "out"), PortRef("total", "x"))}
    assert g.outputs == {"features": PortRef("rect", "out"), "total": PortRef("total", "out")}
    np.testing.assert_array_equal(g.values["W"], [[1, -2], [0.5, 0.25], [-1.5, 3]])
    assert g.groups == {} and g.metadata == {}
    # once saved, it is a version 1 file
    assert json.loads(fileformat.dumps(g))["version"] == fileformat.VERSION


def test_migrations_cover_every_older_version():
    assert sorted(fileformat.MIGRATIONS) == list(range(fileformat.VERSION))


# --- saving --------------------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    g = fileformat.load(V1)
    g.values["ints"] = np.arange(6, dtype=np.int32).reshape(2, 3)
    g.add_node("constant", {"value": -math.inf}, id="ints")
    g.groups["grp"] = {"op": "dense", "attrs": {}, "position": [1, 2], "nodes": ["a"]}
    path = tmp_path / "model.nsg"
    fileformat.save(g, path)
    assert fileformat.load(path) == g
    assert fileformat.load(str(path)) == g


def test_save_is_atomic_and_leaves_no_temporary_files(tmp_path, monkeypatch):
    path = tmp_path / "model.nsg"
    g = fileformat.load(V1)
    fileformat.save(g, path)
    before = path.read_bytes()
    g.move("x", (9, 9))

    def broken_replace(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        fileformat.save(g, path)
    assert path.read_bytes() == before  # the old file is untouched
    assert os.listdir(tmp_path) == ["model.nsg"]  # and the temporary file is gone
    monkeypatch.undo()
    fileformat.save(g, path)
    assert fileformat.load(path) == g
    assert os.listdir(tmp_path) == ["model.nsg"]


def test_save_refuses_values_json_cannot_hold(tmp_path):
    g = fileformat.load(V1)
    g.nodes["loss"].attrs["shape"] = {1, 2}  # a set
    with pytest.raises(FileFormatError) as exc:
        fileformat.save(g, tmp_path / "bad.nsg")
    assert exc.value.json_path == "$.nodes[10].attrs.shape"
    assert "bad.nsg" in str(exc.value) and "set" in str(exc.value)
    assert not (tmp_path / "bad.nsg").exists()
    g = fileformat.load(V1)
    g.values["W1"] = np.array(["a"], dtype=object)
    with pytest.raises(FileFormatError, match="dtype object"):
        fileformat.dumps(g)


# --- malformed files -----------------------------------------------------------------------------
def v1_doc() -> dict:
    return json.loads(V1.read_text(encoding="utf-8"))


def edit(fn):
    """A case that edits the parsed v1 file and writes it back as JSON."""
    def make() -> str:
        doc = v1_doc()
        fn(doc)
        return json.dumps(doc)
    return make


def text(s):
    return lambda: s


def _set(path, value):
    def fn(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return fn


def _delete(path):
    def fn(doc):
        target = doc
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return fn


def _v0(fn):
    def make() -> str:
        doc = json.loads(V0.read_text(encoding="utf-8"))
        fn(doc)
        return json.dumps(doc)
    return make


V1_TEXT = V1.read_text(encoding="utf-8")
CASES = {
    "invalid json": (text(V1_TEXT.replace('"version": 1,', '"version": 1')), "$",
                     "invalid JSON at line 4, column 2"),
    "truncated": (text(V1_TEXT[: len(V1_TEXT) // 2]), "$", "truncated"),
    "truncated in a string": (text('{"format": "nodestudio-gr'), "$", "truncated"),
    "empty": (text("  \n"), "$", "empty"),
    "duplicate key": (text('{"format": "a", "format": "b"}'), "$", "'format' appears twice"),
    "not an object": (text("[1, 2]"), "$", "expected an object, got a list"),
    "missing format": (edit(_delete(["format"])), "$.format", "missing required field 'format'"),
    "wrong format": (edit(_set(["format"], "png")), "$.format",
                     "format is 'png', expected 'nodestudio-graph'"),
    "missing version": (edit(_delete(["version"])), "$.version",
                        "missing required field 'version'"),
    "version not int": (edit(_set(["version"], "1")), "$.version", "expected an integer"),
    "version bool": (edit(_set(["version"], True)), "$.version", "expected an integer"),
    "future version": (edit(_set(["version"], 7)), "$.version",
                       "written by a newer NodeStudio: version 7 > 1"),
    "negative version": (edit(_set(["version"], -1)), "$.version", "unknown version -1"),
    "unknown top field": (edit(_set(["extras"], 1)), "$.extras", "unknown field 'extras'"),
    "nodes not list": (edit(_set(["nodes"], {})), "$.nodes", "expected a list, got an object"),
    "missing nodes": (edit(_delete(["nodes"])), "$.nodes", "missing required field 'nodes'"),
    "node not object": (edit(_set(["nodes", 2], "W1")), "$.nodes[2]", "expected an object"),
    "node missing op": (edit(_delete(["nodes", 3, "op"])), "$.nodes[3].op",
                        "missing required field 'op'"),
    "node id not str": (edit(_set(["nodes", 2, "id"], 5)), "$.nodes[2].id",
                        "expected a string, got a number"),
    "node id empty": (edit(_set(["nodes", 2, "id"], "")), "$.nodes[2].id", "must not be empty"),
    "attrs not object": (edit(_set(["nodes", 3, "attrs"], [8])), "$.nodes[3].attrs",
                         "expected an object, got a list"),
    "position short": (edit(_set(["nodes", 1, "position"], [1])), "$.nodes[1].position",
                       "expected [x, y]"),
    "position text": (edit(_set(["nodes", 1, "position"], [1, "a"])), "$.nodes[1].position[1]",
                      "expected a number, got a string"),
    "group not str": (edit(_set(["nodes", 1, "group"], 3)), "$.nodes[1].group",
                      "expected a string or null"),
    "unknown node field": (edit(_set(["nodes", 0, "colour"], "red")), "$.nodes[0].colour",
                           "unknown field 'colour'"),
    "duplicate id": (edit(_set(["nodes", 4, "id"], "x")), "$.nodes[4].id",
                     "duplicate node id 'x' (first at $.nodes[0])"),
    "edges not list": (edit(_set(["edges"], "x")), "$.edges", "expected a list"),
    "edge unknown node": (edit(_set(["edges", 2, "from"], "ghost:out")), "$.edges[2].from",
                          "unknown node 'ghost'"),
    "edge bad ref": (edit(_set(["edges", 0, "to"], "hidden")), "$.edges[0].to",
                     "expected 'node:port', got 'hidden'"),
    "edge missing to": (edit(_delete(["edges", 1, "to"])), "$.edges[1].to",
                        "missing required field 'to'"),
    "edge as list": (edit(_set(["edges", 1], ["x", "out", "hidden", "x"])), "$.edges[1]",
                     "expected an object, got a list"),
    "two edges into a port": (edit(lambda d: d["edges"].append({"from": "x:out",
                                                                 "to": "tanh_1:x"})),
                              "$.edges[10].to", "'tanh_1:x' already has an edge ($.edges[3])"),
    "output unknown node": (edit(_set(["outputs", "loss"], "ghost:loss")), "$.outputs.loss",
                            "unknown node 'ghost'"),
    "output not str": (edit(_set(["outputs", "loss"], ["loss", "loss"])), "$.outputs.loss",
                       "expected a 'node:port' string"),
    "value unknown node": (edit(_set(["values", "nope"], {"dtype": "float32", "shape": [],
                                                          "data": "AAAAAA=="})),
                           "$.values.nope", "value for unknown node 'nope'"),
    "value odd key": (edit(_set(["values", "a/b"], {})), '$.values["a/b"]', "unknown node"),
    "bad base64": (edit(_set(["values", "W1", "data"], "@@@")), "$.values.W1.data",
                   "bad base64"),
    "byte count": (edit(_set(["values", "W1", "shape"], [4, 9])), "$.values.W1.data",
                   "holds 128 bytes, but dtype float32 with shape (4, 9) needs 144"),
    "bad dtype": (edit(_set(["values", "W1", "dtype"], "object")), "$.values.W1.dtype",
                  "unsupported dtype 'object'"),
    "negative dim": (edit(_set(["values", "W1", "shape"], [-4, 8])), "$.values.W1.shape[0]",
                     "a whole number from 1 to"),
    "value missing data": (edit(_delete(["values", "W1", "data"])), "$.values.W1.data",
                           "missing required field 'data'"),
    "group not object": (edit(_set(["groups", "g"], 3)), "$.groups.g", "expected an object"),
    "group missing op": (edit(_set(["groups", "g"], {"attrs": {}})), "$.groups.g.op",
                         "missing required field 'op'"),
    "metadata list": (edit(_set(["metadata"], [])), "$.metadata", "expected an object"),
    "v0 bad edge": (_v0(_set(["edges", 1], ["W", "out", "matmul_1"])), "$.edges[1]",
                    "expected [src_node, src_port, dst_node, dst_port], got 3"),
    "v0 missing type": (_v0(_delete(["nodes", 2, "type"])), "$.nodes[2].type",
                        "missing required field 'type'"),
    "v0 bad output": (_v0(_set(["outputs", "total"], "total:out")), "$.outputs.total",
                      "expected a list [node, port]"),
    "v0 unknown edge node": (_v0(_set(["edges", 0], ["y", "out", "matmul_1", "a"])),
                             "$.edges[0].from", "unknown node 'y'"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_malformed_file_names_file_path_and_field(name, tmp_path):
    make, json_path, fragment = CASES[name]
    path = tmp_path / "broken_graph.nsg"
    path.write_text(make(), encoding="utf-8")
    with pytest.raises(FileFormatError) as exc:
        fileformat.load(path)
    message = str(exc.value)
    assert str(path) in message and exc.value.path == str(path)
    assert exc.value.json_path == json_path, message
    assert f"at {json_path}:" in message
    assert fragment in message


def test_loads_names_the_given_path():
    with pytest.raises(FileFormatError, match=r"^my\.nsg: at \$\.format"):
        fileformat.loads('{"format": 3}', path="my.nsg")


def test_unreadable_files(tmp_path):
    with pytest.raises(FileFormatError, match="cannot read the file") as exc:
        fileformat.load(tmp_path / "missing.nsg")
    assert "missing.nsg" in str(exc.value)
    binary = tmp_path / "binary.nsg"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(FileFormatError, match="not UTF-8"):
        fileformat.load(binary)


def test_unknown_ops_and_cycles_are_not_file_errors():
    doc = v1_doc()
    doc["nodes"][5]["op"] = "no_such_op"
    doc["edges"].append({"from": "tanh_1:out", "to": "x:in"})  # x -> hidden -> tanh_1 -> x
    g = fileformat.loads(json.dumps(doc))
    assert g.nodes["tanh_1"].op == "no_such_op"
    assert g.find_cycle() is not None


def test_big_endian_arrays_are_written_little_endian():
    g = Graph()
    g.add_node("constant", id="c")
    g.values["c"] = np.arange(3, dtype=">i4")
    doc = json.loads(fileformat.dumps(g))
    assert doc["values"]["c"]["dtype"] == "int32"
    back = fileformat.loads(fileformat.dumps(g))
    np.testing.assert_array_equal(back.values["c"], [0, 1, 2])
    assert back.values["c"].dtype == np.int32


# --- property: any document survives a save and a load -------------------------------------------
finite = st.floats(allow_nan=False, allow_infinity=False)
integers = st.integers(-2**63, 2**63 - 1)  # a graph file holds the 64-bit range
json_scalars = st.none() | st.booleans() | integers | \
    st.floats(allow_nan=False) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12)
attrs = st.dictionaries(st.text(max_size=8), json_values | st.tuples(integers, st.none()),
                        max_size=4)
positions = st.none() | st.tuples(finite, finite)
ids = st.text(min_size=1, max_size=10)


@st.composite
def graphs(draw) -> Graph:
    g = Graph()
    for node_id in draw(st.lists(ids, min_size=0, max_size=8, unique=True)):
        g.add_node(draw(st.text(min_size=1, max_size=12)), draw(attrs), id=node_id,
                   position=draw(positions), group=draw(st.none() | ids))
    names = list(g.nodes)
    if names:
        ports = st.sampled_from(["out", "x", "a", "b", "in2"])
        seen = set()
        for _ in range(draw(st.integers(0, 12))):
            src = PortRef(draw(st.sampled_from(names)), draw(ports))
            dst = PortRef(draw(st.sampled_from(names)), draw(ports))
            if dst not in seen:  # edges may even form cycles: the file format allows it
                seen.add(dst)
                g.edges.append(Edge(src, dst))
        for name in draw(st.lists(st.text(max_size=6), max_size=3, unique=True)):
            g.outputs[name] = PortRef(draw(st.sampled_from(names)), draw(ports))
        for node_id in draw(st.lists(st.sampled_from(names), unique=True, max_size=4)):
            dtype = draw(st.sampled_from(fileformat.DTYPES))
            g.values[node_id] = draw(hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3,
                                                                        min_side=1, max_side=4)))
    for group_id in draw(st.lists(ids, max_size=2, unique=True)):
        g.groups[group_id] = {"op": draw(st.text(min_size=1, max_size=8)), "attrs": draw(attrs),
                              "position": draw(st.none() | st.lists(finite, min_size=2,
                                                                    max_size=2)),
                              "extra": draw(json_values)}
    g.metadata = draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3))
    return g


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_round_trip(g):
    text_ = fileformat.dumps(g)
    back = fileformat.loads(text_)
    assert back == g, back.describe_difference(g)
    assert fileformat.dumps(back) == text_  # and writing is deterministic


@settings(max_examples=20, deadline=None)
@given(graphs())
def test_random_graphs_round_trip_through_files(g):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "g.nsg")
        fileformat.save(g, path)
        fileformat.save(g, path)  # overwriting works too
        assert fileformat.load(path) == g
        assert os.listdir(folder) == ["g.nsg"]
