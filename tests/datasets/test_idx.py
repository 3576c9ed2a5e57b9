"""IDX reading and writing: round trips, MNIST-format folders, and every corruption case."""

from __future__ import annotations

import gzip
import struct
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

from nodestudio.data import (
    DatasetError,
    load_dataset,
    load_idx_folder,
    read_idx,
    read_idx_header,
    read_mnist_pair,
    write_idx,
)
from nodestudio.data.idx import IMAGES_MAGIC, LABELS_MAGIC, idx_magic

from .helpers import make_mnist_folder

FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["u1", "i1", "i2", "i4", "f4", "f8"])
def test_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype).newbyteorder("=") and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable
    np.testing.assert_array_equal(read_idx(path.read_bytes()), array)  # bytes in, same out
    header = read_idx_header(path)
    assert header.shape == (3, 4, 5) and header.magic == idx_magic(dtype, 3)


def test_round_trip_is_big_endian_on_disk(tmp_path):
    path = write_idx(tmp_path / "v.idx", np.array([1, 256], dtype=np.int32))
    assert path.read_bytes() == bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + struct.pack(">ii", 1, 256)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_folder(tmp_path, gz):
    x_tr, y_tr, x_te, y_te = make_mnist_folder(tmp_path / "m", gz=gz)
    train, test = load_idx_folder(tmp_path / "m")
    np.testing.assert_array_equal(train.x, x_tr.reshape(60, -1))
    np.testing.assert_array_equal(test.y, y_te)
    assert train.image_shape == (6, 6) and train.n_classes == 10
    splits = load_dataset(tmp_path / "m", valid_fraction=0.25, preprocess=None, seed=1)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (45, 15, 20)
    np.testing.assert_array_equal(splits.test.x, x_te.reshape(20, -1))  # t10k-* is the test set
    rows = sorted(r.tobytes() for r in np.r_[splits.train.x, splits.valid.x])
    assert rows == sorted(r.tobytes() for r in x_tr.reshape(60, -1).astype(np.float32))


def test_folder_with_missing_files(tmp_path):
    make_mnist_folder(tmp_path / "m")
    (tmp_path / "m" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"missing t10k-labels-idx1-ubyte\[\.gz\]"):
        load_idx_folder(tmp_path / "m")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist not installed")
def test_fashion_mnist_found_by_name():
    splits = load_dataset("fashion-mnist", valid_fraction=0.1)
    assert (len(splits.train), len(splits.valid), len(splits.test)) == (54000, 6000, 10000)
    assert splits.train.image_shape == (28, 28)
    assert splits.train.class_names[9] == "Ankle boot"
    assert splits.train.x.max() == 1.0


def test_mnist_absent_offline_says_how(tmp_path):
    with pytest.raises(DatasetError, match="download=True"):
        load_dataset("mnist", cache_dir=tmp_path)


# --- corruption: each case names the file, the problem, and the byte offset -----------------

def _images(n=4, side=3):
    return np.arange(n * side * side, dtype=np.uint8).reshape(n, side, side)


def test_bad_magic(tmp_path):
    path = tmp_path / "bad.idx"
    path.write_bytes(b"\x12\x34\x08\x03" + bytes(20))
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    assert str(info.value).startswith(f"{path}: bad magic number 0x12340803 at byte 0")
    assert info.value.offset == 0


def test_wrong_kind_of_idx(tmp_path):
    labels = write_idx(tmp_path / "labels.idx", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError, match="0x00000801 at byte 0, expected 0x00000803"):
        read_idx(labels, expect_magic=IMAGES_MAGIC)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated(tmp_path, gz):
    full = struct.pack(">BBBBIII", 0, 0, 8, 3, 4, 3, 3) + _images().tobytes()
    cut = full[:30]  # header (16 bytes) + 14 of 36 data bytes
    path = tmp_path / ("cut.idx.gz" if gz else "cut.idx")
    path.write_bytes(gzip.compress(cut) if gz else cut)
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    message = str(info.value)
    assert message.startswith(f"{path}: truncated at byte 30: the header declares")
    assert "shape (4, 3, 3)" in message and "52 bytes in all" in message
    assert info.value.offset == 30


def test_truncated_gzip_stream(tmp_path):
    path = tmp_path / "cut.idx.gz"
    blob = gzip.compress(struct.pack(">BBBBIII", 0, 0, 8, 3, 100, 28, 28)
                         + np.random.default_rng(0).integers(0, 255, 78400, np.uint8).tobytes())
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DatasetError, match="gzip stream ends early.*truncated"):
        read_idx(path)


def test_corrupt_gzip(tmp_path):
    blob = bytearray(gzip.compress(bytes(4) * 1000))
    blob[20:30] = b"\xff" * 10
    path = tmp_path / "x.gz"
    path.write_bytes(bytes(blob))
    with pytest.raises(DatasetError, match=f"{path}: corrupt gzip data"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = write_idx(tmp_path / "t.idx", _images())
    path.write_bytes(path.read_bytes() + b"junk")
    with pytest.raises(DatasetError, match="4 unexpected bytes after the end of the data at "
                                           "byte 52"):
        read_idx(path)


def test_header_too_short(tmp_path):
    path = tmp_path / "h.idx"
    path.write_bytes(b"\0\0\x08\x03\0\0\0\x04")
    with pytest.raises(DatasetError, match="truncated at byte 8: the header needs 16 bytes"):
        read_idx(path)
    path.write_bytes(b"\0\0")
    with pytest.raises(DatasetError, match="2 bytes long, too short"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("count", [10**9, 10**5])  # over and under the default limit
def test_huge_header_refused_before_allocation(tmp_path, gz, count):
    head = struct.pack(">BBBBIII", 0, 0, 8, 3, count, 28, 28)
    data = head + bytes(100 - len(head))
    path = tmp_path / "huge.idx"
    path.write_bytes(gzip.compress(data) if gz else data)
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError, match=f"{count * 784} bytes of data") as info:
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # nothing near the declared size was allocated
    if count == 10**5:
        assert "truncated at byte 100" in str(info.value)
    else:
        assert "NODESTUDIO_MAX_DATASET_BYTES" in str(info.value) and info.value.offset == 4


def test_count_mismatch(tmp_path):
    images = write_idx(tmp_path / "train-images-idx3-ubyte", _images(5))
    labels = write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(4, np.uint8))
    with pytest.raises(DatasetError) as info:
        read_mnist_pair(images, labels)
    assert "count mismatch" in str(info.value) and "5 images" in str(info.value)
    assert "4 labels" in str(info.value) and info.value.path == str(labels)


