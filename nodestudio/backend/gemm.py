"""Single-precision matrix multiply: C = op(A) @ op(B), generated per shape.

Two kernel families, filled from `kernels/gemm_cpu.cl` and `kernels/gemm_gpu.cl`:

* "cpu" (PoCL and other CPU drivers): a BLAS-style micro-kernel. Each work-item owns a block of
  the output in named vector accumulators (`c3_0`, ...), loads rows of one operand with vloadN,
  broadcasts scalars of the other and runs the whole k loop itself; no local memory, no
  barriers. On PoCL a textbook tiled kernel manages 5-13 GFLOP/s where this runs at BLAS speed
  (~215 GFLOP/s on 2 Zen 4 cores, OpenBLAS: ~200). Edge blocks get their own exactly-sized
  code, so full blocks run without guards. The vector operand must be stored with the output's
  columns contiguous; otherwise it is first transposed into the scratch buffer.
* "gpu": classic local-memory tiles with a register micro-tile per work-item and barriers;
  a small output with a long k (the output layer's weight gradient, batch x 10 products) is
  split over k into partial products in scratch that a second kernel adds, so that it keeps
  the whole GPU busy rather than a few of its compute units.

Sizes are baked into the source as constants, so everything here specialises on the shape.
"""

from __future__ import annotations

import functools
import math
import re
import string
from dataclasses import dataclass

from nodestudio.backend.launch import Launch
from nodestudio.backend.templates import load_source, render

__all__ = ["Launch", "Batch", "GemmPlan", "plan_gemm", "gemm_variant_for", "BUILD_OPTIONS"]

# -cl-mad-enable only licenses a*b+c -> fma; the kernels call fma() explicitly anyway (PoCL
# leaves `mad` and `a*b+c` as separate multiply and add: 2.8x slower). No fast-relaxed-math:
# it would change results.
BUILD_OPTIONS = "-cl-mad-enable"

# Vector registers a CPU block may fill with accumulators and loaded rows of Y: AVX-512 has 32;
# the rest hold the broadcast scalar and spill-free slack. More and PoCL spills to the stack.
_CPU_REGISTERS = 28
_CPU_NR = 16            # columns per full CPU block: one float16 vector
_CPU_MR = 24            # rows per full CPU block (at most; see _cpu_blocking)
_CPU_UNROLL = 4         # k steps per loop iteration
_TRANSPOSE_TILE = 8     # matches the 8 x 8 tile of the transpose kernel in gemm_cpu.cl
_ALIASING_STRIDE = 1024  # floats: X rows this far apart (4 KiB) share an L1 set


@dataclass(frozen=True)
class GemmPlan:
    launches: tuple[Launch, ...]  # run in order on an in-order queue
    scratch_floats: int           # float32 elements of the scratch buffer needed (0 = none)


def gemm_variant_for(device_is_gpu: bool) -> str:
    return "gpu" if device_is_gpu else "cpu"


@dataclass(frozen=True)
class Batch:
    """The batch axes of a batched product (NumPy matmul broadcasting): per axis of C's batch
    shape, (size, step of A, step of B) with steps counted in whole matrices, 0 where that
    operand is broadcast along the axis. C's matrices follow one another."""

    axes: tuple[tuple[int, int, int], ...] = ()

    @property
    def count(self) -> int:
        return math.prod(size for size, _, _ in self.axes)

    def matrices(self, operand: int) -> int:
        """How many matrices operand 0 (A) or 1 (B) holds."""
        return math.prod(size for size, *steps in self.axes if steps[operand])

    def index(self, operand: int, z: str = "z") -> str:
        """C expression of the matrix of operand 0 (A) or 1 (B) that C's matrix `z` reads."""
        terms, after = [], 1
        for size, *steps in reversed(self.axes):
            step = steps[operand]
            coord = z if after == 1 else f"{z} / {after}"
            if after * size < self.count:
                coord = f"({coord}) % {size}"
            if step:
                terms.append(f"({coord}) * {step}")
            after *= size
        return " + ".join(reversed(terms)) or "0"

    @staticmethod
    def broadcast(a_batch: tuple[int, ...], b_batch: tuple[int, ...]) -> Batch:
        """The batch of C for operands with these batch shapes (NumPy broadcasting)."""
        ndim = max(len(a_batch), len(b_batch))
        a = (1,) * (ndim - len(a_batch)) + tuple(a_batch)
        b = (1,) * (ndim - len(b_batch)) + tuple(b_batch)
        axes, a_step, b_step = [], 1, 1
        for da, db in reversed(list(zip(a, b))):
            if da != db and 1 not in (da, db):
                raise ValueError(f"batch shapes {a_batch} and {b_batch} do not broadcast")
            axes.append((max(da, db) if 0 not in (da, db) else 0,
                         a_step if da != 1 else 0, b_step if db != 1 else 0))
            a_step *= da
            b_step *= db
        return Batch(tuple(reversed(axes)))


