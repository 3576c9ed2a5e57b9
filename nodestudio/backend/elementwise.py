"""Code generation for fused elementwise groups: one kernel, one work-item per element.

Each node's C expression (from the registry) is inlined with its operands; intermediate values
live in registers, only the group's inputs are loaded and only its outputs are stored.

Each node computes in its output's type: float32 nodes exactly as they always have (their source
is unchanged), float64 nodes in double with exact literals (the registry's `0.5f` written
`0.5`, constants and attributes at full precision), int64 nodes in long. A source that uses
double starts with the cl_khr_fp64 pragma.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence

from nodestudio.backend.launch import Launch, Plan
from nodestudio.backend.planners.common import C_TYPES, with_fp64_pragma
from nodestudio.backend.planners.random import random_options
from nodestudio.backend.templates import load_source, render
from nodestudio.ir.fusion import Group, is_fusable_draw, is_inline_constant
from nodestudio.ops.registry import FLOAT, FLOAT64, INT, INT64
from nodestudio.ops.shapes import contiguous_strides

_OPERAND = re.compile(r"(?<![\w.])([abc])(?![\w])")
# double versions of kernels/elementwise.cl's helpers, added to a kernel with float64 nodes
_DOUBLE_HELPERS = """inline double ns_log1p_exp_neg_d(double a)
{
    return log1p(exp(-a));
}
"""
# kernels/elementwise.cl's float helpers and what a double node calls instead: the helper
# above, or OpenCL's own function (exact enough in double); longest name first
_DOUBLE_VERSIONS = (("ns_log1p_exp_neg(", "ns_log1p_exp_neg_d("), ("ns_log1p(", "log1p("),
                    ("ns_log(", "log("))
MIN_ROW = 32  # the shortest last axis a 2-d grid is used for (it vectorises along it)
_FLOAT_LITERAL = re.compile(r"(?<![\w.])((?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)f\b")
_SATURATE = {INT: "convert_int_sat", INT64: "convert_long_sat"}


def c_literal(value: object, double: bool = False) -> str:
    """A C literal: floats as float constants (`0.1f`), or, for a node computing in double,
    as double constants (`0.1`) so that nothing is rounded to float32 on the way."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return "NAN"
    if math.isinf(number):
        return "INFINITY" if number > 0 else "(-INFINITY)"
    return f"{number!r}" if double else f"{number!r}f"


def _offset(shape: Sequence[int], out_shape: Sequence[int], by_rows: bool = False) -> str:
    """C expression for the flat offset into a broadcast input at output element `i`. On the
    2-d grid (`by_rows`), from `c`, the coordinate on the last axis, and `r`, the flat index
    over the other axes: no division or modulo for the last axis."""
    if tuple(shape) == tuple(out_shape):
        return "i"
    if math.prod(shape) == 1:
        return "0"
    padded = (1,) * (len(out_shape) - len(shape)) + tuple(shape)
    in_strides = contiguous_strides(padded)
    flat, strides = ("r", contiguous_strides(out_shape[:-1])) if by_rows else \
        ("i", contiguous_strides(out_shape))
    terms = []
    for axis, dim in enumerate(padded):
        if dim == 1:
            continue
        if by_rows and axis == len(padded) - 1:
            coord = "c"
        else:
            coord = flat if strides[axis] == 1 else f"({flat} / {strides[axis]})"
            if axis > 0:
                coord = f"({coord} % {out_shape[axis]})"
        terms.append(coord if in_strides[axis] == 1 else f"{coord} * {in_strides[axis]}")
    return " + ".join(terms) or "0"


def linear_index(index_t: str, total: int) -> str:
    """The index lines of a 1-d kernel of `total` work-items (kernels/elementwise.cl)."""
    return f"    const {index_t} i = get_global_id(0);\n    if (i >= {total}) return;"


def _by_rows(group: Group, shapes: Mapping[int, tuple[int, ...]],
             out_shape: Sequence[int]) -> bool:
    """Whether the 2-d grid pays: an input broadcast against a matrix-like output whose rows
    are long enough to vectorise along."""
    if len(out_shape) < 2 or out_shape[-1] < MIN_ROW or math.prod(out_shape) == 0:
        return False
    return any(tuple(shapes[id(v)]) != tuple(out_shape) and math.prod(shapes[id(v)]) != 1
               for v in group.inputs)