def test_label_out_of_range(tmp_path):
    images = write_idx(tmp_path / "i", _images(4))
    labels = write_idx(tmp_path / "l", np.array([1, 2, 12, 3], np.uint8))
    with pytest.raises(DatasetError) as info:
        read_mnist_pair(images, labels)
    assert "label 12 at index 2 (byte 10) is outside 0..9" in str(info.value)
    assert info.value.offset == 10  # 8-byte header + index 2


def test_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no such file"):
        read_idx(tmp_path / "nope")


def test_labels_magic_constant():
    assert LABELS_MAGIC == idx_magic("u1", 1) and IMAGES_MAGIC == idx_magic("u1", 3)


# --- empty datasets, and the limit on what one file may cost -------------------------------

@pytest.mark.parametrize(("shape", "message", "offset"), [
    ((0, 6, 6), "declares 0 images at byte 4", 4),
    ((20, 0, 0), "declares images of 0 x 0 pixels at byte 8", 8),
    ((20, 6, 0), "declares images of 6 x 0 pixels at byte 8", 8),
])
def test_empty_images_are_refused_naming_the_header_field(tmp_path, shape, message, offset):
    # these used to escape as NumPy's ValueError from a reshape or an empty reduction
    folder = tmp_path / "empty"
    make_mnist_folder(folder, gz=False)
    write_idx(folder / "train-images-idx3-ubyte", np.zeros(shape, np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(shape[0], np.uint8))
    with pytest.raises(DatasetError, match=message) as info:
        load_dataset(folder)
    assert info.value.path == str(folder / "train-images-idx3-ubyte")
    assert info.value.offset == offset


def _gzip_of_zeros(head: bytes, n: int) -> bytes:
    """gzip(head + n zero bytes), compressed a chunk at a time (never n bytes at once)."""
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts = [z.compress(head)]
    chunk = bytes(1 << 20)
    for start in range(0, n, len(chunk)):
        parts.append(z.compress(chunk[:min(len(chunk), n - start)]))
    parts.append(z.flush())
    return b"".join(parts)


def test_a_small_gzip_bomb_is_refused_from_its_header(tmp_path):
    # 200,000 images of 28 x 28 zeros: 157 MB of data in a 152 KB file, 627 MB as float32
    make_mnist_folder(tmp_path / "bomb")
    images = tmp_path / "bomb" / "train-images-idx3-ubyte.gz"
    images.write_bytes(_gzip_of_zeros(struct.pack(">BBBBIII", 0, 0, 8, 3, 200_000, 28, 28),
                                      200_000 * 784))
    assert images.stat().st_size < 200_000
    tracemalloc.start()
    try:
        with pytest.raises(DatasetError) as info:
            load_dataset(tmp_path / "bomb")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2 << 20  # refused before anything was decompressed
    assert info.value.path == str(images) and info.value.offset == 4
    assert "holding them as float32 features needs 627200000 bytes" in str(info.value)
    assert "NODESTUDIO_MAX_DATASET_BYTES" in str(info.value)


def test_the_limit_is_read_from_the_environment(tmp_path, monkeypatch):
    path = write_idx(tmp_path / "a.idx.gz", np.zeros((10, 100), np.float32))  # 4000 bytes
    monkeypatch.setenv("NODESTUDIO_MAX_DATASET_BYTES", "3999")
    with pytest.raises(DatasetError, match=r"needs 4000 bytes, more than the limit of 3999 "
                                           r"bytes \(3999 bytes\); set NODESTUDIO_MAX_DATA"):
        read_idx(path)
    for value in ("4000", "4K", "4 KiB", "1m", "1G"):
        monkeypatch.setenv("NODESTUDIO_MAX_DATASET_BYTES", value)
        assert read_idx(path).shape == (10, 100)
    monkeypatch.setenv("NODESTUDIO_MAX_DATASET_BYTES", "lots")
    with pytest.raises(DatasetError, match="NODESTUDIO_MAX_DATASET_BYTES='lots' is not a size"):
        read_idx(path)
    assert read_idx(path, max_bytes=4000).shape == (10, 100)  # an explicit limit wins


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", ["u1", ">i4"])
def test_data_is_held_once(tmp_path, gz, dtype):
    # decompressed into one growing buffer and byte-swapped in place: no list of chunks
    # joined at the end, no converted copy (each of which doubled the peak)
    array = np.arange(4 << 20, dtype=np.uint32).astype(dtype)
    path = write_idx(tmp_path / ("a.idx.gz" if gz else "a.idx"), array)
    tracemalloc.start()
    try:
        back = read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(back, array)
    assert peak < array.nbytes * 1.15 + (2 << 20), (peak, array.nbytes)