def plan_gemm(m: int, n: int, k: int, *, trans_a: bool = False, trans_b: bool = False,
              variant: str = "cpu", batch: Batch = Batch()) -> GemmPlan:
    """Launches computing C (m x n) = op(A) @ op(B) with A stored (m, k) or, when `trans_a`,
    (k, m), and B stored (k, n) or, when `trans_b`, (n, k). All row-major float32. With a
    `batch`, one such product per matrix of C, as the third dimension of the grid."""
    if min(m, n, k) < 0:
        raise ValueError(f"matrix sizes must be >= 0, got m={m}, n={n}, k={k}")
    if m == 0 or n == 0 or batch.count == 0:  # an empty product: nothing to compute
        return GemmPlan((), 0)
    if k == 0:  # sums of nothing: zeros, as in NumPy
        return GemmPlan((_zero_fill(m * n * batch.count),), 0)
    if variant == "cpu":
        return _plan_cpu(m, n, k, bool(trans_a), bool(trans_b), batch=batch)
    if variant == "gpu":
        return _plan_gpu(m, n, k, bool(trans_a), bool(trans_b), batch)
    raise ValueError(f"unknown gemm variant {variant!r} (expected 'cpu' or 'gpu')")


def _zero_fill(count: int) -> Launch:
    name = f"gemm_zero_{count}"
    source = (f"__kernel void {name}(__global float *restrict C)\n{{\n"
              f"    const size_t i = get_global_id(0);\n    if (i < {count}) C[i] = 0.0f;\n}}\n")
    return Launch(name, source, BUILD_OPTIONS, (count,), None, ("C",))


def _kernel_name(prefix: str, m: int, n: int, k: int, trans_a: bool, trans_b: bool) -> str:
    return f"{prefix}_{'t' if trans_a else 'n'}{'t' if trans_b else 'n'}_{m}x{n}x{k}"


def _layout(trans_a: bool, trans_b: bool) -> str:
    return (f"A stored {'(k, m)' if trans_a else '(m, k)'}, "
            f"B stored {'(n, k)' if trans_b else '(k, n)'}")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ---------------------------------------------------------------------------------------------
# CPU micro-kernel
#
# The kernel computes D = X @ Y, where Y must be stored (k, d_cols) row-major (vector loads
# along D's columns) and X may be read with any strides (one scalar per row and k step).
# "normal" form: D = C, X = op(A), Y = op(B).  "swapped" form: D = C^T, X = op(B)^T, Y = op(A)^T,
# stored back transposed. Swapping puts the vectors along m, which is what thin products (n=10)
# need, and makes a stored-(k, m) A directly usable as Y. When Y's operand is stored the wrong
# way round it is first transposed into the scratch buffer.

# Relative costs for choosing the form, in units of one vector FMA instruction (rough fit on
# PoCL / Zen 4, where the choice only matters for thin or transposed products): a float moved
# by the transpose kernel ~3, a scalar (transposed) store of C ~1, an extra launch ~10k.
_COST_TRANSPOSE = 3.0
_COST_STORE_T = 1.0
_COST_LAUNCH = 10_000.0


def _segments(width: int) -> list[tuple[int, int]]:
    """Split `width` columns into (offset, vector width) pieces: float16s, then one piece per
    remaining power of two, so any width is covered exactly with native vector loads/stores."""
    pieces = [(offset, 16) for offset in range(0, width - 15, 16)]
    offset = len(pieces) * 16
    for w in (8, 4, 2, 1):
        if width - offset >= w:
            pieces.append((offset, w))
            offset += w
    return pieces


