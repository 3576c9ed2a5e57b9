"""`mnist.pkl.gz` through the restricted unpickler; a malicious pickle runs nothing."""

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
    Python 3's protocol 2 would instead call _codecs.encode, which the loader refuses."""

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


@pytest.mark.parametrize("protocol", ["py2", 3, 4])
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


def test_protocol5_array_pickles_are_refused():
    # NumPy >= 1.16 writes protocol-5 arrays through numpy._core.numeric._frombuffer, which
    # is not on the allow-list: such files must be re-saved with protocol <= 4.
    with pytest.raises(DatasetError, match="refused to unpickle"):
        load_array_pickle(pickle.dumps(np.zeros(3), protocol=5))


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
    with pytest.raises(DatasetError, match="not a readable pickle"):
        read_mnist_pickle(path)
