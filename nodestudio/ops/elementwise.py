"""Elementwise ops: each is one C expression (over operands a, b, c) that the fusion pass can
inline, a NumPy float64 reference and a gradient rule. Broadcasting follows NumPy; gradients are
summed back over broadcast axes in one place (autodiff), not here."""

from __future__ import annotations

import re

import numpy as np

from nodestudio.ops.registry import AttrDef, OpDef, PortDef, register
from nodestudio.ops.shapes import elementwise_type, normalise_axes

X = (PortDef("x"),)
AB = (PortDef("a"), PortDef("b"))


def _shape(int_ok: bool, check=None):
    def rule(types, attrs):
        if check is not None:
            check(attrs)
        return [elementwise_type(types, [f"{'abc'[i]}" for i in range(len(types))], int_ok)]
    return rule


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# OpenCL built-ins that turn NaN into a number: fmax(NaN, 0) and max(NaN, 0) are 0, sign(NaN)
# is 0, clamp and step are undefined for NaN. NumPy and PyTorch propagate NaN through maximum,
# relu and sign, and the divergence guard relies on NaN reaching the loss, so op expressions
# must not use them: write the selection with a comparison that is false for NaN instead
# (`(a < 0.0f) ? 0.0f : a` keeps NaN).
NAN_SWALLOWING = ("fmax", "fmin", "max", "min", "sign", "clamp", "step", "smoothstep")
_NAN_SWALLOWING_CALL = re.compile(r"(?<![\w.])(" + "|".join(NAN_SWALLOWING) + r")\s*\(")


def elementwise(name: str, category: str, doc: str, expr: str, reference, grad=None, *,
                inputs=X, attrs=(), int_ok: bool = False, label=None, legacy=(),
                expr_params=None, check=None) -> OpDef:
    """Register an elementwise op; `check(attrs)` (optional) refuses bad attribute combinations
    with a ShapeError before the shape rule runs."""
    swallowing = _NAN_SWALLOWING_CALL.search(expr)
    if swallowing:
        raise ValueError(f"op {name!r}: {swallowing.group(1)}() in the C expression {expr!r} "
                         "turns NaN into a number; select with a comparison instead")
    return register(OpDef(name=name, category=category, doc=doc, inputs=inputs, attrs=attrs,
                          shape=_shape(int_ok, check), reference=reference, kernel="elementwise",
                          expr=expr, grad=grad, label=label, legacy_names=legacy,
                          extra={"int_ok": int_ok, "expr_params": expr_params}))


def unary(fn):
    """Adapt `fn(F, x, out, g, attrs)` to the general rule signature."""
    return lambda F, ins, outs, gs, attrs: [fn(F, ins[0], outs[0], gs[0], attrs)]


def binary(fn):
    return lambda F, ins, outs, gs, attrs: list(fn(F, ins[0], ins[1], outs[0], gs[0], attrs))


# --- arithmetic ---------------------------------------------------------------------------------
elementwise("add", "Math", "a + b", "a + b", lambda a, b: a + b,
            binary(lambda F, a, b, o, g, at: (g, g)), inputs=AB, int_ok=True)
elementwise("sub", "Math", "a - b", "a - b", lambda a, b: a - b,
            binary(lambda F, a, b, o, g, at: (g, -g)), inputs=AB, int_ok=True)
elementwise("mul", "Math", "a * b", "a * b", lambda a, b: a * b,
            binary(lambda F, a, b, o, g, at: (g * b, g * a)), inputs=AB, int_ok=True)
elementwise("div", "Math", "a / b", "a / b", lambda a, b: a / b,
            binary(lambda F, a, b, o, g, at: (g / b, -g * o / b)), inputs=AB)