def _vtype(width: int) -> str:
    return "float" if width == 1 else f"float{width}"


def _cpu_block(rows: int, cols: int, k: int, x_steps: tuple[int, int], y_stride: int, ldc: int,
               store_transposed: bool, unroll: int) -> str:
    """The code of one `rows` x `cols` block of D.

    `x` points at X[i0, 0]; element (r, p) is x[r * x_steps[0] + p * x_steps[1]]. `y` points at
    Y[0, j0] with row stride `y_stride`; `c` at D[i0, j0] inside C (row stride `ldc`). Blocks
    with many vector pieces per row (odd edge widths) are done a few rows at a time so the
    accumulators still fit in registers. `unroll`: k steps per loop iteration.
    """
    pieces = _segments(cols)
    chunk = max(1, min(rows, _rows_that_fit(len(pieces), unroll)))
    return "\n".join(_cpu_rows(r0, min(chunk, rows - r0), pieces, k, x_steps, y_stride, ldc,
                               store_transposed, unroll) for r0 in range(0, rows, chunk))


def _cpu_rows(r0: int, rows: int, pieces: list[tuple[int, int]], k: int, x_steps: tuple[int, int],
              y_stride: int, ldc: int, store_transposed: bool, unroll: int) -> str:
    """Rows r0 .. r0+rows-1 of a block: declarations, the k loop, the stores. Everything is
    unrolled into named variables: PoCL keeps private arrays on the stack, so an array of
    accumulators would go through memory on every FMA."""
    xr, xk = x_steps
    ind = " " * 8
    widths = [w for _, w in pieces]
    out = [f"{ind}{{   // rows {r0}..{r0 + rows - 1}, vector widths {widths}"]
    for r in range(rows):
        out.append(ind + "    " + " ".join(f"{_vtype(w)} c{r}_{s} = 0.0f;"
                                           for s, w in enumerate(widths)))
    out.append(f"{ind}    const __global float* xp = x + {r0 * xr};")
    out.append(f"{ind}    const __global float* yp = y;")

    def steps(count: int, pad: str) -> list[str]:
        """`count` consecutive k steps at constant offsets from xp / yp."""
        body = []
        for u in range(count):
            for s, (off, w) in enumerate(pieces):
                at = u * y_stride + off
                load = f"yp[{at}]" if w == 1 else f"vload{w}(0, yp + {at})"
                body.append(f"{pad}const {_vtype(w)} y{u}_{s} = {load};")
        # Visit X in memory order: with rows k-contiguous (A as stored (m, k)) go row by row,
        # so each row's cache line serves `count` steps back to back instead of competing with
        # the other rows' lines for the same L1 set in between.
        order = ([(r, u) for u in range(count) for r in range(rows)] if xr == 1 and xk != 1
                 else [(r, u) for r in range(rows) for u in range(count)])
        for r, u in order:
            fmas = " ".join(
                f"c{r}_{s} = fma({'v' if w == 1 else f'({_vtype(w)})(v)'}, y{u}_{s}, c{r}_{s});"
                for s, w in enumerate(widths))
            body.append(f"{pad}{{ const float v = xp[{r * xr + u * xk}]; {fmas} }}")
        return body

    # fma() and not mad() or a*b+c: PoCL emits a separate multiply and add for those
    # (measured 2.8x slower).
    main = k - k % unroll
    if main:
        out.append(f"{ind}    for (int p = 0; p < {main}; p += {unroll}, "
                   f"xp += {unroll * xk}, yp += {unroll * y_stride}) {{")
        out += steps(unroll, ind + " " * 8)
        out.append(f"{ind}    }}")
    if k % unroll:
        out.append(f"{ind}    {{   // the last {k % unroll} of k")
        out += steps(k % unroll, ind + " " * 8)
        out.append(f"{ind}    }}")
    for r in range(r0, r0 + rows):
        for s, (off, w) in enumerate(pieces):
            acc = f"c{r - r0}_{s}"
            if not store_transposed:
                at = r * ldc + off
                out.append(f"{ind}    c[{at}] = {acc};" if w == 1
                           else f"{ind}    vstore{w}({acc}, 0, c + {at});")
            else:  # D[r, off + e] is C[off + e, r]
                out.append(ind + "    " + " ".join(
                    f"c[{(off + e) * ldc + r}] = {acc}{'' if w == 1 else f'.s{e:x}'};"
                    for e in range(w)))
    out.append(f"{ind}}}")
    return "\n".join(out)


