"""CSV datasets: one example per row, one column holding the class label.

Rows are checked for a constant field count before any numeric parsing, so a ragged file is
reported by line rather than as a NumPy shape error; values must be finite, labels must be
non-negative integers. The parse itself is `np.loadtxt` (C speed); only when it fails is the
text re-scanned in Python to name the offending line and column.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nodestudio.data.dataset import Dataset
from nodestudio.data.errors import DatasetError
from nodestudio.data.sources import DEFAULT_MAX_BYTES, Source, read_all, source_name

# Without a given class count, more than this many distinct label values almost surely means
# the label column holds a continuous quantity (or the wrong column was chosen).
MAX_INFERRED_CLASSES = 1000


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv(source: Source, *, label_column: int | str = -1, delimiter: str | None = ",",
             header: bool | None = None, image_shape: Sequence[int] | None = None,
             n_classes: int | None = None, name: str | None = None,
             max_bytes: int = DEFAULT_MAX_BYTES) -> Dataset:
    """A Dataset from a CSV file (plain or gzipped path, or its bytes).

    `label_column`: index (negative counts from the end) or header name. `delimiter=None`
    splits on whitespace. `header=None` detects a header row (first row not all numbers).
    `n_classes=None` takes max(label)+1. `image_shape` defaults to (number of features,).
    """
    label = source_name(source, name)
    raw = read_all(source, name=label, max_bytes=max_bytes)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"not UTF-8 text: byte {exc.start} ({exc.reason})", label,
                           offset=exc.start) from None
    # (line number, text) for every non-blank line; "\r" stripped for Windows line ends.
    # Lines stay whole (not lists of fields): a list of str per value would cost ~50 bytes each.
    rows: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if line.strip():
            rows.append((number, line))
    if not rows:
        raise DatasetError("no data rows", label)
    names: list[str] | None = None
    first = rows[0][1].split(delimiter)
    if header or (header is None and not all(_is_number(f) for f in first)):
        names = [f.strip() for f in first]
        rows = rows[1:]
        if not rows:
            raise DatasetError("a header row but no data rows", label)
    width = len(names) if names is not None else len(first)
    for number, line in rows:
        count = line.count(delimiter) + 1 if delimiter else len(line.split())
        if count != width:
            raise DatasetError(f"ragged rows: line {number} has {count} fields, expected "
                               f"{width} (as in the first row)", label)
    if width < 2:
        raise DatasetError(f"{width} column(s): need a label column and at least one feature",
                           label)
    col = _label_index(label_column, names, width, label)
    values = _parse(rows, delimiter, label)
    # Features become float32: a finite float64 beyond its range would silently become inf.
    bad = np.argwhere(~(np.abs(values) <= np.finfo(np.float32).max))
    if bad.size:
        r, c = (int(v) for v in bad[0])
        raise DatasetError(f"line {rows[r][0]}, column {c + 1}: value "
                           f"{_field(rows[r][1], delimiter, c)!r} is not finite in float32",
                           label)
    y_raw = values[:, col]
    wrong = np.flatnonzero((y_raw < 0) | (y_raw != np.floor(y_raw)))
    if wrong.size:
        r = int(wrong[0])
        raise DatasetError(f"line {rows[r][0]}: label {_field(rows[r][1], delimiter, col)!r} in "
                           f"column {col + 1} is not a non-negative integer", label)
    top = int(y_raw.max()) if y_raw.size else -1
    if n_classes is None:
        if top + 1 > MAX_INFERRED_CLASSES:
            raise DatasetError(f"label {top} in column {col + 1} implies more than "
                               f"{MAX_INFERRED_CLASSES} classes; is that the label column? "
                               "(pass n_classes to allow it)", label)
        n_classes = top + 1
    elif top >= n_classes:
        r = int(np.flatnonzero(y_raw >= n_classes)[0])
        raise DatasetError(f"line {rows[r][0]}: label {int(y_raw[r])} is outside "
                           f"0..{n_classes - 1}", label)
    x = np.delete(values, col, axis=1)
    shape = tuple(image_shape) if image_shape is not None else (x.shape[1],)
    if math.prod(shape) != x.shape[1]:
        raise DatasetError(f"image shape {shape} does not hold the {x.shape[1]} feature columns",
                           label)
    return Dataset(x, y_raw.astype(np.int32), shape, n_classes, name or _stem(label))


def _label_index(label_column: int | str, names: list[str] | None, width: int,
                 label: str) -> int:
    if isinstance(label_column, str):
        if names is None or label_column not in names:
            known = ", ".join(names) if names else "the file has no header row"
            raise DatasetError(f"no label column named {label_column!r} ({known})", label)
        return names.index(label_column)
    if not -width <= label_column < width:
        raise DatasetError(f"label column {label_column} out of range for {width} columns", label)
    return label_column % width


def _field(line: str, delimiter: str | None, column: int) -> str:
    return line.split(delimiter)[column].strip()


def _parse(rows: list[tuple[int, str]], delimiter: str | None, label: str) -> np.ndarray:
    try:
        return np.loadtxt([line for _, line in rows], delimiter=delimiter, dtype=np.float64,
                          comments=None, ndmin=2)
    except ValueError:
        pass
    # Slow path, only to say where: the first field Python's float() rejects.
    for number, line in rows:
        for c, field_text in enumerate(line.split(delimiter)):
            if not _is_number(field_text):
                raise DatasetError(f"line {number}, column {c + 1}: {field_text.strip()!r} is "
                                   "not a number", label) from None
    raise DatasetError("the values could not be parsed as numbers", label)


def _stem(label: str) -> str:
    base = label.replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in (".gz", ".csv", ".txt"):
        base = base.removesuffix(suffix)
    return base or "csv"
