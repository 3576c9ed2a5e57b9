"""Values that reach the device's int32 / float32 buffers: fed to a function's inputs, set on a
shared variable, held by a constant. Exact conversions are made (int64 labels within range,
whole floats); anything that would wrap, truncate or overflow silently is refused with an
InputValueError naming the input, the first offending value and its index."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import InputValueError, NodeStudioError
from nodestudio.ir.shared import device_array

INT_REFUSED = [
    # value, first offending value as written, its index
    ([2**32 + 1, 5, 1.7], "4294967297.0", "[0]"),  # 2**32 + 1 wrapped to 1
    (np.array([0, 2**32 + 1, 3]), "4294967297", "[1]"),
    (np.array([1, 5, 1.7]), "1.7", "[2]"),  # truncated to 1
    (np.array([[0.0, 1.0], [np.nan, 2.0]]), "nan", "[1, 0]"),
    (np.array([np.inf]), "inf", "[0]"),
    (np.array([-2**31 - 1]), "-2147483649", "[0]"),
    (np.array([2**63], np.uint64), "9223372036854775808", "[0]"),
    ([1, 2**70], "1180591620717411303424", "[1]"),  # beyond int64: an object array
    (["3"], "'3'", "[0]"),
    ([1 + 2j], "(1+2j)", "[0]"),
]


@pytest.mark.parametrize("value, shown, index", INT_REFUSED)
def test_int_input_values_that_would_change_are_refused_with_value_and_index(value, shown,
                                                                              index):
    labels = ns.ivector("labels")
    f = ns.function([labels], ns.one_hot(labels, 4))
    with pytest.raises(InputValueError) as info:
        f(value)
    text = str(info.value)
    assert text.startswith("input 'labels': "), text
    assert f"{shown} at index {index}" in text, text
    assert isinstance(info.value, NodeStudioError) and isinstance(info.value, ValueError)


def test_an_int_scalar_out_of_range_is_refused_without_an_index():
    n = ns.iscalar("n")
    with pytest.raises(InputValueError, match=r"^input 'n': 2147483648 is outside int32's"):
        ns.function([n], n * 2)(2**31)


def test_the_count_of_refused_values_is_given():
    with pytest.raises(InputValueError, match=r"1\.5 at index \[1\].*\(2 of the 4 values"):
        device_array([1.0, 1.5, 2.0, 2.5], "int32", "input 'y'")


def test_a_finite_float_beyond_float32_is_refused_but_nan_and_inf_are_values():
    x = ns.vector("x")
    f = ns.function([x], x * 1.0)
    with pytest.raises(InputValueError, match=r"input 'x': -1e\+300 at index \[2\] is beyond "
                                              r"float32's range"):
        f(np.array([1.0, 2.0, -1e300]))
    with pytest.raises(InputValueError, match=r"input 'x': 'a'"):
        f(["a", "b"])
    with pytest.raises(InputValueError, match=r"input 'x': cannot read the value"):
        f([[1.0], [2.0, 3.0]])


def test_exact_conversions_keep_their_values():
    int64 = device_array(np.array([[0, -2**31], [2**31 - 1, 7]]), "int32", "input 'y'")
    assert int64.dtype == np.int32 and int64.tolist() == [[0, -2**31], [2**31 - 1, 7]]
    whole = device_array([3.0, -0.0, 2.0**30], "int32", "input 'y'")
    assert whole.dtype == np.int32 and whole.tolist() == [3, 0, 2**30]
    flags = device_array(np.array([True, False]), "int32", "input 'y'")
    assert flags.tolist() == [1, 0]
    scalar = device_array(5, "int32", "input 'n'")
    assert scalar.shape == () and scalar.dtype == np.int32
    floats = device_array([np.nan, -np.inf, 1e-50, 3], "float32", "input 'x'")
    assert floats.dtype == np.float32 and np.isnan(floats[0]) and floats[1] == -np.inf
    assert floats[2] == 0.0 and floats.flags.c_contiguous
    same = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert device_array(same, "float32", "input 'x'") is same  # no copy, no check
    strided = device_array(same.T, "float32", "input 'x'")
    assert strided.flags.c_contiguous and np.array_equal(strided, same.T)


@pytest.mark.opencl
def test_exactly_convertible_labels_run():
    labels = ns.ivector("labels")
    f = ns.function([labels], ns.one_hot(labels, 4))
    want = np.eye(4, dtype=np.float32)[[3, 0, 2]]
    np.testing.assert_array_equal(f(np.array([3, 0, 2], np.int64)), want)
    np.testing.assert_array_equal(f([3.0, 0.0, 2.0]), want)


def test_shared_values_are_checked_when_made_and_when_set():
    with pytest.raises(InputValueError, match=r"shared variable 'big': 1099511627776 at index "
                                              r"\[1\] is outside int32's range"):
        ns.shared(np.array([1, 2**40]), "big")
    counts = ns.shared(np.array([1, 2, 3]), "counts")
    with pytest.raises(InputValueError, match=r"shared variable 'counts': 8589934592.0 at index "
                                              r"\[0\]"):
        counts.set_value([2**33, 1.5, np.nan])
    with pytest.raises(InputValueError, match=r"'counts': 2\.5 at index \[1\] is not a whole"):
        counts.set_value(np.array([1.0, 2.5, 3.0]))
    assert counts.get_value().tolist() == [1, 2, 3]  # refused values leave the old one
    counts.set_value(np.array([4.0, 5.0, 6.0]))
    assert counts.get_value().dtype == np.int32 and counts.get_value().tolist() == [4, 5, 6]
    w = ns.shared(np.zeros(2, np.float32), "w")
    with pytest.raises(InputValueError, match=r"'w': 1e\+40 at index \[1\]"):
        w.set_value([0.0, 1e40])
    source = np.ones(2, np.float32)
    copy = ns.shared(source, "copy")
    source[0] = 5.0
    assert copy.get_value().tolist() == [1.0, 1.0]  # the shared value is its own copy


@pytest.mark.opencl
def test_a_constant_int32_cannot_hold_is_refused_naming_it():
    c = ns.constant(np.array([2**32 + 1, 5, 1]))
    with pytest.raises(InputValueError, match=rf"constant {c.name!r}: 4294967297 at index \[0\]"):
        ns.function([], ns.one_hot(c, 4))()
