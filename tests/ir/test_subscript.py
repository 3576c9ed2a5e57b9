"""Indexing in the IR, without a device: what a slice's length simplifies to, the static
shapes and errors of x[...], and the float64 reference of the index ops against NumPy."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.ir.reference import evaluate
from nodestudio.ir.subscript import window_length


def test_slice_lengths_simplify_symbolically():
    i, j = ns.iscalar("i"), ns.iscalar("j")
    assert window_length(i * 20, (i + 1) * 20) == 20
    assert window_length(3 * i - j, 3 * (i + 2) - j) == 6
    assert window_length(None, 7) == 7
    assert window_length(i, j) is None
    assert window_length(i * j, (i + 1) * j) is None  # products of two unknowns do not
    assert window_length(i, ns.cast(ns.scalar("f"), "int32")) is None


def test_static_shapes_of_indexing():
    x = ns.tensor("x", (None, 6, 4))
    i = ns.iscalar("i")
    assert x[i * 8:(i + 1) * 8].shape == (8, 6, 4)
    assert x[:, i].shape == (None, 4)
    assert x[0, 1:5:2].shape == (2, 4)
    assert x[..., None].shape == (None, 6, 4, 1)
    assert x[:, ::-1].shape == (None, 6, 4)
    assert ns.matrix("m")[ns.arange(ns.shape_of(ns.ivector("y"))[0]), ns.ivector("z")].shape \
        == (None,)
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError, match="out of bounds for axis 1 of size 6"):
        x[:, 6]
    with pytest.raises(IndexError, match="negative step needs the size of axis 0"):
        x[::-1]
    with pytest.raises(IndexError, match="does not fit axis 1"):
        x[:, i:i + 7]


def test_reference_of_indexing_matches_numpy():
    v = np.random.default_rng(2).standard_normal((5, 6))
    x, k = ns.tensor("x", (5, 6)), ns.iscalar("k")
    idx = np.array([[0, 5], [-1, 2]])
    outs = [x[k:k + 2, 1], x[[4, 0, 4]], x[:, idx], x[[0, 1], [5, -6]],
            ns.gather(x, 0, np.array([[4] * 6, [0] * 6])), x[::-2, ::3]]
    want = [v[3:5, 1], v[[4, 0, 4]], v[:, idx], v[[0, 1], [5, -6]],
            np.take_along_axis(v, np.array([[4] * 6, [0] * 6]), 0), v[::-2, ::3]]
    for got, w in zip(evaluate(outs, {x: v, k: 3}), want):
        np.testing.assert_array_equal(got, w)