def _pow_grad(F, a, b, o, g, at):
    """PyTorch's rule, edges included: the base gets b * a ** (b - 1), but 0 where b == 0
    (x ** 0 is flat, also at x = 0 and infinity, where the formula gives 0 * inf); the exponent
    gets a ** b * log(a), but 0 where a == 0 and b >= 0 (0 ** x is flat there, the formula
    0 * -inf), and NaN for a negative base (log of it: a ** b is not differentiable in b)."""
    base = F.where(F.eq(b, 0.0), 0.0, b * F.apply("pow", a, b - 1.0))
    exponent = F.where(F.eq(a, 0.0) * F.ge(b, 0.0), 0.0, o * F.log(a))
    return g * base, g * exponent


elementwise("pow", "Math", "a ** b (NaN for a negative a with a non-integer b)", "pow(a, b)",
            lambda a, b: np.power(a, b), binary(_pow_grad), inputs=AB)
elementwise("neg", "Math", "-x", "-a", lambda x: -x, unary(lambda F, x, o, g, at: -g), int_ok=True)
elementwise("exp", "Math", "e ** x", "exp(a)", np.exp, unary(lambda F, x, o, g, at: g * o))
elementwise("log", "Math", "natural logarithm", "ns_log(a)", np.log,
            unary(lambda F, x, o, g, at: g / x))
elementwise("expm1", "Math", "e ** x - 1, accurate where x is near 0", "expm1(a)", np.expm1,
            unary(lambda F, x, o, g, at: g * (o + 1.0)))
elementwise("log1p", "Math", "log(1 + x), accurate where x is near 0", "ns_log1p(a)", np.log1p,
            unary(lambda F, x, o, g, at: g / (x + 1.0)))
elementwise("sqrt", "Math", "square root", "sqrt(a)", np.sqrt,
            unary(lambda F, x, o, g, at: g / (2.0 * o)))
elementwise("square", "Math", "x * x", "a * a", np.square,
            unary(lambda F, x, o, g, at: g * 2.0 * x))
elementwise("abs", "Math", "|x|; also the absolute-value rectification", "fabs(a)", np.abs,
            unary(lambda F, x, o, g, at: g * F.sign(x)), int_ok=False, legacy=("abs_rect",))
elementwise("sign", "Math", "-1, 0 or 1 (NaN stays NaN)",
            "((a > 0.0f) ? 1.0f : (a < 0.0f) ? -1.0f : a)", np.sign, None)


def _select_grad(loses_a, loses_b):
    """PyTorch's rule for maximum / minimum: each side gets the gradient unless it lost, half
    of it at a tie (a == b), all of it where NaN makes the comparisons false."""
    def rule(F, a, b, o, g, at):
        half = 0.5 * F.eq(a, b)
        return g * (1.0 - loses_a(F, a, b) - half), g * (1.0 - loses_b(F, a, b) - half)
    return binary(rule)


elementwise("maximum", "Math", "larger of a and b, NaN if either is (a tie splits the gradient "
            "evenly between a and b, as PyTorch)", "((a > b || isnan(a)) ? a : b)", np.maximum,
            _select_grad(lambda F, a, b: F.lt(a, b), lambda F, a, b: F.gt(a, b)), inputs=AB)
elementwise("minimum", "Math", "smaller of a and b, NaN if either is (a tie splits the gradient "
            "evenly between a and b, as PyTorch)", "((a < b || isnan(a)) ? a : b)", np.minimum,
            _select_grad(lambda F, a, b: F.gt(a, b), lambda F, a, b: F.lt(a, b)), inputs=AB)

# --- comparisons and selection (outputs 0.0 / 1.0, no gradient) -----------------------------------
for _name, _c, _np in [("equal", "==", np.equal), ("not_equal", "!=", np.not_equal),
                       ("less", "<", np.less), ("less_equal", "<=", np.less_equal),
                       ("greater", ">", np.greater), ("greater_equal", ">=", np.greater_equal)]:
    elementwise(_name, "Logic", f"1.0 where a {_c} b, else 0.0", f"((a {_c} b) ? 1.0f : 0.0f)",
                lambda a, b, f=_np: f(a, b).astype(np.float64), None, inputs=AB)

