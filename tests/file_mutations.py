"""Mutations of the shipped graph files (resources/examples, resources/templates) for the
file-format fuzz tests, and the check that an outcome is acceptable: a document, or the
project's own error naming the place.

Four strategies, so that even the "ci" profile's 10 examples per test reach far:
* `value_mutations`: a value anywhere in the JSON tree replaced by a hostile one (null, true,
  -1, [0], NaN, 1e400, a 5,000-digit integer, JSON nested 1,000 deep, ...);
* `targeted_mutations`: the fields a hostile file aims at: an attribute, a position, the
  training settings, a stored array's shape, a group record, a variadic op's count;
* `structure_mutations`: keys deleted, added or renamed, entries duplicated, ids swapped;
* `text_mutations`: the file's text cut, spliced, with bytes flipped or inserted (not even
  JSON, or not UTF-8).
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from nodestudio.errors import FileFormatError, GraphError, NodeStudioError

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = sorted((ROOT / "resources" / "examples").glob("*.json")) + sorted(
    (ROOT / "resources" / "templates").glob("*.json"))
DOCS = {path.name + ("" if "examples" in str(path) else " (template)"):
        json.loads(path.read_text(encoding="utf-8")) for path in SHIPPED}

# Tokens JSON cannot write from Python values, spliced into the text in place of a marker.
RAW = {
    "digits25": "9" * 25, "digits401": "-" + "9" * 401, "digits5000": "7" * 5000,
    "1e400": "1e400", "NaN": "NaN", "Infinity": "Infinity", "-Infinity": "-Infinity",
    "deep70": "[" * 70 + "]" * 70, "deep1000": "[" * 1000 + "]" * 1000,
    "deepobj": '{"a": ' * 900 + "1" + "}" * 900,
}
HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1, 2, 2.5, -0.0, 1e308, -1e308, 2**31, 2**63 - 1, -2**63,
    "", "x", "x:out", ":", "W1", [], {}, [0], [-1], [0, 800], [True], [None], [1] * 70,
    [20000, 20000], [1e9, 1e9], [9.3e18, 1.8e19], [0, 10**18], {"a": 1}, {"inputs": 1.5},
    {"op": "dense", "attrs": {}, "inputs": {"x": {"from": 3, "to": "y"}}},
    *[f"@@{name}@@" for name in RAW],
]
ATTRIBUTES = ["shape", "dtype", "seed", "std", "scale", "value", "init", "units", "n", "axis",
              "activation", "trainable", "p", "eps", "momentum", "depth", "role", "mode"]
TRAINING = ["optimizer", "lr", "batch_size", "epochs", "patience", "hyper", "schedule",
            "schedule_params", "regularisation", "preprocess", "seed", "device", "min_epochs",
            "dataset"]
OPS = ["dense", "tanh", "concatenate", "parameter", "constant", "input", "reshape",
       "dense_layer", "batch_norm_layer", "softmax", "one_hot", "no_such_op"]


def render(doc: Any) -> str:
    """The document as file text, raw tokens spliced in for their markers."""
    text = json.dumps(doc, allow_nan=True)
    return re.sub(r'"@@(\w+)@@"', lambda m: RAW[m.group(1)], text)


def _locations(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) for every value in the tree, breadth first."""
    found, queue = [], [doc]
    while queue:
        item = queue.pop(0)
        pairs = item.items() if isinstance(item, dict) else enumerate(item) \
            if isinstance(item, list) else ()
        for key, value in pairs:
            found.append((item, key))
            queue.append(value)
    return found


hostile = st.sampled_from(HOSTILE)
docs = st.sampled_from(sorted(DOCS))


@st.composite
def value_mutations(draw) -> str:
    doc = copy.deepcopy(DOCS[draw(docs)])
    for _ in range(draw(st.integers(1, 3))):
        where = _locations(doc)
        container, key = where[draw(st.integers(0, len(where) - 1))]
        container[key] = copy.deepcopy(draw(hostile))
    return render(doc)


