"""Property tests of every dataset reader: valid IDX, CSV and pickle files, mutated at random
(bit flips, bytes overwritten, inserted or cut, header and length fields changed, sizes
inflated, gzip-wrapped, the gzip stream itself broken), either read or raise DatasetError
naming the file and the place in it (a byte offset or a line), within a time and memory
bound. The same holds one level up, for `load_dataset` on mutated IDX folders, CSV files and
pickles (the splits and the preprocessing included). And the pickle interpreter reads every
allowed value exactly as `pickle.loads` does, in every protocol."""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import pickle
import struct
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nodestudio.data import (
    DatasetError,
    load_array_pickle,
    load_dataset,
    read_csv,
    read_idx,
    read_mnist_pair,
    read_mnist_pickle,
    write_idx,
)
from nodestudio.data.idx import _KIND_TO_CODE
from nodestudio.data.sources import LIMIT_VARIABLE

# The readers run with a small limit, so that inflated sizes meet it within a test's means.
LIMIT = 256 << 10
# What a read may allocate beyond its input and the limit: zlib state, buffers, messages.
_SLACK = 1 << 20
# Far above what any example takes (milliseconds): only a hang or a quadratic blow-up fails.
_SECONDS = 5.0


def _outcome(parse: Callable[[], object], name: str | None, input_bytes: int,
             places: Callable[[DatasetError], bool] | None = None) -> DatasetError | None:
    """Run `parse()`; nothing but DatasetError may escape, it must name the file (`name`, or
    one `places` accepts) and where in it, and time and peak memory stay bounded."""
    started = time.perf_counter()
    tracemalloc.start()
    try:
        try:
            parse()
            error = None
        except DatasetError as exc:
            error = exc
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - started
    assert elapsed < _SECONDS, f"{elapsed:.1f} s"
    assert peak < _SLACK + 16 * input_bytes + 4 * LIMIT, f"peak {peak} for {input_bytes} bytes"
    if error is not None:
        text = str(error)
        if places is None:
            assert error.path == name and text.startswith(f"{name}: "), text
        else:
            assert places(error), text
        assert error.offset is not None or error.line is not None, f"no place: {text}"
    return error


# --- mutations ---------------------------------------------------------------------------------

_EXTREMES = [0, 1, 2, 255, 256, 2**16 - 1, 2**31 - 1, 2**31, 2**32 - 1]


