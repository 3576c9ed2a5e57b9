"""Theano's random streams (`RandomStreams`, `MRG_RandomStreams`) on NodeStudio's counter-based
generator (Philox on the device, `random_uniform_like`).

Each call site (each `.uniform`, `.binomial`, `.normal` call) gets its own stream: a seed mixed
from the object's seed and the site's number. Successive calls of a compiled function draw new
numbers because the generator's counter includes the function's call index. There is no
random state on the host, so a function needs no updates for its streams (`scan` returns none
for them) and nothing travels between host and device per call.

Inside `scan`, the draws of one site across all the unrolled steps come from one draw of shape
(n_steps, ...) taken once and sliced per step: one kernel instead of one per step."""

from __future__ import annotations

import contextlib
import contextvars
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

import nodestudio as ns
from nodestudio.ir import build
from nodestudio.ir.expr import Variable, apply, as_variable, constant
from nodestudio.ops import philox
from nodestudio.theano._support import TheanoCompatError
from nodestudio.theano.tensor.types import device_dtype

_SITE_KEY = 0x7A3E0C11  # second key word when mixing a site's seed


def row(x: Variable, t: int) -> Variable:
    """x[t] along the first axis as a dynamic slice: its start is a value, not part of the
    kernel's source, so all the steps of a scan share one compiled program."""
    window = apply("dynamic_slice", x, constant(t, dtype="int32"), axis=0, length=1)
    return ns.squeeze(window, 0)


class ScanFrame:
    """The unrolling of one scan: which step is being built, and the per-site draws shared
    by all its steps."""

    def __init__(self, n_steps: int):
        self.n_steps = n_steps
        self.step = 0
        self.site = 0
        self.draws: dict[tuple[int, int], Variable] = {}

    def begin_step(self, step: int) -> None:
        self.step = step
        self.site = 0


_frame: contextvars.ContextVar[ScanFrame | None] = contextvars.ContextVar(
    "nodestudio_theano_scan", default=None)


@contextlib.contextmanager
def scan_frame(n_steps: int) -> Iterator[ScanFrame]:
    frame = ScanFrame(n_steps)
    token = _frame.set(frame)
    try:
        yield frame
    finally:
        _frame.reset(token)


def _shape_source(size: Any, params: Sequence[Any]) -> Variable | None:
    """A variable shaped like `size`, whose values are not read (the generator's template);
    None when `size` is a static shape with free dimensions that nothing here matches (the
    draw is then deferred until it meets a variable of that shape: `binomial(...) * x`)."""
    variables = [as_variable(p) for p in params if isinstance(p, Variable)]
    if size is None:
        if not variables:
            raise TheanoCompatError("a random draw without size and with constant parameters",
                                    "give size=")
        return max(variables, key=lambda v: v.ndim)
    if isinstance(size, Variable):
        raise TheanoCompatError("a random draw whose size is a symbolic vector",
                                "give size as a tuple, a variable's .shape or ints")
    source = getattr(size, "variable", None)  # x.shape of a T.* input
    if isinstance(source, Variable):
        return source
    dims = tuple(size)
    symbolic = [(i, symbolic_dim(d)) for i, d in enumerate(dims) if isinstance(d, Variable)]
    if symbolic:  # (x.shape[0], 500): x gives the shape if the rest agrees with it
        origins = {id(src[0]) for _, src in symbolic if src is not None}
        first = symbolic[0][1]
        if first is not None and len(origins) == 1 and all(
                src is not None and src[1] == i for i, src in symbolic):
            like = first[0]
            if like.ndim == len(dims) and all(
                    isinstance(d, Variable) or d == s for d, s in zip(dims, like.type.shape)):
                return like
        raise TheanoCompatError(f"a random draw of size {size!r}",
                                "give size as one variable's .shape, or ints")
    if all(isinstance(d, (int, np.integer)) for d in dims):
        return constant(np.zeros(dims, dtype=np.float32))
    for v in variables:  # binomial(size=p.shape, p=p): p itself gives the shape
        if _fits(v, dims):
            return v
    return None


def symbolic_dim(d: Variable) -> tuple[Variable, int] | None:
    """(x, axis) for a size taken from x.shape, else None."""
    if d.owner.op.name == "shape_dim":
        x = d.owner.inputs[0]
        return x, d.owner.attrs["axis"] % x.ndim
    return None


def _fits(v: Variable, dims: tuple) -> bool:
    return v.ndim == len(dims) and all(d is None or s is None or d == s
                                       for d, s in zip(dims, v.type.shape))


