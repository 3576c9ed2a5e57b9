"""Shared variables: persistent values (parameters, running averages, counters) that live on the
device between calls. The host copy is refreshed lazily, so a training loop never reads weights
back unless someone asks for them."""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from nodestudio.errors import InputValueError, ShapeError
from nodestudio.ir.expr import Apply, Variable, fresh_name
from nodestudio.ops import registry
from nodestudio.ops.registry import DTYPES, FLOAT, FLOAT64, INT, INT64, INTS, TensorType


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

    def _pickled_state(self) -> Any:
        return {"default_update": self.default_update}

    def __setstate__(self, state: Any) -> None:
        if state:
            self.default_update = state.get("default_update")

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> np.ndarray:
        """A copy of the value (read back from the device when it changed there). `borrow` is
        accepted for Theano's code and changes nothing: the value lives on the device, so the
        host always gets its own array, and changing it never changes the variable."""
        return self.container.get_value()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value (same shape); it is copied to the device, whatever `borrow`
        says, so changing `value` afterwards never changes the variable."""
        self.container.set_value(value, self.name)


class SharedValue:
    """The value behind a SharedVariable; authoritative on the device once one is attached."""

    variable_class = SharedVariable

    def __init__(self, value: Any, dtype: str, name: str = "shared"):
        self.dtype = dtype
        self.name = name  # of its node, for messages
        self.host: np.ndarray = device_array(value, dtype, f"shared variable {name!r}").copy()
        self.device: DeviceCopy | None = None  # set by the backend on first use
        self.host_stale = False  # the device holds a newer value than `host`
        self.version = 0  # bumped by every set_value and device update

    @property
    def shape(self) -> tuple[int, ...]:
        return self.host.shape

    def __reduce__(self):
        """Pickled as its value (a NumPy array, read back from the device if it changed
        there): a loaded copy uploads it again on first use."""
        return SharedValue, (self.get_value(), self.dtype, self.name)

    def get_value(self) -> np.ndarray:
        if self.host_stale and self.device is not None:
            self.host = self.device.read()
            self.host_stale = False
        return self.host.copy()

    def set_value(self, value: Any, name: str | None = None) -> None:
        name = name or self.name
        array = device_array(value, self.dtype, f"shared variable {name!r}").copy()
        if array.shape != self.host.shape:
            raise ShapeError(f"set_value: shape {array.shape} differs from {self.host.shape}",
                             node=name)
        self.host = array
        self.host_stale = False
        self.version += 1
        if self.device is not None:
            self.device.write(array)


_INT32 = np.iinfo(np.int32)
_FLOAT32_MAX = float(np.finfo(np.float32).max)
NUMPY_TYPES = {FLOAT: np.float32, INT: np.int32, FLOAT64: np.float64, INT64: np.int64}


def device_array(value: Any, dtype: str, what: str) -> np.ndarray:
    """`value` as the device holds it: a C-ordered array of `dtype` (a 0-d one for a
    scalar), for `what` (e.g. "input 'y'"), converted only where nothing changes silently.

    int32 takes booleans, integers within its range and floats that are whole numbers within
    it; an integer beyond it (2**32 + 1 would wrap to 1), a fraction (1.7 would become 1), NaN,
    infinity or text is refused with an `InputValueError` naming `what`, the first offending
    value and its index. float32 takes any real number, NaN and infinities; a finite value
    beyond float32's range (1e300 would become inf) is refused. Rounding to float32's precision
    is the dtype's nature and is not refused. int64 and float64 follow the same rules with
    their own ranges (float64 holds every float; int64 refuses integers beyond it)."""
    target = NUMPY_TYPES[dtype]
    if isinstance(value, np.ndarray) and value.dtype == target:
        return np.require(value, requirements="C")  # the common case: nothing to check
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, OverflowError) as exc:  # ragged nesting and the like
        raise InputValueError(f"{what}: cannot read the value as an array: {exc}") from None
    if array.dtype.kind == "O":  # Python integers beyond int64, mixed objects
        array = _from_objects(array, dtype, what)
    kind = array.dtype.kind
    if kind not in "biuf":
        raise InputValueError(f"{what}: {_first(array, np.ones(array.shape, bool))} is not a "
                              f"real number (the values are {array.dtype}; {dtype} expected)")
    if target is np.int32 and kind in "iuf":
        _check_int32(array, what)
    elif target is np.int64 and kind in "iuf":
        _check_int64(array, what)
    elif target is np.float32 and kind == "f":
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(array) & (np.abs(array) > _FLOAT32_MAX)
        if bad.any():
            raise InputValueError(f"{what}: {_first(array, bad)} is beyond float32's range "
                                  f"(largest {_FLOAT32_MAX:.6g}){_count(bad)}")
    # np.ascontiguousarray would turn a 0-d value into shape (1,)
    return np.require(array.astype(target, copy=False), requirements="C")


def _check_int32(array: np.ndarray, what: str) -> None:
    if array.size == 0:
        return
    if array.dtype.kind in "iu" and _INT32.min <= int(array.min()) and \
            int(array.max()) <= _INT32.max:
        return  # integers that fit: checked without a temporary the size of the array
    with np.errstate(invalid="ignore"):
        bad = (array < _INT32.min) | (array > _INT32.max)
        if array.dtype.kind == "f":
            bad |= ~np.isfinite(array) | (np.trunc(array) != array)
    if not bad.any():
        return
    item = array.reshape(-1)[int(np.flatnonzero(bad)[0])]
    if not np.isfinite(item):
        reason = "cannot be an int32"
    elif _INT32.min <= item <= _INT32.max:
        reason = "is not a whole number, so it cannot be an int32 exactly"
    else:
        reason = f"is outside int32's range [{_INT32.min}, {_INT32.max}]"
    raise InputValueError(f"{what}: {_first(array, bad)} {reason}{_count(bad)}")


def _check_int64(array: np.ndarray, what: str) -> None:
    if array.size == 0 or array.dtype.kind == "i":
        return
    if array.dtype.kind == "u":
        bad = array > np.iinfo(np.int64).max
    else:
        with np.errstate(invalid="ignore"):
            bad = ~np.isfinite(array) | (np.trunc(array) != array) | (array >= 2.0**63) | (
                array < -2.0**63)
    if bad.any():
        raise InputValueError(f"{what}: {_first(array, bad)} cannot be an int64 exactly (a "
                              f"fraction, not finite, or beyond its range){_count(bad)}")


def _from_objects(array: np.ndarray, dtype: str, what: str) -> np.ndarray:
    """An object array (Python ints too large for int64, or mixed content) as int64 or
    float64, refusing what is neither a real number nor an integer that fits."""
    flat = array.reshape(-1)
    for i, item in enumerate(flat):
        if isinstance(item, (bool, np.bool_, int, np.integer)):
            info = np.iinfo(NUMPY_TYPES[dtype]) if dtype in INTS else None
            if info is not None and not info.min <= int(item) <= info.max:
                raise InputValueError(f"{what}: {int(item)} at index {_index(array, i)} is "
                                      f"outside {dtype}'s range [{info.min}, {info.max}]")
        elif not isinstance(item, (float, np.floating)):
            raise InputValueError(f"{what}: {item!r} at index {_index(array, i)} is not a "
                                  "number")
    return array.astype(np.float64)


def _index(array: np.ndarray, flat: int) -> list[int]:
    return [int(i) for i in np.unravel_index(flat, array.shape)]


def _first(array: np.ndarray, bad: np.ndarray) -> str:
    """The first offending value and where it is."""
    flat = int(np.flatnonzero(bad)[0])
    item = array.reshape(-1)[flat]
    text = repr(item.item() if hasattr(item, "item") else item)
    return text if array.ndim == 0 else f"{text} at index {_index(array, flat)}"


def _count(bad: np.ndarray) -> str:
    n = int(np.count_nonzero(bad))
    return f" ({n} of the {bad.size} values cannot be held exactly)" if n > 1 else ""


def shared(value: Any, name: str | None = None, *, borrow: bool = False, strict: bool = False,
           allow_downcast: bool | None = None, init: str = "constant",
           attrs: dict[str, Any] | None = None, dtype: str | None = None) -> SharedVariable:
    """A shared variable holding `value`. By default int32 for integer values (which must fit
    int32: int64 labels usually do) and float32 for any float (float64 is rounded); `dtype`
    ("float32", "float64", "int32", "int64") keeps another type, e.g. float64 where the
    device has it. The value is always copied, so `borrow` (Theano's promise not to change
    the array) is accepted and changes nothing; so are `strict` and `allow_downcast`."""
    array = np.asarray(value)
    if dtype is None:
        dtype = INT if array.dtype.kind in "iu" else FLOAT
    elif dtype not in DTYPES:
        raise ShapeError(f"shared variable {name or 'shared'!r}: dtype must be one of "
                         f"{list(DTYPES)}, got {dtype!r}")
    node_name = name or fresh_name("shared")
    container = SharedValue(array, dtype, node_name)
    node_attrs = {"shape": array.shape, "dtype": dtype, "init": init, **(attrs or {})}
    op = registry.get("parameter")
    node = Apply(op, (), op.normalise_attrs(node_attrs, node_name), node_name,
                 [TensorType(dtype, array.shape)], data=container)
    return node.outputs[0]  # type: ignore[return-value]
