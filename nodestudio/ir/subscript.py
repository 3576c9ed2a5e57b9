"""`x[...]` on symbolic variables, and `set_subtensor` / `inc_subtensor` of such a window.

What an index may be, per axis (NumPy / Theano rules unless said):
  * an int: that element, the axis dropped (`x[0]`, `x[:, 1]`; -1 is the last);
  * a slice of ints or None: the `slice` op (a negative step goes through `take` with the
    indices, so the axis size must be known);
  * a slice whose start / stop are int32 scalar expressions (`x[i * n:(i + 1) * n]`): a
    `dynamic_slice`, computed on the device. Its length must be known when the graph is built:
    stop - start is simplified symbolically (sums, differences and products by numbers of
    ints and int scalars), so `(i + 1) * n - i * n` is `n`. A length that does not simplify to
    a number is refused here, naming both bounds. The step must be 1 (or None);
  * an int32 scalar expression (`x[:, k]`): a window of one, the axis dropped;
  * an int32 array (a variable, a list, a NumPy array): `take` along that axis. Two adjacent
    index vectors `x[a, b]` pick the elements (a[k], b[k]); with `a = ns.arange(...)` over the
    rows this is a `gather` along the second axis (the negative log-likelihood idiom
    `log(p)[ns.arange(n), y]`);
  * None: a new axis of size 1; Ellipsis: the axes not named.

A computed start is wrapped like Python's (negative from the end) and the window clamped inside
the axis on the device; `ns.function` checks the start on the host whenever it depends only on
the call's inputs and refuses one that would not fit (no partial last batch: the window's length
is fixed per compile).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from nodestudio.errors import GraphError, ShapeError
from nodestudio.ir.expr import Variable, apply, as_variable, constant
from nodestudio.ops.registry import FLOAT, FLOATS, INT, INTS

# --- symbolic lengths: integer affine forms ---------------------------------------------------

Affine = tuple[dict[int, tuple[Variable, int]], int]  # {id(var): (var, coefficient)}, constant


def affine(value: Any) -> Affine | None:
    """`value` as sum(coefficient * leaf) + constant over int scalar leaves, or None."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return {}, int(value)
    if not isinstance(value, Variable) or value.dtype not in INTS or value.ndim != 0:
        return None
    node = value.owner
    op = node.op.name
    if op == "constant":
        return {}, int(node.attrs["value"])
    if op in ("add", "sub") and len(node.inputs) == 2:
        a, b = affine(node.inputs[0]), affine(node.inputs[1])
        if a is not None and b is not None:
            return _combine(a, b, 1 if op == "add" else -1)
    if op == "neg":
        a = affine(node.inputs[0])
        if a is not None:
            return _scale(a, -1)
    if op == "mul" and len(node.inputs) == 2:
        a, b = affine(node.inputs[0]), affine(node.inputs[1])
        if a is not None and b is not None:
            if not a[0]:
                return _scale(b, a[1])
            if not b[0]:
                return _scale(a, b[1])
    return {id(value): (value, 1)}, 0


def _combine(a: Affine, b: Affine, sign: int) -> Affine:
    terms = dict(a[0])
    for key, (var, coeff) in b[0].items():
        total = terms.get(key, (var, 0))[1] + sign * coeff
        if total:
            terms[key] = (var, total)
        else:
            terms.pop(key, None)
    return terms, a[1] + sign * b[1]


def _scale(a: Affine, factor: int) -> Affine:
    if factor == 0:
        return {}, 0
    return {k: (v, c * factor) for k, (v, c) in a[0].items()}, a[1] * factor


def window_length(start: Any, stop: Any) -> int | None:
    """stop - start when it simplifies to a number."""
    a, b = affine(0 if start is None else start), affine(stop)
    if a is None or b is None:
        return None
    terms, const = _combine(b, a, -1)
    return None if terms else const


# --- the steps of an index, kept for set_subtensor ---------------------------------------------


