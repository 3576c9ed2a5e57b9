"""The op registry: every op is defined once, here and in the modules beside this one.

An `OpDef` holds everything the rest of NodeStudio needs to know about an op: its ports and
attributes (the palette and inspector read them), its shape and dtype rule (the compiler and the
canvas wire labels), a NumPy float64 reference (the test oracle), how it lowers to OpenCL (an
elementwise C expression that the fusion pass can inline, or the name of a dedicated kernel
family), its gradient rule (a graph expression, so the backward graph is made of ordinary ops) and,
for composites, the primitive subgraph it stands for.

Gradient rules and composite expansions are written against a builder `F` handed in by the IR
layer (see `nodestudio.ir.build`), so this layer needs neither the IR nor OpenCL.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nodestudio.errors import GraphError
from nodestudio.graph.limits import FLOAT32_MAX, MAX_DIM, MAX_INT, MAX_NDIM, brief

FLOAT = "float32"
INT = "int32"
FLOAT64 = "float64"
INT64 = "int64"
# float32 and int32 are the defaults everywhere; float64 needs a device with cl_khr_fp64 (checked
# when a graph is compiled), int64 is in every OpenCL device.
DTYPES = (FLOAT, INT, FLOAT64, INT64)
FLOATS = (FLOAT, FLOAT64)
INTS = (INT, INT64)
ITEM_BYTES = {FLOAT: 4, INT: 4, FLOAT64: 8, INT64: 8}
ANY_FLOAT = "float"  # PortDef.dtype of a port taking float32 or float64
ANY_INT = "int"  # PortDef.dtype of a port taking int32 or int64


def accepts(port_dtype: str | None, dtype: str) -> bool:
    """Whether a port declaring `port_dtype` takes a value of `dtype` (an int32 port takes
    int64 too: the graph builder casts it)."""
    if port_dtype is None:
        return True
    if port_dtype == ANY_FLOAT:
        return dtype in FLOATS
    if port_dtype in (ANY_INT, INT):
        return dtype in INTS
    return dtype == port_dtype


def port_dtype_text(port_dtype: str) -> str:
    """What a port declaring `port_dtype` takes, in words for messages."""
    return {ANY_FLOAT: "float32 or float64", ANY_INT: "int32 or int64"}.get(port_dtype,
                                                                             port_dtype)


def is_float_dtype(dtype: str) -> bool:
    return dtype in FLOATS


def is_int_dtype(dtype: str) -> bool:
    return dtype in INTS


def promote(*dtypes: str, int_ok: bool = True) -> str:
    """The dtype of an elementwise result, NumPy's rule within the four device types: floats
    win over integers and the wider type wins (float64 with float32 gives float64, int64 with
    int32 int64). One difference from NumPy: an integer never widens a float (int64 with
    float32 gives float32, as int32 with float32 does), so that int64 labels beside float32
    activations keep the computation in float32. With `int_ok` False (ops that always give
    floats) integers alone give float32."""
    if int_ok and dtypes and all(d in INTS for d in dtypes):
        return INT64 if INT64 in dtypes else INT
    return FLOAT64 if FLOAT64 in dtypes else FLOAT


def float_of(dtype: str) -> str:
    """The float type an op computing in floats gives for an input of `dtype`: float64 stays
    float64, everything else (int32, int64, float32) gives float32."""
    return FLOAT64 if dtype == FLOAT64 else FLOAT
# the palette category of ops that autodiff makes (a slice's or a convolution's gradient): the
# backward graph is made of them, and a user rarely places one by hand
GRADIENTS = "Gradients"

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class TensorType:
    """Element type and shape of a value; `None` marks a dimension free until run time."""

    dtype: str
    shape: Shape

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        dims = " x ".join("B" if d is None else str(d) for d in self.shape) or "scalar"
        return dims if self.dtype == FLOAT else f"{dims} {self.dtype}"

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOATS


@dataclass(frozen=True)
class PortDef:
    name: str
    doc: str = ""
    # None accepts any dtype. FLOAT (float32) accepts float32 only: an op computing in
    # float32 refuses float64 with an error that says how to cast. INT (int32) takes int32,
    # and int64 through a cast to int32 that the IR inserts (indices fit int32). ANY_FLOAT
    # ("float") takes float32 or float64, ANY_INT ("int") int32 or int64 (`accepts`).
    dtype: str | None = None
    optional: bool = False
    # An input fed by a shared variable whose next value, while training, is this output (batch
    # norm's running averages): the IR makes it the variable's default update.
    update: str | None = None
    hidden: bool = False  # an output the canvas does not show (an owned parameter's next value)


@dataclass(frozen=True)
class ParamDef:
    """A parameter that an op owns (a layer's weights): made with the node, never wired to it.

    Its shape follows from the types of the op's inputs and its attributes, its initialiser
    from the attributes; its value lives in the document under "<node id>/<name>" once trained
    (the id its parameter node gets when the layer is expanded) and is drawn from the
    initialiser until then. In the IR, an op's owned parameters are its last inputs."""

    name: str
    shape: Callable[[Sequence[TensorType], dict[str, Any]], tuple[int, ...]]
    init: Callable[[dict[str, Any]], str]  # the initialiser's name for these attributes
    doc: str = ""
    trainable: bool = True
    update: str | None = None  # as PortDef.update: running statistics
    dtype: str = "float32"
    # owned only for attributes where this says so (an untied autoencoder's decoder weights);
    # such a parameter comes after those that are always owned
    when: Callable[[dict[str, Any]], bool] | None = None


@dataclass(frozen=True)
class AttrDef:
    """An attribute with its editor hints: kind is int, float, bool, choice, shape, axes, str,
    any.

    Every value an attribute takes, from the inspector, a file or the Python API, passes
    `check`, so a bad one is refused in one place, naming node and attribute. Besides `low`
    and `high`: an int lies within +-MAX_INT (a 32-bit kernel argument); a float is finite and
    fits float32 (unless `finite=False`, where +-inf is a meaningful value); a shape has at
    most MAX_NDIM dimensions, each a whole number from 1 to MAX_DIM or None (known at run
    time), and -1 too when `low` is -1 (reshape's inferred dimension)."""

    name: str
    kind: str
    default: Any = None
    doc: str = ""
    choices: tuple[Any, ...] = ()
    low: float | None = None
    high: float | None = None
    finite: bool = True
    # what an editor shows instead of the lowest value where that one means something else
    # ("own stream" for a seed of -1)
    special: str = ""
    # a random stream's seed: -1 asks for a stream of its own, which a primitive op gets when
    # it is built (`stream_seed_of` its node's name); a composite resolves it in its expansion
    stream: bool = False

    def check(self, value: Any, node: str | None) -> Any:
        """Validate and normalise one value; raise GraphError naming node and attribute."""
        try:
            converted = _ATTR_CONVERTERS[self.kind](value)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise GraphError(f"attribute {self.name!r} expects {self.kind} "
                             f"({_KIND_TEXT[self.kind]}), got {brief(value)}",
                             node=node) from exc
        except _BadPart as exc:
            raise GraphError(f"attribute {self.name!r}: {exc}", node=node) from None
        if self.kind == "shape":
            _check_dims(self, converted, node)
        if self.choices and not any(_same_choice(converted, c) for c in self.choices):
            raise GraphError(f"attribute {self.name!r} must be one of {list(self.choices)}, "
                             f"got {brief(value)}", node=node)
        if self.kind in ("int", "float"):
            self._check_number(converted, node)
        return converted

    def _check_number(self, value: int | float, node: str | None) -> None:
        if value != value:  # NaN passes every comparison below
            raise GraphError(f"attribute {self.name!r} is NaN", node=node)
        infinite = isinstance(value, float) and math.isinf(value)
        if infinite and self.finite:
            raise GraphError(f"attribute {self.name!r} must be a finite number, got {value!r}",
                             node=node)
        bound = MAX_INT if self.kind == "int" else FLOAT32_MAX
        low = -bound if self.low is None else max(self.low, -bound)
        high = bound if self.high is None else min(self.high, bound)
        if not low <= value <= high and not (infinite and self.low is None and
                                             self.high is None):
            raise GraphError(f"attribute {self.name!r} must lie in [{_number(low)}, "
                             f"{_number(high)}], got {brief(value)}", node=node)


def _number(value: float) -> str:
    return str(value) if isinstance(value, int) or value.is_integer() and abs(value) < 1e16 \
        else f"{value:g}"


class _BadPart(Exception):
    """One element of a shape or axes list that is not a whole number (says which)."""


def _same_choice(value: Any, choice: Any) -> bool:
    if isinstance(value, (bool, np.bool_)) != isinstance(choice, bool):
        return False  # True is no choice 1
    try:
        return bool(value == choice)
    except (TypeError, ValueError):  # an array compared elementwise
        return False


def _sequence(value: Any) -> list[Any]:
    """The items of a list or tuple (or 1-d array); refuses strings, dicts, sets, booleans."""
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        raise TypeError(value)
    if len(value) > MAX_NDIM:
        raise _BadPart(f"{len(value)} entries; at most {MAX_NDIM} dimensions are supported")
    return list(value)


def _part(value: Any, index: int) -> int:
    try:
        return _whole(value)
    except (TypeError, ValueError, OverflowError):
        raise _BadPart(f"entry {index} must be a whole number, got {brief(value)}") from None


def _axes(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        return (_axis(int(value), 0),)
    return tuple(_axis(_part(v, i), i) for i, v in enumerate(_sequence(value)))


def _axis(value: int, index: int) -> int:
    if abs(value) > MAX_NDIM:
        raise _BadPart(f"axis {value} (entry {index}) is beyond the {MAX_NDIM} dimensions a "
                       f"value may have")
    return value


def _shape(value: Any) -> tuple[int | None, ...]:
    return tuple(None if v is None else _part(v, i) for i, v in enumerate(_sequence(value)))


def _check_dims(attr: AttrDef, shape: tuple[int | None, ...], node: str | None) -> None:
    inferred = attr.low == -1  # reshape: one dimension may be -1
    for i, d in enumerate(shape):
        if d is None or 1 <= d <= MAX_DIM or (inferred and d == -1):
            continue
        allowed = "a whole number from 1 to " + f"{MAX_DIM:,}" + (", -1" if inferred else "")
        raise GraphError(f"attribute {attr.name!r}: dimension {i} must be {allowed} or None "
                         f"(free), got {brief(d)}", node=node)


def _whole(value: Any) -> int:
    """An integer, refusing 2.5 (rather than truncating it), booleans, NaN and infinities."""
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise TypeError(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, str):
        value = value.strip()
        try:
            return int(value)
        except ValueError:
            pass
    number = float(value)  # ValueError / OverflowError / TypeError for what is no number
    if not math.isfinite(number) or number != int(number):
        raise ValueError(value)
    return int(number)


def _float(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)) or value is None:
        raise TypeError(value)
    if isinstance(value, (int, np.integer)):
        return float(value)  # OverflowError for an integer beyond floats
    return float(value)


def _bool(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)) and value in (0, 1):
        return bool(value)
    raise ValueError(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return value


_ATTR_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "int": _whole,
    "float": _float,
    "bool": _bool,
    "choice": lambda v: v,
    "str": _text,
    "axes": _axes,
    "shape": _shape,
    "any": lambda v: v,
}

