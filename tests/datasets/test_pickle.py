"""`mnist.pkl.gz` through the pickle interpreter: every protocol's arrays read back as
`pickle.loads` would read them; a malicious pickle runs nothing, and each refusal names the
byte offset of its opcode."""

from __future__ import annotations

import gzip
import io
import os
import pickle

import numpy as np
import pytest

from nodestudio.data import DatasetError, load_array_pickle, load_dataset, read_mnist_pickle


def _triple(rng):
    def pair(n):
        return rng.random((n, 16), dtype=np.float32), (np.arange(n) % 10).astype(np.int64)
    return pair(50), pair(10), pair(10)


class _Python2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 `str` (BINSTRING opcodes), as in the original mnist.pkl.gz.
    Python 3's protocol 2 instead calls _codecs.encode(text, "latin1")."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + len(obj).to_bytes(4, "little") + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def _dumps(obj, protocol):
    if protocol != "py2":
        return pickle.dumps(obj, protocol=protocol)
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(obj)
    return buffer.getvalue()


@pytest.mark.parametrize("protocol", ["py2", 0, 1, 2, 3, 4, 5])
def test_mnist_pickle_round_trip(tmp_path, protocol):
    triple = _triple(np.random.default_rng(0))
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(_dumps(triple, protocol)))
    splits = read_mnist_pickle(path)
    for got, (x, y) in zip(splits, triple):
        np.testing.assert_array_equal(got.x, x)
        np.testing.assert_array_equal(got.y, y)
        assert got.image_shape == (4, 4) and got.n_classes == 10
    loaded = load_dataset(path, preprocess=None)  # its own 50/10/10 split is kept
    assert [len(d) for d in loaded] == [50, 10, 10]


