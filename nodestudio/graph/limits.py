"""Sizes a graph may declare, checked before anything is allocated (docs/FILE_FORMAT.md, Limits).

A graph file is small text that can ask for a great deal: a 2 KB file may declare a
20000 x 20000 parameter (1.6 GB), a position at 1e19 (the canvas stalls drawing it) or JSON
nested a thousand deep (Python's recursion limit). Every reader and builder checks what it is
asked for against these limits first and refuses with an error naming the place.

One limit is a setting, because a big machine may really want big parameters:
`NODESTUDIO_MAX_PARAMETER_BYTES` (default 1 GiB; suffixes K, M, G, T are powers of 1024) bounds
one parameter's or constant's array on the device (float32 or int32: 4 bytes an element) and
one array stored in a graph file. The others are fixed: beyond them nothing works anyway.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence

from nodestudio.errors import GraphError

PARAMETER_BYTES_VARIABLE = "NODESTUDIO_MAX_PARAMETER_BYTES"
DEFAULT_MAX_PARAMETER_BYTES = 1 << 30  # 1 GiB: a 16384 x 16384 float32 matrix

MAX_NDIM = 32  # dimensions of one value (NumPy allows 64; no op needs more than a handful)
MAX_DIM = 2**31 - 1  # one dimension: kernels index with 32-bit integers
MAX_INT = 2**31 - 1  # an integer attribute (seeds, axes, units): a 32-bit kernel argument
FLOAT32_MAX = 3.4028234663852886e38  # a float attribute must survive the cast to float32
POSITION_LIMIT = 1e7  # canvas coordinates are kept within +-this (10 million units)
MAX_JSON_DEPTH = 64  # nesting of a graph file (a real one reaches 6)
FILE_INT_RANGE = 2**63  # an integer in a graph file lies in [-2**63, 2**63): the 64-bit range

_SUFFIX = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def max_parameter_bytes() -> int:
    """The limit on one parameter's array, from NODESTUDIO_MAX_PARAMETER_BYTES (read on each
    call, so a change takes effect at once); GraphError when the setting cannot be read."""
    text = os.environ.get(PARAMETER_BYTES_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_PARAMETER_BYTES
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if match is None:
        raise GraphError(f"{PARAMETER_BYTES_VARIABLE} must be a number of bytes such as "
                         f"4000000000 or 4G, got {text[:40]!r}")
    return int(float(match.group(1)) * _SUFFIX[match.group(2).upper()])


def size_text(nbytes: float) -> str:
    """1.6 GB, 512 MB, 12 KB: what a person reads in a message."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.3g} {unit}"
    return f"{int(nbytes)} bytes"


def array_size_problem(shape: Sequence[int], itemsize: int = 4,
                       what: str = "this array") -> str | None:
    """Why an array of `shape` may not be made (None: it may): too many dimensions, or more
    bytes than NODESTUDIO_MAX_PARAMETER_BYTES allows. Nothing is allocated to find out."""
    if len(shape) > MAX_NDIM:
        return f"{what} has {len(shape)} dimensions; at most {MAX_NDIM} are supported"
    count = math.prod(int(d) for d in shape)
    limit = max_parameter_bytes()
    if count * itemsize > limit:
        return (f"{what} of shape {tuple(shape)} needs {size_text(count * itemsize)} "
                f"({count:,} values), over the limit of {size_text(limit)}; set "
                f"{PARAMETER_BYTES_VARIABLE} to allow more")
    return None


def clamp_position(value: float) -> float:
    """A coordinate within +-POSITION_LIMIT (a node dragged or written far away stays
    reachable, and the canvas never draws at 1e19)."""
    return min(max(value, -POSITION_LIMIT), POSITION_LIMIT)


def brief(value: object, width: int = 60) -> str:
    """`repr(value)` for a message, never failing and never long: an integer of thousands of
    digits, JSON nested a thousand deep or a huge list are described, not printed."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * math.log10(2)) + 1} digits"
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # nested too deep; a str conversion limit
        return f"a {type(value).__name__}"
    return text if len(text) <= width else text[:width - 3] + "..."


__all__ = ["DEFAULT_MAX_PARAMETER_BYTES", "FILE_INT_RANGE", "FLOAT32_MAX", "MAX_DIM", "MAX_INT",
           "MAX_JSON_DEPTH", "MAX_NDIM", "PARAMETER_BYTES_VARIABLE", "POSITION_LIMIT",
           "array_size_problem", "brief", "clamp_position", "max_parameter_bytes", "size_text"]