_KIND_TEXT = {
    "int": "a whole number", "float": "a number", "bool": "true or false",
    "choice": "one of its choices", "str": "a string", "axes": "a list of whole numbers",
    "shape": "a list of dimensions", "any": "a value",
}


ShapeRule = Callable[[Sequence[TensorType], dict[str, Any]], Sequence[TensorType]]
Reference = Callable[..., Any]


@dataclass(frozen=True)
class OpDef:
    """One op. `kernel` is how it lowers: "elementwise" (with `expr`), "view", or a family name."""

    name: str
    category: str
    doc: str
    inputs: tuple[PortDef, ...]
    outputs: tuple[PortDef, ...] = (PortDef("out"),)
    attrs: tuple[AttrDef, ...] = ()
    shape: ShapeRule | None = None
    reference: Reference | None = None
    kernel: str | None = None
    expr: str | None = None  # C expression over a, b, c for elementwise ops
    grad: Callable[..., Sequence[Any]] | None = None
    expand: Callable[..., Any] | None = None  # composites: builds the primitive subgraph
    variadic: bool = False  # inputs are x0..x{n-1} with n from attr "n"
    stateful: bool = False  # random ops: output differs per call
    legacy_names: tuple[str, ...] = ()
    label: Callable[[dict[str, Any]], str] | None = None  # short text for the node face
    params: tuple[ParamDef, ...] = ()  # parameters the op owns (layers)
    role: str | None = None  # "loss" or "error": what a graph output of this op usually is
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def is_composite(self) -> bool:
        return self.expand is not None

    @property
    def is_elementwise(self) -> bool:
        return self.kernel == "elementwise"

    def input_names(self, attrs: dict[str, Any], node: str | None = None) -> list[str]:
        """The input ports a wire can feed. A variadic op's count `n` is checked first (a
        file may say a million): GraphError naming the node and the attribute."""
        if self.variadic:
            spec = self.attr("n")
            return [f"x{i}" for i in range(spec.check(attrs.get("n", spec.default), node))]
        return [p.name for p in self.inputs]

    def owned_params(self, attrs: dict[str, Any] | None = None) -> tuple[ParamDef, ...]:
        """The parameters a node with these (normalised) attributes owns; all that may be
        owned when no attributes are given."""
        if attrs is None:
            return self.params
        return tuple(p for p in self.params if p.when is None or p.when(attrs))

    def param_names(self, attrs: dict[str, Any] | None = None) -> list[str]:
        return [p.name for p in self.owned_params(attrs)]

    def ir_input_names(self, attrs: dict[str, Any]) -> list[str]:
        """The inputs of the op's IR node: its ports, then its owned parameters."""
        return self.input_names(attrs) + self.param_names(attrs)

    def output_names(self) -> list[str]:
        return [p.name for p in self.outputs]

    def visible_output_names(self) -> list[str]:
        """The output ports the canvas shows and a wire can leave."""
        return [p.name for p in self.outputs if not p.hidden]

    def attr(self, name: str) -> AttrDef:
        for a in self.attrs:
            if a.name == name:
                return a
        raise KeyError(name)

    def normalise_attrs(self, attrs: dict[str, Any], node: str) -> dict[str, Any]:
        """Fill defaults, convert and range-check values; unknown attributes are errors."""
        known = {a.name for a in self.attrs}
        unknown = set(attrs) - known
        if unknown:
            raise GraphError(f"op {self.name!r} has no attribute(s) {sorted(unknown)}; "
                             f"it has {sorted(known)}", node=node)
        out = {}
        for a in self.attrs:
            out[a.name] = a.check(attrs[a.name], node) if a.name in attrs else a.default
            if a.stream and out[a.name] == -1 and self.expand is None:
                out[a.name] = stream_seed_of(node)
        return out


