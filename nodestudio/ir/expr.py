"""Symbolic variables and op applications (the IR that autodiff, fusion and lowering work on).

The IR is a DAG by reference, as in Theano: an `Apply` is one op applied to input `Variable`s and
owns its output variables. Building an `Apply` runs the op's shape rule at once, so a wiring or
shape mistake is reported where it is made, naming the node and the port.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from nodestudio.errors import GraphError, ShapeError
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, FLOAT64, FLOATS, INT, INT64, INTS, OpDef, TensorType

_counters: dict[str, Iterator[int]] = {}
_COMPARISONS = frozenset({"less", "less_equal", "greater", "greater_equal"})
_scope: contextvars.ContextVar[str] = contextvars.ContextVar("nodestudio_scope", default="")


@contextlib.contextmanager
def name_scope(prefix: str) -> Iterator[None]:
    """Prefix the names of nodes built inside (e.g. "bn1/" for a composite's primitives)."""
    token = _scope.set(_scope.get() + prefix)
    try:
        yield
    finally:
        _scope.reset(token)


def fresh_name(base: str) -> str:
    counter = _counters.setdefault(base, itertools.count(1))
    return f"{_scope.get()}{base}_{next(counter)}"


class Apply:
    """One application of an op. `data` holds the array of a constant or parameter."""

    __slots__ = ("op", "inputs", "attrs", "name", "outputs", "data", "expansion", "__weakref__")

    def __init__(self, op: OpDef, inputs: Sequence[Variable], attrs: dict[str, Any], name: str,
                 out_types: Sequence[TensorType], data: Any = None):
        self.op = op
        self.inputs = tuple(inputs)
        self.attrs = attrs
        self.name = name
        self.data = data
        self.expansion: dict[str, tuple[Variable, ...]] = {}  # mode -> primitive outputs
        self.outputs = tuple(_make_variable(self, i, t) for i, t in enumerate(out_types))

    def __repr__(self) -> str:
        return f"<Apply {self.name}: {self.op.name}>"

    def __reduce__(self):
        """Pickled as what rebuilds it: op name, inputs, attributes, name and data (a constant's
        array, a shared variable's value); never the op's code, kernels or expansions."""
        return _rebuild_apply, (self.op.name, self.inputs, self.attrs, self.name, self.data)


def _rebuild_apply(op_name: str, inputs: tuple, attrs: dict[str, Any], name: str,
                   data: Any) -> Apply:
    op = registry.get(op_name, name)
    if not inputs and op.kernel == "source":  # inputs, constants, shared values: as declared
        attrs = op.normalise_attrs({k: v for k, v in attrs.items()}, name)
        return Apply(op, (), attrs, name, [TensorType(attrs["dtype"], tuple(attrs["shape"]))],
                     data=data)
    attrs = {k: v for k, v in attrs.items() if not (k == "n" and op.variadic)}
    return make_apply(op, inputs, attrs, name, data)


def _rebuild_variable(owner: Apply, index: int, cls: type | None = None) -> Variable:
    """The output of a rebuilt Apply; a subclass the variable had (a compatibility layer's
    input type) is kept. Pickle rebuilds a variable before anything that consumes it, so
    swapping the owner's output here is safe."""
    var = owner.outputs[index]
    if cls is not None and type(var) is not cls:
        var = cls(owner, index, var.type)
        outputs = list(owner.outputs)
        outputs[index] = var
        owner.outputs = tuple(outputs)
    return var


def _make_variable(owner: Apply, index: int, type_: TensorType) -> Variable:
    cls = owner.data.variable_class if hasattr(owner.data, "variable_class") else Variable
    return cls(owner, index, type_)


class Variable:
    """A symbolic tensor: output `index` of the `Apply` that owns it."""

    __slots__ = ("owner", "index", "type", "__weakref__")
    __array_priority__ = 1000  # so that ndarray <op> Variable defers to us

    def __init__(self, owner: Apply, index: int, type_: TensorType):
        self.owner = owner
        self.index = index
        self.type = type_

    # --- identity -------------------------------------------------------------------------
    @property
    def name(self) -> str:
        if len(self.owner.outputs) == 1:
            return self.owner.name
        return f"{self.owner.name}.{self.owner.op.outputs[self.index].name}"

    @property
    def port(self) -> str:
        return self.owner.op.outputs[self.index].name

    @property
    def shape(self) -> tuple[int | None, ...]:
        return self.type.shape

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def dtype(self) -> str:
        return self.type.dtype

    def __repr__(self) -> str:
        return f"<Variable {self.name}: {self.type}>"

    def __reduce__(self):
        return _rebuild_variable, (self.owner, self.index, type(self)), self._pickled_state()

    def _pickled_state(self) -> Any:
        return None

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:  # identity, so variables can key dicts
        return self is other

    def __bool__(self) -> bool:
        """As in Theano: a variable is true (so `if var:` tests that it exists), except the
        result of a comparison, whose truth is only known when the graph runs: `a < b < c` or
        `if x > 0:` would silently test the wrong thing, so they raise."""
        if self.owner.op.name in _COMPARISONS:
            raise TypeError(f"the comparison {self.name!r} has no truth value until the graph "
                            "runs (a < b < c, `if x > 0:`, `and` / `or` do not work on symbolic "
                            "values); use ns.where / ns.switch inside the graph")
        return True

    # --- operators --------------------------------------------------------------------------
    def __add__(self, o): return apply("add", self, o)
    def __radd__(self, o): return apply("add", o, self)
    def __sub__(self, o): return apply("sub", self, o)
    def __rsub__(self, o): return apply("sub", o, self)
    def __mul__(self, o): return apply("mul", self, o)
    def __rmul__(self, o): return apply("mul", o, self)
    def __truediv__(self, o): return apply("div", self, o)
    def __rtruediv__(self, o): return apply("div", o, self)
    def __pow__(self, o):  # a constant exponent takes build.pow's fast path (x ** 2: square)
        from nodestudio.ir import build
        return build.pow(self, o)

    def __rpow__(self, o):
        from nodestudio.ir import build
        return build.pow(o, self)

    def __neg__(self): return apply("neg", self)
    def __abs__(self): return apply("abs", self)
    def __lt__(self, o): return apply("less", self, o)
    def __le__(self, o): return apply("less_equal", self, o)
    def __gt__(self, o): return apply("greater", self, o)
    def __ge__(self, o): return apply("greater_equal", self, o)

    def __mod__(self, o):
        from nodestudio.ir import symbolic
        return symbolic.mod(self, o)

    def __rmod__(self, o):
        from nodestudio.ir import symbolic
        return symbolic.mod(o, self)

    def __floordiv__(self, o):
        from nodestudio.ir import symbolic
        return symbolic.int_div(self, o)

    def __rfloordiv__(self, o):
        from nodestudio.ir import symbolic
        return symbolic.int_div(o, self)

    def __getitem__(self, key):
        """Indexing and slicing as in NumPy and Theano (nodestudio/ir/subscript.py): ints,
        slices, slices with int32 scalar bounds (`x[i * n:(i + 1) * n]`), int arrays."""
        from nodestudio.ir import subscript
        return subscript.getitem(self, key)

    # not iterable (with __getitem__, Python would otherwise iterate by indexing 0, 1, ...)
    __iter__ = None

    # --- Theano-style methods -----------------------------------------------------------------
    def sum(self, axis=None, keepdims: bool = False):
        return apply("sum", self, axis=axis, keepdims=keepdims)

    def mean(self, axis=None, keepdims: bool = False):
        return apply("mean", self, axis=axis, keepdims=keepdims)

    def max(self, axis=None, keepdims: bool = False):
        return apply("max", self, axis=axis, keepdims=keepdims)

    def min(self, axis=None, keepdims: bool = False):
        from nodestudio.ir import symbolic
        return symbolic.minimum_over(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int = -1, keepdims: bool = False):
        return apply("argmax", self, axis=axis, keepdims=keepdims)

    def reshape(self, shape, ndim: int | None = None):
        from nodestudio.ir import symbolic
        return symbolic.reshape(self, shape, ndim)

    def flatten(self, ndim: int = 1):
        return apply("flatten", self, ndim=ndim)

    def dimshuffle(self, *pattern):
        from nodestudio.ir import symbolic
        return symbolic.dimshuffle(self, *pattern)

    def dot(self, o):
        from nodestudio.ir import build
        return build.dot(self, o)

    def norm(self, L=2, axis=None):  # noqa: N803  (Theano's name)
        from nodestudio.ir import symbolic
        return symbolic.norm(self, L, axis)

    def astype(self, dtype):
        from nodestudio.ir import symbolic
        return symbolic.cast(self, dtype)

    def __matmul__(self, o):
        from nodestudio.ir import build
        return build.matmul(self, o)  # NumPy's matmul: batch axes broadcast

    def __rmatmul__(self, o):
        from nodestudio.ir import build
        return build.matmul(o, self)

    @property
    def T(self) -> Variable:
        from nodestudio.ir import build
        return build.transpose(self)

    def eval(self, inputs: dict[Variable, Any] | None = None) -> Any:
        """Compile (once, cached) and run on the OpenCL device; 0-d results come back as float."""
        from nodestudio.api.function import eval_variable
        return eval_variable(self, inputs or {})


def constant(value: Any, dtype: str | None = None, name: str | None = None) -> Variable:
    """A constant node; Python and NumPy floats become float32, integer arrays int32, unless
    `dtype` says otherwise (float64 and int64 only when asked for)."""
    array = np.asarray(value)
    if dtype is None:
        dtype = INT if array.dtype.kind in "iub" and not np.isscalar(value) else FLOAT
    array = array.astype(np.float64 if dtype in FLOATS else np.int64)
    op = registry.get("constant")
    attrs = {"shape": array.shape, "dtype": dtype}
    if array.size == 1:
        first = array.reshape(-1)[0]
        attrs["value"] = float(first) if dtype in FLOATS else int(first)
    node = Apply(op, (), attrs, name or fresh_name("const"), [TensorType(dtype, array.shape)],
                 data=array)
    return node.outputs[0]


def as_variable(value: Any) -> Variable:
    if isinstance(value, Variable):
        return value
    if isinstance(value, (int, float, np.number, np.ndarray, list, tuple, bool)):
        return constant(value)
    raise TypeError(f"cannot use {type(value).__name__} as a NodeStudio value")


def _literal(value: Any, ints: bool) -> Variable:
    """Python ints next to integer operands stay integers (`counter + 1`); other literals are
    float32."""
    if ints and isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return constant(value, dtype=INT if -2**31 <= value < 2**31 else INT64)
    return as_variable(value)


def apply(op_name: str, *inputs: Any, name: str | None = None, data: Any = None,
          **attrs: Any) -> Any:
    """Build an Apply of a registry op; returns its output variable (a tuple if several)."""
    symbolic = [x.dtype for x in inputs if isinstance(x, Variable)]
    ints = bool(symbolic) and all(d in INTS for d in symbolic)
    node = make_apply(registry.get(op_name), [_literal(x, ints) for x in inputs], attrs, name, data)
    return node.outputs[0] if len(node.outputs) == 1 else node.outputs


def make_apply(op: OpDef, inputs: Sequence[Variable], attrs: dict[str, Any],
               name: str | None = None, data: Any = None) -> Apply:
    name = name or fresh_name(op.name)
    attrs = op.normalise_attrs(attrs, name)
    if op.variadic:
        attrs["n"] = op.attr("n").check(len(inputs), name)
    port_names = op.ir_input_names(attrs)
    if len(inputs) != len(port_names):
        raise GraphError(f"op {op.name!r} takes {len(port_names)} input(s) "
                         f"({', '.join(port_names)}), got {len(inputs)}", node=name)
    inputs = [_port_dtype(op, name, port, var, spec)
              for port, var, spec in zip(port_names, inputs, _port_specs(op, port_names))]
    try:
        out_types = infer(op, [v.type for v in inputs], attrs, name)
    except ShapeError as exc:  # a composite around this node maps its ports to its own
        exc.inputs = dict(zip(port_names, inputs))
        raise
    return Apply(op, inputs, attrs, name, out_types, data)


def _port_dtype(op: OpDef, node: str, port: str, var: Variable, spec: Any) -> Variable:
    """`var` as the port takes it: an int64 at an int32 port (an index, a label) is cast to
    int32, which holds every index; float64 at a port that computes in float32 is refused with
    the cast that would fit; anything else that does not match is refused."""
    want = None if spec is None else spec.dtype
    if not registry.accepts(want, var.dtype):
        if var.dtype == FLOAT64 and want == FLOAT:
            raise ShapeError(f"{op.name} computes in float32, got float64 from {var.name!r}; "
                             f"cast the input with ns.cast(x, 'float32')", node=node, port=port)
        raise ShapeError(f"expects {registry.port_dtype_text(want)}, got {var.type.dtype} "
                         f"from {var.name!r}", node=node, port=port)
    if var.dtype == INT64 and want == INT:
        return make_apply(registry.get("cast"), [var], {"dtype": INT},
                          f"{node}/{port}_int32").outputs[0]
    return var


def _port_specs(op: OpDef, names: list[str]) -> list[Any]:
    if op.variadic:
        return [op.inputs[0] if op.inputs else None] * len(names)
    return [*op.inputs, *op.params]


def infer(op: OpDef, types: Sequence[TensorType], attrs: dict[str, Any],
          name: str) -> list[TensorType]:
    """Run the op's shape rule; any failure becomes a ShapeError naming node and port.
    A composite's types are those of its expansion, built on placeholders."""
    try:
        if op.is_composite:
            return _composite_types(op, types, attrs)
        if op.shape is None:
            raise GraphError(f"op {op.name!r} has no shape rule", node=name)
        return list(op.shape(types, attrs))
    except ShapeError as exc:
        if exc.node is None:
            raise ShapeError(exc.detail, node=name, port=exc.port) from None
        raise


def _composite_types(op: OpDef, types: Sequence[TensorType], attrs: dict[str, Any]):
    from nodestudio.ir import build
    source = registry.get("input")
    placeholders = []
    for port, t in zip(op.ir_input_names(attrs), types):
        holder = Apply(source, (), {"shape": t.shape, "dtype": t.dtype}, port, [t])
        placeholders.append(holder.outputs[0])
    try:
        with name_scope("shape-check/"):
            outs = op.expand(build, placeholders, attrs, "train")
    except ShapeError as exc:
        if exc.node is None:  # raised by the expansion itself, about the composite's ports
            raise
        raise _in_composite_terms(exc, placeholders) from None
    return [v.type for v in outs]


def _in_composite_terms(exc: ShapeError, placeholders: list[Variable]) -> ShapeError:
    """An inner op's shape error told in the composite's words: the composite's port that
    fed the failing inner port is the culprit (W, not matmul's b), and the inner ports are
    spelled out ("in its matmul of x and W")."""
    inner: dict[str, Variable] = getattr(exc, "inputs", {})
    holders = {id(v): v.owner.name for v in placeholders}

    def source(var: Variable) -> str | None:
        while id(var) not in holders and len(var.owner.inputs) == 1:  # reshape, transpose...
            var = var.owner.inputs[0]
        return holders.get(id(var))

    named = {port: source(v) for port, v in inner.items()}
    culprit = named.get(exc.port) if exc.port is not None else None
    op_name = exc.node.rsplit("/", 1)[-1].rstrip("_0123456789") if exc.node else "op"
    spelled = ", ".join(f"{p} = {n}" for p, n in named.items() if n is not None)
    where = f" (in its {op_name}{': ' + spelled if spelled else ''})"
    return ShapeError(exc.detail + where, port=culprit)


def toposort(outputs: Sequence[Variable]) -> list[Apply]:
    """Applies that the outputs depend on, each after its inputs (iterative: deep graphs)."""
    order: list[Apply] = []
    seen: set[int] = set()
    stack: list[tuple[Apply, bool]] = [(v.owner, False) for v in reversed(outputs)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        for var in reversed(node.inputs):
            if id(var.owner) not in seen:
                stack.append((var.owner, False))
    return order


def is_float(var: Variable) -> bool:
    return var.type.dtype in FLOATS


def check_free_broadcast(node: Apply, shapes: Sequence[tuple[int, ...]]) -> None:
    """Refuse a free dimension that is 1 at run time and gets broadcast.

    Shape rules take a free dimension to be larger than 1 and autodiff sums gradients over the
    broadcast axes it can see statically, so such a value would silently get a gradient of the
    wrong shape. Called with the concrete input shapes of an elementwise node."""
    ndim = max((len(s) for s in shapes), default=0)
    padded = [(1,) * (ndim - len(s)) + tuple(s) for s in shapes]
    for var, concrete in zip(node.inputs, padded):
        declared = (1,) * (ndim - var.ndim) + tuple(var.shape)
        for axis, (d, c) in enumerate(zip(declared, concrete)):
            if d is None and c == 1 and any(other[axis] > 1 for other in padded):
                raise ShapeError(f"input {var.name!r} has size 1 at run time along free axis "
                                 f"{axis}, which would broadcast; declare that dimension as 1",
                                 node=node.name)
