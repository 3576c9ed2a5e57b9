"""Code generators for the kernel families that are neither elementwise nor matmul: reductions,
softmax, layout (transpose, concatenate, slice, unslice), one-hot, random numbers and random
affine image augmentation.

`plan_family` returns a `Plan` for one node with concrete shapes. Shapes, strides and attributes
are baked into the OpenCL source as constants (plans are cached per shape by the caller), and the
index arithmetic is unrolled here with axes that stay contiguous merged, so the templates in
`kernels/` only hold the loops.

Conventions every plan follows:
  * a plan whose output is empty has no launches;
  * `Launch.args` never names an empty buffer (an empty input of concatenate is left out, an
    empty `g` of unslice too, and so is an input that only gives a shape);
  * kernels are 1-d and guard their index, so `global_size` may be rounded up to `local_size`;
  * random's "call_index" argument is a C `uint` (pass np.uint32); its options put pyopencl's
    Random123 headers on the include path.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nodestudio.backend.indexing import PLANNERS as INDEXING_PLANNERS
from nodestudio.backend.launch import Launch, Plan
from nodestudio.backend.templates import render
from nodestudio.ops.shapes import contiguous_strides, normalise_axes

Shape = tuple[int, ...]
Dims = list[tuple[int, int]]  # (size, stride in elements) per axis, outermost first

C_TYPES = {"float32": "float", "int32": "int"}
_INT_INDEX_LIMIT = 2**31 - 2**20  # offsets below this fit a C int with room for loop overshoot

# Reductions: how many partial lanes one output may be split into, and when to split.
_REDUCE_MODES = {"sum": 0, "mean": 1, "max": 2, "argmax": 3}
_MIN_PER_LANE = 256  # never split a reduction into lanes of fewer elements than this
_TARGET_ITEMS = {True: 65536, False: 1024}  # work-items worth having, GPU / CPU
_MAX_LANES = {True: 1024, False: 1024}  # stage 2 adds up to this many partials in a row
_VEC_MIN = 32  # contiguous runs at least this long are read as float8


@dataclass(frozen=True)
class FamilyNode:
    """What a planner gets: the op, its attributes, and concrete shapes and dtypes."""

    op: str
    attrs: dict
    in_shapes: list[Shape]
    in_dtypes: list[str]
    out_shapes: list[Shape]
    out_dtypes: list[str]
    gpu: bool


# --- helpers ------------------------------------------------------------------------------------
def _c_type(dtype: str) -> str:
    try:
        return C_TYPES[dtype]
    except KeyError:
        raise ValueError(f"unsupported dtype {dtype!r} (float32 or int32)") from None


def _index_type(*counts: int) -> str:
    """C type for element offsets: int unless some buffer is too large for it."""
    return "int" if max(counts, default=0) < _INT_INDEX_LIMIT else "long"


def _merge(dims: Dims) -> Dims:
    """Drop size-1 axes and fuse neighbours that are contiguous with each other, so that
    (size, stride) pairs like (4, 30), (5, 6), (6, 1) become (120, 1)."""
    merged: Dims = []
    for size, stride in dims:
        if size == 1:
            continue
        if merged and merged[-1][1] == stride * size:
            merged[-1] = (merged[-1][0] * size, stride)
        else:
            merged.append((size, stride))
    return merged


def _offset_expr(var: str, dims: Dims) -> str:
    """C expression for the offset of flat (row-major) position `var` of the index space `dims`;
    `var` is assumed below the product of the sizes, so the outermost axis needs no modulo."""
    terms, after = [], 1
    for axis in range(len(dims) - 1, -1, -1):
        size, stride = dims[axis]
        coord = var if after == 1 else f"{var} / {after}"
        if axis > 0:
            coord = f"({coord}) % {size}"
        if stride:
            terms.append(f"({coord})" if stride == 1 else f"({coord}) * {stride}")
        after *= size
    return " + ".join(reversed(terms)) or "0"


def _grid(count: int, gpu: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A 1-d grid of at least `count` work-items in groups of up to 256 (GPU) / 64 (CPU)."""
    group = min(256 if gpu else 64, 1 << max(count - 1, 0).bit_length())
    return (-(-count // group) * group,), (group,)


def _launch(kernel: str, source: str, count: int, args: Sequence[str], gpu: bool,
            options: str = "") -> Launch:
    global_size, local_size = _grid(count, gpu)
    return Launch(kernel, source, options, global_size, local_size, tuple(args))


# --- reductions ---------------------------------------------------------------------------------
def _plan_reduce(node: FamilyNode) -> Plan:
    """A work-item per output, or per 16 neighbouring outputs when those are contiguous columns
    (CPUs); split into lanes with a second stage through scratch when there are few outputs with
    many elements each (everything into a scalar). Contiguous rows are read as float8."""
    op, attrs, shape, gpu = node.op, node.attrs, node.in_shapes[0], node.gpu
    ndim = len(shape)
    axes = (normalise_axes((attrs.get("axis", -1),), ndim) if op == "argmax"
            else normalise_axes(attrs.get("axis"), ndim))
    strides = contiguous_strides(shape)
    kept = _merge([(shape[i], strides[i]) for i in range(ndim) if i not in axes])
    reduced = _merge([(shape[i], strides[i]) for i in axes])
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
        "reduce.cl", idx=_index_type(math.prod(shape), n_out * lanes * 2),
        in_t=_c_type(node.in_dtypes[0]), mode=_REDUCE_MODES[op], n_out=n_out, r_len=r_len,
        lanes=lanes,
        # neighbouring work-items should read neighbouring elements: lanes of one output when
        # the innermost axis is reduced (row sums), different outputs otherwise (column sums)
        lane_fastest=int(any(stride == 1 for _, stride in reduced)),
        interleaved=int(gpu and lanes > 1), rows_vec=int(rows_vec), cols_vec=int(cols_vec),
        ki=max(ki, 1), koff=_offset_expr("(k)", kept),
        roff=_offset_expr("(r)", reduced) if r_len else "0", stage1=names[0], stage2=names[1])
    if r_len == 0:
        return Plan((_launch(names[0], source, n_out, ("out0",), gpu),))
    if lanes == 1:
        return Plan((_launch(names[0], source, items, ("in0", "out0"), gpu),))
    words = n_out * lanes * (2 if op == "argmax" else 1)
    return Plan((_launch(names[0], source, items * lanes, ("in0", "scratch"), gpu),
                 _launch(names[1], source, n_out, ("scratch", "out0"), gpu)),
                scratch_bytes=4 * words)


# --- softmax ------------------------------------------------------------------------------------
def _plan_softmax(node: FamilyNode) -> Plan:
    shape = node.in_shapes[0]
    axis = normalise_axes((node.attrs.get("axis", -1),), len(shape))[0]
    outer, n, inner = math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1:])
    if outer * n * inner == 0:
        return Plan(())
    name = f"{node.op}_rows"
    source = render("softmax.cl", idx=_index_type(outer * n * inner),
                    in_t=_c_type(node.in_dtypes[0]), rows=outer * inner, n=n, inner=inner,
                    log=int(node.op == "log_softmax"), name=name)
    return Plan((_launch(name, source, outer * inner, ("in0", "out0"), node.gpu),))