@st.composite
def targeted_mutations(draw) -> str:
    doc = copy.deepcopy(DOCS[draw(docs)])
    for _ in range(draw(st.integers(1, 3))):
        nodes = doc.get("nodes") or [{}]
        node = nodes[draw(st.integers(0, len(nodes) - 1))]
        target = draw(st.sampled_from(["attr", "position", "training", "value", "group",
                                       "op", "concat"]))
        value = copy.deepcopy(draw(hostile))
        if target == "attr":
            node.setdefault("attrs", {})[draw(st.sampled_from(ATTRIBUTES))] = value
        elif target == "position":
            node["position"] = draw(st.sampled_from([value, [value, 0.0], [0.0, value]]))
        elif target == "training":
            metadata = doc.setdefault("metadata", {})
            if not isinstance(metadata.get("training"), dict) or draw(st.booleans()):
                metadata["training"] = {"optimizer": "sgd", "epochs": 2}
            metadata["training"][draw(st.sampled_from(TRAINING))] = value
        elif target == "value" and node.get("id"):
            doc.setdefault("values", {})[node["id"]] = {
                "dtype": draw(st.sampled_from(["float32", "int32", "object", value])),
                "shape": draw(st.sampled_from([[2], [0], [1] * 70, value])),
                "data": draw(st.sampled_from(["AAAAAAAAAAA=", "", "@@", value]))}
        elif target == "group":
            doc.setdefault("groups", {})[draw(st.sampled_from(["g", "hidden", "x"]))] = \
                draw(st.sampled_from([value, {"op": "dense", "attrs": {}, "inputs": value},
                                      {"op": "dense", "attrs": {}, "shifted": {"x": value}},
                                      {"op": "dense", "attrs": {}, "nodes": value}]))
        elif target == "op":
            node["op"] = draw(st.sampled_from(OPS))
        else:  # a variadic op asked for a million ports
            node.update(op="concatenate", attrs={"n": draw(st.sampled_from(
                [1_000_000, 0, 64, 65, value])), "axis": 1})
    return render(doc)


@st.composite
def structure_mutations(draw) -> str:
    doc = copy.deepcopy(DOCS[draw(docs)])
    for _ in range(draw(st.integers(1, 4))):
        where = _locations(doc)
        container, key = where[draw(st.integers(0, len(where) - 1))]
        action = draw(st.sampled_from(["delete", "duplicate", "add key", "rename id",
                                       "swap ids", "drop section"]))
        nodes = doc.get("nodes") if isinstance(doc.get("nodes"), list) else []
        if action == "delete":
            del container[key]
        elif action == "duplicate":
            if isinstance(container, list):
                container.append(copy.deepcopy(container[key]))
            else:
                container[f"{key}_2" if isinstance(key, str) else "copy"] = \
                    copy.deepcopy(container[key])
        elif action == "add key" and isinstance(container[key], dict):
            container[key][draw(st.sampled_from(["colour", "id", "op", "to", "from", "x"]))] = \
                copy.deepcopy(draw(hostile))
        elif action == "rename id" and nodes and isinstance(nodes[0], dict):
            nodes[draw(st.integers(0, len(nodes) - 1))]["id"] = draw(st.sampled_from(
                ["x", "y", "ghost", "a:b", "hidden/W", ""]))
        elif action == "swap ids" and len(nodes) > 1 and all(isinstance(n, dict)
                                                             for n in nodes[:2]):
            nodes[0]["id"], nodes[1]["id"] = nodes[1].get("id"), nodes[0].get("id")
        elif action == "drop section":
            doc.pop(draw(st.sampled_from(["edges", "outputs", "values", "groups", "metadata",
                                          "nodes", "format", "version"])), None)
    return render(doc)


@st.composite
def text_mutations(draw) -> bytes:
    data = bytearray(render(DOCS[draw(docs)]).encode("utf-8"))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["cut", "delete", "insert", "flip", "repeat"]))
        if action == "cut":
            del data[i:]
        elif action == "delete":
            del data[i:i + draw(st.integers(1, 40))]
        elif action == "insert":
            data[i:i] = draw(st.sampled_from([b"[", b"{", b"}", b",", b'"', b"\xff",
                                              b"9" * 30, b"-", b"e400", b":", b"null"]))
        elif action == "flip" and i < len(data):
            data[i] = draw(st.integers(0, 255))
        elif action == "repeat":
            data[i:i] = data[max(0, i - 30):i]
    return bytes(data)


any_mutation = st.one_of(value_mutations(), targeted_mutations(), structure_mutations(),
                         text_mutations())


def check_refusal(exc: BaseException, path: Path) -> None:
    """An error is acceptable when it is the project's own and names the place: the file and
    JSON path, the node (and port), or the field of the stored training settings."""
    assert isinstance(exc, NodeStudioError), f"{type(exc).__name__}: {exc}"
    text = str(exc)
    assert len(text) < 2000, text[:300]
    if isinstance(exc, FileFormatError):
        assert exc.json_path.startswith("$") and str(path) in text, text
    elif isinstance(exc, GraphError):
        assert exc.node is not None, text
    elif type(exc).__name__ == "TrainingError":
        assert text.startswith("metadata.training"), text
    elif type(exc).__name__ in ("ModelError", "RolesError", "DataMismatchError"):
        assert str(path) in text, text
    elif type(exc).__name__ == "DatasetError":
        pass  # the fuzz tests name a dataset that does not exist: reached past the file
    else:
        raise AssertionError(f"{type(exc).__name__} does not say where: {text}")


def write(tmp_dir: Path, content: str | bytes) -> Path:
    path = tmp_dir / "mutated.nsg"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path