def plan_elementwise(group: Group, shapes: Mapping[int, tuple[int, ...]], name: str) -> Plan:
    out_shape = shapes[id(group.nodes[-1].outputs[0])]
    total = math.prod(out_shape)
    index_t = "int" if total < 2**31 - 1 else "long"
    by_rows = _by_rows(group, shapes, out_shape)
    if by_rows:
        columns = out_shape[-1]
        index = (f"    const int c = get_global_id(0);\n    const {index_t} r = get_global_id(1);"
                 f"\n    const {index_t} i = r * {columns} + c;")
        grid: tuple[int, ...] = (columns, total // columns)
    else:
        index, grid = linear_index(index_t, total), (max(total, 1),)
    params: list[str] = []
    body: list[str] = []
    local: dict[int, str] = {}
    args: list[str] = []
    for k, var in enumerate(group.inputs):
        ctype = C_TYPES[var.dtype]
        params.append(f"__global const {ctype}* restrict in{k}")
        args.append(f"in{k}")
        local[id(var)] = f"x{k}"
        offset = _offset(shapes[id(var)], out_shape, by_rows)
        body.append(f"    const {ctype} x{k} = in{k}[{offset}];")
    doubles = draws = False
    for j, node in enumerate(group.nodes):
        out = node.outputs[0]
        if is_fusable_draw(node):  # its element index is the kernel's: the same numbers
            seed = int(node.attrs.get("seed", 0)) & 0xFFFFFFFF
            local[id(out)] = f"t{j}"
            body.append(f"    float t{j}; NS_UNIFORM(t{j}, {seed}u, (uint)i, call_index);")
            draws = True
            continue
        double = out.dtype == FLOAT64
        operands = []
        for var in node.inputs:
            if is_inline_constant(var):
                text = c_literal(var.owner.attrs["value"], double)
            else:
                text = local[id(var)]
            if out.dtype == FLOAT and var.dtype != FLOAT:
                text = f"(float){text}"
            elif double and var.dtype != FLOAT64:
                text = f"(double){text}"
            operands.append(f"({text})")
        expr = node.op.expr or ""
        if double:
            expr = _FLOAT_LITERAL.sub(r"\1", expr)
            for helper, double_version in _DOUBLE_VERSIONS:
                expr = expr.replace(helper, double_version)
            doubles = True
        values = {k: c_literal(v, double) for k, v in node.attrs.items()
                  if isinstance(v, (int, float)) and v is not None}
        hook = node.op.extra.get("expr_params")
        if hook:
            in_shapes = [shapes[id(v)] for v in node.inputs]
            values.update({k: c_literal(float(v), double)
                           for k, v in hook(node.attrs, in_shapes).items()})
        expr = expr.format(**values) if "{" in expr else expr
        expr = _OPERAND.sub(lambda m: operands["abc".index(m.group(1))], expr)
        local[id(out)] = f"t{j}"
        # to int through OpenCL's saturating conversion: NaN gives 0 and values beyond the
        # integer type its bounds, the same on every device (a C cast of them is undefined)
        if out.dtype in _SATURATE:
            value = f"{_SATURATE[out.dtype]}({expr})"
        else:
            value = f"({C_TYPES[out.dtype]})({expr})"
        body.append(f"    const {C_TYPES[out.dtype]} t{j} = {value};")
    for k, var in enumerate(group.outputs):
        params.append(f"__global {C_TYPES[var.dtype]}* restrict out{k}")
        args.append(f"out{k}")
        body.append(f"    out{k}[i] = {local[id(var)]};")
    options = "-cl-mad-enable"
    if draws:
        params.append("const uint call_index")
        args.append("call_index")
        options += " " + random_options()
    source = render("elementwise.cl", name=name, params=", ".join(params), index=index,
                    body="\n".join(body))
    if doubles:  # the helpers' double versions (the template's are float: no fp64 needed)
        source = source.replace("__kernel void", _DOUBLE_HELPERS + "__kernel void", 1)
    if draws:
        source = load_source("uniform.cl") + source
    source = with_fp64_pragma(source)
    launch = Launch(name, source, options, grid, None, tuple(args))
    return Plan((launch,))
