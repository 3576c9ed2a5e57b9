"""Parsing untrusted JSON without Python's own limits turning into tracebacks.

`json.loads` recurses once per level of nesting (a file nested a thousand deep raises
RecursionError, and one nested 900 deep loads but breaks every later deep copy and save), and
converts integer literals of any length (5,000 digits exceed Python's conversion limit; 400
overflow every float). `parse` checks the nesting on the raw text first, at C speed, and reads
long integers as `BigInt` markers that the caller reports with the JSON path where they stand
(`free_json_problem` finds them in free-form parts such as attributes and metadata).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from nodestudio.graph.limits import FILE_INT_RANGE, MAX_JSON_DEPTH

_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{},\n]')
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class BigInt:
    """An integer literal beyond the 64-bit range a graph file allows (its digits are counted,
    never converted: 5,000 of them exceed Python's own conversion limit)."""

    __slots__ = ("digits",)

    def __init__(self, digits: int):
        self.digits = digits

    def __repr__(self) -> str:
        return f"<an integer of {self.digits} digits>"

    def describe(self) -> str:
        return f"an integer of {self.digits} digits is beyond the 64-bit range a graph file holds"


def int_problem(value: int) -> str | None:
    """Why an integer cannot be in a graph file (None: it can)."""
    if -FILE_INT_RANGE <= value < FILE_INT_RANGE:
        return None
    return BigInt(len(str(abs(value))) if value.bit_length() < 10_000 else
                  int(value.bit_length() * 0.30103) + 1).describe()


def _parse_int(text: str) -> int | BigInt:
    digits = len(text) - text.startswith("-")
    if digits > 19:
        return BigInt(digits)
    value = int(text)
    return value if -FILE_INT_RANGE <= value < FILE_INT_RANGE else BigInt(digits)


def key_path(base: str, key: str) -> str:
    """JSON path of an object member: $.values.W, or $.values["dense_1/W"] for odd keys (a
    key of thousands of characters is cut short)."""
    if _IDENT.match(key) and len(key) <= 80:
        return f"{base}.{key}"
    shown = json.dumps(key if len(key) <= 80 else key[:77] + "...", ensure_ascii=False)
    return f"{base}[{shown}]"


def too_deep(text: str) -> tuple[str, int] | None:
    """(JSON path, line) of the first container nested deeper than MAX_JSON_DEPTH, or None.
    Strings are blanked first (a bracket inside one opens nothing); the common case, a file
    within the limit, is a few passes in C and NumPy."""
    brackets = _NOT_BRACKET.sub("", _STRING.sub('""', text))
    if len(brackets) <= MAX_JSON_DEPTH:
        return None
    codes = np.frombuffer(brackets.encode("ascii"), dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1).astype(np.int32)
    if int(np.cumsum(steps).max()) <= MAX_JSON_DEPTH:
        return None
    return _locate(text)


def _locate(text: str) -> tuple[str, int]:
    """Where nesting first passes the limit: the path (its first levels) and the line."""
    stack: list[list[Any]] = []  # per open container: [is_object, key or index, want_key]
    line = 1
    for match in _TOKEN.finditer(text):
        token = match.group()
        if token == "\n":
            line += 1
        elif token in "[{":
            if len(stack) >= MAX_JSON_DEPTH:
                return _path(stack), line
            if stack and stack[-1][0]:
                stack[-1][2] = False
            stack.append([token == "{", None if token == "{" else 0, token == "{"])
        elif token in "]}":
            if stack:
                stack.pop()
        elif token == ",":
            if stack:
                top = stack[-1]
                if top[0]:
                    top[1], top[2] = None, True
                else:
                    top[1] += 1
        elif stack and stack[-1][0] and stack[-1][2]:  # a string where a key is expected
            try:
                stack[-1][1] = json.loads(token)
            except ValueError:
                stack[-1][1] = token.strip('"')
            stack[-1][2] = False
    return _path(stack), line


def _path(stack: list[list[Any]], shown: int = 4) -> str:
    path = "$"
    for is_object, key, _ in stack[:shown]:
        if is_object:
            path = key_path(path, key) if isinstance(key, str) else path
        else:
            path += f"[{key}]"
    return path + ("..." if len(stack) > shown else "")


def parse(text: str, object_pairs_hook: Callable[[list[tuple[str, Any]]], Any]) -> Any:
    """`json.loads` with integers too long to be numbers read as BigInt (the caller checks
    the nesting with `too_deep` first)."""
    return json.loads(text, object_pairs_hook=object_pairs_hook, parse_int=_parse_int)


def free_json_problem(value: Any, json_path: str, depth: int = 1) -> tuple[str, str] | None:
    """(JSON path, what is wrong) for free JSON (attributes, metadata, group records): an
    integer beyond the 64-bit range, or nesting past MAX_JSON_DEPTH counted from the document
    (`depth`: how deep `value` itself stands, the document being 1). Walks without
    recursion, so any document can be checked."""
    stack = [(value, json_path, depth)]
    while stack:
        item, path, level = stack.pop()
        if isinstance(item, BigInt):
            return path, item.describe()
        if isinstance(item, int) and not isinstance(item, bool):
            problem = int_problem(item)  # a document made in memory
            if problem is not None:
                return path, problem
            continue
        if isinstance(item, dict):
            children = [(v, key_path(path, k) if isinstance(k, str) else f"{path}[{k!r}]")
                        for k, v in item.items() if isinstance(v, _WALKED)]
        elif isinstance(item, (list, tuple)):
            children = [(v, f"{path}[{i}]") for i, v in enumerate(item)
                        if isinstance(v, _WALKED)]
        else:
            continue
        if level >= MAX_JSON_DEPTH and any(isinstance(v, _NESTING) for v, _ in children):
            return path, f"nested more than {MAX_JSON_DEPTH} levels deep"
        stack.extend((v, p, level + 1) for v, p in reversed(children))
    return None


_NESTING = (dict, list, tuple)
_WALKED = (dict, list, tuple, BigInt, int)


__all__ = ["BigInt", "free_json_problem", "int_problem", "key_path", "parse", "too_deep"]
