"""Shape arithmetic shared by the shape rules: NumPy broadcasting with free (None) dimensions."""

from __future__ import annotations

from collections.abc import Sequence

from nodestudio.errors import ShapeError
from nodestudio.ops.registry import Shape, TensorType, promote


def fmt(shape: Shape) -> str:
    return "(" + ", ".join("B" if d is None else str(d) for d in shape) + ")"


def broadcast_dims(a: int | None, b: int | None) -> int | None:
    """One dimension of a broadcast; a free dimension is taken to be larger than 1."""
    if a == 1:
        return b
    if b == 1 or a == b:
        return a
    if a is None:
        return b
    if b is None:
        return a
    raise ValueError


def broadcast_shapes(shapes: Sequence[Shape], ports: Sequence[str]) -> Shape:
    ndim = max((len(s) for s in shapes), default=0)
    out: list[int | None] = [1] * ndim
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    for axis in range(ndim):
        for shape, port in zip(padded, ports):
            try:
                out[axis] = broadcast_dims(out[axis], shape[axis])
            except ValueError:
                listing = ", ".join(f"{p} {fmt(s)}" for p, s in zip(ports, shapes))
                raise ShapeError(f"shapes do not broadcast: {listing}", port=port) from None
    return tuple(out)


def normalise_axes(axes: Sequence[int] | None, ndim: int, port: str = "x") -> tuple[int, ...]:
    """Axes as sorted non-negative ints; None means all axes."""
    if axes is None:
        return tuple(range(ndim))
    out = []
    for axis in axes:
        if not -ndim <= axis < ndim:
            raise ShapeError(f"axis {axis} out of range for a {ndim}-d input", port=port)
        out.append(axis % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {tuple(axes)}", port=port)
    return tuple(sorted(out))


def reduced_shape(shape: Shape, axes: tuple[int, ...], keepdims: bool) -> Shape:
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def elementwise_type(types: Sequence[TensorType], ports: Sequence[str],
                     int_ok: bool = False) -> TensorType:
    shape = broadcast_shapes([t.shape for t in types], ports)
    return TensorType(promote(*(t.dtype for t in types), int_ok=int_ok), shape)


def size(shape: Shape) -> int | None:
    total = 1
    for d in shape:
        if d is None:
            return None
        total *= d
    return total


def contiguous_strides(shape: Sequence[int]) -> list[int]:
    """Element strides of a row-major (C-contiguous) array of this shape."""
    strides, step = [], 1
    for dim in reversed(shape):
        strides.append(step)
        step *= dim
    return strides[::-1]