@st.composite
def _mutated(draw, data: bytes, fields: tuple[tuple[int, int], ...] = ()) -> bytes:
    """`data` with up to four mutations: bit flips, bytes overwritten, inserted or deleted, a
    cut, and (at `fields`, (offset, size) pairs, or anywhere) a big-endian or little-endian
    integer field set to an extreme or random value."""
    out = bytearray(data)
    for _ in range(draw(st.integers(0, 4))):
        action = draw(st.sampled_from(["flip", "byte", "insert", "delete", "cut", "field"]))
        at = draw(st.integers(0, max(len(out) - 1, 0)))
        if action == "flip" and out:
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif action == "byte" and out:
            out[at] = draw(st.integers(0, 255))
        elif action == "insert":
            out[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif action == "delete":
            del out[at:at + draw(st.integers(1, 8))]
        elif action == "cut":
            del out[at:]
        elif action == "field":
            offset, size = draw(st.sampled_from(fields)) if fields else (
                at, draw(st.sampled_from([1, 2, 4, 8])))
            value = draw(st.sampled_from(_EXTREMES) | st.integers(0, 2**(8 * size) - 1))
            value %= 2 ** (8 * size)
            order = draw(st.sampled_from(["big", "little"])) if not fields else "big"
            out[offset:offset + size] = value.to_bytes(size, order)
    return bytes(out)


@st.composite
def _gzipped(draw, data: bytes) -> bytes:
    """`data` as it is, or gzipped, and then maybe with the gzip stream broken."""
    if not draw(st.booleans()):
        return data
    out = bytearray(gzip.compress(data, mtime=0))
    damage = draw(st.sampled_from(["none", "none", "flip", "cut"]))
    if damage == "flip":
        out[draw(st.integers(0, len(out) - 1))] ^= 1 << draw(st.integers(0, 7))
    elif damage == "cut":
        del out[draw(st.integers(0, len(out))):]
    return bytes(out)


# --- IDX ---------------------------------------------------------------------------------------

def _idx_fields(ndim: int) -> tuple[tuple[int, int], ...]:
    """The header's fields: the zero bytes, the type code, the rank, each dimension."""
    return ((0, 2), (2, 1), (3, 1), *((4 + 4 * i, 4) for i in range(ndim)))


@st.composite
def valid_idx(draw) -> bytes:
    kind, size = draw(st.sampled_from(sorted(_KIND_TO_CODE)))
    shape = draw(st.lists(st.integers(0, 5), min_size=1, max_size=3))
    count = int(np.prod(shape))
    payload = draw(st.binary(min_size=count * size, max_size=count * size))
    return (struct.pack(">BBBB", 0, 0, _KIND_TO_CODE[(kind, size)], len(shape))
            + struct.pack(f">{len(shape)}I", *shape) + payload)


@st.composite
def mutated_idx(draw) -> bytes:
    data = draw(valid_idx())
    return draw(_gzipped(draw(_mutated(data, _idx_fields(data[3])))))


@st.composite
def inflated_idx(draw) -> bytes:
    """A gzipped IDX file whose data (zeros, really present) is around the limit: a few KB
    that decompress to up to four times the limit."""
    rows = draw(st.integers(1, 4 * LIMIT // 64))
    data = struct.pack(">BBBBII", 0, 0, 0x08, 2, rows, 64) + bytes(rows * 64)
    return draw(_mutated(gzip.compress(data, mtime=0))) if draw(st.booleans()) else \
        gzip.compress(data, mtime=0)


@settings(max_examples=300)
@given(st.binary(max_size=64))
def test_idx_random_bytes(data):
    _outcome(lambda: read_idx(data, name="f.idx", max_bytes=LIMIT), "f.idx", len(data))


@settings(max_examples=300)
@given(mutated_idx())
def test_idx_mutated_files(data):
    _outcome(lambda: read_idx(data, name="f.idx", max_bytes=LIMIT), "f.idx", len(data))


@settings(max_examples=100)
@given(inflated_idx())
def test_idx_inflated_files(data):
    error = _outcome(lambda: read_idx(data, name="f.idx", max_bytes=LIMIT), "f.idx", len(data))
    if error is None:  # read: then it was within the limit
        assert len(gzip.decompress(data)) - 12 <= LIMIT


@given(valid_idx())
def test_idx_valid_files_read_back(blob):
    array = read_idx(blob)
    assert array.shape == struct.unpack(f">{blob[3]}I", blob[4:4 + 4 * blob[3]])


def _mnist_pair(n: int, side: int) -> tuple[bytes, bytes]:
    images = np.arange(n * side * side, dtype=np.uint8).reshape(n, side, side)
    return _idx_bytes(images), _idx_bytes((np.arange(n) % 10).astype(np.uint8))


def _idx_bytes(array: np.ndarray) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        return write_idx(Path(folder) / "a.idx", array).read_bytes()


@settings(max_examples=200)
@given(st.data())
def test_mnist_pairs_mutated(data):
    images, labels = _mnist_pair(data.draw(st.integers(1, 6)), data.draw(st.integers(1, 4)))
    which = data.draw(st.sampled_from(["images", "labels"]))
    blob = images if which == "images" else labels
    blob = data.draw(_gzipped(data.draw(_mutated(blob, _idx_fields(blob[3])))))
    images, labels = (blob, labels) if which == "images" else (images, blob)
    _outcome(lambda: read_mnist_pair(images, labels, max_bytes=LIMIT), "<bytes>",
             len(images) + len(labels))


# --- CSV ---------------------------------------------------------------------------------------

_CSV_ALPHABET = st.sampled_from(list("0123456789,.-+eE \t\r\nnaif#x\"_") + ["\x00", "é", "1e999",
                                                                             "\U0001f600"])


@settings(max_examples=300)
@given(st.lists(_CSV_ALPHABET, max_size=80).map("".join), st.booleans())
def test_csv_random_text(text, gz):
    raw = text.encode("utf-8")
    raw = gzip.compress(raw) if gz else raw
    _outcome(lambda: read_csv(raw, name="t.csv", max_bytes=LIMIT), "t.csv", len(raw))


@settings(max_examples=200)
@given(st.binary(max_size=80))
def test_csv_random_bytes(data):
    _outcome(lambda: read_csv(data, name="t.csv", max_bytes=LIMIT), "t.csv", len(data))


@st.composite
def valid_csv(draw) -> bytes:
    rows = draw(st.integers(1, 6))
    cols = draw(st.integers(2, 5))
    values = draw(st.lists(st.integers(0, 9), min_size=rows * cols, max_size=rows * cols))
    lines = [",".join(str(v) for v in values[r * cols:(r + 1) * cols]) for r in range(rows)]
    if draw(st.booleans()):
        lines.insert(0, ",".join(f"c{c}" for c in range(cols)))
    return "\n".join(lines).encode()


@st.composite
def mutated_csv(draw) -> bytes:
    text = bytearray(draw(valid_csv()))
    for _ in range(draw(st.integers(0, 3))):
        if text:
            i = draw(st.integers(0, len(text) - 1))
            text[i:i + 1] = draw(st.sampled_from([b",", b"\n", b"", b"x", b"nan", b"-", b"9e9",
                                                  b"1_0", b"\r", b"\xff", b"5000"]))
    return draw(_gzipped(draw(_mutated(bytes(text)))))


@st.composite
def inflated_csv(draw) -> bytes:
    """Many rows (or blank lines) in a small gzip file, around the limit once decompressed."""
    line = draw(st.sampled_from([b"1,2,3\n", b"\n", b"   \r\n", b"1,2\n" + b"\n" * 50]))
    count = draw(st.integers(1, 4 * LIMIT // len(line)))
    return gzip.compress(line * count, mtime=0)


@settings(max_examples=300)
@given(mutated_csv())
def test_csv_mutated_files(data):
    _outcome(lambda: read_csv(data, name="t.csv", max_bytes=LIMIT), "t.csv", len(data))


@settings(max_examples=100)
@given(inflated_csv())
def test_csv_inflated_files(data):
    _outcome(lambda: read_csv(data, name="t.csv", max_bytes=LIMIT), "t.csv", len(data))


# --- pickles -----------------------------------------------------------------------------------

class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (BINSTRING opcodes), as in the original mnist.pkl.gz."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        head = (pickle.SHORT_BINSTRING + bytes([len(obj)]) if len(obj) < 256 else
                pickle.BINSTRING + len(obj).to_bytes(4, "little"))
        self.write(head + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _dumps(obj: object, protocol: int | str) -> bytes:
    if protocol != "py2":
        return pickle.dumps(obj, protocol=protocol)
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


_PROTOCOLS = st.sampled_from(["py2", 0, 1, 2, 3, 4, 5])


@st.composite
def valid_mnist_pickle(draw) -> bytes:
    side = draw(st.integers(1, 3))
    splits = []
    for n in (draw(st.integers(1, 5)), draw(st.integers(0, 3)), draw(st.integers(0, 3))):
        x = np.arange(n * side * side, dtype=np.float32).reshape(n, side * side) / 9
        splits.append((x, (np.arange(n) % 10).astype(draw(st.sampled_from(["i8", "i4", "u1"])))))
    return _dumps(tuple(splits), draw(_PROTOCOLS))


@st.composite
def mutated_pickle(draw) -> bytes:
    return draw(_gzipped(draw(_mutated(draw(valid_mnist_pickle())))))


@settings(max_examples=300)
@given(mutated_pickle())
def test_pickle_mutated_files(data):
    _outcome(lambda: read_mnist_pickle(data, name="m.pkl", max_bytes=LIMIT), "m.pkl",
             len(data))


@settings(max_examples=200)
@given(st.binary(max_size=64).map(lambda b: b"\x80\x02" + b))
def test_pickle_random_opcodes(data):
    _outcome(lambda: load_array_pickle(data, name="m.pkl", max_bytes=LIMIT), "m.pkl",
             len(data))


@settings(max_examples=100)
@given(st.integers(1, 4 * LIMIT // 64), _PROTOCOLS, st.booleans())
def test_pickle_inflated_files(rows, protocol, mutate):
    # real data around the limit, in a small gzip file; or a mutated copy of it
    data = gzip.compress(_dumps(np.zeros((rows, 16), np.float32), protocol), mtime=0)
    if mutate:
        data = bytearray(data)
        data[len(data) // 2] ^= 0x10
        data = bytes(data)
    _outcome(lambda: load_array_pickle(data, name="m.pkl", max_bytes=LIMIT), "m.pkl",
             len(data))


# Values the interpreter must read exactly as pickle.loads: numbers, strings, containers
# (dict keys and set items flat), and NumPy arrays and scalars of every numeric dtype.
_FLAT = (st.none() | st.booleans() | st.integers(-2**70, 2**70)
         | st.floats(allow_nan=False) | st.text(max_size=8) | st.binary(max_size=8))
_DTYPES = st.sampled_from(["?", "i1", "u1", "<i2", ">i2", "<u4", ">i8", "<f2", ">f4", "<f8",
                           ">c8", "<c16"])


@st.composite
def _arrays(draw) -> np.ndarray:
    dtype = np.dtype(draw(_DTYPES))
    shape = tuple(draw(st.lists(st.integers(0, 3), max_size=3)))
    raw = draw(st.binary(min_size=int(np.prod(shape)) * dtype.itemsize,
                         max_size=int(np.prod(shape)) * dtype.itemsize))
    array = np.frombuffer(raw, dtype).reshape(shape).copy()
    return np.asfortranarray(array) if draw(st.booleans()) else array


_KEYS = (st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.text(max_size=8)
         | st.binary(max_size=8))  # what the interpreter takes as keys: nothing costly to hash
_VALUES = st.recursive(
    _FLAT | _arrays() | _arrays().map(lambda a: a.reshape(-1)[:1].sum()),
    lambda inner: (st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple)
                   | st.dictionaries(_KEYS, inner, max_size=3)
                   | st.frozensets(_KEYS, max_size=3) | st.sets(_KEYS, max_size=3)),
    max_leaves=10)


def _same(a: object, b: object) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return (a.dtype == b.dtype and a.shape == b.shape and a.tobytes("A") == b.tobytes("A")
                and a.flags.f_contiguous == b.flags.f_contiguous)
    if isinstance(a, np.generic):
        return a.dtype == b.dtype and a.tobytes() == b.tobytes()
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


@settings(max_examples=300)
@given(_VALUES, st.integers(0, 5))
def test_the_interpreter_reads_what_pickle_loads_reads(value, protocol):
    data = pickle.dumps(value, protocol=protocol)
    assert _same(load_array_pickle(data), pickle.loads(data))


# --- load_dataset on whole folders and files ------------------------------------------------

_FILES = [f"{p}-{k}-idx{r}-ubyte" for p in ("train", "t10k") for k, r in (("images", 3),
                                                                          ("labels", 1))]


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """One load of each kind before measuring: the first imports modules lazily (numpy.ma,
    ~2 MB), which the memory bound is not about."""
    with tempfile.TemporaryDirectory() as folder:
        for name in _FILES:
            prefix, kind = name.split("-")[:2]
            (Path(folder) / name).write_bytes(_mnist_pair(3, 2)[kind == "labels"])
        load_dataset(folder)
        (Path(folder) / "t.csv").write_bytes(b"1,2,0\n3,4,1\n5,6,0\n7,8,1\n9,9,1\n")
        load_dataset(Path(folder) / "t.csv")


@contextlib.contextmanager
def _limited() -> Iterator[None]:
    before = os.environ.get(LIMIT_VARIABLE)
    os.environ[LIMIT_VARIABLE] = str(LIMIT)
    try:
        yield
    finally:
        if before is None:
            del os.environ[LIMIT_VARIABLE]
        else:
            os.environ[LIMIT_VARIABLE] = before


@settings(max_examples=150)
@given(st.data())
def test_load_dataset_on_mutated_idx_folders(data):
    side = data.draw(st.integers(1, 3))
    counts = {"train": data.draw(st.integers(1, 8)), "t10k": data.draw(st.integers(1, 4))}
    victim = data.draw(st.sampled_from(_FILES))
    with tempfile.TemporaryDirectory() as folder, _limited():
        total = 0
        for name in _FILES:
            prefix, kind = name.split("-")[:2]
            blob = _mnist_pair(counts[prefix], side)[kind == "labels"]
            if name == victim:
                blob = data.draw(_mutated(blob, _idx_fields(blob[3])))
            gz = data.draw(_gzipped(blob))
            total += len(gz)
            (Path(folder) / (name + (".gz" if gz[:2] == b"\x1f\x8b" else ""))).write_bytes(gz)
        files = {str(p) for p in Path(folder).iterdir()}
        _outcome(lambda: load_dataset(folder, seed=1), None, total,
                 places=lambda e: e.path in files)


@settings(max_examples=150)
@given(mutated_csv())
def test_load_dataset_on_mutated_csv_files(blob):
    with tempfile.TemporaryDirectory() as folder, _limited():
        path = Path(folder) / "t.csv.gz"
        path.write_bytes(blob)
        _outcome(lambda: load_dataset(path, seed=1), str(path), len(blob))


@settings(max_examples=150)
@given(mutated_pickle())
def test_load_dataset_on_mutated_pickles(blob):
    with tempfile.TemporaryDirectory() as folder, _limited():
        path = Path(folder) / "m.pkl.gz"
        path.write_bytes(blob)
        _outcome(lambda: load_dataset(path, seed=1), str(path), len(blob))