def stream_seed_of(name: str) -> int:
    """The seed of "a stream of its own" for the node named `name`: stable for a name (a
    document's node ids; the Python API's names follow build order), distinct across names."""
    return zlib.crc32(name.encode()) % 2**31


_REGISTRY: dict[str, OpDef] = {}
_ALIASES: dict[str, str] = {}


def register(op: OpDef) -> OpDef:
    if op.name in _REGISTRY:
        raise ValueError(f"op {op.name!r} registered twice")
    _REGISTRY[op.name] = op
    for legacy in op.legacy_names:
        _ALIASES[legacy] = op.name
    return op


def get(name: str, node: str | None = None) -> OpDef:
    _load_all()
    name = _ALIASES.get(name, name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise GraphError(f"unknown op {name!r}", node=node) from None


def all_ops() -> list[OpDef]:
    _load_all()
    return list(_REGISTRY.values())


def categories() -> dict[str, list[OpDef]]:
    """Ops by category, in registration order, except that layers owning their parameters
    come first in theirs: they are what a user building a network reaches for."""
    grouped: dict[str, list[OpDef]] = {}
    for op in all_ops():
        grouped.setdefault(op.category, []).append(op)
    return {name: sorted(ops, key=lambda op: not op.params) for name, ops in grouped.items()}


_loaded = False


def _load_all() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from nodestudio.ops import definitions  # noqa: F401  (registers every op)
