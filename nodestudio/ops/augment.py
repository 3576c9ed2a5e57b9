"""Augmentation ops: random geometric transforms of images, new on every call.

`random_affine` rotates and scales each image of a minibatch about its centre by an angle and a
scale drawn per example and per call from two Philox uniform streams (the same generator as
`random_uniform_like`: element n of a stream is word 0 of philox4x32 with counter
(n, call index) and key (stream seed, 0x5EED5EED)); the angle stream uses `seed`, the scale
stream `seed + 1`:

    angle = (2 u_a - 1) * max_degrees * pi / 180,   scale = 1 + (2 u_s - 1) * max_scale

Each output pixel (r, c) reads the input by bilinear interpolation at the inverse-mapped point
(centre cy = (H - 1) / 2, cx = (W - 1) / 2, dy = r - cy, dx = c - cx):

    sx = cx + ( cos(angle) dx + sin(angle) dy) / scale
    sy = cy + (-sin(angle) dx + cos(angle) dy) / scale

with zeros outside the image (each of the four neighbours that falls outside counts as 0). With
rows pointing down, a positive angle turns the picture clockwise on screen.
The op has no gradient: augmentation is applied to input data only.
"""

from __future__ import annotations

import math

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ops import philox
from nodestudio.ops.registry import FLOAT, AttrDef, OpDef, PortDef, TensorType, register


def draws(count: int, seed: int, call: int, max_degrees: float, max_scale: float
          ) -> tuple[np.ndarray, np.ndarray]:
    """Per-example angles (radians) and scales of one call, float64."""
    ua = philox.uniform(count, seed & 0xFFFFFFFF, call)
    us = philox.uniform(count, (seed + 1) & 0xFFFFFFFF, call)
    angle = (2.0 * ua - 1.0) * max_degrees * math.pi / 180.0
    scale = 1.0 + (2.0 * us - 1.0) * max_scale
    return angle, scale


def affine_images(images: np.ndarray, angle: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """images (N, H, W) resampled per example about the centre, bilinear, zeros outside."""
    n, h, w = images.shape
    out = np.zeros((n, h, w), dtype=np.float64)
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")
    cy, cx = (h - 1) / 2.0, (w - 1) / 2.0
    dy, dx = rows - cy, cols - cx
    for i in range(n):
        c, s, k = math.cos(angle[i]), math.sin(angle[i]), 1.0 / scale[i]
        sx = cx + (c * dx + s * dy) * k
        sy = cy + (-s * dx + c * dy) * k
        x0, y0 = np.floor(sx), np.floor(sy)
        fx, fy = sx - x0, sy - y0
        x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
        img = images[i]
        acc = np.zeros((h, w))
        for oy, wy in ((0, 1.0 - fy), (1, fy)):
            for ox, wx in ((0, 1.0 - fx), (1, fx)):
                yy, xx = y0 + oy, x0 + ox
                inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)
                val = np.where(inside, img[np.clip(yy, 0, h - 1), np.clip(xx, 0, w - 1)], 0.0)
                acc += wy * wx * val
        out[i] = acc
    return out


def _reference(x, height, width, max_degrees, max_scale, seed, _call=0):
    x = np.asarray(x, dtype=np.float64)
    images = x.reshape(-1, height, width)
    angle, scale = draws(len(images), seed, _call, max_degrees, max_scale)
    return affine_images(images, angle, scale).reshape(x.shape)


def _shape(types, at):
    (t,) = types
    h, w = at["height"], at["width"]
    if t.ndim == 2:
        ok = t.shape[1] is None or t.shape[1] == h * w
    elif t.ndim == 3:
        ok = all(d is None or d == e for d, e in zip(t.shape[1:], (h, w)))
    else:
        ok = False
    if not ok:
        raise ShapeError(f"random_affine needs images of shape (N, {h * w}) or (N, {h}, {w}); "
                         f"got {t}", port="x")
    return [TensorType(FLOAT, t.shape)]


register(OpDef("random_affine", "Augmentation",
               "rotate and scale each image about its centre by a random angle in "
               "[-max_degrees, max_degrees] and scale in [1 - max_scale, 1 + max_scale], new "
               "per example and per call (bilinear, zeros outside)",
               (PortDef("x", dtype=FLOAT),),
               attrs=(AttrDef("height", "int", 28, "image rows", low=1),
                      AttrDef("width", "int", 28, "image columns", low=1),
                      AttrDef("max_degrees", "float", 10.0, "largest rotation, degrees",
                              low=0.0, high=180.0),
                      AttrDef("max_scale", "float", 0.1, "largest relative zoom in or out",
                              low=0.0, high=0.9),
                      AttrDef("seed", "int", 0, "angle stream seed (scale: seed + 1)", low=0)),
               shape=_shape, reference=_reference, kernel="augment", stateful=True,
               grad=lambda F, ins, outs, gs, at: [None]))