class DeferredDraw:
    """A draw whose size is a static shape with free dimensions (`binomial(size=h.shape,
    p=0.7)` for a computed h): it becomes a variable when combined with one of that shape,
    `draw * h` being the tutorials' use."""

    def __init__(self, make, dims: tuple, what: str):
        self._make, self._dims, self._what = make, dims, what

    def _resolve(self, other: Any) -> Variable:
        if isinstance(other, Variable) and _fits(other, self._dims):
            return self._make(other)
        raise TheanoCompatError(f"{self._what} of size {self._dims} used other than "
                                "multiplied or added with a variable of that shape",
                                "give size as a T.* input's .shape or as ints")

    def __mul__(self, o): return self._resolve(o) * o
    def __rmul__(self, o): return o * self._resolve(o)
    def __add__(self, o): return self._resolve(o) + o
    def __radd__(self, o): return o + self._resolve(o)
    def __sub__(self, o): return self._resolve(o) - o
    def __rsub__(self, o): return o - self._resolve(o)


class RandomStreams:
    """`RandomStreams(seed)`: `.uniform`, `.binomial`, `.normal`; each call its own stream."""

    def __init__(self, seed: int = 12345, **kwargs: Any):
        self.seed(seed)

    def seed(self, seed: int | None = None) -> None:
        self._seed = int(seed if seed is not None else 12345) & 0xFFFFFFFF
        self._sites = 0

    def _site_seed(self) -> int:
        word = philox.philox4x32([np.array([self._sites]), np.array([0]), np.array([0]),
                                  np.array([0])], (self._seed, _SITE_KEY))[0]
        self._sites += 1
        return int(word[0]) & 0x7FFFFFFF

    def _uniform(self, like: Variable) -> Variable:
        """U[0, 1) shaped like `like`, from a new stream (or this scan step's share of one)."""
        frame = _frame.get()
        if frame is None:
            return build.random_uniform_like(like, seed=self._site_seed())
        key = (id(self), frame.site)
        frame.site += 1
        whole = frame.draws.get(key)
        if whole is None or whole.shape[1:] != like.shape:
            stack = constant(np.zeros((frame.n_steps,) + (1,) * like.ndim, dtype=np.float32))
            whole = build.random_uniform_like(ns.expand_dims(like, 0) * 0.0 + stack,
                                              seed=self._site_seed())
            frame.draws[key] = whole
        return row(whole, frame.step)

    def _draw(self, size, params, make, what: str):
        like = _shape_source(size, params)
        if like is None:
            if _frame.get() is not None:
                raise TheanoCompatError(f"{what} inside scan with a size of free dimensions",
                                        "give size as a variable's .shape")
            return DeferredDraw(make, tuple(size), what)
        return make(like)

    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None, nstreams=None):
        target = _float_dtype(dtype, "uniform")

        def make(like):
            u = _as(self._uniform(like), target)
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and \
                    (low, high) == (0.0, 1.0):
                return u
            return u * (as_variable(high) - low) + low
        return self._draw(size, (low, high), make, "uniform")

    def binomial(self, size=None, n=1, p=0.5, ndim=None, dtype="int64", nstreams=None,
                 prob=None):
        """Successes in n trials of probability p (n=1: a 0/1 mask), in the device type of
        `dtype` (float32 for floatX, int64 for Theano's default int64)."""
        p = prob if prob is not None else p
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise TheanoCompatError(f"binomial with n={n!r}", "n must be a positive int")
        target = device_dtype(dtype)

        def make(like):
            draws = [ns.lt(self._uniform(like), p) for _ in range(int(n))]
            total = draws[0]
            for d in draws[1:]:
                total = total + d
            return total if target == "float32" else ns.cast(
                total, target)
        return self._draw(size, (p,), make, "binomial")

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None, nstreams=None,
               truncate=False):
        """Box-Muller from two uniform streams."""
        target = _float_dtype(dtype, "normal")
        if truncate:
            raise TheanoCompatError("normal(truncate=True)")
        cos = ns.cos

        def make(like):
            radius = ns.sqrt(-2.0 * ns.log(1.0 - _as(self._uniform(like), target)))
            return radius * cos(_as(self._uniform(like), target) * (2.0 * math.pi)) * std + avg
        return self._draw(size, (avg, std), make, "normal")

    def multinomial(self, *args: Any, **kwargs: Any):
        raise TheanoCompatError("multinomial random streams")

    def choice(self, *args: Any, **kwargs: Any):
        raise TheanoCompatError("choice random streams")

    def permutation(self, *args: Any, **kwargs: Any):
        raise TheanoCompatError("permutation random streams")


def _float_dtype(dtype: str | None, what: str) -> str:
    """The float type of a draw: float32, or float64 (the float32 uniforms cast: 24 random
    bits, as the device's streams draw)."""
    target = device_dtype(dtype)
    if target not in ("float32", "float64"):
        raise TheanoCompatError(f"{what} with dtype={dtype!r}", "draw floats and cast")
    return target


def _as(u, target: str):
    return u if target == "float32" else ns.cast(u, target)
