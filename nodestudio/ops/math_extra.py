"""More elementwise math: powers with a constant exponent, trigonometry, the error function and
the activations built on it (GELU), ELU and clipping. Each is one inlinable C expression, a
float64 reference and a gradient rule, as in `elementwise.py`."""

from __future__ import annotations

import math

import numpy as np

from nodestudio.ops.elementwise import elementwise, unary
from nodestudio.ops.registry import AttrDef

_SQRT_HALF = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)

# --- a power with the exponent baked into the kernel --------------------------------------------
# PoCL's pow() costs ~200 ns an element (pown ~100, exp2(c * log2(x)) ~20) against well under 1 ns
# for a multiply, so the exponent is taken apart on the host (`_pow_parts`) and the kernel gets
# constant flags the compiler folds away: |c| < 64 with 2|c| a whole number is a product of
# repeated squares of x (the set bits of |c|), times sqrt(x) for a half, inverted for c < 0;
# another whole number is pown; anything else exp2(c * log2(x)). Every branch is NaN for a
# negative x with a non-integer c (sqrt and log2 of it are), -inf included (as sqrt(-inf); C's
# pow says inf or 0 there), and 0 or inf at 0 and +inf as NumPy's power.
_BITS = 6


def _squares() -> list[str]:
    terms = ["a"]
    for _ in range(_BITS - 1):
        terms.append(f"({terms[-1]} * {terms[-1]})")
    return terms


# A product for a half power can only be -0.0 at x = -0.0, where NumPy says +0: adding +0.0
# makes it so (adding -0.0, for whole powers, changes nothing)
_PRODUCT = ("(" + " * ".join(f"(({{bit{k}}} != 0.0f) ? {t} : 1.0f)"
                             for k, t in enumerate(_squares()))
            + " * (({half} != 0.0f) ? sqrt(a) : 1.0f)) + (({half} != 0.0f) ? 0.0f : -0.0f)")
_POW_SCALAR = (f"(({{small}} != 0.0f) ? (({{inverse}} != 0.0f) ? 1.0f / ({_PRODUCT}) "
               f": ({_PRODUCT})) "
               f": ({{whole}} != 0.0f) ? pown(a, (int){{whole}}) : exp2({{exponent}} * log2(a)))")


def _pow_parts(attrs, shapes) -> dict[str, float]:
    c = float(attrs["exponent"])
    m = -c if c < 0 else c
    small = (2.0 * m).is_integer() and m < 2 ** _BITS
    n = int(m) if small else 0
    parts = {f"bit{k}": float((n >> k) & 1) for k in range(_BITS)}
    whole = c if not small and c.is_integer() and m < 2 ** 24 and c != 0 else 0.0
    return {**parts, "small": float(small), "half": float(small and not m.is_integer()),
            "inverse": float(c < 0), "whole": whole}


def _pow_scalar_ref(x, exponent):
    out = np.power(x, exponent)
    if not float(exponent).is_integer():
        out = np.where(x == -np.inf, np.nan, out)
    return out


def _pow_scalar_grad(F, x, out, g, at):
    c = at["exponent"]
    return g * (c * F.pow(x, c - 1.0))  # F.pow lowers c - 1 again (2.5 -> pow_scalar 1.5, 2 -> x)


elementwise("pow_scalar", "Math", "x ** exponent for a constant exponent (what x ** c builds for "
            "an exponent other than 0, +-0.5 and small integers); NaN for a negative x "
            "(-inf included) with a non-integer exponent", _POW_SCALAR,
            _pow_scalar_ref, unary(_pow_scalar_grad),
            attrs=(AttrDef("exponent", "float", 2.0, "the power"),),
            label=lambda at: f"x^{at['exponent']:g}", expr_params=_pow_parts)
