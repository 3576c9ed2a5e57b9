"""The IDX format of MNIST and Fashion-MNIST: read with every size checked before allocation.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values, big-endian, row-major. Reading checks the
magic, then the size the header declares against the limit (`max_dataset_bytes`), then against
the size of the file (plain files) or what the gzip stream actually yields (read in bounded
chunks), so a header that claims 10^9 images in a 100-byte file is refused without allocating
anything, and a small gzip file that would inflate past the limit is refused before it is
decompressed. The data is held once: decompressed into one buffer, byte-swapped in place.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nodestudio.data.errors import DatasetError
from nodestudio.data.sources import (
    ByteStream,
    Source,
    max_dataset_bytes,
    open_stream,
    over_limit,
    source_name,
)

# type code -> big-endian NumPy dtype, as in the format description on the MNIST page.
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
_KIND_TO_CODE = {("u", 1): 0x08, ("i", 1): 0x09, ("i", 2): 0x0B, ("i", 4): 0x0C,
                 ("f", 4): 0x0D, ("f", 8): 0x0E}

IMAGES_MAGIC = 0x00000803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x00000801  # unsigned bytes, 1 dimension (count)


@dataclass(frozen=True)
class IdxHeader:
    magic: int
    dtype: np.dtype
    shape: tuple[int, ...]

    @property
    def header_bytes(self) -> int:
        return 4 + 4 * len(self.shape)

    @property
    def data_bytes(self) -> int:
        return math.prod(self.shape) * self.dtype.itemsize


def read_idx(source: Source, *, name: str | None = None, expect_magic: int | None = None,
             max_bytes: int | None = None) -> np.ndarray:
    """The array stored in an IDX file (plain or gzipped path, or the file's bytes).

    `expect_magic` pins the type and rank (IMAGES_MAGIC, LABELS_MAGIC); `max_bytes` caps the
    data a header may declare (default: `max_dataset_bytes()`). Any defect raises DatasetError
    naming the file, the problem and the byte offset (offsets count decompressed bytes for
    gzip files).
    """
    limit = max_dataset_bytes(max_bytes)
    with open_stream(source, name) as stream:
        header = _read_header(stream, expect_magic)
        total = header.header_bytes + header.data_bytes
        declared = (f"the header declares shape {header.shape} of {header.dtype.name}, "
                    f"{header.data_bytes} bytes of data, {total} bytes in all")
        if header.data_bytes > limit:
            raise DatasetError(f"{declared}: " + over_limit("the data", header.data_bytes, limit),
                               stream.name, offset=4)
        # Plain files: compare with the file size before reading a single data byte.
        if stream.size is not None and stream.size != total:
            if stream.size < total:
                raise DatasetError(f"truncated at byte {stream.size}: {declared}",
                                   stream.name, offset=stream.size)
            raise DatasetError(f"{stream.size - total} unexpected bytes after the end of the "
                               f"data at byte {total}: {declared}", stream.name, offset=total)
        # Gzip: the buffer grows with what the stream really holds, up to the declared size.
        data = stream.read_buffer(header.data_bytes)
        if len(data) < header.data_bytes:
            raise DatasetError(f"truncated at byte {stream.pos}: {declared}",
                               stream.name, offset=stream.pos)
        if stream.read(1):
            raise DatasetError(f"unexpected bytes after the end of the data at byte {total}: "
                               f"{declared}", stream.name, offset=total)
    array = np.frombuffer(data, dtype=header.dtype).reshape(header.shape)  # writable, no copy
    native = header.dtype.newbyteorder("=")
    if native != header.dtype:
        array.byteswap(inplace=True)
        array = array.view(native)
    return array


def read_idx_header(source: Source, *, name: str | None = None,
                    expect_magic: int | None = None) -> IdxHeader:
    """Only the header: cheap, so counts can be compared before any data is read."""
    with open_stream(source, name) as stream:
        return _read_header(stream, expect_magic)


def _read_header(stream: ByteStream, expect_magic: int | None) -> IdxHeader:
    head = stream.read(4)
    if len(head) < 4:
        raise DatasetError(f"the file is {len(head)} bytes long, too short for an IDX "
                           "header (4-byte magic number)", stream.name, offset=len(head))
    magic = struct.unpack(">I", head)[0]
    code, ndim = head[2], head[3]
    if head[:2] != b"\0\0" or code not in _CODE_TO_DTYPE or ndim == 0:
        raise DatasetError(
            f"bad magic number 0x{magic:08x} at byte 0: not an IDX file (expected two zero "
            "bytes, a type code in {08,09,0B,0C,0D,0E} and a non-zero dimension count)",
            stream.name, offset=0)
    if expect_magic is not None and magic != expect_magic:
        raise DatasetError(f"bad magic number 0x{magic:08x} at byte 0, expected "
                           f"0x{expect_magic:08x} ({_describe_magic(expect_magic)})",
                           stream.name, offset=0)
    dims_raw = stream.read(4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DatasetError(f"truncated at byte {stream.pos}: the header needs {4 + 4 * ndim} "
                           f"bytes for {ndim} dimension sizes", stream.name, offset=stream.pos)
    return IdxHeader(magic, _CODE_TO_DTYPE[code], struct.unpack(f">{ndim}I", dims_raw))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write `array` as IDX; gzipped when `compress` is true (default: path ends in .gz)."""
    path = Path(path)
    array = np.asarray(array)
    code = _KIND_TO_CODE.get((array.dtype.kind, array.dtype.itemsize))
    if code is None or array.ndim == 0:
        raise ValueError(f"IDX cannot store a {array.ndim}-d array of {array.dtype}")
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=_CODE_TO_DTYPE[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    path.write_bytes(payload)
    return path


def idx_magic(dtype: np.dtype | str, ndim: int) -> int:
    """The magic number of an IDX file holding `ndim`-d values of `dtype`."""
    dtype = np.dtype(dtype)
    return (_KIND_TO_CODE[(dtype.kind, dtype.itemsize)] << 8) | ndim


def _describe_magic(magic: int) -> str:
    dtype = _CODE_TO_DTYPE.get((magic >> 8) & 0xFF)
    kind = dtype.name if dtype is not None else "unknown type"
    return f"IDX {kind}, {magic & 0xFF} dimensions"


def read_mnist_pair(images: Source, labels: Source, *, n_classes: int = 10,
                    max_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Images (N, rows, cols) uint8 and labels (N,) uint8 of one MNIST-format split, checked:
    the magic numbers, at least one image of at least one pixel, equal counts, every label
    within 0..n_classes-1, and the float32 features the images become within the limit."""
    limit = max_dataset_bytes(max_bytes)
    images_name, labels_name = source_name(images), source_name(labels)
    # Headers first: a count mismatch is reported before the image data is read.
    n_images, rows, cols = read_idx_header(images, expect_magic=IMAGES_MAGIC).shape
    if n_images == 0:
        raise DatasetError("the header declares 0 images at byte 4; a dataset needs at least "
                           "one example", images_name, offset=4)
    if rows * cols == 0:
        raise DatasetError(f"the header declares images of {rows} x {cols} pixels at byte 8; "
                           "an image needs at least one pixel", images_name, offset=8)
    features = n_images * rows * cols * 4
    if features > limit:
        raise DatasetError(f"the header declares {n_images} images of {rows} x {cols} pixels at "
                           "byte 4: " + over_limit("holding them as float32 features", features,
                                                   limit), images_name, offset=4)
    n_labels = read_idx_header(labels, expect_magic=LABELS_MAGIC).shape[0]
    if n_images != n_labels:
        raise DatasetError(f"count mismatch: {images_name} declares {n_images} images but this "
                           f"file declares {n_labels} labels at byte 4", labels_name, offset=4)
    y = read_idx(labels, expect_magic=LABELS_MAGIC, max_bytes=limit)
    bad = np.flatnonzero(y >= n_classes)
    if bad.size:
        i = int(bad[0])
        raise DatasetError(f"label {int(y[i])} at index {i} (byte {8 + i}) is outside "
                           f"0..{n_classes - 1} ({bad.size} labels out of range)", labels_name,
                           offset=8 + i)
    x = read_idx(images, expect_magic=IMAGES_MAGIC, max_bytes=limit)
    return x, y