# --- layout: transpose, slice, concatenate, unslice ---------------------------------------------
def _layout_source(kind: int, name: str, n_out: int, idx_count: int, out_t: str,
                   **values: object) -> str:
    """Render layout.cl; the placeholders of the other kinds get harmless fillers."""
    fill = {"in_t": "float", "src": "0", "axis_len": 1, "inner": 1, "params": "",
            "pieces": "", "locate": "", "read": "0"}
    fill.update(values)
    return render("layout.cl", idx=_index_type(idx_count, n_out), n_out=n_out, out_t=out_t,
                  kind=kind, name=name, **fill)


def _plan_gather(node: FamilyNode, name: str, base: int, dims: Dims) -> Plan:
    """out[e] = x[base + offset of e in dims]: transpose and slice."""
    n_out = math.prod(s for s, _ in dims)
    if n_out == 0:
        return Plan(())
    src = _offset_expr("(e)", _merge(dims))
    source = _layout_source(1, name, n_out, math.prod(node.in_shapes[0]),
                            _c_type(node.out_dtypes[0]), in_t=_c_type(node.in_dtypes[0]),
                            src=f"{base} + {src}" if base else src)
    return Plan((_launch(name, source, n_out, ("in0", "out0"), node.gpu),))


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
    out_t = _c_type(node.out_dtypes[0])
    params, pieces, args, start = [], [], [], 0
    for i, (shape, dtype) in enumerate(zip(node.in_shapes, node.in_dtypes, strict=True)):
        length = shape[axis]
        if length:  # the input is not empty, as the output is not
            params.append(f"__global const {_c_type(dtype)} *restrict in{i},")
            args.append(f"in{i}")
            a = f"(a - {start})" if start else "a"
            read = f"out[e] = (OUT_T)in{i}[(o * {length} + {a}) * INNER + j];"
            pieces.append((start + length, read))
        start += length
    code = [f"if (a < {end}) {read}" for end, read in pieces[:-1]] + [pieces[-1][1]]
    name = "concatenate_copy"
    source = _layout_source(2, name, n_out, n_out, out_t, axis_len=out_shape[axis], inner=inner,
                            params=" ".join(params), pieces="\n    else ".join(code))
    return Plan((_launch(name, source, n_out, (*args, "out0"), node.gpu),))


