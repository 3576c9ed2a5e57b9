"""`theano.tensor.nnet.conv2d` with Theano's semantics on NodeStudio's `conv2d` op.

Theano's conv2d is a true convolution: it flips the filters (filter_flip=True) before the
cross-correlation that `ns.conv2d` computes. Input (batch, channels, rows, cols), filters
(n_filters, channels, rows, cols); border_mode 'valid' (no padding), 'full' (k - 1),
'half' (k // 2), an int or a pair of ints; subsample is the stride. input_shape,
filter_shape and the older image_shape are accepted and checked against the variables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nodestudio as ns
from nodestudio.ir.expr import as_variable
from nodestudio.theano._support import TheanoCompatError


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    if isinstance(value, Sequence) and len(value) == 2 and all(isinstance(v, int)
                                                               for v in value):
        return int(value[0]), int(value[1])
    raise TheanoCompatError(f"conv2d {what}={value!r}", "give an int or a pair of ints")


def padding_for(border_mode: Any, kernel: tuple[int, int]) -> tuple[int, int]:
    """The (rows, cols) zero padding Theano's border_mode means for a kernel size."""
    if border_mode == "valid":
        return 0, 0
    if border_mode == "full":
        return kernel[0] - 1, kernel[1] - 1
    if border_mode == "half":
        return kernel[0] // 2, kernel[1] // 2
    if isinstance(border_mode, str):
        raise TheanoCompatError(f"conv2d border_mode={border_mode!r}",
                                "use 'valid', 'full', 'half', an int or a pair of ints")
    return _pair(border_mode, "border_mode")


def flip_filters(w):
    """w with its two spatial axes reversed (Theano's filter_flip)."""
    return ns.flip(w, (2, 3))


def _check_shape(var, declared, what: str) -> None:
    if declared is None:
        return
    declared = tuple(declared)
    if len(declared) != var.ndim or any(
            d is not None and s is not None and d != s for d, s in zip(declared, var.shape)):
        raise TheanoCompatError(f"conv2d {what}={declared} for a variable of shape {var.shape}",
                                "the declared shape must match the variable's")


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip: bool = True, image_shape=None,
           filter_dilation=(1, 1), num_groups: int = 1, unshared: bool = False, **kwargs):
    x, w = as_variable(input), as_variable(filters)
    if kwargs:
        raise TheanoCompatError(f"conv2d argument(s) {', '.join(sorted(kwargs))}")
    if x.ndim != 4 or w.ndim != 4:
        raise TheanoCompatError(f"conv2d of a {x.ndim}-d input with {w.ndim}-d filters",
                                "input (batch, channels, rows, cols), filters "
                                "(n_filters, channels, rows, cols)")
    if tuple(filter_dilation) != (1, 1):
        raise TheanoCompatError("conv2d filter_dilation other than (1, 1)")
    if num_groups != 1 or unshared:
        raise TheanoCompatError("grouped or unshared conv2d")
    _check_shape(x, input_shape if input_shape is not None else image_shape, "input_shape")
    _check_shape(w, filter_shape, "filter_shape")
    kernel = (w.shape[2], w.shape[3])
    if None in kernel:
        raise TheanoCompatError("conv2d filters of unknown spatial size")
    padding = padding_for(border_mode, kernel)  # type: ignore[arg-type]
    stride = _pair(subsample, "subsample")
    if filter_flip:
        w = flip_filters(w)
    return ns.conv2d(x, w, stride=stride, padding=padding)