@dataclass
class Step:
    """One op of an index chain: `embed(y, like)` places a value of the step's output shape
    into zeros shaped like its input (`like`), as the step's gradient would."""

    source: Variable
    embed: Callable[[Variable, Variable], Variable]


_CHAINS: weakref.WeakKeyDictionary[Variable, tuple[Variable, list[Step]]] = \
    weakref.WeakKeyDictionary()


def getitem(x: Variable, key: Any) -> Variable:
    parts = list(key) if isinstance(key, tuple) else [key]
    parts = _expand_ellipsis(parts, x.ndim)
    steps: list[Step] = []
    out, axis, i = x, 0, 0
    while i < len(parts):
        part = parts[i]
        if part is None:
            out = _step(steps, out, lambda v, ax=axis: apply("expand_dims", v, axes=(ax,)),
                        lambda y, like, ax=axis: apply("squeeze", y, axes=(ax,)))
            axis += 1
        elif isinstance(part, slice):
            out = _slice(steps, out, axis, part)
            axis += 1
        elif _is_int(part):
            out = _int_index(steps, out, axis, int(part))
        elif _is_int_scalar(part):
            out = _dynamic(steps, out, axis, part, 1, part)
            out = _step(steps, out, lambda v, ax=axis: apply("squeeze", v, axes=(ax,)),
                        lambda y, like: apply("reshape_like", y, like))
        else:
            group = [part]
            while i + 1 < len(parts) and _is_index_array(parts[i + 1]):
                i += 1
                group.append(parts[i])
            out, used = _advanced(steps, out, axis, group)
            axis += used
        i += 1
    if out is not x:
        _CHAINS[out] = (x, steps)
    return out


def _expand_ellipsis(parts: list[Any], ndim: int) -> list[Any]:
    named = sum(1 for p in parts if p is not None and p is not Ellipsis)
    if sum(1 for p in parts if p is Ellipsis) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if named > ndim:
        raise IndexError(f"too many indices: {named} for a {ndim}-d value")
    ellipsis = [i for i, p in enumerate(parts) if p is Ellipsis]
    if ellipsis:
        at = ellipsis[0]
        parts = parts[:at] + [slice(None)] * (ndim - named) + parts[at + 1:]
    return parts


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_int_scalar(value: Any) -> bool:
    return isinstance(value, Variable) and value.dtype in INTS and value.ndim == 0


def _is_index_array(value: Any) -> bool:
    if isinstance(value, Variable):
        return value.dtype in INTS and value.ndim >= 1
    return isinstance(value, (list, np.ndarray))


def _step(steps: list[Step], value: Variable, forward: Callable[[Variable], Variable],
          embed: Callable[[Variable, Variable], Variable]) -> Variable:
    steps.append(Step(value, embed))
    return forward(value)


def _check_axis(value: Variable, axis: int) -> int | None:
    if axis >= value.ndim:
        raise IndexError(f"too many indices for a {value.ndim}-d value {value.name!r}")
    return value.shape[axis]


def _int_index(steps: list[Step], value: Variable, axis: int, index: int) -> Variable:
    n = _check_axis(value, axis)
    if n is not None and not -n <= index < n:
        raise IndexError(f"index {index} is out of bounds for axis {axis} of size {n} "
                         f"({value.name!r})")
    stop = None if index == -1 else index + 1
    window = _slice(steps, value, axis, slice(index, stop, 1))
    return _step(steps, window, lambda v: apply("squeeze", v, axes=(axis,)),
                 lambda y, like: apply("reshape_like", y, like))


