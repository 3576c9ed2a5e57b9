"""Reading and writing graph documents as versioned JSON (see docs/FILE_FORMAT.md).

Design points:
* Plain JSON plus base64 for arrays: never pickle, so opening a file cannot run code.
* Every problem is a FileFormatError naming the file, the JSON path ($.nodes[3].attrs) and the
  field, so a user can fix a hand-edited file.
* Older versions are upgraded step by step through MIGRATIONS before validation, so the
  validator only ever knows the current layout.
* Op names are not checked here: the canvas loads what it can and the IR conversion reports
  unknown ops on the node that has them.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from nodestudio.errors import FileFormatError
from nodestudio.graph import jsonsafe
from nodestudio.graph.jsonsafe import BigInt, free_json_problem, int_problem, key_path
from nodestudio.graph.limits import (
    MAX_DIM,
    MAX_JSON_DEPTH,
    MAX_NDIM,
    POSITION_LIMIT,
    array_size_problem,
    brief,
)
from nodestudio.graph.model import Edge, Graph, Node, PortRef
from nodestudio.graph.records import group_record_problem
from nodestudio.graph.safefile import write_atomically

FORMAT = "nodestudio-graph"
VERSION = 1

# Array element types a file may hold (never object / string dtypes).
DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
          "float16", "float32", "float64")

_TOP_KEYS = ("format", "version", "nodes", "edges", "outputs", "values", "groups", "metadata")
_NODE_KEYS = ("id", "op", "attrs", "position", "group")
_EDGE_KEYS = ("from", "to")
_VALUE_KEYS = ("dtype", "shape", "data")


def _type_name(value: Any) -> str:
    if isinstance(value, BigInt):
        return f"an integer of {value.digits} digits"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# ============================================================================================
# writing
# ============================================================================================

def to_json_value(value: Any, path: str, json_path: str, depth: int = 1) -> Any:
    """A JSON-ready copy: tuples and arrays become lists, NumPy scalars Python numbers. What
    the reader would refuse is refused here, before anything is written: an integer beyond
    the 64-bit range, nesting past the limit (`depth`: where `value` stands, the document
    being 1)."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        problem = int_problem(value)
        if problem is not None:
            raise FileFormatError(path, json_path, problem)
        return value
    if isinstance(value, float):
        return value
    if isinstance(value, np.generic):
        return to_json_value(value.item(), path, json_path, depth)
    if isinstance(value, (np.ndarray, list, tuple, dict)) and depth > MAX_JSON_DEPTH:
        raise FileFormatError(path, json_path, f"nested more than {MAX_JSON_DEPTH} levels deep")
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), path, json_path, depth)
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, path, f"{json_path}[{i}]", depth + 1)
                for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise FileFormatError(path, json_path, f"object key {brief(k)} is not a string")
            out[k] = to_json_value(v, path, key_path(json_path, k), depth + 1)
        return out
    raise FileFormatError(path, json_path,
                          f"a {type(value).__name__} cannot be written as JSON")


def encode_array(array: np.ndarray, path: str, json_path: str) -> dict[str, Any]:
    array = np.asarray(array)
    if array.dtype.name not in DTYPES:
        raise FileFormatError(path, json_path, f"arrays of dtype {array.dtype} cannot be saved; "
                              f"use one of {', '.join(DTYPES)}")
    if array.ndim > MAX_NDIM or 0 in array.shape:  # what the reader refuses
        raise FileFormatError(path, json_path, f"an array of shape {array.shape} cannot be "
                              f"saved: at most {MAX_NDIM} dimensions, none of them 0")
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    return {"dtype": array.dtype.name, "shape": list(array.shape),
            "data": base64.b64encode(little.tobytes()).decode("ascii")}


