"""CSV datasets: one example per row, one column holding the class label.

Rows are checked for a constant field count before any numeric parsing, so a ragged file is
reported by line rather than as a NumPy shape error; values must be finite, labels must be
non-negative integers. The parse itself is `np.loadtxt` (C speed); only when it fails is the
text re-scanned to name the offending line and column.

Memory stays within the limit (`max_dataset_bytes`) at each stage: the decompressed bytes, the
rows kept as text (blank lines are skipped by a regular expression over the bytes, never
materialised, and each row is decoded on its own, so one 4-byte character cannot widen the
whole file), and the float64 values (rows x fields, checked before parsing).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from nodestudio.data.dataset import Dataset
from nodestudio.data.errors import DatasetError
from nodestudio.data.sources import Source, max_dataset_bytes, over_limit, read_all, source_name

# Without a given class count, more than this many distinct label values almost surely means
# the label column holds a continuous quantity (or the wrong column was chosen).
MAX_INFERRED_CLASSES = 1000
# A line holding something other than spaces (found at line starts only: linear time).
_NON_BLANK_LINE = re.compile(rb"^[ \t\r\f\v]*[^\s].*$", re.MULTILINE)
# What keeping one row costs beyond its characters: a tuple, an int and a str object.
_ROW_OVERHEAD = 150


def _is_number(text: str) -> bool:
    if "_" in text:  # float() takes "1_000"; np.loadtxt does not
        return False
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(source: Source, *, label_column: int | str = -1, delimiter: str | None = ",",
             header: bool | None = None, image_shape: Sequence[int] | None = None,
             n_classes: int | None = None, name: str | None = None,
             max_bytes: int | None = None) -> Dataset:
    """A Dataset from a CSV file (plain or gzipped path, or its bytes).

    `label_column`: index (negative counts from the end) or header name. `delimiter=None`
    splits on whitespace. `header=None` detects a header row (first row not all numbers).
    `n_classes=None` takes max(label)+1. `image_shape` defaults to (number of features,).
    `max_bytes` defaults to `max_dataset_bytes()`. Errors name the file and the line.
    """
    label = source_name(source, name)
    limit = max_dataset_bytes(max_bytes)
    rows = _rows(read_all(source, name=label, max_bytes=limit), label, limit)
    if not rows:
        raise DatasetError("no data rows (the file is empty or blank)", label, offset=0)
    names: list[str] | None = None
    first = rows[0][1].split(delimiter)
    if header or (header is None and not all(_is_number(f) for f in first)):
        names = [f.strip() for f in first]
        head_line = rows[0][0]
        rows = rows[1:]
        if not rows:
            raise DatasetError(f"line {head_line}: a header row but no data rows", label,
                               line=head_line)
    width = len(names) if names is not None else len(first)
    for number, line in rows:
        count = line.count(delimiter) + 1 if delimiter else len(line.split())
        if count != width:
            raise DatasetError(f"ragged rows: line {number} has {count} fields, expected "
                               f"{width} (as in the first row)", label, line=number)
    top_line = rows[0][0]
    if width < 2:
        raise DatasetError(f"line {top_line}: {width} column(s): need a label column and at "
                           "least one feature", label, line=top_line)
    col = _label_index(label_column, names, width, label, top_line)
    if len(rows) * width * 8 > limit:
        raise DatasetError(over_limit(f"{len(rows)} rows of {width} values (as float64)",
                                      len(rows) * width * 8, limit), label,
                           line=rows[-1][0])
    values = _parse(rows, delimiter, label)
    # Features become float32: a finite float64 beyond its range would silently become inf.
    bad = np.argwhere(~(np.abs(values) <= np.finfo(np.float32).max))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise DatasetError(f"line {rows[r][0]}, column {c + 1}: value "
                           f"{_field(rows[r][1], delimiter, c)!r} is not finite in float32",
                           label, line=rows[r][0])
    y_raw = values[:, col]
    wrong = np.flatnonzero((y_raw < 0) | (y_raw != np.floor(y_raw)))
    if wrong.size:
        r = int(wrong[0])
        raise DatasetError(f"line {rows[r][0]}: label {_field(rows[r][1], delimiter, col)!r} in "
                           f"column {col + 1} is not a non-negative integer", label,
                           line=rows[r][0])
    top = int(y_raw.max()) if y_raw.size else -1
    if n_classes is None:
        if top + 1 > MAX_INFERRED_CLASSES:
            r = int(np.argmax(y_raw))
            raise DatasetError(f"line {rows[r][0]}: label {top} in column {col + 1} implies "
                               f"more than {MAX_INFERRED_CLASSES} classes; is that the label "
                               "column? (pass n_classes to allow it)", label, line=rows[r][0])
        n_classes = top + 1
    elif top >= n_classes:
        r = int(np.flatnonzero(y_raw >= n_classes)[0])
        raise DatasetError(f"line {rows[r][0]}: label {int(y_raw[r])} is outside "
                           f"0..{n_classes - 1}", label, line=rows[r][0])
    x = np.delete(values, col, axis=1)
    shape = tuple(image_shape) if image_shape is not None else (x.shape[1],)
    if math.prod(shape) != x.shape[1]:
        raise DatasetError(f"image shape {shape} does not hold the {x.shape[1]} feature columns "
                           f"of line {top_line}", label, line=top_line)
    return Dataset(x, y_raw.astype(np.int32), shape, n_classes, name or _stem(label))


def _rows(raw: bytearray, label: str, limit: int) -> list[tuple[int, str]]:
    """(line number, text) for every non-blank line, "\r" stripped for Windows line ends.
    Lines stay whole (not lists of fields): a list of str per value would cost ~50 bytes each."""
    start = 3 if raw.startswith(b"\xef\xbb\xbf") else 0  # a UTF-8 byte order mark
    rows: list[tuple[int, str]] = []
    number, counted_to, held = 1, 0, 0
    for match in _NON_BLANK_LINE.finditer(raw, start):
        number += raw.count(b"\n", counted_to, match.start())
        counted_to = match.start()
        try:
            text = match[0].decode("utf-8")
        except UnicodeDecodeError as exc:
            at = match.start() + exc.start
            raise DatasetError(f"line {number}: not UTF-8 text at byte {at} ({exc.reason})",
                               label, offset=at, line=number) from None
        held += _ROW_OVERHEAD + len(match[0])
        if held > limit:
            raise DatasetError(over_limit(f"keeping the rows up to line {number}", None, limit),
                               label, line=number)
        rows.append((number, text.rstrip("\r")))
    return rows


def _label_index(label_column: int | str, names: list[str] | None, width: int,
                 label: str, line: int) -> int:
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            known = ", ".join(names) if names else "the file has no header row"
            raise DatasetError(f"no label column named {label_column!r} ({known})", label,
                               line=line)
        return names.index(label_column)
    if not -width <= label_column < width:
        raise DatasetError(f"label column {label_column} out of range for the {width} columns "
                           f"of line {line}", label, line=line)
    return label_column % width


def _field(line: str, delimiter: str | None, column: int) -> str:
    return line.split(delimiter)[column].strip()


def _parse(rows: list[tuple[int, str]], delimiter: str | None, label: str) -> np.ndarray:
    try:
        return _loadtxt(rows, delimiter)
    except ValueError:
        pass
    # Slow path, only to say where: the first field Python's float() rejects...
    for number, line in rows:
        for c, field_text in enumerate(line.split(delimiter)):
            if not _is_number(field_text):
                raise DatasetError(f"line {number}, column {c + 1}: {field_text.strip()!r} is "
                                   "not a number", label, line=number) from None
    # ...or, where float() and np.loadtxt disagree, the first line np.loadtxt rejects, found
    # by bisection (log2(rows) parses).
    low, high = 0, len(rows)  # the first bad row is in rows[low:high]
    while high - low > 1:
        middle = (low + high) // 2
        try:
            _loadtxt(rows[low:middle], delimiter)
            low = middle
        except ValueError:
            high = middle
    number = rows[low][0]
    try:
        _loadtxt(rows[low:high], delimiter)
        reason = "the values"
    except ValueError as exc:
        reason = str(exc).splitlines()[0]
    raise DatasetError(f"line {number}: cannot be read as numbers ({reason})", label,
                       line=number)


def _loadtxt(rows: list[tuple[int, str]], delimiter: str | None) -> np.ndarray:
    return np.loadtxt([line for _, line in rows], delimiter=delimiter, dtype=np.float64,
                      comments=None, ndmin=2)


def _stem(label: str) -> str:
    base = label.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".gz", ".csv", ".txt"):
        base = base.removesuffix(suffix)
    return base or "csv"
