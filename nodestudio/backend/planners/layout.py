"""The layout family: data moved without arithmetic (transpose, slice, concatenate, unslice),
one work-item per output element: kernels/layout.cl.

`PLANNERS` maps each op of the family to its planner: a new layout op is one entry there (and
`kernel="layout"` in its OpDef)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import (
    Dims,
    FamilyNode,
    Shape,
    c_type,
    index_type,
    launch,
    merge,
    offset_expr,
)
from nodestudio.backend.templates import render
from nodestudio.ops.shapes import contiguous_strides, normalise_axes


def _layout_source(kind: int, name: str, n_out: int, idx_count: int, out_t: str,
                   **values: object) -> str:
    """Render layout.cl; the placeholders of the other kinds get harmless fillers."""
    fill = {"in_t": "float", "src": "0", "axis_len": 1, "inner": 1, "params": "",
            "pieces": "", "locate": "", "read": "0"}
    fill.update(values)
    return render("layout.cl", idx=index_type(idx_count, n_out), n_out=n_out, out_t=out_t,
                  kind=kind, name=name, **fill)


def _plan_gather(node: FamilyNode, name: str, base: int, dims: Dims) -> Plan:
    """out[e] = x[base + offset of e in dims]: transpose and slice."""
    n_out = math.prod(s for s, _ in dims)
    if n_out == 0:
        return Plan(())
    src = offset_expr("(e)", merge(dims))
    source = _layout_source(1, name, n_out, math.prod(node.in_shapes[0]),
                            c_type(node.out_dtypes[0]), in_t=c_type(node.in_dtypes[0]),
                            src=f"{base} + {src}" if base else src)
    return Plan((launch(name, source, n_out, ("in0", "out0"), node.gpu),))


def _plan_transpose(node: FamilyNode) -> Plan:
    shape = node.in_shapes[0]
    strides = contiguous_strides(shape)
    dims = [(shape[a % len(shape)], strides[a % len(shape)]) for a in node.attrs["axes"]]
    return _plan_gather(node, "transpose_gather", 0, dims)


def _slice_ranges(slices: Sequence[Sequence[int | None]], shape: Shape) -> list[range]:
    """The indices each axis keeps, with NumPy's rules for None and negative start / stop."""
    ranges = [range(*slice(*spec).indices(dim)) for spec, dim in zip(slices, shape, strict=False)]
    return ranges + [range(dim) for dim in shape[len(ranges):]]


def _plan_slice(node: FamilyNode) -> Plan:
    shape = node.in_shapes[0]
    strides = contiguous_strides(shape)
    ranges = _slice_ranges(node.attrs["slices"], shape)
    base = sum(r.start * s for r, s in zip(ranges, strides, strict=True) if len(r))
    dims = [(len(r), s * r.step) for r, s in zip(ranges, strides, strict=True)]
    return _plan_gather(node, "slice_gather", base, dims)


def _plan_concatenate(node: FamilyNode) -> Plan:
    out_shape = node.out_shapes[0]
    n_out = math.prod(out_shape)
    if n_out == 0:
        return Plan(())
    axis = normalise_axes((node.attrs["axis"],), len(out_shape))[0]
    inner = math.prod(out_shape[axis + 1:])
    out_t = c_type(node.out_dtypes[0])
    params, pieces, args, start = [], [], [], 0
    for i, (shape, dtype) in enumerate(zip(node.in_shapes, node.in_dtypes, strict=True)):
        length = shape[axis]
        if length:  # the input is not empty, as the output is not
            params.append(f"__global const {c_type(dtype)} *restrict in{i},")
            args.append(f"in{i}")
            a = f"(a - {start})" if start else "a"
            read = f"out[e] = (OUT_T)in{i}[(o * {length} + {a}) * INNER + j];"
            pieces.append((start + length, read))
        start += length
    code = [f"if (a < {end}) {read}" for end, read in pieces[:-1]] + [pieces[-1][1]]
    name = "concatenate_copy"
    source = _layout_source(2, name, n_out, n_out, out_t, axis_len=out_shape[axis], inner=inner,
                            params=" ".join(params), pieces="\n    else ".join(code))
    return Plan((launch(name, source, n_out, (*args, "out0"), node.gpu),))


def _plan_unslice(node: FamilyNode) -> Plan:
    """Every output element checks along each sliced axis whether it is a slice position;
    in1 (`like`) only gives the output shape and is not read."""
    g_shape, out_shape, gpu = node.in_shapes[0], node.out_shapes[0], node.gpu
    n_out = math.prod(out_shape)
    if n_out == 0:
        return Plan(())
    name, out_t = "unslice_scatter", c_type(node.out_dtypes[0])
    if math.prod(g_shape) == 0:  # nothing sliced: all zeros, g is not read
        source = _layout_source(3, name, n_out, n_out, out_t, locate="inside = false; (void)src;")
        return Plan((launch(name, source, n_out, ("out0",), gpu),))
    # per output axis: (size, start, step, count, stride in g); whole axes next to each other merge
    axes: list[tuple[int, int, int, int, int]] = []
    for r, size, g_stride in zip(_slice_ranges(node.attrs["slices"], out_shape), out_shape,
                                 contiguous_strides(g_shape), strict=True):
        whole = r.start == 0 and r.step == 1 and len(r) == size
        if whole and size == 1:
            continue
        if whole and axes and axes[-1][1:3] == (0, 1) and axes[-1][3] == axes[-1][0]:
            prev = axes.pop()
            axes.append((prev[0] * size, 0, 1, prev[0] * size, g_stride))
        else:
            axes.append((size, r.start, r.step, len(r), g_stride))
    lines, after = [], 1
    for k in range(len(axes) - 1, -1, -1):
        size, start, step, count, g_stride = axes[k]
        coord = "e" if after == 1 else f"e / {after}"
        coord = f"({coord}) % {size}" if k > 0 else coord
        after *= size
        if (start, step, count) == (0, 1, size):
            lines.append(f"src += ({coord}) * {g_stride};")
            continue
        t = "i" if step == 1 else f"i / {step}"
        on_step = "" if step == 1 else f" && i % {step} == 0"
        lines.append(f"{{ const IDX i = ({coord}) - {start}; "
                     f"inside = inside && i >= 0{on_step} && {t} < {count}; "
                     f"src += ({t}) * {g_stride}; }}")
    source = _layout_source(3, name, n_out, max(n_out, math.prod(g_shape)), out_t,
                            params=f"__global const {c_type(node.in_dtypes[0])} *restrict g,",
                            locate="\n    ".join(lines), read="(OUT_T)g[src]")
    return Plan((launch(name, source, n_out, ("in0", "out0"), gpu),))


PLANNERS: dict[str, Callable[[FamilyNode], Plan]] = {
    "transpose": _plan_transpose, "slice": _plan_slice, "concatenate": _plan_concatenate,
    "unslice": _plan_unslice,
}


def plan(node: FamilyNode) -> Plan:
    return PLANNERS[node.op](node)