elementwise("where", "Logic", "b where cond is non-zero, else c", "((a != 0) ? b : c)",
            lambda cond, a, b: np.where(cond != 0, a, b),
            lambda F, ins, outs, gs, at: [None, F.where(ins[0], gs[0], 0.0),
                                          F.where(ins[0], 0.0, gs[0])],
            inputs=(PortDef("cond"), PortDef("a"), PortDef("b")))

# --- activations -------------------------------------------------------------------------------
elementwise("sigmoid", "Activation", "1 / (1 + e ** -x)", "(0.5f + 0.5f * tanh(0.5f * a))",
            _sigmoid, unary(lambda F, x, o, g, at: g * o * (1.0 - o)))
elementwise("tanh", "Activation", "hyperbolic tangent", "tanh(a)", np.tanh,
            unary(lambda F, x, o, g, at: g * (1.0 - F.square(o))))
elementwise("relu", "Activation", "max(x, 0); gradient 0 at 0", "((a < 0.0f) ? 0.0f : a)",
            lambda x: np.maximum(x, 0), unary(lambda F, x, o, g, at: g * F.gt(x, 0.0)))
elementwise("leaky_relu", "Activation", "x for x > 0, alpha * x otherwise",
            "((a > 0) ? a : {alpha} * a)", lambda x, alpha: np.where(x > 0, x, alpha * x),
            unary(lambda F, x, o, g, at: g * F.where(F.gt(x, 0.0), 1.0, at["alpha"])),
            attrs=(AttrDef("alpha", "float", 0.01, "slope for x <= 0", low=0.0, high=1.0),),
            label=lambda at: f"α={at['alpha']:g}")
elementwise("prelu", "Activation", "leaky ReLU with a learned slope alpha (a parameter)",
            "((a > 0) ? a : b * a)", lambda x, alpha: np.where(x > 0, x, alpha * x),
            binary(lambda F, x, alpha, o, g, at: (g * F.where(F.gt(x, 0.0), 1.0, alpha),
                                                  g * F.where(F.gt(x, 0.0), 0.0, x))),
            inputs=(PortDef("x"), PortDef("alpha")))
elementwise("softplus", "Activation", "log(1 + e ** x), computed stably",
            "(((a < 0.0f) ? 0.0f : a) + ns_log1p_exp_neg(fabs(a)))", _softplus,
            unary(lambda F, x, o, g, at: g * F.sigmoid(x)))

# --- shape helpers that are elementwise in the kernel --------------------------------------------
elementwise("zeros_like", "Tensor", "zeros with the shape of x", "0", np.zeros_like, None,
            int_ok=True)
elementwise("ones_like", "Tensor", "ones with the shape of x", "1", np.ones_like, None,
            int_ok=True)


def _broadcast_like_ref(x, like, divide_by_axes):
    out = np.broadcast_to(x, np.broadcast_shapes(x.shape, like.shape)).copy()
    if divide_by_axes is not None:
        out = out / _count(like.shape, divide_by_axes)
    return out


def _count(shape, axes) -> int:
    axes = normalise_axes(axes, len(shape))
    return int(np.prod([shape[a] for a in axes], dtype=np.int64)) if axes else 1


def _broadcast_like_grad(F, ins, outs, gs, at):
    g = gs[0]
    if at["divide_by_axes"] is not None:
        g = F.broadcast_like(g, ins[1], at["divide_by_axes"])  # same division again, then sum
    return [F.sum_to(g, ins[0].shape), None]


elementwise("broadcast_like", "Tensor",
            "x broadcast to the shape of `like`; optionally divided by the size of some of "
            "like's axes (the gradient of mean)", "(a / {count})",
            _broadcast_like_ref, _broadcast_like_grad, inputs=(PortDef("x"), PortDef("like")),
            attrs=(AttrDef("divide_by_axes", "axes", None, "axes of `like` whose size divides"),),
            int_ok=True,
            expr_params=lambda at, shapes: {"count": _count(shapes[1], at["divide_by_axes"])
                                            if at["divide_by_axes"] is not None else 1})
