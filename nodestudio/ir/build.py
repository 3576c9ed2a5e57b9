"""Functional constructors over the registry: the `ns.*` functions and the builder `F` that
gradient rules and composite expansions are written against."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ir import expr as expr_module
from nodestudio.ir.expr import Variable, apply, as_variable
from nodestudio.ops.registry import FLOAT64, FLOATS, stream_seed_of

# --- elementwise ----------------------------------------------------------------------------


def exp(x): return apply("exp", x)
def log(x): return apply("log", x)
def expm1(x): return apply("expm1", x)
def log1p(x): return apply("log1p", x)
def sqrt(x): return apply("sqrt", x)
def abs(x): return apply("abs", x)  # noqa: A001  (NumPy's name)
def square(x): return apply("square", x)
def sign(x): return apply("sign", x)
def tanh(x): return apply("tanh", x)
def sigmoid(x): return apply("sigmoid", x)
def relu(x): return apply("relu", x)
def softplus(x): return apply("softplus", x)
def leaky_relu(x, alpha: float = 0.01): return apply("leaky_relu", x, alpha=alpha)
def prelu(x, alpha): return apply("prelu", x, alpha)
def maximum(a, b): return apply("maximum", a, b)
def minimum(a, b): return apply("minimum", a, b)
def where(cond, a, b): return apply("where", cond, a, b)
def eq(a, b): return apply("equal", a, b)
def neq(a, b): return apply("not_equal", a, b)
def lt(a, b): return apply("less", a, b)
def le(a, b): return apply("less_equal", a, b)
def gt(a, b): return apply("greater", a, b)
def ge(a, b): return apply("greater_equal", a, b)
def zeros_like(x): return apply("zeros_like", x)
def sin(x): return apply("sin", x)
def cos(x): return apply("cos", x)
def erf(x): return apply("erf", x)
def gelu(x): return apply("gelu", x)
def elu(x, alpha: float = 1.0): return apply("elu", x, alpha=alpha)


def clip(x, lo, hi):
    """x limited to [lo, hi] (None: unbounded on that side). Constant bounds make one `clip`
    node (gradient 1 inside, bounds included, 0 outside; NaN stays NaN); symbolic bounds a
    selection, whose gradient also reaches the bounds where they apply."""
    def number(v):
        return v is None or isinstance(v, (int, float, np.integer, np.floating)) \
            and not isinstance(v, bool)
    if number(lo) and number(hi):
        return apply("clip", x, lo=-np.inf if lo is None else float(lo),
                     hi=np.inf if hi is None else float(hi))
    x = as_variable(x)
    if lo is not None:
        x = where(lt(x, lo), lo, x)
    if hi is not None:
        x = where(gt(x, hi), hi, x)
    return x
def ones_like(x): return apply("ones_like", x)


def pow(a, b):  # noqa: A001
    """a ** b. A constant exponent (a number or a 0-d constant) on a float base takes a fast
    path instead of the general `pow` op (a libm call per element, two orders of magnitude
    slower than a multiply): integers 0 to 4 become multiplications (2: `square`, 0: ones),
    -1 a division, 0.5 `sqrt`, any other constant the `pow_scalar` op with the exponent baked
    into the kernel (-2 and -0.5 too: through 1 / x ** 2 the gradient at 0 would be 0 * inf,
    and 1 / sqrt(-0.0) is -inf, not inf). Values, NaN and infinities are
    NumPy's, except that -inf to a non-integer power is NaN (as sqrt(-inf); C's pow says inf or
    0), and the gradient of x ** 0.5 at -0.0 is sqrt's (-inf)."""
    exponent = _constant_exponent(b)
    if exponent is None or not isinstance(a, Variable) or a.dtype not in FLOATS:
        return apply("pow", a, b)
    return _power(a, exponent)


_MULTIPLY_UP_TO = 4  # n up to this: multiplications; beyond, pown inside pow_scalar


def _constant_exponent(b) -> float | None:
    if isinstance(b, Variable):
        node = b.owner
        if node.op.name != "constant" or b.ndim != 0 or b.dtype not in FLOATS:
            return None
        value = node.data if node.data is not None else node.attrs["value"]
        return float(np.asarray(value).reshape(-1)[0])
    if isinstance(b, (int, float, np.integer, np.floating)) and not isinstance(b, bool):
        return float(b)
    if isinstance(b, np.ndarray) and b.ndim == 0 and b.dtype.kind in "if":
        return float(b)
    return None