def _rows_that_fit(pieces: int, unroll: int) -> int:
    """Rows of accumulators (`pieces` vectors each) that fit in registers next to the
    `unroll` x `pieces` loaded vectors of Y."""
    return max(1, (_CPU_REGISTERS - unroll * pieces) // pieces)


def _cpu_blocking(d_rows: int, d_cols: int) -> tuple[int, int]:
    """Rows and columns of a full block of D. Measured on PoCL 3.1 / Zen 4: 16x16, 12x32 and
    24x16 all reach ~215 GFLOP/s on NN 128x800x784, but when the panels come from L3 (TN with
    k = 600, or C^T for NT 128x784x800) the taller 24x16 block, with more FMAs per byte loaded,
    stays near 200 where 16x16 drops to ~165. A narrow D (n = 10: float8 + float2 per row)
    gets as many rows as fit in registers."""
    nr = min(_CPU_NR, d_cols)
    mr = min(_CPU_MR, _rows_that_fit(len(_segments(nr)), _CPU_UNROLL))
    return min(mr, d_rows), nr


def _form_cost(d_rows: int, d_cols: int, k: int) -> float:
    """Estimated vector instructions of the k loops: FMAs plus half a unit per broadcast."""
    fmas = d_cols // 16 + len(_segments(d_cols % 16))
    return d_rows * k * (fmas + 0.5 * _ceil_div(d_cols, _CPU_NR))


def _prefer_swapped(m: int, n: int, k: int, trans_a: bool, trans_b: bool) -> bool:
    """Whether computing C^T is cheaper: it wins for thin n (n = 10: full float16 vectors along
    m instead of float8 + float2) and when A is smaller than B to transpose."""
    normal = _form_cost(m, n, k)
    if trans_b:
        normal += _COST_TRANSPOSE * n * k + _COST_LAUNCH
    swapped = _form_cost(n, m, k) + _COST_STORE_T * m * n
    if not trans_a:
        swapped += _COST_TRANSPOSE * m * k + _COST_LAUNCH
    return swapped < normal


@functools.cache
def _cpu_templates() -> dict[str, string.Template]:
    """The sections of gemm_cpu.cl (header, transpose, gemm), cut at its "---8<---" lines."""
    parts = re.split(r"^// ---8<--- (\w+)\n", load_source("gemm_cpu.cl"), flags=re.MULTILINE)
    return {parts[i]: string.Template(parts[i + 1]) for i in range(1, len(parts), 2)}


def _plan_cpu(m: int, n: int, k: int, trans_a: bool, trans_b: bool,
              swapped: bool | None = None, batch: Batch = Batch()) -> GemmPlan:
    name = _kernel_name("gemm_cpu", m, n, k, trans_a, trans_b)
    if batch.axes:
        name += "_b" + "x".join(str(size) for size, _, _ in batch.axes)
    if swapped is None:
        swapped = _prefer_swapped(m, n, k, trans_a, trans_b)
    # X element (r, p) is at r * x_steps[0] + p * x_steps[1] in its buffer; Y is usable in
    # place only when stored (k, d_cols).
    if swapped:  # D = C^T: X[j, p] = op(B)[p, j], Y = op(A)^T
        d_rows, d_cols, x_role, y_role, y_in_place = n, m, "B", "A", trans_a
        x_steps = (k, 1) if trans_b else (1, n)
        form = "D = C^T, X = op(B)^T, Y = op(A)^T"
    else:
        d_rows, d_cols, x_role, y_role, y_in_place = m, n, "A", "B", not trans_b
        x_steps = (1, m) if trans_a else (k, 1)
        form = "D = C, X = op(A), Y = op(B)"

    # Operands that do not suit the kernel are copied, transposed, into the scratch buffer:
    # (kernel, buffer role, rows as stored, offset in scratch). Each is stored (rows, k).
    # With a batch, each operand's matrices (and their copies in scratch) lie one after
    # another; work-item z of the grid's third dimension computes C's matrix z.
    operand = {"A": 0, "B": 1}
    transposes: list[tuple[str, str, int, int]] = []
    scratch = 0
    x_arg, x_base = x_role, 0
    if x_steps[1] == 1 and x_steps[0] % _ALIASING_STRIDE == 0 and d_rows >= 8:
        # Rows of X a multiple of 4 KiB apart all fall in one L1 set and evict each other on
        # every k step (1024^3 ran at half speed); read a (k, d_rows) copy instead.
        transposes.append((f"{name}_tx", x_role, d_rows, scratch))
        x_arg, x_base, x_steps = "scratch", scratch, (1, d_rows)
        scratch += d_rows * k * batch.matrices(operand[x_role])
        form += f", X^T in scratch[{x_base}:]"
    y_arg, y_base = y_role, 0
    if not y_in_place:
        transposes.append((f"{name}_ty", y_role, d_cols, scratch))
        y_arg, y_base = "scratch", scratch
        scratch += d_cols * k * batch.matrices(operand[y_role])
        form += f", Y in scratch[{y_base}:]"
    x_batch = y_batch = c_batch = ""
    if batch.axes:
        x_batch = f" + (size_t)({batch.index(operand[x_role])}) * {d_rows * k}"
        y_batch = f" + (size_t)({batch.index(operand[y_role])}) * {d_cols * k}"
        c_batch = f" + (size_t)z * {m * n}"
        form += f", batch {batch.count} (grid dimension 2)"

    mr, nr = _cpu_blocking(d_rows, d_cols)
    rows_edge, cols_edge = d_rows % mr, d_cols % nr
    # A small output with a long k (a conv's weight gradient: k runs over every position of
    # the batch) is split over k: slice z sums its part into partials in scratch, which a
    # second kernel adds. Otherwise a few work-items would each stream all of k from memory.
    slices = 1 if batch.axes else _cpu_split(_ceil_div(d_rows, mr) * _ceil_div(d_cols, nr), k)
    depth = k // slices
    c_arg, c_base = "C", 0
    if slices > 1:
        c_arg, c_base = "scratch", scratch
        scratch += slices * m * n
        x_batch = f" + (size_t)z * {depth * x_steps[1]}"
        y_batch = f" + (size_t)z * {depth * d_cols}"
        c_batch = f" + {c_base} + (size_t)z * {m * n}" if c_base else f" + (size_t)z * {m * n}"
        form += f", k split in {slices} slices of {depth} (grid dimension 2), partials in " \
                f"scratch[{c_base}:]"

    def block(rows: int, cols: int) -> str:
        if rows == 0 or cols == 0:
            return " " * 8 + "// not reached: no such edge for this shape"
        # Only full blocks are unrolled over k: edges are a small share of the work and
        # unrolling them too would double the source, and PoCL's build time with it.
        unroll = _CPU_UNROLL if (rows, cols) == (mr, nr) else 1
        return _cpu_block(rows, cols, depth, x_steps, d_cols, n, swapped, unroll)

    def offset(base: int, term: str) -> str:
        return f"{base} + {term}" if base else term

    templates = _cpu_templates()
    common = dict(name=name, m=m, n=n, k=k, d_rows=d_rows, d_cols=d_cols, mr=mr, nr=nr,
                  layout=_layout(trans_a, trans_b), form=form)
    source = "".join([
        templates["header"].substitute(common),
        *(templates["transpose"].substitute(kernel=kernel, operand=role, rows=rows, cols=k,
                                            offset=base)
          for kernel, role, rows, base in transposes),
        templates["gemm"].substitute(
            common,
            x_origin=offset(x_base, "i0" if x_steps[0] == 1 else f"(size_t)i0 * {x_steps[0]}")
            + x_batch,
            y_origin=offset(y_base, "j0") + y_batch,
            c_origin=(f"(size_t)j0 * {n} + i0" if swapped else f"(size_t)i0 * {n} + j0")
            + c_batch,
            full_block=block(mr, nr), right_block=block(mr, cols_edge),
            bottom_block=block(rows_edge, nr), corner_block=block(rows_edge, cols_edge))])
    def grid(*sizes: int, count: int) -> tuple[int, ...]:
        return (*sizes, count) if batch.axes or slices > 1 else sizes

    launches = [Launch(kernel=kernel, source=source, options=BUILD_OPTIONS,
                       global_size=grid(_ceil_div(k, _TRANSPOSE_TILE),
                                        _ceil_div(rows, _TRANSPOSE_TILE),
                                        count=batch.matrices(operand[role])),
                       local_size=grid(1, 1, count=1), args=(role, "scratch"))
                for kernel, role, rows, _ in transposes]
    launches.append(Launch(kernel=name, source=source, options=BUILD_OPTIONS,
                           global_size=grid(_ceil_div(d_rows, mr), _ceil_div(d_cols, nr),
                                            count=batch.count * slices),
                           # One work-item per work-group: PoCL then runs each block as its own
                           # task (plenty for every core) and never vectorises across items.
                           local_size=grid(1, 1, count=1), args=(x_arg, y_arg, c_arg)))
    if slices > 1:
        sum_name = f"{name}_sum{slices}"
        launches.append(Launch(
            kernel=sum_name, source=templates["sum"].substitute(
                name=sum_name, mn=m * n, slices=slices, base=c_base),
            options=BUILD_OPTIONS, global_size=(_ceil_div(m * n, 16),), local_size=None,
            args=("scratch", "C")))
    return GemmPlan(tuple(launches), scratch)


# Split k on CPUs when the output has fewer blocks than this ...
_CPU_SPLIT_BLOCKS = 128
_CPU_SPLIT_MIN_K = 4096  # ... and k is at least this long, into slices of at most
_CPU_SPLIT_DEPTH = 2048  # this many steps (a divisor of k: every slice runs the same code)


def _cpu_split(blocks: int, k: int) -> int:
    """How many slices of k a CPU gemm with `blocks` blocks of output runs in (1: no split)."""
    if blocks >= _CPU_SPLIT_BLOCKS or k < _CPU_SPLIT_MIN_K:
        return 1
    want = _ceil_div(k, _CPU_SPLIT_DEPTH)
    for slices in range(want, 4 * want + 1):
        if k % slices == 0 and (k // slices) % _CPU_UNROLL == 0:
            return slices
    return 1


# ---------------------------------------------------------------------------------------------
# GPU tiled kernel

_GPU_THREADS = 16       # work-group is 16 x 16
_GPU_TK = 16            # depth of the k slice staged in local memory
# Split k when the output has fewer tiles than this: enough work-groups to fill a big GPU
# (132 compute units on an H100, about four groups each) ...
_GPU_TARGET_GROUPS = 512
_GPU_MIN_DEPTH = 128    # ... as long as each slice still runs this many steps of k


def _gpu_micro(m_or_n: int) -> int:
    """Register micro-tile extent along one axis: 4 for big matrices, smaller for thin ones so
    a 1-row or 10-column product does not compute a 64-wide tile of zeros."""
    for w in (4, 2):
        if m_or_n > _GPU_THREADS * w // 2:
            return w
    return 1


def _plan_gpu(m: int, n: int, k: int, trans_a: bool, trans_b: bool,
              batch: Batch = Batch()) -> GemmPlan:
    name = _kernel_name("gemm_gpu", m, n, k, trans_a, trans_b)
    if batch.axes:
        name += "_b" + "x".join(str(size) for size, _, _ in batch.axes)
    lx = ly = _GPU_THREADS
    wm, wn = _gpu_micro(m), _gpu_micro(n)
    tm, tn, tk = ly * wm, lx * wn, _GPU_TK
    ind = " " * 12
    declare = "\n".join("    " + " ".join(f"float acc{r}_{c} = 0.0f;" for c in range(wn))
                        for r in range(wm))
    micro = [ind + " ".join(f"const float a{r} = As[kk][ty + {r * ly}];" for r in range(wm)),
             ind + " ".join(f"const float b{c} = Bs[kk][tx + {c * lx}];" for c in range(wn))]
    micro += [ind + " ".join(f"acc{r}_{c} = fma(a{r}, b{c}, acc{r}_{c});" for c in range(wn))
              for r in range(wm)]
    groups = _ceil_div(n, tn) * _ceil_div(m, tm)
    # A batch takes the grid's third dimension (and its matrices fill the device): no k split.
    slices, depth = _gpu_split(groups, k) if not batch.axes else (1, _ceil_div(k, tk) * tk)
    offset = f"(size_t)get_group_id(2) * {m * n} + " if slices > 1 else ""
    store = []
    for r in range(wm):
        for c in range(wn):
            store.append(f"    {{ const int i = row0 + ty + {r * ly}, j = col0 + tx + {c * lx};\n"
                         f"      if (i < {m} && j < {n}) C[{offset}(size_t)i * {n} + j] = "
                         f"acc{r}_{c}; }}")
    # Consecutive `t` walks the stored matrix's contiguous axis (coalesced global reads).
    if trans_a:   # A stored (k, m): i contiguous
        a_ii, a_kk, a_index = f"t % {tm}", f"t / {tm}", f"(size_t)p * {m} + i"
    else:         # A stored (m, k): p contiguous
        a_ii, a_kk, a_index = f"t / {tk}", f"t % {tk}", f"(size_t)i * {k} + p"
    if trans_b:   # B stored (n, k): p contiguous
        b_jj, b_kk, b_index = f"t / {tk}", f"t % {tk}", f"(size_t)j * {k} + p"
    else:         # B stored (k, n): j contiguous
        b_jj, b_kk, b_index = f"t % {tn}", f"t / {tn}", f"(size_t)p * {n} + j"
    source = render(
        "gemm_gpu.cl", name=name, m=m, n=n, k=k, lx=lx, ly=ly, wm=wm, wn=wn, tm=tm, tn=tn, tk=tk,
        layout=_layout(trans_a, trans_b), declare=declare, micro_tile="\n".join(micro),
        store="\n".join(store), a_ii=a_ii, a_kk=a_kk, a_index=a_index,
        b_jj=b_jj, b_kk=b_kk, b_index=b_index, slices=slices, depth=depth,
        slice="0" if batch.axes else "get_group_id(2)",
        batch=(f"    {{ const size_t z = get_group_id(2);\n"
               f"      A += (size_t)({batch.index(0)}) * {m * k};\n"
               f"      B += (size_t)({batch.index(1)}) * {k * n};\n"
               f"      C += z * {m * n}; }}") if batch.axes else "")
    grid = (_ceil_div(n, tn) * lx, _ceil_div(m, tm) * ly, batch.count if batch.axes else slices)
    if slices == 1:
        return GemmPlan((Launch(kernel=name, source=source, options=BUILD_OPTIONS,
                                global_size=grid, local_size=(lx, ly, 1),
                                args=("A", "B", "C")),), 0)
    total = _ceil_div(m * n, 64) * 64
    sum_name = f"{name}_sum{slices}"
    return GemmPlan((
        Launch(kernel=name, source=source, options=BUILD_OPTIONS, global_size=grid,
               local_size=(lx, ly, 1), args=("A", "B", "scratch")),
        Launch(kernel=sum_name, source=render("gemm_gpu_sum.cl", name=sum_name, mn=m * n,
                                              slices=slices),
               options=BUILD_OPTIONS, global_size=(total,), local_size=(64,),
               args=("scratch", "C"))), slices * m * n)


def _gpu_split(groups: int, k: int) -> tuple[int, int]:
    """(slices, depth) of k: one slice of all of k unless the output has too few tiles to
    fill the device and k is long; a slice's depth is a whole number of staged steps."""
    want = min(_GPU_TARGET_GROUPS // max(groups, 1), k // _GPU_MIN_DEPTH)
    if want < 2:
        return 1, _ceil_div(k, _GPU_TK) * _GPU_TK
    depth = _ceil_div(_ceil_div(k, want), _GPU_TK) * _GPU_TK
    return _ceil_div(k, depth), depth
