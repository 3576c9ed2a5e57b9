"""What a graph file may ask for: sizes, nesting, numbers and positions that used to escape as
Python errors (ValueError, OverflowError, RecursionError, AttributeError) or to freeze the
studio now end in a FileFormatError naming file and JSON path, before anything is allocated;
and what the reader refuses, the writer refuses too."""

from __future__ import annotations

import base64
import copy
import json
import math
from pathlib import Path

import numpy as np
import pytest

from nodestudio.errors import FileFormatError
from nodestudio.graph import fileformat, limits
from nodestudio.graph.model import Graph

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
MLP = json.loads((EXAMPLES / "mlp.json").read_text(encoding="utf-8"))


def mlp(change) -> str:
    doc = copy.deepcopy(MLP)
    change(doc)
    return json.dumps(doc)


def refused(text: str, json_path: str, fragment: str, tmp_path: Path) -> FileFormatError:
    path = tmp_path / "hostile.nsg"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileFormatError) as exc:
        fileformat.load(path)
    assert exc.value.path == str(path) and str(path) in str(exc.value)
    assert exc.value.json_path == json_path, str(exc.value)
    assert fragment in exc.value.detail, str(exc.value)
    return exc.value


def _value(shape) -> dict:
    return {"dtype": "float32", "shape": shape, "data": ""}