def _power(x: Variable, c: float) -> Variable:
    if c != c:  # NaN: every element NaN, as NumPy (except 1 ** nan; left to the general op)
        return apply("pow", x, c)
    if c == -1.0:
        return 1.0 / x
    if c.is_integer() and 0 <= c <= _MULTIPLY_UP_TO:
        n = int(c)
        if n == 0:
            return ones_like(x)  # x ** 0 is 1, NaN and infinities included
        if n == 1:
            return x
        if n == 2:
            return square(x)
        return square(x) * x if n == 3 else square(square(x))
    if c == 0.5:
        return sqrt(x)
    return apply("pow_scalar", x, exponent=c)


def broadcast_like(x, like, divide_by_axes: Sequence[int] | None = None):
    """x broadcast to the shape of `like` (optionally divided by the size of those axes)."""
    return apply("broadcast_like", x, like, divide_by_axes=divide_by_axes)


# --- reductions -----------------------------------------------------------------------------


def sum(x, axis=None, keepdims: bool = False):  # noqa: A001
    return apply("sum", x, axis=_scalar_axis(x, axis), keepdims=keepdims)


def mean(x, axis=None, keepdims: bool = False):
    return apply("mean", x, axis=_scalar_axis(x, axis), keepdims=keepdims)


def max(x, axis=None, keepdims: bool = False):  # noqa: A001
    return apply("max", x, axis=_scalar_axis(x, axis), keepdims=keepdims)


def min(x, axis=None, keepdims: bool = False):  # noqa: A001
    return apply("min", x, axis=_scalar_axis(x, axis), keepdims=keepdims)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0):
    return apply("var", x, axis=_scalar_axis(x, axis), keepdims=keepdims, ddof=ddof)


def std(x, axis=None, keepdims: bool = False, ddof: int = 0):
    return apply("std", x, axis=_scalar_axis(x, axis), keepdims=keepdims, ddof=ddof)


def logsumexp(x, axis=None, keepdims: bool = False):
    return apply("logsumexp", x, axis=_scalar_axis(x, axis), keepdims=keepdims)


def _scalar_axis(x, axis):
    """Axis 0 or -1 of a 0-d value is the value itself (as PyTorch has it): no axis."""
    if isinstance(x, Variable) and x.ndim == 0 and axis is not None:
        axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
        if all(a in (0, -1) for a in axes):
            return ()
    return axis


def argmax(x, axis: int = -1, keepdims: bool = False):
    return apply("argmax", x, axis=axis, keepdims=keepdims)


def softmax(x, axis: int = -1):
    """Along one axis; a 0-d value (axis 0 or -1) is a single class: 1."""
    return _on_scalar_as_vector("softmax", x, axis)


def log_softmax(x, axis: int = -1):
    """Along one axis; a 0-d value (axis 0 or -1) is a single class: 0."""
    return _on_scalar_as_vector("log_softmax", x, axis)


def _on_scalar_as_vector(op: str, x, axis: int):
    if isinstance(x, Variable) and x.ndim == 0 and axis in (0, -1):
        return reshape(apply(op, reshape(x, (1,)), axis=0), ())
    return apply(op, x, axis=axis)


# --- structure ------------------------------------------------------------------------------


def reshape(x, shape: Sequence[int]):
    return apply("reshape", x, shape=tuple(shape))


def expand_dims(x, axis):
    return apply("expand_dims", x, axes=axis)


def squeeze(x, axis):
    return apply("squeeze", x, axes=axis)


