"""The pool family (max_pool2d, avg_pool2d and their gradients): kernels/pool.cl, its sizes
as -D build options. One work-item per output (forward) or per input pixel (gradients: a
gather over the windows that hold the pixel, so no atomics)."""

from __future__ import annotations

import math

from nodestudio.backend.launch import Plan
from nodestudio.backend.planners.common import FamilyNode, defines, index_type, launch
from nodestudio.backend.templates import load_source
from nodestudio.ops.conv import pool_geometry, pool_out_dim

# op -> (kernel, MAX_POOL, the input holding x's shape)
_KERNELS = {
    "max_pool2d": ("pool_forward", 1, 0), "avg_pool2d": ("pool_forward", 0, 0),
    "max_pool2d_grad": ("max_pool_backward", 1, 0), "avg_pool2d_grad": ("avg_pool_backward", 0, 1),
}  # the gradients of windows that do not overlap use pool_backward_rows instead


def plan(node: FamilyNode) -> Plan:
    kernel, is_max, x_port = _KERNELS[node.op]
    x_shape = node.in_shapes[x_port]
    (kh, kw), (sh, sw), (ph, pw) = pool_geometry(node.attrs)
    oh, ow = (pool_out_dim(x_shape[2 + i], (kh, kw)[i], (sh, sw)[i], (ph, pw)[i],
                           node.attrs["ignore_border"]) for i in range(2))
    b, c, h, w = x_shape
    count = math.prod(node.out_shapes[0])
    if count == 0:
        return Plan(())
    full = (ph, pw) == (0, 0) and (oh - 1) * sh + kh <= h and (ow - 1) * sw + kw <= w
    options = defines(b=b, c=c, h=h, w=w, oh=oh, ow=ow, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw,
                      max_pool=is_max, full_windows=int(full),
                      idx=index_type(b * c * h * w, b * c * oh * ow))
    source = load_source("pool.cl")
    if kernel == "pool_forward":
        return Plan((launch(kernel, source, b * c * oh, ("in0", "out0"), node.gpu, options),))
    if b * c * oh * ow == 0:  # no windows: the gradient is zero
        return Plan((launch("pool_zero", source, count, ("out0",), node.gpu, options),))
    g_args = ("in0", "in1", "out0") if is_max else ("in1", "in0", "out0")  # (x, g, gx)
    if sh >= kh and sw >= kw:  # windows that do not overlap: written window by window
        rows = launch("pool_backward_rows", source, b * c * oh, g_args, node.gpu, options)
        if sh == kh and sw == kw and oh * sh - ph >= h and ow * sw - pw >= w:
            return Plan((rows,))  # the windows cover the input
        return Plan((launch("pool_zero", source, count, ("out0",), node.gpu, options), rows))
    args = ("in0", "in1", "out0") if is_max else ("in0", "out0")
    return Plan((launch(kernel, source, count, args, node.gpu, options),))