# (file text, JSON path, what the message says); the comment: what it was before
CASES = {
    # ValueError: maximum supported dimension for an ndarray is 64
    "70 dimensions": (mlp(lambda d: d["values"].update(W1=_value([1] * 70))),
                      "$.values.W1.shape", "70 dimensions; at most 32"),
    # ValueError: Maximum allowed dimension exceeded
    "a dimension of 10**30": (mlp(lambda d: d["values"].update(W1=_value([0, 10**30]))),
                              "$.values.W1.shape[0]", "a whole number from 1 to"),
    "a zero dimension": (mlp(lambda d: d["values"].update(W1=_value([4, 0]))),
                         "$.values.W1.shape[1]", "a whole number from 1 to"),
    # 1.6 GB allocated to decode 8 bytes of base64
    "an array over the limit": (mlp(lambda d: d["values"].update(W1=_value([20000, 20000]))),
                                "$.values.W1", "needs 1.6 GB"),
    # OverflowError: int too large to convert to float
    "a 401-digit position": (mlp(lambda d: d["nodes"][3].update(position=[10**400, 0])),
                             "$.nodes[3].position[0]", "an integer of 401 digits"),
    # RecursionError: maximum recursion depth exceeded while decoding a JSON array
    "JSON nested 1,000 deep": ('{"format": "nodestudio-graph", "version": 1, "nodes": [], '
                               '"metadata": {"x": ' + "[" * 1000 + "]" * 1000 + "}}",
                               "$.metadata.x[0][0]...", "nested more than 64 levels deep"),
    "objects nested 1,000 deep": ('{"a": ' * 1000 + "1" + "}" * 1000, "$.a.a.a.a...",
                                  "nested more than 64 levels deep (line 1)"),
    # ValueError: Exceeds the limit (4300 digits) for integer string conversion
    "a 5,000-digit version": (json.dumps(MLP).replace('"version": 1', '"version": ' + "9" * 5000),
                              "$.version", "an integer of 5000 digits"),
    "a 5,000-digit attribute": (mlp(lambda d: d["nodes"][1]["attrs"].update(seed=0)).replace(
        '"seed": 0', '"seed": ' + "7" * 5000), "$.nodes[1].attrs.seed",
        "an integer of 5000 digits"),
    "an integer beyond 64 bits in metadata": (mlp(lambda d: d["metadata"].update(n=2**64)),
                                              "$.metadata.n", "beyond the 64-bit range"),
    # every later edit and save raised RecursionError
    "metadata nested 600 deep": (mlp(lambda d: d["metadata"].update(
        deep=json.loads("[" * 600 + "]" * 600))), "$.metadata.deep[0][0]...",
        "nested more than 64 levels deep"),
    # AttributeError: 'float' object has no attribute 'items' (in collapse_group)
    "a group's inputs as a number": (mlp(lambda d: d["groups"].update(
        g={"op": "dense", "attrs": {}, "inputs": 1.5})), "$.groups.g.inputs",
        "expected an object, got a number"),
    "a group's wire as a number": (mlp(lambda d: d["groups"].update(
        g={"op": "dense", "attrs": {}, "inputs": {"x": {"from": None, "to": [7]}}})),
        "$.groups.g.inputs.x.to[0]", "expected a 'node:port' string"),
    "a group's shift as text": (mlp(lambda d: d["groups"].update(
        g={"op": "dense", "attrs": {}, "shifted": {"hidden": "far"}})),
        "$.groups.g.shifted.hidden", "expected a finite number"),
    "a group's place as -1": (mlp(lambda d: d["groups"].update(
        g={"op": "dense", "attrs": {}, "index": -1})), "$.groups.g.index",
        "a whole number >= 0"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_files_are_refused_naming_the_place(name, tmp_path):
    text, json_path, fragment = CASES[name]
    refused(text, json_path, fragment, tmp_path)


def test_the_array_limit_is_a_setting(tmp_path, monkeypatch):
    data = base64.b64encode(bytes(40)).decode("ascii")  # ten float32 zeros
    text = mlp(lambda d: d["values"].update(b2={"dtype": "float32", "shape": [10],
                                                "data": data}))
    assert fileformat.loads(text).values["b2"].shape == (10,)
    monkeypatch.setenv(limits.PARAMETER_BYTES_VARIABLE, "16")
    error = refused(text, "$.values.b2", "over the limit of 16 bytes", tmp_path)
    assert limits.PARAMETER_BYTES_VARIABLE in error.detail
    monkeypatch.setenv(limits.PARAMETER_BYTES_VARIABLE, "1K")
    assert fileformat.loads(text).values["b2"].shape == (10,)
    assert limits.max_parameter_bytes() == 1024


def test_far_positions_are_brought_within_the_canvas():
    text = mlp(lambda d: d["nodes"][3].update(position=[9.3e18, -1.8e19]))
    hidden = fileformat.loads(text).nodes["hidden"]
    assert hidden.position == (limits.POSITION_LIMIT, -limits.POSITION_LIMIT)
    text = mlp(lambda d: d["nodes"][3].update(position=[12345678901234567, 2.5]))
    assert fileformat.loads(text).nodes["hidden"].position == (limits.POSITION_LIMIT, 2.5)


def test_positions_stay_within_the_canvas_on_every_path():
    g = Graph()
    g.add_node("tanh", id="a", position=(1e300, -1e300))
    assert g.nodes["a"].position == (limits.POSITION_LIMIT, -limits.POSITION_LIMIT)
    g.move("a", (10**400, 3))
    assert g.nodes["a"].position == (limits.POSITION_LIMIT, 3.0)
    for bad in [(math.nan, 0), (0, math.inf), ("x", 1), (1,), 5]:
        with pytest.raises(Exception) as exc:
            g.move("a", bad)
        assert "node 'a'" in str(exc.value) and "position" in str(exc.value)
    assert g.nodes["a"].position == (limits.POSITION_LIMIT, 3.0)


def test_deep_but_legal_nesting_and_64_bit_integers_still_load():
    deep = json.loads("[" * 60 + "]" * 60)
    text = mlp(lambda d: d["metadata"].update(deep=deep, big=2**63 - 1, small=-2**63))
    g = fileformat.loads(text)
    assert g.metadata["big"] == 2**63 - 1 and g.metadata["small"] == -2**63
    assert fileformat.loads(fileformat.dumps(g)) == g


@pytest.mark.parametrize("change, json_path, fragment", [
    (lambda g: g.metadata.update(n=2**64), "$.metadata.n", "beyond the 64-bit range"),
    (lambda g: g.nodes["x"].attrs.update(seed=-2**70), "$.nodes[0].attrs.seed",
     "beyond the 64-bit range"),
    (lambda g: g.metadata.update(deep=json.loads("[" * 80 + "]" * 80)),
     "$.metadata.deep" + "[0]" * 62, "nested more than 64 levels deep"),
    (lambda g: g.values.update(W1=np.zeros((3, 0), np.float32)), "$.values.W1",
     "none of them 0"),
], ids=["big integer in metadata", "big integer attribute", "deep metadata", "zero dimension"])
def test_the_writer_refuses_what_the_reader_would(change, json_path, fragment, tmp_path):
    g = fileformat.loads(json.dumps(MLP))
    change(g)
    path = tmp_path / "out.nsg"
    with pytest.raises(FileFormatError) as exc:
        fileformat.save(g, path)
    assert exc.value.json_path == json_path and fragment in exc.value.detail
    assert not path.exists()


def test_a_huge_file_key_does_not_make_a_huge_message():
    key = "k" * 100_000
    with pytest.raises(FileFormatError) as exc:
        fileformat.loads(mlp(lambda d: d.update({key: 1})))
    assert len(str(exc.value)) < 400
