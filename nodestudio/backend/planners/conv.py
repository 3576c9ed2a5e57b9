"""The conv family (conv2d, conv2d_grad_input, conv2d_grad_weight): im2col + the generated
SGEMM of `backend/gemm.py`, all launches of one plan (kernels/conv.cl).

Per image, the columns matrix COLS_b (K x P: a row per filter tap (c, kh, kw), a column per
output position (oh, ow)) turns the convolution into matrix products:
  forward      OUT_b   = W @ COLS_b       batched gemm (W broadcast): NCHW with no permute
  grad input   GCOLS_b = W^T @ G_b        batched gemm, then col2im (a gather per input pixel)
  grad weight  GW      = G_NF^T @ COLS_NK one gemm whose k loop runs over the whole batch
                                          (columns as N x K, the gradient permuted to N x F)
so the register-blocked CPU micro-kernel (or, on a GPU, the local-memory tiled kernel) does
the arithmetic: the gemm's variant follows the device as matmul's does. Buffers: "scratch" is
the gemm's own, "scratch1" the columns, "scratch2" G_NF. Sizes travel as -D build options, so
conv.cl's text never changes.
"""

from __future__ import annotations

from nodestudio.backend import gemm
from nodestudio.backend.launch import Launch, Plan
from nodestudio.backend.planners.common import FamilyNode, defines, index_type, launch
from nodestudio.backend.planners.matmul import ITEM_BYTES, bind_gemm
from nodestudio.backend.templates import load_source
from nodestudio.ops.conv import conv_out_dim, pair


def plan(node: FamilyNode) -> Plan:
    at = node.attrs
    (sh, sw), (ph, pw) = pair(at["stride"], "stride", 1), pair(at["padding"], "padding", 0)
    if node.op == "conv2d":
        x_shape, w_shape = node.in_shapes
    elif node.op == "conv2d_grad_input":
        _, w_shape, x_shape = node.in_shapes
    else:
        x_shape, _, w_shape = node.in_shapes
    b, c, h, w = x_shape
    f, _, kh, kw = w_shape
    oh, ow = conv_out_dim(h, kh, sh, ph), conv_out_dim(w, kw, sw, pw)
    n, k = b * oh * ow, c * kh * kw
    source = load_source("conv.cl")
    options = defines(b=b, c=c, h=h, w=w, f=f, kh=kh, kw=kw, sh=sh, sw=sw, ph=ph, pw=pw, oh=oh,
                      ow=ow, idx=index_type(n * max(k, f), b * c * h * w))
    variant = gemm.gemm_variant_for(node.gpu)

    def step(kernel: str, count: int, *args: str) -> tuple[Launch, ...]:
        return (launch(kernel, source, count, args, node.gpu, options),) if count else ()

    def loops(kernel: str, count: int, *args: str) -> tuple[Launch, ...]:
        """A CPU kernel whose work-items each run long contiguous loops: one per group, so
        PoCL vectorises the loops themselves rather than across work-items."""
        return (Launch(kernel, source, options, (count,), (1,), args),) if count else ()

    def im2col(layout: str) -> tuple[Launch, ...]:
        if node.gpu:  # a work-item per row of output positions (kp) / per filter row (nk)
            return step(f"conv_im2col_{layout}", b * k * oh if layout == "kp" else n * c * kh,
                        "in0", "scratch1")
        if layout == "kp":
            return loops("conv_im2col_kp_planes", b * c, "in0", "scratch1")
        return loops("conv_im2col_nk_rows", b * oh, "in0", "scratch1")

    batch = gemm.Batch(((b, 0, 1),))  # W broadcast over the images, one matrix per image
    if node.op == "conv2d":  # OUT_b (F x P) = W (F x K) @ COLS_b (K x P)
        if n * f == 0:
            return Plan(())
        g = gemm.plan_gemm(f, oh * ow, k, variant=variant, batch=batch)
        launches = (*im2col("kp"),
                    *bind_gemm(g, {"A": "in1", "B": "scratch1", "C": "out0"}))
        return Plan(launches, g.scratch_floats * ITEM_BYTES, (n * k * ITEM_BYTES,))
    if node.op == "conv2d_grad_weight":  # GW (F x K) = G_NF^T @ COLS_NK
        if f * k == 0:
            return Plan(())
        g = gemm.plan_gemm(f, k, n, trans_a=True, variant=variant)
        launches = (*im2col("nk"),
                    *step("conv_nchw_to_nf", n * f, "in1", "scratch2"),
                    *bind_gemm(g, {"A": "scratch2", "B": "scratch1", "C": "out0"}))
        return Plan(launches, g.scratch_floats * ITEM_BYTES, (n * k * ITEM_BYTES,
                                                              n * f * ITEM_BYTES))
    # conv2d_grad_input: GCOLS_b (K x P) = W^T (K x F) @ G_b (F x P), then col2im
    count = b * c * h * w
    if count == 0:
        return Plan(())
    if n == 0 or f == 0:  # no output positions or no filters: nothing reaches x
        return Plan(step("conv_zero", count, "out0"))
    g = gemm.plan_gemm(k, oh * ow, f, trans_a=True, variant=variant, batch=batch)
    if node.gpu:  # a work-item per input pixel gathers its taps
        col2im = step("conv_col2im", count, "scratch1", "out0")
    else:  # a work-item per image plane adds the taps into it, in contiguous loops
        col2im = loops("conv_col2im_planes", b * c, "scratch1", "out0")
    launches = (*bind_gemm(g, {"A": "in1", "B": "in0", "C": "scratch1"}), *col2im)
    return Plan(launches, g.scratch_floats * ITEM_BYTES, (n * k * ITEM_BYTES,))