class _Exploit:
    """Unpickling this would run a shell command that creates a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickle_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "mnist.pkl.gz"
    path.write_bytes(gzip.compress(pickle.dumps(((_Exploit(marker),), (), ()), protocol=2)))
    with pytest.raises(DatasetError, match=r"refused to unpickle (posix|os|nt)\.system"):
        read_mnist_pickle(path)
    assert not marker.exists()
    # The same payload through load_dataset, and with the os.system call unwrapped.
    with pytest.raises(DatasetError):
        load_dataset(path)
    with pytest.raises(DatasetError):
        load_array_pickle(pickle.dumps(_Exploit(marker)))
    assert not marker.exists()


@pytest.mark.parametrize("payload", [
    pickle.dumps(print),                                   # a builtin function
    pickle.dumps(np.random.default_rng),                   # a numpy function not on the list
    b"\x80\x02cnumpy\nndarray\nK\x05\x85R.",               # ndarray((5,)): calling the class
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
    b"J\x00\xe1\xf5\x05\x85C\x01b\x87R.",                  # a 10^8-element placeholder
])
def test_other_callables_refused(payload):
    with pytest.raises(DatasetError):
        load_array_pickle(payload)


def test_protocol5_arrays_are_read():
    # NumPy writes protocol-5 arrays through numpy._core.numeric._frombuffer(buffer, dtype,
    # shape, order): allowed, with the buffer's size checked against the shape
    array = np.arange(12, dtype=">i4").reshape(3, 4).T
    back = load_array_pickle(pickle.dumps(array, protocol=5))
    assert back.dtype == array.dtype and back.flags.f_contiguous
    np.testing.assert_array_equal(back, array)


def test_bytes_written_by_python3_in_protocols_0_to_2():
    # Python 3 writes bytes as _codecs.encode(text, "latin1") (bytes() when empty) there
    for protocol in (0, 1, 2):
        obj = (b"\x00\xff raw", b"", np.zeros(0, np.float32), bytearray(b"ab"), {1, 2})
        back = load_array_pickle(pickle.dumps(obj, protocol=protocol))
        assert back[:2] == obj[:2] and back[3:] == obj[3:] and back[2].shape == (0,)
    with pytest.raises(DatasetError, match="only as bytes written by Python 3"):
        load_array_pickle(b"c_codecs\nencode\n(Vx\nVutf-8\ntR.")


# The opcodes spelled out: GLOBAL module\nname\n, MARK (, EMPTY_DICT }, SHORT_BINUNICODE
# \x8c + length, SETITEM s, TUPLE t, TUPLE3 \x87, REDUCE R, BUILD b, STOP .
_RECONSTRUCT = b"cnumpy.core.multiarray\n_reconstruct\n"
_PLACEHOLDER = _RECONSTRUCT + b"cnumpy\nndarray\n(K\x00tC\x01b\x87R"
_F4 = b"cnumpy\ndtype\n\x8c\x02f4\x89\x88\x87R"


def _state_dict(key: bytes, value: bytes = b"\x88") -> bytes:
    return b"}\x8c" + bytes([len(key)]) + key + value + b"s"


@pytest.mark.parametrize("payload", [
    # BUILD on an allowed function: pickle.Unpickler would set _reconstruct.__dict__["pwned"]
    b"\x80\x02" + _RECONSTRUCT + _state_dict(b"pwned") + b"b.",
    # on the dtype class and the ndarray token (their attributes)
    b"\x80\x02cnumpy\ndtype\n" + _state_dict(b"__doc__") + b"b.",
    b"\x80\x02cnumpy\nndarray\n" + _state_dict(b"x") + b"b.",
    # on plain containers
    b"\x80\x02]" + _state_dict(b"x") + b"b.",
    # an array built twice (the first BUILD is NumPy's own and passes)
    b"\x80\x02" + _PLACEHOLDER + b"(K\x01K\x00\x85" + _F4 + b"\x89C\x00tb"
    + b"(K\x01K\x00\x85" + _F4 + b"\x89C\x00tb.",
])
def test_build_is_refused_except_on_what_numpy_needs(payload):
    with pytest.raises(DatasetError, match="refused BUILD") as info:
        load_array_pickle(payload)
    assert info.value.offset == len(payload) - 2  # the BUILD opcode before STOP
    assert str(info.value).startswith(f"<bytes>: byte {info.value.offset}: refused BUILD")


@pytest.mark.parametrize(("state", "message"), [
    (b"(K\x01K\x03\x85" + _F4 + b"\x89C\x08" + bytes(8) + b"t", "needs 12 bytes of data, the "
     "pickle gives 8"),  # a shape the bytes do not fill
    (b"(K\x02K\x00\x85" + _F4 + b"\x89C\x00t", r"not \(1, shape, dtype"),  # unknown version
    (b"(K\x01K\x00\x85cnumpy\ndtype\n\x89C\x00t", "where a dtype made by this pickle"),
    (b"(K\x01K\x00\x85" + _F4 + b"\x89]t", "array data given as a list"),
])
def test_array_state_must_be_what_numpy_writes(state, message):
    with pytest.raises(DatasetError, match=message) as info:
        load_array_pickle(b"\x80\x02" + _PLACEHOLDER + state + b"b.")
    assert info.value.offset is not None


@pytest.mark.parametrize("typestr", [b"O", b"U3", b"V8", b"M8"])
def test_only_numeric_dtypes(typestr):
    payload = b"\x80\x02cnumpy\ndtype\n\x8c" + bytes([len(typestr)]) + typestr + b"\x89\x88\x87R."
    with pytest.raises(DatasetError, match="only numeric dtypes") as info:
        load_array_pickle(payload)
    assert payload[info.value.offset:info.value.offset + 1] == b"R"


def test_objects_beyond_the_budget_are_refused():
    # 1 byte per empty list, each costing over 64 bytes: 10,000 of them pass 64 KiB
    payload = b"\x80\x02(" + b"]" * 10_000 + b"l."
    with pytest.raises(DatasetError, match="NODESTUDIO_MAX_DATASET_BYTES") as info:
        load_array_pickle(payload, max_bytes=64 << 10)
    assert 100 < info.value.offset < 2000  # refused long before the end
    assert len(load_array_pickle(payload, max_bytes=4 << 20)) == 10_000


@pytest.mark.parametrize("obj", [
    (1, 2, 3),
    ((np.zeros((2, 4)), np.zeros(3, np.int64)), (), ()),
    ((np.zeros((2, 4)), np.array([0, 11])),) * 3,
    ((np.zeros((2, 4)), np.array(["a", "b"])),) * 3,
])
def test_wrong_structure(tmp_path, obj):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(obj, protocol=4))
    with pytest.raises(DatasetError) as info:
        read_mnist_pickle(path)
    assert str(info.value).startswith(str(path))


def test_corrupt_pickle(tmp_path):
    path = tmp_path / "x.pkl"
    path.write_bytes(pickle.dumps(_triple(np.random.default_rng(1)), protocol=4)[:-40])
    with pytest.raises(DatasetError, match=r"byte \d+: not a readable pickle") as info:
        read_mnist_pickle(path)
    assert info.value.offset > 0
