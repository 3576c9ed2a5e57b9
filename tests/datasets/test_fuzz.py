"""Property tests: the IDX and CSV parsers, fed random or mutated bytes, raise nothing but
DatasetError and never allocate more than the data they were given (plus a small constant)."""

from __future__ import annotations

import gzip
import struct
import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from nodestudio.data import DatasetError, read_csv, read_idx
from nodestudio.data.idx import _KIND_TO_CODE

# What a parse may allocate beyond its input: buffers, the result array, error messages.
_SLACK = 256 << 10


def _parse_bounded(parse, data: bytes) -> None:
    """Run `parse(data)`; only DatasetError may escape, and peak memory stays near len(data)."""
    tracemalloc.start()
    try:
        try:
            parse(data)
        except DatasetError:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < _SLACK + 16 * len(data), f"peak {peak} bytes for {len(data)} input bytes"


def _valid_idx(draw) -> bytes:
    kind, size = draw(st.sampled_from(sorted(_KIND_TO_CODE)))
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    count = int(np.prod(shape))
    payload = draw(st.binary(min_size=count * size, max_size=count * size))
    return (struct.pack(">BBBB", 0, 0, _KIND_TO_CODE[(kind, size)], len(shape))
            + struct.pack(f">{len(shape)}I", *shape) + payload)


@st.composite
def mutated_idx(draw) -> bytes:
    data = bytearray(_valid_idx(draw))
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "cut", "grow", "dim"]))
        if action == "flip" and data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[draw(st.integers(0, len(data))):]
        elif action == "grow":
            data += draw(st.binary(max_size=8))
        elif action == "dim" and len(data) >= 8:
            # A huge dimension: the "10^9 images in a small file" attack, at random.
            data[4:8] = struct.pack(">I", draw(st.integers(0, 2**32 - 1)))
    if draw(st.booleans()):
        data = bytearray(gzip.compress(bytes(data), mtime=0))
        if draw(st.booleans()) and data:  # and maybe break the gzip stream itself
            del data[draw(st.integers(0, len(data))):]
    return bytes(data)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_idx_random_bytes(data):
    _parse_bounded(read_idx, data)


@settings(max_examples=300)
@given(mutated_idx())
def test_idx_mutated_files(data):
    _parse_bounded(read_idx, data)


@given(st.data())
def test_idx_valid_files_read_back(data):
    blob = _valid_idx(data.draw)
    array = read_idx(blob)
    assert array.shape == struct.unpack(f">{blob[3]}I", blob[4:4 + 4 * blob[3]])


_CSV_ALPHABET = st.sampled_from(list("0123456789,.-+eE \t\r\nnaif#x\"") + ["\x00", "é", "1e999"])


@settings(max_examples=300)
@given(st.lists(_CSV_ALPHABET, max_size=80).map("".join), st.booleans())
def test_csv_random_text(text, gz):
    raw = text.encode("utf-8")
    _parse_bounded(read_csv, gzip.compress(raw) if gz else raw)


@settings(max_examples=200)
@given(st.binary(max_size=80))
def test_csv_random_bytes(data):
    _parse_bounded(read_csv, data)


@st.composite
def mutated_csv(draw) -> bytes:
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(2, 5))
    values = draw(st.lists(st.integers(0, 9), min_size=rows * cols, max_size=rows * cols))
    lines = [",".join(str(v) for v in values[r * cols:(r + 1) * cols]) for r in range(rows)]
    text = bytearray("\n".join(lines).encode())
    for _ in range(draw(st.integers(0, 3))):
        if text:
            i = draw(st.integers(0, len(text) - 1))
            text[i:i + 1] = draw(st.sampled_from([b",", b"\n", b"", b"x", b"nan", b"-", b"9e9"]))
    return bytes(text)


@settings(max_examples=300)
@given(mutated_csv())
def test_csv_mutated_files(data):
    _parse_bounded(read_csv, data)