def transpose(x, axes: Sequence[int] | None = None):
    x = as_variable(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    return apply("transpose", x, axes=tuple(axes))


def concatenate(xs: Sequence[Any], axis: int = 0):
    return apply("concatenate", *xs, axis=axis)


def slice(x, slices):  # noqa: A001
    """`slices`: one (start, stop, step) triple per leading axis, None for the defaults."""
    return apply("slice", x, slices=tuple(tuple(s) for s in slices))


def flip(x, axis=None):
    """x reversed along `axis` (an int or several; None: every axis), as NumPy's flip."""
    return apply("flip", x, axes=axis)


def pad(x, widths):
    """x with zeros around it: `widths` one (before, after) pair per leading axis (or one int
    for every axis, before and after)."""
    x = as_variable(x)
    if isinstance(widths, (int, np.integer)):
        widths = [(int(widths), int(widths))] * x.ndim
    return apply("pad", x, widths=tuple(tuple(int(v) for v in p) for p in widths))


def one_hot(labels, depth: int):
    return apply("one_hot", labels, depth=depth)


def matmul(a, b, trans_a: bool = False, trans_b: bool = False):
    """NumPy's matmul (the `@` operator): leading axes are batch axes and broadcast, so
    (8, 45, 65) @ (8, 65, 100) is 8 products; a 1-d operand is a row (a) or a column (b)
    vector, its axis removed from the result. `trans_a` / `trans_b` transpose the last two
    axes of a 2-d-or-more operand. A batch times one matrix is one product over the folded
    batch (as `dot`), not a batch of small ones."""
    a, b = _promoted(as_variable(a), as_variable(b))
    if a.dtype not in FLOATS or b.dtype not in FLOATS or (a.ndim == 2 and b.ndim == 2):
        # the op itself: its errors name the operands, not a reshape made for them here
        return apply("matmul", a, b, trans_a=trans_a, trans_b=trans_b)
    if (a.ndim < 2 and trans_a) or (b.ndim < 2 and trans_b):
        raise ShapeError("trans_a / trans_b need an operand of at least 2 dimensions")
    if a.ndim == 0 or b.ndim == 0:
        raise ShapeError("matmul does not take scalars (use *)", port="a" if a.ndim == 0 else "b")
    if b.ndim <= 2 and not trans_a:  # one matrix (or vector) for the whole batch: folded
        return dot(a, b if not trans_b else transpose(b))
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    b2 = expand_dims(b, 1) if b.ndim == 1 else b
    out = apply("matmul", a2, b2, trans_a=trans_a, trans_b=trans_b)
    if a.ndim == 1:
        out = squeeze(out, -2 if b.ndim > 1 else (-2, -1))
    if b.ndim == 1:
        out = squeeze(out, -1)
    return out


def dot(a, b):
    """NumPy's dot: vectors and matrices, and N-d @ 2-d by folding the leading dimensions."""
    a, b = as_variable(a), as_variable(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    _check_float_operands(a, b)
    a, b = _promoted(a, b)
    if b.ndim > 2:
        raise ShapeError(f"dot supports a right operand of at most 2 dimensions, got {b.ndim}",
                         port="b")
    a2 = expand_dims(a, 0) if a.ndim == 1 else a
    if a.ndim > 2:
        a2 = reshape(a, (-1, _dim(a.shape[-1])))
    b2 = expand_dims(b, 1) if b.ndim == 1 else b
    out = matmul(a2, b2)
    if a.ndim == 1 and b.ndim == 1:
        return squeeze(out, (0, 1))
    if a.ndim == 1:
        return squeeze(out, 0)
    if b.ndim == 1:
        return squeeze(out, 1) if a.ndim == 2 else reshape(out, (*_fill(a.shape[:-1]),))
    if a.ndim > 2:
        return reshape(out, (*_fill(a.shape[:-1]), _dim(b.shape[1])))
    return out


def _check_float_operands(a: Variable, b: Variable) -> None:
    """Products are of floats: say so naming the operand as given, before any reshaping node
    (whose made-up name would mean nothing to the user) is built around it."""
    for port, var in (("a", a), ("b", b)):
        if var.dtype not in FLOATS:
            raise ShapeError(f"expects float32 or float64, got {var.dtype} from {var.name!r}",
                             port=port)


def _promoted(a: Variable, b: Variable) -> tuple[Variable, Variable]:
    """A product of float64 and float32 is computed in float64 (NumPy's promotion): the
    float32 operand is cast."""
    if a.dtype in FLOATS and b.dtype in FLOATS and a.dtype != b.dtype:
        a, b = (apply("cast", v, dtype=FLOAT64) if v.dtype != FLOAT64 else v for v in (a, b))
    return a, b


def _dim(d: int | None) -> int:
    return -1 if d is None else d


def _fill(dims: Sequence[int | None]) -> list[int]:
    free = [d for d in dims if d is None]
    if len(free) > 1:
        raise ShapeError("dot can fold at most one free leading dimension", port="a")
    return [-1 if d is None else d for d in dims]


# --- random, nn composites --------------------------------------------------------------------


def random_uniform_like(x, seed: int | None = None):
    """Uniform [0, 1) numbers shaped like x, new on every call. Without a seed each call makes
    its own stream, seeded from the node's name (the op's seed -1, resolved when built)."""
    return apply("random_uniform_like", x, seed=-1 if seed is None else seed)


def dropout(x, p: float = 0.5, seed: int | None = None, mode: str = "auto"):
    """Without a seed, every dropout draws its own masks (a stream seeded from its node's
    name); dropouts given one seed share their masks."""
    return apply("dropout", x, p=p, seed=-1 if seed is None else seed, mode=mode)


def stream_seed(seed: int) -> int:
    """The Philox seed of a random op built inside a composite's expansion: `seed` itself, or
    for -1 ("a stream of its own") one drawn from the composite's node name, the scope the
    expansion runs in. Names are stable in a document and follow build order in the API."""
    if seed >= 0:
        return seed
    return stream_seed_of(expr_module._scope.get().rstrip("/"))  # the one place reading it


def dense(x, W, b):
    return apply("dense", x, W, b)


def sum_to(g: Variable, shape: Sequence[int | None]) -> Variable:
    """Undo broadcasting: sum `g` over the axes along which a value of `shape` was broadcast."""
    lead = g.ndim - len(shape)
    if lead > 0:
        g = sum(g, axis=tuple(range(lead)))
    axes = tuple(i for i, (gd, d) in enumerate(zip(g.shape, shape)) if d == 1 and gd != 1)
    if axes:
        g = sum(g, axis=axes, keepdims=True)
    return g




# --- losses and penalties (composites) ---------------------------------------------------------


def softmax_cross_entropy(logits, labels):
    return apply("softmax_cross_entropy", logits, labels)


def binary_cross_entropy(p, target):
    return apply("binary_cross_entropy", p, target)


def squared_error(prediction, target):
    return apply("squared_error", prediction, target)


def absolute_error(prediction, target):
    return apply("absolute_error", prediction, target)


def classification_error(scores, labels):
    return apply("classification_error", scores, labels)


def l1_penalty(w, weight: float = 1.0):
    return apply("l1_penalty", w, weight=weight)


def l2_penalty(w, weight: float = 1.0):
    return apply("l2_penalty", w, weight=weight)


# --- convolution and pooling (images laid out B, C, H, W) ----------------------------------------


def _pair(value) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        return tuple(value)  # type: ignore[return-value]  (the op's shape rule checks it)
    return (value, value)


def conv2d(x, w, stride=(1, 1), padding=(0, 0)):
    """Cross-correlation of x (B, C, H, W) with filters w (F, C, KH, KW), PyTorch's semantics
    (no flip); `stride` and `padding` are an int or a (rows, cols) pair."""
    return apply("conv2d", x, w, stride=_pair(stride), padding=_pair(padding))


def max_pool2d(x, size=(2, 2), stride=None, padding=(0, 0), ignore_border: bool = True):
    """Max over windows of x (B, C, H, W); stride None: the window size; ignore_border False
    keeps partial windows at the edges (Theano's pool_2d). Gradient: to each window's first max."""
    return apply("max_pool2d", x, size=_pair(size),
                 stride=None if stride is None else _pair(stride), padding=_pair(padding),
                 ignore_border=ignore_border)


def avg_pool2d(x, size=(2, 2), stride=None, padding=(0, 0), ignore_border: bool = True):
    """Mean over windows of x (B, C, H, W), counting only elements inside the unpadded input
    (Theano's mode='average_exc_pad')."""
    return apply("avg_pool2d", x, size=_pair(size),
                 stride=None if stride is None else _pair(stride), padding=_pair(padding),
                 ignore_border=ignore_border)