def _slice(steps: list[Step], value: Variable, axis: int, part: slice) -> Variable:
    n = _check_axis(value, axis)
    bounds = (part.start, part.stop)
    if any(isinstance(b, Variable) for b in bounds):
        if part.step not in (None, 1):
            raise IndexError(f"a slice with a computed bound needs step 1, got {part.step!r}")
        for b in bounds:
            if b is not None and not (_is_int(b) or _is_int_scalar(b)):
                raise IndexError(f"slice bounds must be ints or int32 scalars, got {b!r}")
        length = window_length(part.start, part.stop) if part.stop is not None else None
        if length is None:
            raise IndexError(
                f"the length of the slice [{_text(part.start)}:{_text(part.stop)}] of "
                f"{value.name!r} must be known when the graph is built: stop - start must "
                "simplify to a number (as in x[i * n:(i + 1) * n])")
        if length < 0 or (n is not None and length > n):
            raise IndexError(f"the slice [{_text(part.start)}:{_text(part.stop)}] has length "
                             f"{length}, which does not fit axis {axis} of {value.name!r}"
                             + (f" (size {n})" if n is not None else ""))
        start = part.start if part.start is not None else 0
        return _dynamic(steps, value, axis, start, length, part.start)
    for b in (part.start, part.stop, part.step):
        if b is not None and not _is_int(b):
            raise IndexError(f"slice bounds must be ints, None or int32 scalars, got {b!r}")
    if part.step is not None and part.step == 0:
        raise IndexError("slice step cannot be zero")
    if part.step is not None and part.step < 0:
        if n is None:
            raise IndexError(f"a negative step needs the size of axis {axis} of {value.name!r}, "
                             "which is free")
        index = np.arange(n)[part]
        return _take(steps, value, axis, constant(index, dtype=INT))
    spec = tuple([(None, None, None)] * axis + [(part.start, part.stop, part.step)])
    return _step(steps, value, lambda v: apply("slice", v, slices=spec),
                 lambda y, like: apply("unslice", y, like, slices=spec))


def _text(bound: Any) -> str:
    if bound is None:
        return ""
    return bound.name if isinstance(bound, Variable) else str(bound)


def _dynamic(steps: list[Step], value: Variable, axis: int, start: Any, length: int,
             shown: Any) -> Variable:
    _check_axis(value, axis)
    start_var = as_variable(start) if isinstance(start, Variable) else constant(int(start),
                                                                                  dtype=INT)
    return _step(steps, value,
                 lambda v: apply("dynamic_slice", v, start_var, axis=axis, length=length),
                 lambda y, like: apply("dynamic_unslice", y, start_var, like, axis=axis))


def _index_var(value: Any) -> Variable:
    if isinstance(value, Variable):
        return value
    array = np.asarray(value)
    if array.dtype.kind not in "iu":
        raise IndexError(f"an index array must hold integers, got {array.dtype}")
    return constant(array.astype(np.int64), dtype=INT)


def _take(steps: list[Step], value: Variable, axis: int, index: Variable) -> Variable:
    return _step(steps, value, lambda v: apply("take", v, index, axis=axis),
                 lambda y, like: apply("take_grad", y, index, like, axis=axis))


def _is_row_range(index: Variable, value: Variable, axis: int) -> bool:
    """True when `index` is 0, 1, ..., n - 1 over axis `axis` of `value`."""
    node = index.owner
    if node.op.name == "arange_like":
        return True  # its length is checked against the rows by gather's shape rule
    if node.op.name == "constant" and index.ndim == 1 and node.data is not None:
        n = value.shape[axis]
        return n is not None and np.array_equal(np.asarray(node.data), np.arange(n))
    return False


