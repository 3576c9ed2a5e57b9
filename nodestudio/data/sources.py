"""Reading bytes from a file that may be gzipped, with a hard limit on what is held in memory.

`gzip.GzipFile.read(n)` allocates n bytes up front and trusts the stream, so a forged header
(or a gzip bomb) could make us allocate gigabytes before any check runs. Everything here
decompresses in bounded chunks with `zlib.decompressobj(max_length=...)` into one growing
buffer, so memory follows the data actually present, never a size some header claims, and the
data is held once (no list of chunks joined at the end).

The limit on what one dataset file may cost is `max_dataset_bytes()`: the environment variable
NODESTUDIO_MAX_DATASET_BYTES, else DEFAULT_MAX_BYTES. Readers check every size they can know
in advance (a header's declared size, a row count times a width) against it before they
allocate, and stop decompressing as soon as the data passes it.
"""

from __future__ import annotations

import io
import os
import re
import zlib
from pathlib import Path
from typing import BinaryIO

from nodestudio.data.errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16  # compressed bytes read at a time
_BURST = 1 << 20  # decompressed bytes produced at a time: bounds zlib's own output buffer
# Default cap on what one dataset file may cost: its decompressed bytes, and the arrays made
# from it (the float32 features of a dataset). Full MNIST (188 MB of float32 training images,
# 220 MB for mnist.pkl.gz) fits with room to spare; a 150 KB gzip bomb (that would become
# 600 MB of float32) does not.
DEFAULT_MAX_BYTES = 512 << 20
LIMIT_VARIABLE = "NODESTUDIO_MAX_DATASET_BYTES"
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}

Source = str | os.PathLike | bytes


def max_dataset_bytes(max_bytes: int | None = None) -> int:
    """The limit in force: `max_bytes` when given, else $NODESTUDIO_MAX_DATASET_BYTES (a whole
    number of bytes, or with a K, M, G or T suffix in powers of 1024: "2G"), else
    DEFAULT_MAX_BYTES."""
    if max_bytes is not None:
        return int(max_bytes)
    text = os.environ.get(LIMIT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_BYTES
    match = re.fullmatch(r"(\d+)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if match is None or int(match[1]) == 0:
        raise DatasetError(f"{LIMIT_VARIABLE}={text!r} is not a size in bytes (write it like "
                           "2147483648 or 2G)")
    return int(match[1]) * _UNITS[match[2].upper()]


def over_limit(what: str, size: int | None, limit: int) -> str:
    """The message for `what` (needing `size` bytes, None: an unknown amount) beyond the
    limit, saying how to raise it."""
    needs = f"needs {size} bytes," if size is not None else "needs"
    return (f"{what} {needs} more than the limit of {limit} bytes ({_human(limit)}); set "
            f"{LIMIT_VARIABLE} to raise it")


def _human(n: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if n >= _UNITS[unit] and n % _UNITS[unit] == 0:
            return f"{n // _UNITS[unit]} {unit}iB"
    return f"{n} bytes"


def source_name(source: Source, name: str | None = None) -> str:
    if name is not None:
        return name
    return "<bytes>" if isinstance(source, bytes | bytearray) else str(source)


class ByteStream:
    """A forward-only reader over a plain or gzipped file (or an in-memory buffer).

    `read(n)` returns fewer than n bytes only at the end of the data. `pos` counts the bytes
    handed out so far (decompressed bytes for gzip), the offset quoted in error messages.
    `size` is the total length when it is known without reading (plain files), else None.
    """

    def __init__(self, raw: BinaryIO, name: str, size: int | None, gzipped: bool):
        self.name = name
        self.gzipped = gzipped
        self.size = None if gzipped else size
        self.pos = 0
        self._raw = raw
        self._z = zlib.decompressobj(wbits=31) if gzipped else None
        self._tail = b""  # compressed input the decompressor has not consumed yet

    def __enter__(self) -> ByteStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()

    def read(self, n: int) -> bytes:
        """Up to n bytes; for small reads (headers). Large ones go through `read_buffer`."""
        return bytes(self.read_buffer(n))

    def read_buffer(self, n: int) -> bytearray:
        """Up to n bytes in a writable buffer that grows with the data really present (a
        plain file's size is known, so its buffer is allocated once at its true size)."""
        if n <= 0:
            return bytearray()
        if self._z is None:
            # the file's real size bounds the allocation, whatever n a header claims
            have = n if self.size is None else max(0, min(n, self.size - self.pos))
            buffer = bytearray(have)
            got = self._raw.readinto(buffer)
            del buffer[got:]
        else:
            buffer = bytearray()
            self._read_gzip(buffer, n)
        self.pos += len(buffer)
        return buffer

    def _read_gzip(self, out: bytearray, n: int) -> None:
        while len(out) < n:
            z = self._z
            assert z is not None
            if z.eof:
                # A member ended; gzip allows another to follow (concatenated .gz files).
                rest = z.unused_data + self._tail or self._raw.read(_CHUNK)
                if not rest:
                    return
                self._z = z = zlib.decompressobj(wbits=31)
                data = rest
            elif self._tail:
                data = self._tail
            else:
                # An empty read still goes to the decompressor once: with max_length it may
                # hold back output (a long match) after consuming all input.
                data = self._raw.read(_CHUNK)
            at = self.pos + len(out)
            try:
                chunk = z.decompress(data, min(n - len(out), _BURST))
            except zlib.error as exc:
                raise DatasetError(f"corrupt gzip data after {at} decompressed bytes ({exc})",
                                   self.name, offset=at) from None
            self._tail = z.unconsumed_tail
            if not data and not chunk and not z.eof:
                raise DatasetError(f"the gzip stream ends early, after {at} decompressed "
                                   "bytes (the file is truncated)", self.name, offset=at)
            out += chunk


def open_stream(source: Source, name: str | None = None) -> ByteStream:
    """Open a path or a bytes buffer; gzip is recognised by its magic bytes, not the suffix."""
    label = source_name(source, name)
    if isinstance(source, bytes | bytearray):
        raw: BinaryIO = io.BytesIO(source)
        size = len(source)
    else:
        path = Path(source)
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by ByteStream.__exit__
            size = os.fstat(raw.fileno()).st_size
        except FileNotFoundError:
            raise DatasetError("no such file", label) from None
        except IsADirectoryError:
            raise DatasetError("a folder, not a file", label) from None
        except OSError as exc:
            raise DatasetError(f"cannot open the file ({exc.strerror or exc})", label) from None
    head = raw.read(2)
    raw.seek(0)
    return ByteStream(raw, label, size, gzipped=head == GZIP_MAGIC)


def read_all(source: Source, *, name: str | None = None,
             max_bytes: int | None = None) -> bytearray:
    """All (decompressed) bytes of a file, refusing more than the limit (`max_dataset_bytes`)
    before holding more than the limit plus one chunk."""
    limit = max_dataset_bytes(max_bytes)
    with open_stream(source, name) as stream:
        if stream.size is not None and stream.size > limit:
            raise DatasetError(over_limit("the file", stream.size, limit), stream.name,
                               offset=limit)
        data = stream.read_buffer(limit + 1)
        if len(data) > limit:
            raise DatasetError(over_limit("the decompressed data", None, limit), stream.name,
                               offset=limit)
        return data
