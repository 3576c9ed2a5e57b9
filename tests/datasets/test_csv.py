"""CSV datasets: label column choice, header detection, and errors that name the line."""

from __future__ import annotations

import gzip
import tracemalloc

import numpy as np
import pytest

from nodestudio.data import DatasetError, load_dataset, read_csv


def test_label_last_column_and_gzip(tmp_path):
    text = "1,2,3,0\n4,5,6,1\n7,8,9,2\n"
    for name, blob in (("a.csv", text.encode()), ("a.csv.gz", gzip.compress(text.encode()))):
        path = tmp_path / name
        path.write_bytes(blob)
        data = read_csv(path)
        np.testing.assert_array_equal(data.x, [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
        np.testing.assert_array_equal(data.y, [0, 1, 2])
        assert data.n_classes == 3 and data.image_shape == (3,) and data.name == "a"


def test_label_column_by_index_and_header_name(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("label,a,b\r\n2,0.5,1.5\r\n\r\n0,2.5,3.5\r\n", encoding="utf-8")
    by_name = read_csv(path, label_column="label")
    by_index = read_csv(path, label_column=0, n_classes=4)
    for data in (by_name, by_index):
        np.testing.assert_array_equal(data.y, [2, 0])
        np.testing.assert_allclose(data.x, [[0.5, 1.5], [2.5, 3.5]])
    assert by_index.n_classes == 4
    with pytest.raises(DatasetError, match="no label column named 'class'.*label, a, b"):
        read_csv(path, label_column="class")


def test_whitespace_delimiter_and_image_shape():
    data = read_csv(b"0 1 2 3 1\n4 5 6 7 0\n", delimiter=None, image_shape=(2, 2))
    assert data.images().shape == (2, 2, 2)


def test_load_dataset_from_csv(tmp_path):
    rng = np.random.default_rng(0)
    rows = np.c_[rng.normal(size=(50, 3)), np.arange(50) % 2]
    path = tmp_path / "table.csv"
    np.savetxt(path, rows, delimiter=",", fmt="%.6f")
    splits = load_dataset(path, test_fraction=0.2, valid_fraction=0.25, seed=0)
    assert [len(d) for d in splits] == [30, 10, 10]
    assert splits.preprocessor is None  # vectors are not rescaled by 'auto'


@pytest.mark.parametrize(("text", "message"), [
    ("1,2,0\n3,4\n5,6,1\n", "ragged rows: line 2 has 2 fields, expected 3"),
    ("1,2,0\n3,x,1\n", "line 2, column 2: 'x' is not a number"),
    ("1,2,0\n3,nan,1\n", "line 2, column 2: value 'nan' is not finite in float32"),
    ("1,2,0\n3,4,1.5\n", "line 2: label '1.5' in column 3 is not a non-negative integer"),
    ("1,2,0\n3,4,-1\n", "line 2: label '-1' in column 3 is not a non-negative integer"),
    ("1,2,0\n3,4,5000\n", "label 5000 in column 3 implies more than 1000 classes"),
    ("", "no data rows"),
    ("a,b,c\n", "a header row but no data rows"),
    ("1\n2\n", "need a label column and at least one feature"),
    (b"1,2,\xff\n", "not UTF-8 text"),
])
def test_csv_errors_name_file_and_line(tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(DatasetError) as info:
        read_csv(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)
    assert info.value.line is not None or info.value.offset is not None  # where, for programs


def test_label_beyond_given_class_count():
    with pytest.raises(DatasetError, match="line 2: label 7 is outside 0..4"):
        read_csv(b"1,0\n2,7\n", n_classes=5)


def test_a_field_only_numpy_rejects_is_named_by_line():
    # float() takes "1_0" and Arabic-Indic digits, np.loadtxt does not: such a line used to go
    # unnamed ("the values could not be parsed as numbers")
    with pytest.raises(DatasetError, match="line 3, column 2: '1_0' is not a number") as info:
        read_csv(b"1,2,0\n3,4,1\n3,1_0,1\n")
    assert info.value.line == 3
    with pytest.raises(DatasetError, match="line 3: cannot be read as numbers .*'\u0661'") as info:
        read_csv("1,2,0\n3,4,1\n3,\u0661,1\n5,6,0\n".encode())
    assert info.value.line == 3


def test_blank_lines_cost_nothing_beyond_their_bytes():
    # 4 million newlines in a 4 KB gzip file: they used to become 4 million strings (~200 MB)
    blob = gzip.compress(b"1,2,0\n" + b"\n" * 4_000_000 + b"3,4,1\n")
    tracemalloc.start()
    try:
        data = read_csv(blob)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    np.testing.assert_array_equal(data.y, [0, 1])
    assert peak < 4_000_000 * 1.3 + (1 << 20)


def test_rows_and_values_are_checked_against_the_limit():
    row = b",".join([b"0"] * 49 + [b"1"]) + b"\n"  # 50 values in 100 bytes
    text = row * 100  # 10 KB of text, 25 KB of rows kept, 40 KB of float64 values
    with pytest.raises(DatasetError, match=r"100 rows of 50 values \(as float64\) needs 40000 "
                                           "bytes, more than the limit of 35000") as info:
        read_csv(text, max_bytes=35_000)
    assert info.value.line == 100
    with pytest.raises(DatasetError, match="keeping the rows up to line") as info:
        read_csv(text, max_bytes=20_000)
    assert 0 < info.value.line < 100
    with pytest.raises(DatasetError, match="decompresses to more|needs more than the limit"):
        read_csv(gzip.compress(text), max_bytes=9_000)
    assert len(read_csv(text, max_bytes=40_000)) == 100


def test_an_emoji_is_named_by_line():
    with pytest.raises(DatasetError, match="line 4, column 1: '\U0001f600' is not a number"):
        read_csv("1,0\n2,1\n3,0\n\U0001f600,1\n".encode())
