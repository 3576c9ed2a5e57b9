"""The layout of an expanded composite's record (`graph.groups[id]`, docs/FILE_FORMAT.md).

The record is written by `nodestudio.ir.composites.expand_node` and read back by
`collapse_group`; it is plain JSON so that it survives a save. A hand-edited or damaged file can
hold anything there, so the file reader checks every field a collapse reads with this one
function (and the collapse checks a record made in memory the same way): a problem is reported
with the path of the field, never met later as an AttributeError.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from nodestudio.graph.jsonsafe import key_path
from nodestudio.graph.model import PortRef

Problem = tuple[str, str]  # (path below the record, e.g. ".inputs.x.to[0]", what is wrong)

MODES = ("train", "infer", "auto")  # "auto": both, through mode_switch nodes


def group_record_problem(record: Any) -> Problem | None:
    """The first problem of a group record, or None. Paths are relative to the record."""
    if not isinstance(record, dict):
        return "", f"expected an object, got {_kind(record)}"
    checks: list[tuple[str, Callable[[Any, str], Problem | None], bool]] = [
        ("op", _text, True), ("attrs", _object, True), ("position", _position, False),
        ("group", _optional_text, False), ("index", _index, False), ("mode", _mode, False),
        ("nodes", _texts, False), ("inputs", _inputs, False), ("outputs", _outputs, False),
        ("graph_outputs", _map(_text), False), ("shifted", _map(_finite), False),
        ("shifted_from", _map(_finite), False), ("params", _texts, False),
        ("updates", _map(_port), False),
    ]
    for name, check, required in checks:
        if name not in record:
            if required:
                return f".{name}", f"missing required field {name!r}"
            continue
        problem = check(record[name], f".{name}")
        if problem is not None:
            return problem
    return None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "a value")


def _text(value: Any, path: str) -> Problem | None:
    return None if isinstance(value, str) else (path, f"expected a string, got {_kind(value)}")


def _optional_text(value: Any, path: str) -> Problem | None:
    return None if value is None else _text(value, path)


def _object(value: Any, path: str) -> Problem | None:
    return None if isinstance(value, dict) else (path,
                                                  f"expected an object, got {_kind(value)}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any, path: str) -> Problem | None:
    if not _number(value) or (isinstance(value, float) and not math.isfinite(value)):
        return path, f"expected a finite number, got {_kind(value)}"
    return None


def _position(value: Any, path: str) -> Problem | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        return path, "expected [x, y] or null"
    for i, v in enumerate(value):
        problem = _finite(v, f"{path}[{i}]")
        if problem is not None:
            return problem
    return None


def _index(value: Any, path: str) -> Problem | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
        return None
    return path, f"expected a place in the node order (a whole number >= 0), got {_kind(value)}"


def _mode(value: Any, path: str) -> Problem | None:
    if value in MODES:
        return None
    return path, f"expected one of {', '.join(MODES)}"


def _list(item: Callable[[Any, str], Problem | None]) -> Callable[[Any, str], Problem | None]:
    def check(value: Any, path: str) -> Problem | None:
        if not isinstance(value, list):
            return path, f"expected a list, got {_kind(value)}"
        for i, v in enumerate(value):
            problem = item(v, f"{path}[{i}]")
            if problem is not None:
                return problem
        return None
    return check


def _map(item: Callable[[Any, str], Problem | None]) -> Callable[[Any, str], Problem | None]:
    def check(value: Any, path: str) -> Problem | None:
        if not isinstance(value, dict):
            return path, f"expected an object, got {_kind(value)}"
        for k, v in value.items():
            problem = item(v, key_path(path, k))
            if problem is not None:
                return problem
        return None
    return check


def _port(value: Any, path: str) -> Problem | None:
    if not isinstance(value, str):
        return path, f"expected a 'node:port' string, got {_kind(value)}"
    try:
        PortRef.parse(value)
    except ValueError:
        return path, f"expected 'node:port', got {value[:80]!r}"
    return None


def _optional_port(value: Any, path: str) -> Problem | None:
    return None if value is None else _port(value, path)


_texts = _list(_text)
_ports = _list(_port)


def _fields(**fields: Callable[[Any, str], Problem | None]
            ) -> Callable[[Any, str], Problem | None]:
    def check(value: Any, path: str) -> Problem | None:
        if not isinstance(value, dict):
            return path, f"expected an object, got {_kind(value)}"
        for name, item in fields.items():
            if name in value:
                problem = item(value[name], f"{path}.{name}")
                if problem is not None:
                    return problem
        return None
    return check


_inputs = _map(_fields(**{"from": _optional_port, "to": _ports}))
_outputs = _map(_fields(**{"from": _optional_port, "passthrough": _optional_text,
                           "to": _ports}))

__all__ = ["group_record_problem"]
