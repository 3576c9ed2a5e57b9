"""Parameter initialisers (seeded, computed on the host once, in float64)."""

from __future__ import annotations

import math
import zlib

import numpy as np

from nodestudio.errors import GraphError
from nodestudio.graph.limits import array_size_problem

INITIALISERS = ("zeros", "ones", "constant", "normal", "uniform", "glorot_tanh", "glorot_sigmoid",
                "he_normal")
DEVICE_ITEMSIZE = 4  # parameters live on the device as float32 (or int32)


class InitialiserError(GraphError, ValueError):
    """A parameter that cannot be initialised: its shape, its size or its initialiser; a
    ValueError too, as it was before it named the node."""


def fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Fan-in and fan-out: (in, out) for a dense matrix, (in*k*k, out*k*k) for conv filters."""
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def initial_value(init: str, shape: tuple[int, ...], seed: int = 0, std: float = 0.01,
                  scale: float = 0.05, value: float = 0.0, name: str | None = None
                  ) -> np.ndarray:
    """A parameter's first value, drawn in float64. Its shape is checked before anything is
    allocated: every dimension a whole number >= 1, the array within
    NODESTUDIO_MAX_PARAMETER_BYTES on the device (GraphError naming `name`, the node)."""
    if any(d is None for d in shape):
        raise InitialiserError(f"a parameter needs a fully known shape, got {tuple(shape)}",
                               node=name)
    if any(isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1
           for d in shape):
        raise InitialiserError(f"a parameter's dimensions must be whole numbers >= 1, got "
                               f"{tuple(shape)}", node=name)
    problem = array_size_problem(shape, DEVICE_ITEMSIZE, "the parameter")
    if problem is not None:
        raise InitialiserError(problem, node=name)
    if init not in INITIALISERS:
        raise InitialiserError(f"unknown initialiser {init!r}; choose one of {INITIALISERS}",
                               node=name)
    rng = np.random.default_rng(seed)
    fan_in, fan_out = fans(shape)
    glorot = math.sqrt(6.0 / (fan_in + fan_out))
    if init == "zeros":
        return np.zeros(shape)
    if init == "ones":
        return np.ones(shape)
    if init == "constant":
        return np.full(shape, float(value))
    if init == "normal":
        return rng.normal(0.0, std, shape)
    if init == "uniform":
        return rng.uniform(-scale, scale, shape)
    if init == "glorot_tanh":
        return rng.uniform(-glorot, glorot, shape)
    if init == "glorot_sigmoid":
        return rng.uniform(-4 * glorot, 4 * glorot, shape)
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), shape)  # he_normal


def owned_seed(key: str, seed: int = 0) -> int:
    """The seed of a layer's own parameter "<node id>/<name>": distinct per node, so that two
    layers of one shape do not start equal, and the same in every session."""
    return (zlib.crc32(key.encode()) + int(seed)) % 2**31
