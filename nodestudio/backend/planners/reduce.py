"""The reduce family (sum, mean, max, argmax over any axes): kernels/reduce.cl."""

from __future__ import annotations

import math

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    FamilyNode,
    c_type,
    defines,
    index_type,
    launch,
    merge,
    offset_expr,
)
from nodestudio.backend.templates import render
from nodestudio.ops.shapes import contiguous_strides, normalise_axes

# How many partial lanes one output may be split into, and when to split.
_REDUCE_MODES = {"sum": 0, "mean": 1, "max": 2, "argmax": 3}
_MIN_PER_LANE = 256  # never split a reduction into lanes of fewer elements than this
_TARGET_ITEMS = {True: 65536, False: 1024}  # work-items worth having, GPU / CPU
_MAX_LANES = {True: 1024, False: 1024}  # stage 2 adds up to this many partials in a row
_VEC_MIN = 32  # contiguous runs at least this long are read as float8


def plan(node: FamilyNode) -> Plan:
    """A work-item per output, or per 16 neighbouring outputs when those are contiguous columns
    (CPUs); split into lanes with a second stage through scratch when there are few outputs with
    many elements each (everything into a scalar). Contiguous rows are read as float8."""
    op, attrs, shape, gpu = node.op, node.attrs, node.in_shapes[0], node.gpu
    ndim = len(shape)
    axes = (normalise_axes((attrs.get("axis", -1),), ndim) if op == "argmax"
            else normalise_axes(attrs.get("axis"), ndim))
    strides = contiguous_strides(shape)
    kept = merge([(shape[i], strides[i]) for i in range(ndim) if i not in axes])
    reduced = merge([(shape[i], strides[i]) for i in axes])
    n_out = math.prod(shape[i] for i in range(ndim) if i not in axes)
    r_len = math.prod(shape[i] for i in axes)
    if n_out == 0:
        return Plan(())
    rows_vec = op != "argmax" and reduced == [(r_len, 1)] and r_len >= _VEC_MIN
    ki = kept[-1][0] if kept and kept[-1][1] == 1 else 0  # contiguous run of outputs
    cols_vec = not gpu and op != "argmax" and ki >= 16 and r_len > 0
    items = n_out // ki * -(-ki // 16) if cols_vec else n_out
    lanes = max(1, min(_TARGET_ITEMS[gpu] // items, r_len // _MIN_PER_LANE, _MAX_LANES[gpu]))
    names = (f"reduce_{op}_stage1", f"reduce_{op}_stage2")
    source = render(
        "reduce.cl", idx=index_type(math.prod(shape), n_out * lanes * 2),
        in_t=c_type(node.in_dtypes[0]), mode=_REDUCE_MODES[op], n_out=n_out, r_len=r_len,
        koff=offset_expr("(k)", kept),
        roff=offset_expr("(r)", reduced) if r_len else "0", stage1=names[0], stage2=names[1])
    # the tuning: neighbouring work-items should read neighbouring elements, lanes of one
    # output when the innermost axis is reduced (row sums), different outputs otherwise
    tuning = defines(lanes=lanes, lane_fastest=int(any(stride == 1 for _, stride in reduced)),
                     interleaved=int(gpu and lanes > 1), rows_vec=int(rows_vec),
                     cols_vec=int(cols_vec), ki=max(ki, 1))
    if r_len == 0:
        return Plan((launch(names[0], source, n_out, ("out0",), gpu, tuning),))
    if lanes == 1:
        return Plan((launch(names[0], source, items, ("in0", "out0"), gpu, tuning),))
    words = n_out * lanes * (2 if op == "argmax" else 1)
    return Plan((launch(names[0], source, items * lanes, ("in0", "scratch"), gpu, tuning),
                 launch(names[1], source, n_out, ("scratch", "out0"), gpu, tuning)),
                scratch_bytes=4 * words)
