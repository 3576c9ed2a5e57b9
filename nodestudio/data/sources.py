"""Reading bytes from a file that may be gzipped, with a hard limit on what is held in memory.

`gzip.GzipFile.read(n)` allocates n bytes up front and trusts the stream, so a forged header
(or a gzip bomb) could make us allocate gigabytes before any check runs. Everything here
decompresses in bounded chunks with `zlib.decompressobj(max_length=...)`, so memory follows the
data actually present, never a size some header claims.
"""

from __future__ import annotations

import io
import os
import zlib
from pathlib import Path
from typing import BinaryIO

from nodestudio.data.errors import DatasetError

GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 16
# Default cap on decompressed bytes held at once: ample for MNIST-sized data (47 MB),
# small enough that a forged header fails with a message rather than a MemoryError.
DEFAULT_MAX_BYTES = 1 << 31

Source = str | os.PathLike | bytes


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
        if n <= 0:
            return b""
        data = self._read_gzip(n) if self._z is not None else self._raw.read(n)
        self.pos += len(data)
        return data

    def _read_gzip(self, n: int) -> bytes:
        parts: list[bytes] = []
        need = n
        while need > 0:
            z = self._z
            assert z is not None
            if z.eof:
                # A member ended; gzip allows another to follow (concatenated .gz files).
                rest = z.unused_data + self._tail or self._raw.read(_CHUNK)
                if not rest:
                    break
                self._z = z = zlib.decompressobj(wbits=31)
                data = rest
            elif self._tail:
                data = self._tail
            else:
                # An empty read still goes to the decompressor once: with max_length it may
                # hold back output (a long match) after consuming all input.
                data = self._raw.read(_CHUNK)
            try:
                out = z.decompress(data, need)
            except zlib.error as exc:
                raise DatasetError(
                    f"corrupt gzip data after {self.pos + n - need} decompressed bytes ({exc})",
                    self.name) from None
            self._tail = z.unconsumed_tail
            if not data and not out and not z.eof:
                raise DatasetError(
                    f"the gzip stream ends early, after {self.pos + n - need} decompressed "
                    "bytes (the file is truncated)", self.name)
            parts.append(out)
            need -= len(out)
        return b"".join(parts)


def open_stream(source: Source, name: str | None = None) -> ByteStream:
    """Open a path or a bytes buffer; gzip is recognised by its magic bytes, not the suffix."""
    label = source_name(source, name)
    if isinstance(source, bytes | bytearray):
        raw: BinaryIO = io.BytesIO(bytes(source))
        size = len(source)
    else:
        path = Path(source)
        try:
            raw = open(path, "rb")  # noqa: SIM115 - closed by ByteStream.__exit__
            size = os.fstat(raw.fileno()).st_size
        except FileNotFoundError:
            raise DatasetError("no such file", label) from None
        except OSError as exc:
            raise DatasetError(f"cannot open the file ({exc.strerror or exc})", label) from None
    head = raw.read(2)
    raw.seek(0)
    return ByteStream(raw, label, size, gzipped=head == GZIP_MAGIC)


def read_all(source: Source, *, name: str | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES) -> bytes:
    """All (decompressed) bytes of a file, refusing more than `max_bytes`."""
    with open_stream(source, name) as stream:
        if stream.size is not None and stream.size > max_bytes:
            raise DatasetError(f"the file holds {stream.size} bytes, more than the limit of "
                               f"{max_bytes}", stream.name)
        data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise DatasetError(f"the data decompresses to more than the limit of {max_bytes} "
                               "bytes", stream.name)
        return data