def _advanced(steps: list[Step], value: Variable, axis: int, group: list[Any]
              ) -> tuple[Variable, int]:
    indices = [_index_var(g) for g in group]
    for k, idx in enumerate(indices):
        _check_axis(value, axis + k)
        if idx.dtype not in INTS:
            raise IndexError(f"index arrays must be int32 or int64, got {idx.dtype} from "
                             f"{idx.name!r}")
    if len(indices) == 1:
        return _take(steps, value, axis, indices[0]), 1
    if len(indices) > 2 or any(i.ndim != 1 for i in indices):
        raise IndexError("advanced indexing supports one int array, or two adjacent int "
                         "vectors (x[rows, cols])")
    rows, cols = indices
    if _is_row_range(rows, value, axis) and value.ndim == axis + 2 and axis == 0:
        picked = _step(steps, value,
                       lambda v: apply("gather", v, apply("expand_dims", cols, axes=(1,)),
                                       axis=1),
                       lambda y, like: apply("gather_grad", y,
                                             apply("expand_dims", cols, axes=(1,)), like, axis=1))
        return _step(steps, picked, lambda v: apply("squeeze", v, axes=(1,)),
                     lambda y, like: apply("reshape_like", y, like)), 2
    width = value.shape[axis + 1]
    if width is None:
        raise IndexError(f"x[a, b] with arbitrary a needs the size of axis {axis + 1} of "
                         f"{value.name!r}, which is free (use ns.arange over the rows for a)")
    lead = value.shape[:axis]
    if any(d is None for d in lead):
        raise IndexError("x[..., a, b] needs the sizes of the leading axes")
    flat_shape = (*lead, -1, *[(-1 if d is None else d) for d in value.shape[axis + 2:]])
    if sum(1 for d in flat_shape if d == -1) > 1:
        raise IndexError("x[a, b] needs the sizes of the trailing axes")
    merged = _step(steps, value, lambda v: apply("reshape", v, shape=flat_shape),
                   lambda y, like: apply("reshape_like", y, like))
    # a negative column counts from the end of its own axis, not of the merged one
    flat = rows * width + apply("int_mod", cols, constant(width, dtype=INT))
    return _take(steps, merged, axis, flat), 2


# --- set_subtensor / inc_subtensor ----------------------------------------------------------------


def _chain(window: Variable, what: str) -> tuple[Variable, list[Step]]:
    chain = _CHAINS.get(window) if isinstance(window, Variable) else None
    if chain is None:
        raise GraphError(f"{what}: the first argument must be an indexed variable, x[...] "
                         f"(got {getattr(window, 'name', window)!r})")
    return chain


def _placed(window: Variable, y: Any, steps: list[Step]) -> Variable:
    """y broadcast to the window's shape and put back where the window came from."""
    value = apply("broadcast_like", y, window)
    if value.dtype != window.dtype:
        value = apply("cast", value, dtype=window.dtype)
    for step in reversed(steps):
        value = step.embed(value, step.source)
    return value


def inc_subtensor(window: Variable, y: Any) -> Variable:
    """x with y added to the part `window = x[...]` selects (repeated indices add up)."""
    x, steps = _chain(window, "inc_subtensor")
    return x + _placed(window, y, steps)


def set_subtensor(window: Variable, y: Any) -> Variable:
    """x with the part `window = x[...]` selects replaced by y (broadcast to its shape). With
    repeated indices in an index array the values add up (where Theano keeps the last)."""
    x, steps = _chain(window, "set_subtensor")
    placed = _placed(window, y, steps)
    ones = apply("ones_like", apply("cast", window, dtype=FLOAT) if window.dtype != FLOAT
                 else window)
    mask = ones
    for step in reversed(steps):
        mask = step.embed(mask, step.source)
    if x.dtype not in FLOATS:
        raise ShapeError("set_subtensor needs a float32 or float64 value", node=x.name)
    return apply("where", mask, placed, x)


# --- functional forms ---------------------------------------------------------------------


def gather(x: Any, axis: int, index: Any) -> Variable:
    """torch.gather / NumPy take_along_axis: out[..., k, ...] = x[..., index[..., k, ...], ...]."""
    return apply("gather", x, _index_var(index), axis=axis)


def take(x: Any, index: Any, axis: int = 0) -> Variable:
    """NumPy's take: x indexed along `axis` by an int32 array."""
    return apply("take", x, _index_var(index), axis=axis)
