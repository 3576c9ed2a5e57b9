"""Convolution and pooling over images laid out (batch, channels, rows, cols).

`conv2d` is a cross-correlation with PyTorch's semantics (the filters are not flipped; Theano's
flipping convolution is the compatibility layer's business). Its gradients are ops of their own,
`conv2d_grad_input` and `conv2d_grad_weight`, each with a kernel, and each linear in every input
so their own gradients are convolutions again (second derivatives work).

`max_pool2d` / `avg_pool2d` follow Theano's `pool_2d`: `ignore_border=True` floors the output
size, `False` keeps the partial windows at the bottom and right edges (ceil). The average divides
by the number of window elements inside the unpadded input (Theano's `average_exc_pad`), so
padding and partial windows never dilute it. The max-pool gradient goes to the FIRST maximal
element of each window in row-major order, only to it and never scaled, so a window of equal
values passes its gradient on once.

The input a gradient op only needs the shape of (`x` of conv2d_grad_input, `w` of
conv2d_grad_weight) is an input port like unslice's `like`: its kernel never reads it.
"""

from __future__ import annotations

import itertools

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops.registry import FLOAT, GRADIENTS, AttrDef, OpDef, PortDef, TensorType, register
from nodestudio.ops.shapes import fmt

CATEGORY = "Convolution"


# --- attribute pairs ----------------------------------------------------------------------------
def pair(value, name: str, low: int) -> tuple[int, int]:
    """(rows, cols) from an int or a pair of ints, each >= low; ShapeError naming the attribute."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value, value)
    try:
        a, b = value
        out = (int(a), int(b))
        ok = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    except (TypeError, ValueError):
        ok = False
    if not ok or min(out) < low or max(out) > 2**20:
        raise ShapeError(f"attribute {name!r} must be a whole number or a pair of whole numbers "
                         f">= {low}, got {value!r}")
    return out


def _conv_attrs(at) -> tuple[tuple[int, int], tuple[int, int]]:
    return pair(at["stride"], "stride", 1), pair(at["padding"], "padding", 0)


def conv_out_dim(size: int | None, k: int | None, stride: int, pad: int) -> int | None:
    if size is None or k is None:
        return None
    return max(0, (size + 2 * pad - k) // stride + 1)


def _conv_shape(types, at):
    x, w = types
    (sh, sw), (ph, pw) = _conv_attrs(at)
    for port, t in (("x", x), ("w", w)):
        if t.ndim != 4:
            axes = "B, C, H, W" if port == "x" else "F, C, KH, KW"
            raise ShapeError(f"conv2d needs a 4-d {port} ({axes}), got {fmt(t.shape)}",
                             port=port)
    if None not in (x.shape[1], w.shape[1]) and x.shape[1] != w.shape[1]:
        raise ShapeError(f"x has {x.shape[1]} channels, the filters w {fmt(w.shape)} expect "
                         f"{w.shape[1]}", port="w")
    for axis, pad in ((2, ph), (3, pw)):
        size, k = x.shape[axis], w.shape[axis]
        if None not in (size, k) and size + 2 * pad < k:
            raise ShapeError(f"the {k}-wide filters do not fit the input {fmt(x.shape)} padded "
                             f"by {pad}", port="w")
    out = (x.shape[0], w.shape[0], conv_out_dim(x.shape[2], w.shape[2], sh, ph),
           conv_out_dim(x.shape[3], w.shape[3], sw, pw))
    return [TensorType(FLOAT, out)]


def _windows(xp: np.ndarray, kh: int, kw: int, sh: int, sw: int, oh: int, ow: int) -> np.ndarray:
    """(B, C, OH, OW, KH, KW) strided view of the padded input's windows."""
    view = np.lib.stride_tricks.sliding_window_view(xp, (kh, kw), axis=(2, 3))
    return view[:, :, :oh * sh:sh, :ow * sw:sw][:, :, :oh, :ow]