def _plan_unslice(node: FamilyNode) -> Plan:
    """Every output element checks along each sliced axis whether it is a slice position;
    in1 (`like`) only gives the output shape and is not read."""
    g_shape, out_shape, gpu = node.in_shapes[0], node.out_shapes[0], node.gpu
    n_out = math.prod(out_shape)
    if n_out == 0:
        return Plan(())
    name, out_t = "unslice_scatter", _c_type(node.out_dtypes[0])
    if math.prod(g_shape) == 0:  # nothing sliced: all zeros, g is not read
        source = _layout_source(3, name, n_out, n_out, out_t, locate="inside = false; (void)src;")
        return Plan((_launch(name, source, n_out, ("out0",), gpu),))
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
                            params=f"__global const {_c_type(node.in_dtypes[0])} *restrict g,",
                            locate="\n    ".join(lines), read="(OUT_T)g[src]")
    return Plan((_launch(name, source, n_out, ("in0", "out0"), gpu),))


# --- one-hot and random -------------------------------------------------------------------------
def _plan_one_hot(node: FamilyNode) -> Plan:
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    name = "one_hot_expand"
    source = render("one_hot.cl", idx=_index_type(n_out), n_out=n_out,
                    depth=int(node.attrs["depth"]), name=name)
    return Plan((_launch(name, source, n_out, ("in0", "out0"), node.gpu),))


def random_options() -> str:
    """Build options for random.cl: pyopencl's Random123 headers on the include path."""
    import pyopencl

    return f'-I "{os.path.join(os.path.dirname(pyopencl.__file__), "cl")}"'


def _plan_random(node: FamilyNode) -> Plan:
    """in0 only gives the shape and is not read."""
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    name = "random_uniform_philox"
    source = render("random.cl", idx=_index_type(n_out), n_out=n_out,
                    seed=f"{int(node.attrs.get('seed', 0)) & 0xFFFFFFFF}u", name=name)
    return Plan((_launch(name, source, n_out, ("out0", "call_index"), node.gpu,
                         random_options()),))


def _plan_affine(node: FamilyNode) -> Plan:
    """random_affine: one work-item per output pixel; angle and scale drawn in the kernel."""
    n_out = math.prod(node.out_shapes[0])
    if n_out == 0:
        return Plan(())
    at = node.attrs
    seed = int(at.get("seed", 0))
    name = "random_affine_bilinear"
    source = render("augment.cl", idx=_index_type(n_out), n_out=n_out,
                    height=int(at["height"]), width=int(at["width"]),
                    seed=f"{seed & 0xFFFFFFFF}u", seed1=f"{(seed + 1) & 0xFFFFFFFF}u",
                    max_rad=f"{float(at['max_degrees']) * math.pi / 180.0!r}f",
                    max_scale=f"{float(at['max_scale'])!r}f", name=name)
    return Plan((_launch(name, source, n_out, ("in0", "out0", "call_index"), node.gpu,
                         random_options()),))


# --- entry point --------------------------------------------------------------------------------
_PLANNERS: dict[str, Callable[..., Plan]] = {
    "sum": _plan_reduce, "mean": _plan_reduce, "max": _plan_reduce, "argmax": _plan_reduce,
    "softmax": _plan_softmax, "log_softmax": _plan_softmax,
    "transpose": _plan_transpose, "slice": _plan_slice, "concatenate": _plan_concatenate,
    "unslice": _plan_unslice, "one_hot": _plan_one_hot, "random_uniform_like": _plan_random,
    "random_affine": _plan_affine,
}
_PLANNERS.update(INDEXING_PLANNERS)  # backend/indexing.py (kernels/indexing.cl)

FAMILY_OPS = frozenset(_PLANNERS)


def plan_family(op: str, attrs: dict, in_shapes: list[tuple[int, ...]], in_dtypes: list[str],
                out_shapes: list[tuple[int, ...]], out_dtypes: list[str],
                device_is_gpu: bool) -> Plan:
    """The launches computing `op` for these concrete shapes and dtypes ("float32" / "int32")."""
    if op not in _PLANNERS:
        raise ValueError(f"no kernel family generates op {op!r}")
    node = FamilyNode(op, dict(attrs), [tuple(s) for s in in_shapes], list(in_dtypes),
                [tuple(s) for s in out_shapes], list(out_dtypes), bool(device_is_gpu))
    return _PLANNERS[op](node)
