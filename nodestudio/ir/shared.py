"""Shared variables: persistent values (parameters, running averages, counters) that live on the
device between calls. The host copy is refreshed lazily, so a training loop never reads weights
back unless someone asks for them."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from nodestudio.errors import ShapeError
from nodestudio.ir.expr import Apply, Variable, fresh_name
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, INT, TensorType


class DeviceCopy(Protocol):
    """What the backend attaches to a SharedValue holding a device buffer."""

    def read(self) -> np.ndarray: ...
    def write(self, value: np.ndarray) -> None: ...


class SharedVariable(Variable):
    """`ns.shared(value)`: a parameter node whose value persists across calls."""

    __slots__ = ("default_update",)

    def __init__(self, owner: Apply, index: int, type_: TensorType):
        super().__init__(owner, index, type_)
        self.default_update: Variable | None = None  # applied by training functions

    @property
    def container(self) -> SharedValue:
        return self.owner.data

    def get_value(self) -> np.ndarray:
        return self.container.get_value()

    def set_value(self, value: Any) -> None:
        self.container.set_value(value, self.name)


class SharedValue:
    """The value behind a SharedVariable; authoritative on the device once one is attached."""

    variable_class = SharedVariable

    def __init__(self, value: Any, dtype: str):
        self.dtype = dtype
        self.host: np.ndarray = _as_device_dtype(value, dtype)
        self.device: DeviceCopy | None = None  # set by the backend on first use
        self.host_stale = False  # the device holds a newer value than `host`
        self.version = 0  # bumped by every set_value and device update

    @property
    def shape(self) -> tuple[int, ...]:
        return self.host.shape

    def get_value(self) -> np.ndarray:
        if self.host_stale and self.device is not None:
            self.host = self.device.read()
            self.host_stale = False
        return self.host.copy()

    def set_value(self, value: Any, name: str = "shared") -> None:
        array = _as_device_dtype(value, self.dtype)
        if array.shape != self.host.shape:
            raise ShapeError(f"set_value: shape {array.shape} differs from {self.host.shape}",
                             node=name)
        self.host = array
        self.host_stale = False
        self.version += 1
        if self.device is not None:
            self.device.write(array)


def _as_device_dtype(value: Any, dtype: str) -> np.ndarray:
    return np.array(value, dtype=np.float32 if dtype == FLOAT else np.int32, copy=True)


def shared(value: Any, name: str | None = None, *, init: str = "constant",
           attrs: dict[str, Any] | None = None) -> SharedVariable:
    """A shared variable holding `value` (float32 unless an integer array is given)."""
    array = np.asarray(value)
    dtype = INT if array.dtype.kind in "iu" else FLOAT
    container = SharedValue(array, dtype)
    node_attrs = {"shape": array.shape, "dtype": dtype, "init": init, **(attrs or {})}
    op = registry.get("parameter")
    node_name = name or fresh_name("shared")
    node = Apply(op, (), op.normalise_attrs(node_attrs, node_name), node_name,
                 [TensorType(dtype, array.shape)], data=container)
    return node.outputs[0]  # type: ignore[return-value]