def to_dict(graph: Graph, path: str = "<memory>") -> dict[str, Any]:
    """The current-version JSON object of a document."""
    nodes = []
    for i, node in enumerate(graph.nodes.values()):
        entry: dict[str, Any] = {"id": node.id, "op": node.op,
                                 "attrs": to_json_value(node.attrs, path, f"$.nodes[{i}].attrs",
                                                        4)}
        if node.position is not None:
            entry["position"] = [float(node.position[0]), float(node.position[1])]
            if not all(math.isfinite(v) for v in entry["position"]):
                raise FileFormatError(path, f"$.nodes[{i}].position",
                                      f"node {node.id!r} has a non-finite position "
                                      f"{node.position}")
        if node.group is not None:
            entry["group"] = node.group
        nodes.append(entry)
    return {
        "format": FORMAT,
        "version": VERSION,
        "nodes": nodes,
        "edges": [{"from": str(e.src), "to": str(e.dst)} for e in graph.edges],
        "outputs": {name: str(ref) for name, ref in graph.outputs.items()},
        "values": {k: encode_array(v, path, key_path("$.values", k))
                   for k, v in graph.values.items()},
        "groups": to_json_value(graph.groups, path, "$.groups", 2),
        "metadata": to_json_value(graph.metadata, path, "$.metadata", 2),
    }


