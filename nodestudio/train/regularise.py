"""Regularisation for the Trainer, applied to a loaded graph without editing its file.

* `weight_penalty`: l1 * sum |W| + l2 * sum W² over the trainable weight matrices (parameters
  with ndim >= 2: biases and batch-norm scales are left alone), added to the training loss.
* `gaussian_noise`: x + std * N(0, 1), drawn on the device from two uniform streams by
  Box-Muller (sin by an odd polynomial: the registry has no trigonometric op). It corrupts
  what the model reads, not what it is compared with: the `target` port of a loss
  (squared_error, absolute_error, binary_cross_entropy) keeps the clean x, so an autoencoder
  trained with input noise is a denoising autoencoder (see `feed_input`).
* `label_smoothing`: each softmax cross-entropy of the loss becomes
  (1 - eps) * CE + eps * mean over rows of -mean_k log_softmax(logits)_k.
* `drop_connect`: each weight matrix is masked (per call, i.e. per minibatch) like dropout on
  the weights, W * mask / (1 - p); inference uses W itself.
* `random_shift`: image augmentation, each example of a minibatch moved by a random whole
  number of pixels in [-s, s] along each image axis (zeros shifted in), on the device.
* `random_affine`: image augmentation, each example of a minibatch rotated by a random angle in
  [-degrees, degrees] and scaled by a random factor in [1 - scale, 1 + scale] about the image
  centre (bilinear, zeros outside), per example and per call, by the `random_affine` op.
* `max_norm`: the update of each weight matrix is rescaled, column by column (the
  incoming weights of one unit of `x @ W`), to a norm of at most C, inside the update
  expression of the training function (no extra step or host round trip).

`Regularisation` bundles the settings (`Trainer(..., regularisation=...)`, the `nodestudio
train` flags); `training_loss(loss, x, params)` gives the loss the training function minimises
and `constrain(updates, params)` the updates with the max-norm constraint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from nodestudio.ir import build as F
from nodestudio.ir.expr import Variable, apply, make_apply, toposort
from nodestudio.ir.rewrite import substitute
from nodestudio.ir.shared import SharedVariable

NOISE_SEEDS = (0x5EED1, 0x5EED2)  # the two uniform streams of the input noise
DROP_CONNECT_SEED = 0xDC00  # + the index of the weight matrix
SHIFT_SEEDS = (0x5F1, 0x5F2)  # the row and column shift streams
AFFINE_SEED = 0xAFF0  # the angle stream; the scale stream is AFFINE_SEED + 1


def weight_matrices(params: Sequence[SharedVariable]) -> list[SharedVariable]:
    return [p for p in params if p.ndim >= 2]


def weight_penalty(params: Sequence[SharedVariable], l1: float = 0.0, l2: float = 0.0
                   ) -> Variable | None:
    """l1 * sum |W| + l2 * sum W² over the weight matrices; None when both are 0."""
    total = None
    for W in weight_matrices(params):
        for weight, op in ((l1, "l1_penalty"), (l2, "l2_penalty")):
            if weight:
                term = apply(op, W, weight=float(weight))
                total = term if total is None else total + term
    return total


def _sin(s: Variable) -> Variable:
    """sin(s) for |s| <= pi/2, Taylor to s**11 (error below 1e-7)."""
    s2 = F.square(s)
    acc = None
    for k in (11, 9, 7, 5, 3):  # Horner in s²: 1 - s²/3! (1 - s²/(4*5) (1 - ...))
        c = 1.0 / ((k - 1) * k)
        acc = 1.0 - s2 * c if acc is None else 1.0 - s2 * c * acc
    return s * acc


def standard_normal_like(x: Variable, seeds: tuple[int, int] = NOISE_SEEDS) -> Variable:
    """N(0, 1) numbers shaped like x, new on every call: Box-Muller from two uniform streams,
    sqrt(-2 log(1 - u1)) * sin(pi (u2 - 1/2)) (sin(pi (U - 1/2)) has the law of cos(2 pi U))."""
    u1 = F.random_uniform_like(x, seed=seeds[0])
    u2 = F.random_uniform_like(x, seed=seeds[1])
    radius = F.sqrt(-2.0 * F.log(1.0 - u1))
    return radius * _sin((u2 - 0.5) * math.pi)


def gaussian_noise(x: Variable, std: float, seeds: tuple[int, int] = NOISE_SEEDS) -> Variable:
    return x + standard_normal_like(x, seeds) * float(std)


def _smoothed(node, eps: float) -> Variable:
    logits, labels = node.inputs
    uniform = -F.mean(F.mean(F.log_softmax(logits, axis=-1), axis=-1))
    return node.outputs[0] * (1.0 - eps) + uniform * eps


def label_smoothing(loss: Variable, eps: float) -> Variable:
    """`loss` with each softmax_cross_entropy in it smoothed by eps."""
    nodes = [n for n in toposort([loss]) if n.op.name == "softmax_cross_entropy"]
    if not nodes:
        raise ValueError("label smoothing needs a softmax_cross_entropy in the loss")
    return substitute([loss], {n.outputs[0]: _smoothed(n, eps) for n in nodes})[0]


def drop_connect(loss: Variable, params: Sequence[SharedVariable], p: float) -> Variable:
    """`loss` with each weight matrix W replaced by W * mask / (1 - p), a new mask per call."""
    weights = weight_matrices(params)
    masked = {W: F.dropout(W, p=p, seed=DROP_CONNECT_SEED + i, mode="train")
              for i, W in enumerate(weights)}
    return substitute([loss], masked)[0] if masked else loss


def max_norm(W: Variable, limit: float) -> Variable:
    """W with each column whose Euclidean norm exceeds `limit` scaled down to it."""
    norms = F.sqrt(F.sum(F.square(W), axis=0, keepdims=True))
    return W * F.minimum(1.0, limit / F.maximum(norms, 1e-12))


def _shifted(x3: Variable, axis: int, d: int) -> Variable:
    """x3 (N, H, W) moved by d along axis (1 or 2): out[i] = x3[i - d], zeros shifted in."""
    if d == 0:
        return x3
    full = (None, None, None)

    def cut(start, stop):
        spec = [full, full, full]
        spec[axis] = (start, stop, None)
        return F.slice(x3, spec)
    zeros = F.zeros_like(cut(0, abs(d)))
    parts = [zeros, cut(None, -d)] if d > 0 else [cut(-d, None), zeros]
    return F.concatenate(parts, axis=axis)


def random_shift(x: Variable, max_shift: int, image_shape: tuple[int, int] = (28, 28),
                 seeds: tuple[int, int] = SHIFT_SEEDS) -> Variable:
    """Each row of x (N, H*W) or image (N, H, W) moved by (dy, dx), each drawn uniformly from
    [-max_shift, max_shift] per example and per call: dy = floor(u * (2s + 1)) - s with u from
    a uniform stream, rows first, then columns."""
    if max_shift == 0:
        return x
    height, width = image_shape
    x3 = F.reshape(x, (-1, height, width))
    n = 2 * max_shift + 1
    first = ((None, None, None), (0, 1, None), (0, 1, None))
    out = x3
    for axis, seed in ((1, seeds[0]), (2, seeds[1])):
        u = F.random_uniform_like(F.slice(x3, first), seed=seed)  # (N, 1, 1)
        total = None
        for k in range(n):  # candidate k is the shift k - s, chosen where k/n <= u < (k+1)/n
            below = F.lt(u, (k + 1) / n) if k < n - 1 else None
            above = F.ge(u, k / n) if k > 0 else None
            mask = below * 1.0 if above is None else above * 1.0 if below is None else \
                above * below
            term = _shifted(out, axis, k - max_shift) * mask
            total = term if total is None else total + term
        out = total
    return F.reshape(out, tuple(-1 if d is None else d for d in x.shape))


def random_affine(x: Variable, max_degrees: float, max_scale: float = 0.0,
                  image_shape: tuple[int, int] = (28, 28), seed: int = AFFINE_SEED) -> Variable:
    """Each image of x (N, H*W) or (N, H, W) rotated by up to max_degrees and scaled by up to
    1 ± max_scale about its centre, drawn per example and per call (see ops/augment.py)."""
    if not max_degrees and not max_scale:
        return x
    height, width = image_shape
    return apply("random_affine", x, height=height, width=width,
                 max_degrees=float(max_degrees), max_scale=float(max_scale), seed=seed)


def feed_input(loss: Variable, x: Variable, seen: Variable, target: Variable) -> Variable:
    """`loss` with the input `x` replaced by `seen` where the model reads it, and by `target`
    where a loss compares with it: in the `target` port of a loss op, and in whatever feeds
    that port from x (a reshape of x). For a denoising autoencoder, `seen` is the corrupted x
    and `target` the clean one."""
    if seen is target:
        return substitute([loss], {x: seen})[0]
    loss_nodes = [n for n in toposort([loss])
                  if "target" in n.op.input_names(n.attrs)]
    targets = [v for n in loss_nodes for port, v in zip(n.op.input_names(n.attrs), n.inputs)
               if port == "target"]
    needs_clean = {id(n) for n in toposort(targets)} if targets else set()
    clean, model = {id(x): target}, {id(x): seen}  # old variable id -> its new version
    for node in toposort([loss]):
        if node is x.owner:
            continue
        ports = node.op.ir_input_names(node.attrs)  # a layer's own parameters too
        for mapping in ((model, clean) if id(node) in needs_clean else (model,)):
            inputs = [(clean if port == "target" or mapping is clean else model).get(id(v), v)
                      for port, v in zip(ports, node.inputs)]
            if all(a is b for a, b in zip(inputs, node.inputs)):
                continue
            attrs = {k: v for k, v in node.attrs.items() if not (k == "n" and node.op.variadic)}
            clone = make_apply(node.op, inputs, attrs, node.name, node.data)
            for old, new in zip(node.outputs, clone.outputs):
                mapping[id(old)] = new
    return model.get(id(loss), loss)


@dataclass(frozen=True)
class Regularisation:
    l1: float = 0.0
    l2: float = 0.0
    input_noise: float = 0.0  # standard deviation
    label_smoothing: float = 0.0
    max_norm: float | None = None
    drop_connect: float = 0.0
    shift: int = 0  # random image shifts of up to this many pixels (28 x 28 inputs)
    rotate_degrees: float = 0.0  # random rotations of up to this many degrees (28 x 28 inputs)
    scale: float = 0.0  # random zooms by a factor in [1 - scale, 1 + scale] (28 x 28 inputs)

    def __post_init__(self) -> None:
        for name in ("l1", "l2", "input_noise"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name.replace('_', '-')} must be a number >= 0, got {value!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label-smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0.0 <= self.drop_connect < 1.0:
            raise ValueError(f"drop-connect must be in [0, 1), got {self.drop_connect!r}")
        if isinstance(self.shift, bool) or not isinstance(self.shift, int) or not (
                0 <= self.shift <= 4):
            raise ValueError(f"shift must be a whole number of pixels in [0, 4], got "
                             f"{self.shift!r}")
        if not (isinstance(self.rotate_degrees, (int, float)) and not isinstance(
                self.rotate_degrees, bool) and 0.0 <= self.rotate_degrees <= 180.0):
            raise ValueError(f"rotate must be a number of degrees in [0, 180], got "
                             f"{self.rotate_degrees!r}")
        if not (isinstance(self.scale, (int, float)) and not isinstance(self.scale, bool)
                and 0.0 <= self.scale <= 0.9):
            raise ValueError(f"scale must be a fraction in [0, 0.9], got {self.scale!r}")
        if self.max_norm is not None and not (math.isfinite(self.max_norm)
                                              and self.max_norm > 0):
            raise ValueError(f"max-norm must be a number > 0, got {self.max_norm!r}")

    @property
    def active(self) -> bool:
        return bool(self.l1 or self.l2 or self.input_noise or self.label_smoothing
                    or self.max_norm or self.drop_connect or self.shift
                    or self.rotate_degrees or self.scale)

    def training_loss(self, loss: Variable, x: Variable,
                      params: Sequence[SharedVariable]) -> Variable:
        """The loss the training function minimises (evaluation keeps the plain loss)."""
        if self.label_smoothing:
            loss = label_smoothing(loss, self.label_smoothing)
        if self.drop_connect:
            loss = drop_connect(loss, params, self.drop_connect)
        seen = x
        if self.shift or self.rotate_degrees or self.scale:
            if None in x.shape[1:] or math.prod(x.shape[1:]) != 784:
                what = "random shifts" if self.shift else "random rotations and scalings"
                raise ValueError(f"{what} need 28 x 28 images as input 'x'; it is {x.type}")
        if self.rotate_degrees or self.scale:
            seen = random_affine(seen, self.rotate_degrees, self.scale)
        if self.shift:
            seen = random_shift(seen, self.shift)
        augmented = seen  # a moved image is another example: the target moves with it
        if self.input_noise:  # noise corrupts what the model reads, never the target
            seen = gaussian_noise(seen, self.input_noise)
        if seen is not x:
            loss = feed_input(loss, x, seen, augmented)
        penalty = weight_penalty(params, self.l1, self.l2)
        return loss if penalty is None else loss + penalty

    def constrain(self, updates: Sequence[tuple[SharedVariable, Variable]],
                  params: Sequence[SharedVariable]) -> list[tuple[SharedVariable, Variable]]:
        """The max-norm constraint on the updates of the weight matrices among `params`
        (optimizer state is left alone)."""
        if not self.max_norm:
            return list(updates)
        weights = {id(W) for W in weight_matrices(params) if W.ndim == 2}
        return [(p, max_norm(e, self.max_norm) if id(p) in weights else e) for p, e in updates]


__all__ = ["Regularisation", "drop_connect", "feed_input",
           "gaussian_noise", "label_smoothing", "max_norm", "random_affine", "random_shift",
           "standard_normal_like", "weight_penalty"]
