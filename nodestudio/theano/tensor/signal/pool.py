"""`theano.tensor.signal.pool.pool_2d` on NodeStudio's `max_pool2d` / `avg_pool2d` ops.

ws (older name: ds) is the window, stride (st) defaults to ws, pad (padding) pads both sides,
ignore_border=False keeps the partial windows at the bottom and right edges (Theano's default).
Modes: 'max'; 'average_exc_pad' (divides by the window's count inside the unpadded input);
'average_inc_pad' and 'sum' where they equal a scaled exclusive average (no padding, whole
windows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import nodestudio as ns
from nodestudio.ir.expr import as_variable
from nodestudio.theano._support import TheanoCompatError

MODES = ("max", "average_exc_pad", "average_inc_pad", "sum")


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, Sequence) and len(value) == 2 and all(
            isinstance(v, int) for v in value):
        return int(value[0]), int(value[1])
    raise TheanoCompatError(f"pool_2d {what}={value!r}", "give a pair of ints")


def pool_2d(input, ws=None, ignore_border=None, stride=None, pad=(0, 0), mode="max",
            ds=None, st=None, padding=None):
    x = as_variable(input)
    ws = ws if ws is not None else ds
    if ws is None:
        raise TheanoCompatError("pool_2d without ws", "give the window as ws=(rows, cols)")
    size = _pair(ws, "ws")
    stride = _pair(stride if stride is not None else st if st is not None else size, "stride")
    pad = _pair(padding if padding is not None else pad, "pad")
    ignore_border = bool(ignore_border) if ignore_border is not None else False
    if mode not in MODES:
        raise TheanoCompatError(f"pool_2d mode={mode!r}", f"modes: {', '.join(MODES)}")
    if x.ndim != 4:
        raise TheanoCompatError(f"pool_2d of a {x.ndim}-d input",
                                "pool a (batch, channels, rows, cols) tensor")
    args = dict(size=size, stride=stride, padding=pad, ignore_border=ignore_border)
    if mode == "max":
        return ns.max_pool2d(x, **args)
    average = ns.avg_pool2d
    if mode == "average_exc_pad":
        return average(x, **args)
    whole = pad == (0, 0) and (ignore_border or _tiles(x, size, stride))
    if not whole:
        raise TheanoCompatError(f"pool_2d mode={mode!r} with padding or partial windows",
                                "use mode='average_exc_pad'")
    out = average(x, **args)
    return out * float(size[0] * size[1]) if mode == "sum" else out


def _tiles(x, size, stride) -> bool:
    """Whether the windows cover the rows and columns exactly (no partial window)."""
    rows, cols = x.shape[2], x.shape[3]
    return rows is not None and cols is not None and all(
        (n - k) % s == 0 and n >= k for n, k, s in ((rows, size[0], stride[0]),
                                                    (cols, size[1], stride[1])))
