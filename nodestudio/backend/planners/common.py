"""What every kernel planner shares: the node it is given, C types and index arithmetic.

A planner turns one node with concrete shapes into a `Plan` (launches of kernels rendered from
its family's template in `kernels/`). Shapes, strides and attributes are baked into the OpenCL
source as constants (plans are cached per shape by the caller); tuning values (vector widths,
lanes, tiles) travel as `-D` build options (`defines`), so one source serves every tuning.

Conventions every plan follows:
  * a plan whose output is empty has no launches;
  * `Launch.args` never names an empty buffer (an empty input of concatenate is left out, an
    empty `g` of unslice too, and so is an input that only gives a shape);
  * 1-d kernels guard their index, so `global_size` may be rounded up to `local_size`;
  * random's "call_index" argument is a C `uint` (pass np.uint32); its options put pyopencl's
    Random123 headers on the include path.

float64: the typed templates (layout, indexing, the int paths) take `double` / `long` through
`c_type`; the templates written in `float` (reduce, softmax, the gemm) compute in double when
`in_double(node)` and their source is passed through `as_double` (a prologue that makes `float`
mean `double`, literals exact). A float32 graph's sources never change.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from nodestudio.backend.launch import Launch

Shape = tuple[int, ...]
Dims = list[tuple[int, int]]  # (size, stride in elements) per axis, outermost first

C_TYPES = {"float32": "float", "int32": "int", "float64": "double", "int64": "long"}
_INT_INDEX_LIMIT = 2**31 - 2**20  # offsets below this fit a C int with room for loop overshoot


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


def defines(**values: object) -> str:
    """Build options defining each value as a macro: `-DLANES=4 -DROWS_VEC=1`."""
    return " ".join(f"-D{name.upper()}={value}" for name, value in values.items())


def c_type(dtype: str) -> str:
    try:
        return C_TYPES[dtype]
    except KeyError:
        raise ValueError(f"unsupported dtype {dtype!r} (float32, float64, int32 or int64)"
                         ) from None


FP64_PRAGMA = "#pragma OPENCL EXTENSION cl_khr_fp64 : enable\n"
# `float` and its vectors as `double` for a template written in float: the preprocessor
# rewrites the type names, `as_double` the literals (0.1f would stay a float constant).
_DOUBLE_PROLOGUE = FP64_PRAGMA + "".join(
    f"#define float{n} double{n}\n#undef convert_float{n}\n"
    f"#define convert_float{n} convert_double{n}\n"
    for n in ("", "2", "3", "4", "8", "16"))
_FLOAT_LITERAL = re.compile(r"(?<![\w.])((?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)f\b")


def in_double(node: FamilyNode) -> bool:
    """Whether a node computes in float64 (some input or output is float64)."""
    return "float64" in node.in_dtypes or "float64" in node.out_dtypes


def as_double(source: str) -> str:
    """A template written in float, computing in double: the prologue, literals without `f`."""
    return _DOUBLE_PROLOGUE + _FLOAT_LITERAL.sub(r"\1", source)


def element_bytes(node: FamilyNode) -> int:
    """Bytes of one scratch element of a template written in float: 8 when it computes in
    double."""
    return 8 if in_double(node) else 4


def with_fp64_pragma(source: str) -> str:
    """The pragma that enables double, for a source that uses it (none otherwise)."""
    if re.search(r"\bdouble\d*\b", source) and FP64_PRAGMA not in source:
        return FP64_PRAGMA + source
    return source


def index_type(*counts: int) -> str:
    """C type for element offsets: int unless some buffer is too large for it."""
    return "int" if max(counts, default=0) < _INT_INDEX_LIMIT else "long"


def merge(dims: Dims) -> Dims:
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


def offset_expr(var: str, dims: Dims) -> str:
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


def grid(count: int, gpu: bool) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """A 1-d grid of at least `count` work-items in groups of up to 256 (GPU) / 64 (CPU)."""
    group = min(256 if gpu else 64, 1 << max(count - 1, 0).bit_length())
    return (-(-count // group) * group,), (group,)


def launch(kernel: str, source: str, count: int, args: Sequence[str], gpu: bool,
           options: str = "") -> Launch:
    global_size, local_size = grid(count, gpu)
    return Launch(kernel, source, options, global_size, local_size, tuple(args))