def dumps(graph: Graph, path: str = "<memory>") -> str:
    """The file text: one line per node, edge, output, value, group and metadata entry, so
    files diff well under version control. Non-finite floats are written as NaN / Infinity
    (Python's JSON extension): an attribute such as a -inf mask value must survive a save."""
    doc = to_dict(graph, path)

    def one(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    def section(value: Any) -> str:
        if isinstance(value, list) and value:
            return "[\n" + ",\n".join("  " + one(v) for v in value) + "\n ]"
        if isinstance(value, dict) and value:
            return "{\n" + ",\n".join(f"  {one(k)}: {one(v)}" for k, v in value.items()) + "\n }"
        return one(value)

    body = ",\n".join(f" {one(k)}: {section(v)}" for k, v in doc.items())
    return "{\n" + body + "\n}\n"


def save(graph: Graph, path: str | os.PathLike[str]) -> None:
    """Write atomically (safefile.write_atomically: temporary file, fsync, rename), so a crash
    or a full disk never leaves a half-written graph in place of a good one, and a later save
    removes the temporaries a killed save left behind."""
    write_atomically(path, dumps(graph, os.fspath(path)).encode("utf-8"))


# ============================================================================================
# reading
# ============================================================================================

class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def load(path: str | os.PathLike[str]) -> Graph:
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as exc:
        raise FileFormatError(path, "$", f"cannot read the file: {exc.strerror or exc}") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FileFormatError(path, "$", f"not UTF-8 text (byte {exc.start})") from exc
    return loads(text, path)


def loads(text: str, path: str = "<string>") -> Graph:
    if not text.strip():
        raise FileFormatError(path, "$", "the file is empty")
    deep = jsonsafe.too_deep(text)  # before the parser recurses into it
    if deep is not None:
        raise FileFormatError(path, deep[0], f"nested more than {MAX_JSON_DEPTH} levels deep "
                              f"(line {deep[1]}); a graph file needs a handful")
    try:
        doc = jsonsafe.parse(text, _no_duplicates)
    except _DuplicateKey as exc:
        raise FileFormatError(path, "$", f"invalid JSON: the key {brief(str(exc))} appears "
                              f"twice in one object") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            message = f"the file ends early at {where} (truncated?): {exc.msg}"
        else:
            message = f"invalid JSON at {where}: {exc.msg}"
        raise FileFormatError(path, "$", message) from None
    return from_dict(doc, path)


def from_dict(doc: Any, path: str = "<memory>") -> Graph:
    """Check the header, migrate an older version, validate and build the document."""
    r = _Reader(path)
    r.expect(doc, dict, "$")
    if "format" not in doc:
        r.fail("$.format", f"missing required field 'format' (expected {FORMAT!r}); "
                           f"is this a NodeStudio graph?")
    if not (isinstance(doc["format"], str) and doc["format"] == FORMAT):
        r.fail("$.format", f"not a NodeStudio graph: format is {brief(doc['format'])}, "
                           f"expected {FORMAT!r}")
    version = r.field(doc, "version", int, "$")
    if version > VERSION:
        r.fail("$.version", f"written by a newer NodeStudio: version {version} > {VERSION}; "
                            f"update NodeStudio to open this file")
    if version < 0 or (version < VERSION and version not in MIGRATIONS):
        r.fail("$.version", f"unknown version {version} (this NodeStudio reads 0 to {VERSION})")
    while version < VERSION:
        doc = MIGRATIONS[version](doc, path)
        version += 1
        doc["version"] = version
    return r.graph(doc)


class _Reader:
    """Validation helpers that know the file name, so every failure can name it."""

    def __init__(self, path: str):
        self.path = path

    def fail(self, json_path: str, message: str) -> Any:
        raise FileFormatError(self.path, json_path, message)

    def expect(self, value: Any, kind: type | tuple[type, ...], json_path: str,
               what: str | None = None) -> Any:
        if isinstance(value, BigInt):
            self.fail(json_path, value.describe())
        # bool is an int subclass in Python, but `true` is no number in a graph file
        numeric = kind in (int, float, (int, float))
        if not isinstance(value, kind) or (numeric and isinstance(value, bool)):
            self.fail(json_path, f"expected {what or _KIND_NAMES.get(kind, str(kind))}, "
                                 f"got {_type_name(value)}")
        return value

    def field(self, obj: dict[str, Any], name: str, kind: type | tuple[type, ...], base: str,
              default: Any = ..., what: str | None = None) -> Any:
        if name not in obj:
            if default is ...:
                self.fail(key_path(base, name), f"missing required field {name!r}")
            return default
        value = obj[name]
        if type(value) is kind or (type(kind) is tuple and type(value) in kind):
            return value  # the common case, without building the path
        return self.expect(value, kind, key_path(base, name), what)

    def only(self, obj: dict[str, Any], allowed: tuple[str, ...], base: str) -> None:
        if obj.keys() <= (_KEY_SETS.get(allowed) or frozenset(allowed)):
            return
        for k in obj:
            if k not in allowed:
                self.fail(key_path(base, k), f"unknown field {brief(k)} (allowed: "
                                             f"{', '.join(allowed)})")

    def free(self, value: Any, json_path: str, depth: int) -> Any:
        """Free JSON (attributes, metadata, group records) at nesting `depth`: no integer
        too long to be a number, nothing nested past the limit."""
        if type(value) is dict and all(type(v) in _PLAIN for v in value.values()):
            return value  # nothing nested, no integer: nothing to find
        problem = free_json_problem(value, json_path, depth)
        if problem is not None:
            self.fail(*problem)
        return value

    def port(self, value: Any, json_path: str, nodes: dict[str, Node]) -> PortRef:
        if type(value) is str:  # the common case: parse at once
            node, sep, port = value.rpartition(":")
            if sep and node in nodes and port:
                return PortRef(node, port)
        self.expect(value, str, json_path, "a 'node:port' string")
        try:
            ref = PortRef.parse(value)
        except ValueError:
            self.fail(json_path, f"expected 'node:port', got {brief(value)}")
        if ref.node not in nodes:
            self.fail(json_path, f"unknown node {brief(ref.node)}")
        return ref

    def position(self, value: Any, json_path: str) -> tuple[float, float] | None:
        if value is None:
            return None
        self.expect(value, list, json_path, "a list [x, y]")
        if len(value) != 2:
            self.fail(json_path, f"expected [x, y], got {len(value)} number(s)")
        coordinates = []
        for i, v in enumerate(value):
            self.expect(v, (int, float), f"{json_path}[{i}]", "a number")
            if isinstance(v, float) and not math.isfinite(v):
                self.fail(f"{json_path}[{i}]", f"expected a finite number, got {v}")
            # far away is brought back within the canvas (+-POSITION_LIMIT), not refused
            coordinates.append(float(max(min(v, POSITION_LIMIT), -POSITION_LIMIT)))
        return coordinates[0], coordinates[1]

    def array(self, entry: Any, jp: str) -> np.ndarray:
        self.expect(entry, dict, jp)
        self.only(entry, _VALUE_KEYS, jp)
        dtype = self.field(entry, "dtype", str, jp)
        if dtype not in DTYPES:
            self.fail(f"{jp}.dtype", f"unsupported dtype {dtype!r} (allowed: {', '.join(DTYPES)})")
        shape = self.field(entry, "shape", list, jp)
        if len(shape) > MAX_NDIM:
            self.fail(f"{jp}.shape", f"{len(shape)} dimensions; at most {MAX_NDIM} are "
                                     f"supported")
        for i, d in enumerate(shape):
            self.expect(d, int, f"{jp}.shape[{i}]", "a whole number >= 1")
            if not 1 <= d <= MAX_DIM:
                self.fail(f"{jp}.shape[{i}]", f"expected a whole number from 1 to "
                                              f"{MAX_DIM:,}, got {d}")
        native = np.dtype(dtype)
        problem = array_size_problem(shape, native.itemsize, "the array")
        if problem is not None:  # before decoding anything
            self.fail(jp, problem)
        data = self.field(entry, "data", str, jp, what="a base64 string")
        try:
            raw = base64.b64decode(data.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError) as exc:
            self.fail(f"{jp}.data", f"bad base64: {exc}")
        needed = math.prod(shape) * native.itemsize
        if len(raw) != needed:
            self.fail(f"{jp}.data", f"holds {len(raw)} bytes, but dtype {dtype} with shape "
                                    f"{tuple(shape)} needs {needed}")
        array = np.frombuffer(raw, dtype=native.newbyteorder("<")).astype(native).reshape(shape)
        if dtype == "bool" and raw.strip(b"\x00\x01"):
            self.fail(f"{jp}.data", "booleans must be bytes 0 or 1")
        return array

    # --- the whole document ------------------------------------------------------------------
    def graph(self, doc: dict[str, Any]) -> Graph:
        self.only(doc, _TOP_KEYS, "$")
        graph = Graph()
        first_seen: dict[str, int] = {}
        for i, entry in enumerate(self.field(doc, "nodes", list, "$")):
            jp = f"$.nodes[{i}]"
            self.expect(entry, dict, jp)
            self.only(entry, _NODE_KEYS, jp)
            node_id = self.field(entry, "id", str, jp)
            if not node_id:
                self.fail(f"{jp}.id", "a node id must not be empty")
            if node_id in first_seen:
                self.fail(f"{jp}.id", f"duplicate node id {brief(node_id)} "
                                      f"(first at $.nodes[{first_seen[node_id]}])")
            first_seen[node_id] = i
            op = self.field(entry, "op", str, jp)
            if not op:
                self.fail(f"{jp}.op", "an op name must not be empty")
            attrs = self.free(self.field(entry, "attrs", dict, jp, default={}),
                              f"{jp}.attrs", 4)
            position = self.position(entry.get("position"), f"{jp}.position")
            group = self.field(entry, "group", (str, type(None)), jp, default=None,
                               what="a string or null")
            graph.nodes[node_id] = Node(node_id, op, attrs, position, group)

        entered: dict[PortRef, int] = {}
        edges: list[Edge] = []
        for i, entry in enumerate(self.field(doc, "edges", list, "$", default=[])):
            jp = f"$.edges[{i}]"
            self.expect(entry, dict, jp)
            self.only(entry, _EDGE_KEYS, jp)
            for name in _EDGE_KEYS:
                self.field(entry, name, str, jp, what="a 'node:port' string")
            src = self.port(entry["from"], f"{jp}.from", graph.nodes)
            dst = self.port(entry["to"], f"{jp}.to", graph.nodes)
            if dst in entered:
                self.fail(f"{jp}.to", f"input port {str(dst)!r} already has an edge "
                                      f"($.edges[{entered[dst]}])")
            entered[dst] = i
            # Cycles are left to the IR conversion: the canvas can open such a file to fix it.
            edges.append(Edge(src, dst))
        graph.edges = edges  # indexed once, in one pass

        for name, ref in self.field(doc, "outputs", dict, "$", default={}).items():
            graph.outputs[name] = self.port(ref, key_path("$.outputs", name), graph.nodes)

        for node_id, entry in self.field(doc, "values", dict, "$", default={}).items():
            jp = key_path("$.values", node_id)
            # a node's own value, or "<node>/<param>": a parameter owned by a layer node
            if node_id not in graph.nodes and node_id.rpartition("/")[0] not in graph.nodes:
                self.fail(jp, f"value for unknown node {brief(node_id)}")
            graph.values[node_id] = self.array(entry, jp)

        # Groups belong to nodestudio.ir.composites: every field a collapse reads is checked
        # here (graph/records.py), so that a damaged record is reported with its path.
        for group_id, record in self.field(doc, "groups", dict, "$", default={}).items():
            jp = key_path("$.groups", group_id)
            self.free(record, jp, 3)
            problem = group_record_problem(record)
            if problem is not None:
                self.fail(jp + problem[0], problem[1])
            graph.groups[group_id] = record

        graph.metadata = self.free(self.field(doc, "metadata", dict, "$", default={}),
                                   "$.metadata", 2)
        return graph


_KEY_SETS = {keys: frozenset(keys) for keys in (_TOP_KEYS, _NODE_KEYS, _EDGE_KEYS, _VALUE_KEYS)}
_PLAIN = (str, float, bool, type(None))  # attribute values with nothing inside to check

_KIND_NAMES: dict[Any, str] = {
    dict: "an object", list: "a list", str: "a string", int: "an integer",
    (int, float): "a number", bool: "a boolean",
}


# ============================================================================================
# migrations: MIGRATIONS[v](doc, path) turns a version-v document into a version v+1 one
# ============================================================================================

def _v0_to_v1(doc: dict[str, Any], path: str) -> dict[str, Any]:
    """Version 0 (the first studio builds) differed from version 1 in:
    nodes {"id", "type", "params", "pos"}  ->  {"id", "op", "attrs", "position"}
    edges [src_node, src_port, dst_node, dst_port]  ->  {"from": "n:p", "to": "n:p"}
    outputs {name: [node, port]}  ->  {name: "node:port"}
    no "groups" or "metadata" (added empty). Values were already stored as in version 1."""
    r = _Reader(path)
    out: dict[str, Any] = {"format": FORMAT, "version": 1}
    nodes = []
    for i, entry in enumerate(r.field(doc, "nodes", list, "$")):
        jp = f"$.nodes[{i}]"
        r.expect(entry, dict, jp)
        r.only(entry, ("id", "type", "params", "pos"), jp)
        node: dict[str, Any] = {"id": r.field(entry, "id", str, jp),
                                "op": r.field(entry, "type", str, jp),
                                "attrs": r.field(entry, "params", dict, jp, default={})}
        if entry.get("pos") is not None:
            node["position"] = entry["pos"]
        nodes.append(node)
    out["nodes"] = nodes
    edges = []
    for i, entry in enumerate(r.field(doc, "edges", list, "$", default=[])):
        jp = f"$.edges[{i}]"
        r.expect(entry, list, jp, "a list [src_node, src_port, dst_node, dst_port]")
        if len(entry) != 4:
            r.fail(jp, f"expected [src_node, src_port, dst_node, dst_port], got {len(entry)} "
                       f"item(s)")
        for j, part in enumerate(entry):
            r.expect(part, str, f"{jp}[{j}]")
        edges.append({"from": f"{entry[0]}:{entry[1]}", "to": f"{entry[2]}:{entry[3]}"})
    out["edges"] = edges
    outputs = {}
    for name, ref in r.field(doc, "outputs", dict, "$", default={}).items():
        jp = key_path("$.outputs", name)
        r.expect(ref, list, jp, "a list [node, port]")
        if len(ref) != 2 or not all(isinstance(p, str) for p in ref):
            r.fail(jp, "expected [node, port]")
        outputs[name] = f"{ref[0]}:{ref[1]}"
    out["outputs"] = outputs
    out["values"] = r.field(doc, "values", dict, "$", default={})
    out["groups"] = {}
    out["metadata"] = {}
    unknown = set(doc) - {"format", "version", "nodes", "edges", "outputs", "values"}
    if unknown:
        r.fail(key_path("$", sorted(unknown)[0]), f"unknown field {sorted(unknown)[0]!r} in a "
                                                  f"version 0 file")
    return out


MIGRATIONS: dict[int, Callable[[dict[str, Any], str], dict[str, Any]]] = {0: _v0_to_v1}

__all__ = ["FORMAT", "VERSION", "DTYPES", "MIGRATIONS", "save", "load", "loads", "dumps",
           "to_dict", "from_dict", "key_path"]