def _pad(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def conv2d_reference(x, w, stride, padding):
    (sh, sw), (ph, pw) = pair(stride, "stride", 1), pair(padding, "padding", 0)
    kh, kw = w.shape[2:]
    oh, ow = (conv_out_dim(x.shape[2], kh, sh, ph), conv_out_dim(x.shape[3], kw, sw, pw))
    cols = _windows(_pad(np.asarray(x, np.float64), ph, pw), kh, kw, sh, sw, oh, ow)
    return np.einsum("bcijpq,fcpq->bfij", cols, np.asarray(w, np.float64))


def conv2d_grad_input_reference(g, w, x, stride, padding):
    (sh, sw), (ph, pw) = pair(stride, "stride", 1), pair(padding, "padding", 0)
    b, c, h, wd = x.shape
    oh, ow = g.shape[2:]
    out = np.zeros((b, c, h + 2 * ph, wd + 2 * pw))
    for p, q in itertools.product(range(w.shape[2]), range(w.shape[3])):
        out[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += np.einsum("bfij,fc->bcij", g,
                                                                   w[:, :, p, q])
    return out[:, :, ph:ph + h, pw:pw + wd]


def conv2d_grad_weight_reference(x, g, w, stride, padding):
    (sh, sw), (ph, pw) = pair(stride, "stride", 1), pair(padding, "padding", 0)
    oh, ow = g.shape[2:]
    cols = _windows(_pad(np.asarray(x, np.float64), ph, pw), w.shape[2], w.shape[3], sh, sw,
                    oh, ow)
    return np.einsum("bcijpq,bfij->fcpq", cols, g)


def _conv_grad(F, ins, outs, gs, at):
    x, w = ins
    (g,) = gs
    return [F.apply("conv2d_grad_input", g, w, x, **at),
            F.apply("conv2d_grad_weight", x, g, w, **at)]


def _grad_input_grad(F, ins, outs, gs, at):
    # out = A_w^T g is bilinear in (g, w): <gg, A_w^T g> = <conv2d(gg, w), g>
    g, w, x = ins
    (gg,) = gs
    return [F.apply("conv2d", gg, w, **at), F.apply("conv2d_grad_weight", gg, g, w, **at), None]


def _grad_weight_grad(F, ins, outs, gs, at):
    # <gw, grad_weight(x, g)> = <conv2d(x, gw), g>
    x, g, w = ins
    (gw,) = gs
    return [F.apply("conv2d_grad_input", g, gw, x, **at), F.apply("conv2d", x, gw, **at), None]


def _like_shape(x_port: int, w_port: int, g_port: int, like_port: int):
    """Shape rule of a conv gradient: the output is shaped like input `like_port` (x or w);
    the gradient `g` must be what conv2d of x and w gives."""
    def rule(types, at):
        like, x, w = types[like_port], types[x_port], types[w_port]
        (expected,) = _conv_shape([x, w], at)
        g = types[g_port]
        if g.ndim != 4 or any(None not in (a, b) and a != b
                              for a, b in zip(g.shape, expected.shape)):
            raise ShapeError(f"g {fmt(g.shape)} is not the shape conv2d gives for x "
                             f"{fmt(x.shape)} and w {fmt(w.shape)}: {fmt(expected.shape)}",
                             port="g")
        return [TensorType(FLOAT, like.shape)]
    return rule


def _conv_label(at) -> str:
    try:
        (sh, sw), (ph, pw) = _conv_attrs(at)
    except ShapeError:
        return "?"
    text = [] if (sh, sw) == (1, 1) else [f"stride {sh}" if sh == sw else f"stride {sh}x{sw}"]
    if (ph, pw) != (0, 0):
        text.append(f"pad {ph}" if ph == pw else f"pad {ph}x{pw}")
    return ", ".join(text)


CONV_ATTRS = (
    AttrDef("stride", "shape", (1, 1), "step between windows (rows, cols)"),
    AttrDef("padding", "any", (0, 0), "zeros added on each side (rows, cols)"),
)

register(OpDef("conv2d", CATEGORY,
               "2-d cross-correlation of x (B, C, H, W) with filters w (F, C, KH, KW) "
               "(PyTorch's conv2d: no flip); out (B, F, (H + 2p - KH) // s + 1, ...)",
               (PortDef("x", dtype=FLOAT), PortDef("w", dtype=FLOAT)), attrs=CONV_ATTRS,
               shape=_conv_shape, reference=conv2d_reference, kernel="conv", grad=_conv_grad,
               label=_conv_label))
register(OpDef("conv2d_grad_input", GRADIENTS,
               "gradient of conv2d with respect to its input x (a transposed convolution of g "
               "with w); x only gives the shape",
               (PortDef("g", dtype=FLOAT), PortDef("w", dtype=FLOAT), PortDef("x")),
               attrs=CONV_ATTRS, shape=_like_shape(2, 1, 0, 2),
               reference=conv2d_grad_input_reference, kernel="conv", grad=_grad_input_grad,
               label=_conv_label))
register(OpDef("conv2d_grad_weight", GRADIENTS,
               "gradient of conv2d with respect to its filters w (the correlation of x with g); "
               "w only gives the shape",
               (PortDef("x", dtype=FLOAT), PortDef("g", dtype=FLOAT), PortDef("w")),
               attrs=CONV_ATTRS, shape=_like_shape(0, 2, 1, 2),
               reference=conv2d_grad_weight_reference, kernel="conv", grad=_grad_weight_grad,
               label=_conv_label))


# --- pooling ------------------------------------------------------------------------------------
def pool_geometry(at) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """(size, stride, padding) pairs; stride None means the window size."""
    size = pair(at["size"], "size", 1)
    stride = size if at["stride"] is None else pair(at["stride"], "stride", 1)
    padding = pair(at["padding"], "padding", 0)
    if padding[0] >= size[0] or padding[1] >= size[1]:
        raise ShapeError(f"padding {padding} must be smaller than the window {size}")
    return size, stride, padding


def pool_out_dim(n: int | None, size: int, stride: int, pad: int, ignore_border: bool):
    """Theano's pool output size: floor with ignore_border, else ceil (partial last window)."""
    if n is None:
        return None
    r = n + 2 * pad
    if ignore_border:
        return max(0, (r - size) // stride + 1)
    if stride >= size:
        return (r - 1) // stride + 1 if r > 0 else 0
    return max(0, (r - 1 - size + stride) // stride) + 1 if r > 0 else 0


def _pool_shape(types, at):
    (x,) = types[:1]
    if x.ndim != 4:
        raise ShapeError(f"pooling needs a 4-d x (B, C, H, W), got {fmt(x.shape)}", port="x")
    size, stride, pad = pool_geometry(at)
    out = (*x.shape[:2], *(pool_out_dim(x.shape[2 + i], size[i], stride[i], pad[i],
                                        at["ignore_border"]) for i in range(2)))
    return [TensorType(FLOAT, out)]


def pool_windows(shape, at):
    """Yield (i, j, rows, cols): each output position and its window clipped to the input."""
    size, stride, pad = pool_geometry(at)
    h, w = shape[2:]
    oh = pool_out_dim(h, size[0], stride[0], pad[0], at["ignore_border"])
    ow = pool_out_dim(w, size[1], stride[1], pad[1], at["ignore_border"])
    for i, j in itertools.product(range(oh), range(ow)):
        r0, c0 = i * stride[0] - pad[0], j * stride[1] - pad[1]
        yield (i, j, slice(max(r0, 0), min(r0 + size[0], h)),
               slice(max(c0, 0), min(c0 + size[1], w)))


def _pool_ref(kind: str):
    def reference(x, **at):
        (out,) = _pool_shape([TensorType(FLOAT, x.shape)], at)
        y = np.zeros(out.shape)
        for i, j, rows, cols in pool_windows(x.shape, at):
            win = x[:, :, rows, cols].reshape(x.shape[0], x.shape[1], -1)
            if win.shape[-1]:
                y[:, :, i, j] = win.max(-1) if kind == "max" else win.mean(-1)
        return y
    return reference


def _max_grad_ref(x, g, **at):
    out = np.zeros(x.shape)
    b_idx, c_idx = np.meshgrid(range(x.shape[0]), range(x.shape[1]), indexing="ij")
    for i, j, rows, cols in pool_windows(x.shape, at):
        win = x[:, :, rows, cols].reshape(x.shape[0], x.shape[1], -1)
        if not win.shape[-1]:
            continue
        first = win.argmax(-1)  # NumPy's argmax: the first maximum, row-major in the window
        width = cols.stop - cols.start
        r, c = rows.start + first // width, cols.start + first % width
        out[b_idx, c_idx, r, c] += g[:, :, i, j]
    return out


def _avg_grad_ref(g, x, **at):
    out = np.zeros(x.shape)
    for i, j, rows, cols in pool_windows(x.shape, at):
        count = (rows.stop - rows.start) * (cols.stop - cols.start)
        if count:
            out[:, :, rows, cols] += (g[:, :, i, j] / count)[:, :, None, None]
    return out


def _pool_grad_shape(x_port: int, g_port: int):
    def rule(types, at):
        x, g = types[x_port], types[g_port]
        (expected,) = _pool_shape([x], at)
        if g.ndim != 4 or any(None not in (a, b) and a != b
                              for a, b in zip(g.shape, expected.shape)):
            raise ShapeError(f"g {fmt(g.shape)} is not the pooled shape of x {fmt(x.shape)}: "
                             f"{fmt(expected.shape)}", port="g")
        return [TensorType(FLOAT, x.shape)]
    return rule


def _pool_label(at) -> str:
    try:
        (kh, kw), stride, pad = pool_geometry(at)
    except ShapeError:
        return "?"
    text = [f"{kh}x{kw}"]
    if stride != (kh, kw):
        text.append(f"stride {stride[0]}" if stride[0] == stride[1] else f"stride {stride}")
    if pad != (0, 0):
        text.append(f"pad {pad[0]}" if pad[0] == pad[1] else f"pad {pad}")
    if not at["ignore_border"]:
        text.append("ceil")
    return ", ".join(text)


POOL_ATTRS = (
    AttrDef("size", "shape", (2, 2), "window (rows, cols)"),
    AttrDef("stride", "any", None, "step between windows (rows, cols); none: the window size"),
    AttrDef("padding", "any", (0, 0), "rows / cols of padding on each side (ignored by the "
            "max and the average alike); smaller than the window"),
    AttrDef("ignore_border", "bool", True, "true: drop partial windows at the bottom / right "
            "(floor); false: keep them (ceil), as Theano's pool_2d"),
)

register(OpDef("max_pool2d", CATEGORY, "maximum over each window of x (B, C, H, W)",
               (PortDef("x", dtype=FLOAT),), attrs=POOL_ATTRS, shape=_pool_shape,
               reference=_pool_ref("max"), kernel="pool", label=_pool_label,
               grad=lambda F, ins, outs, gs, at: [F.apply("max_pool2d_grad", ins[0], gs[0],
                                                          **at)]))
register(OpDef("avg_pool2d", CATEGORY,
               "mean over each window of x (B, C, H, W), counting only the elements inside the "
               "unpadded input (Theano's average_exc_pad)",
               (PortDef("x", dtype=FLOAT),), attrs=POOL_ATTRS, shape=_pool_shape,
               reference=_pool_ref("avg"), kernel="pool", label=_pool_label,
               grad=lambda F, ins, outs, gs, at: [F.apply("avg_pool2d_grad", gs[0], ins[0],
                                                          **at)]))
# max_pool2d_grad has no gradient rule of its own (it would need a gather by the windows'
# argmax): second derivatives through a max-pool are not supported.
register(OpDef("max_pool2d_grad", GRADIENTS,
               "gradient of max_pool2d: each window's g goes to the first maximal element of x "
               "in the window (row-major), only to it",
               (PortDef("x", dtype=FLOAT), PortDef("g", dtype=FLOAT)), attrs=POOL_ATTRS,
               shape=_pool_grad_shape(0, 1), reference=_max_grad_ref, kernel="pool",
               label=_pool_label))
register(OpDef("avg_pool2d_grad", GRADIENTS,
               "gradient of avg_pool2d: each window's g shared evenly by the elements it "
               "averaged; x only gives the shape",
               (PortDef("g", dtype=FLOAT), PortDef("x")), attrs=POOL_ATTRS,
               shape=_pool_grad_shape(1, 0), reference=_avg_grad_ref, kernel="pool",
               label=_pool_label,
               grad=lambda F, ins, outs, gs, at: [F.apply("avg_pool2d", gs[0], **at), None]))
