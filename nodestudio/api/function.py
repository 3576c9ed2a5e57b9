"""`ns.function`: compile a graph once to OpenCL and call it like a Python function."""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from nodestudio.api.windows import check_windows, host_window_checks
from nodestudio.backend import device as devices
from nodestudio.backend.lower import host_array, lower
from nodestudio.backend.program import Executable, KernelReport
from nodestudio.errors import GraphError, MissingInputError, ShapeError
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import Variable, as_variable, toposort
from nodestudio.ir.reference import check_input_shape
from nodestudio.ir.rewrite import substitute
from nodestudio.ir.shared import SharedVariable
from nodestudio.ops.registry import INTS


class In:
    """An input with a default value (Theano's `In`): `ns.function([x, ns.In(lr, value=0.1)],
    ...)` may then be called without that argument. `name` is the keyword it is passed by
    (default: the variable's name)."""

    def __init__(self, variable: Variable, value: Any = None, name: str | None = None):
        if not isinstance(variable, Variable):
            raise GraphError(f"In: expected a symbolic variable, got {variable!r}")
        self.variable = variable
        self.value = value
        self.name = name or variable.name

    @property
    def has_default(self) -> bool:
        return self.value is not None


class Function:
    """A compiled graph. Call it with one value per input, positionally or by keyword name."""

    def __init__(self, inputs: Sequence[Any], outputs: Any, updates=None, givens=None,
                 training: bool | None = None, name: str | None = None,
                 allow_input_downcast: bool = False):
        if isinstance(inputs, (Variable, In)) or not isinstance(inputs, Sequence):
            raise GraphError(f"function inputs must be a list of variables, got {inputs!r}")
        self.name = name
        self.allow_input_downcast = bool(allow_input_downcast)
        specs = [v if isinstance(v, In) else In(_variable(v, "function inputs")) for v in inputs]
        self._defaults = {id(s.variable): s.value for s in specs if s.has_default}
        self._keywords = {s.name: s.variable for s in specs}
        self.inputs = [s.variable for s in specs]
        for var in self.inputs:
            if var.owner.op.name not in ("input", "parameter"):
                raise GraphError("function inputs must be symbolic inputs (ns.scalar, "
                                 "ns.matrix, ...) or shared variables", node=var.name)
        self.single = isinstance(outputs, Variable) or not isinstance(outputs, (list, tuple))
        outs = [] if outputs is None else [outputs] if self.single else list(outputs)
        self.outputs = [_variable(o, "function outputs") for o in outs]
        pairs = _pairs(updates, "updates")
        for shared, _ in pairs:
            if not isinstance(shared, SharedVariable):
                raise GraphError("updates must target shared variables",
                                 node=getattr(shared, "name", None))
        pairs = [(s, _variable(e, f"the update of shared variable {s.name!r}")) for s, e in pairs]
        self.training = bool(pairs) if training is None else training
        mode = "train" if self.training else "infer"
        if self.training:  # running averages and similar default updates
            targets = {id(s) for s, _ in pairs}
            for node in toposort(self.outputs + [e for _, e in pairs]):
                for var in node.outputs:
                    if isinstance(var, SharedVariable) and var.default_update is not None \
                            and id(var) not in targets:
                        pairs.append((var, var.default_update))
                        targets.add(id(var))
        update_exprs = [e for _, e in pairs]
        for shared, expr in zip([s for s, _ in pairs], update_exprs):
            if expr.dtype != shared.dtype or len(expr.shape) != len(shared.shape) or any(
                    d is not None and d != s for d, s in zip(expr.shape, shared.shape)):
                raise ShapeError(f"update value {expr.name!r} ({expr.type}) does not fit the "
                                 f"shared variable ({shared.type})", node=shared.name)
        everything = self.outputs + update_exprs
        if givens:
            everything = substitute(everything, dict(_pairs(givens, "givens")))
        prim = expand(everything, mode)
        self._results = prim[:len(self.outputs)]
        self._update_values = prim[len(self.outputs):]
        self._update_targets = [s.container for s, _ in pairs]
        self._order = toposort(prim)
        self._free_inputs = self._check_inputs()
        self._window_checks = host_window_checks(self._order)
        self._executables: dict[tuple, Executable] = {}
        self._shapes: dict[tuple, dict[int, tuple[int, ...]]] = {}
        self._last: Executable | None = None
        self.calls = 0  # advances the random streams (dropout masks) once per call

    def _check_inputs(self) -> list[Variable]:
        given = {id(v) for v in self.inputs}
        needed = [n.outputs[0] for n in self._order if n.op.name == "input"]
        missing = [v.name for v in needed if id(v) not in given]
        if missing:
            raise MissingInputError("the outputs depend on input(s) not listed in the function's "
                                    f"inputs: {', '.join(missing)}")
        return needed

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(args, kwargs, None)

    def profile(self, *args: Any, runs: int = 3, **kwargs: Any) -> list[KernelReport]:
        """Call the function `runs` times (updates included) on a queue with profiling on and
        return its kernels, in launch order, each with its median time over the runs. The
        device's main queue is left as it is (`enable_profiling` switches that one for all)."""
        if runs < 1:
            raise ValueError(f"runs must be at least 1, got {runs}")
        queue = devices.runtime().timing_queue()
        times = []
        for _ in range(runs):
            self._run(args, kwargs, queue)
            assert self._last is not None and self._last.last_times is not None
            times.append(self._last.last_times)
        reports = self._last.kernels()
        for i, report in enumerate(reports):
            report.seconds = float(np.median([run[i] for run in times]))
        return reports

    def _run(self, args: Sequence[Any], kwargs: Mapping[str, Any], queue: Any) -> Any:
        values = self._bind(args, kwargs)
        rt = devices.runtime()
        signature = (id(rt.context),) + tuple(values[id(v)].shape for v in self._free_inputs)
        executable = self._executables.get(signature)
        if executable is None:
            shapes = {id(v): values[id(v)].shape for v in self._free_inputs}
            lowered = lower(self._order, self._results, self._update_values, shapes, rt.is_gpu)
            for container, var in zip(self._update_targets, self._update_values):
                if lowered.shapes[id(var)] != container.shape:
                    raise ShapeError(f"update value {var.name!r} has shape "
                                     f"{lowered.shapes[id(var)]} at run time, the shared "
                                     f"variable {container.shape}")
            executable = Executable(rt, lowered, self._free_inputs, self._results,
                                    list(zip(self._update_targets, self._update_values)))
            self._executables[signature] = executable
            self._shapes[signature] = lowered.shapes
        if self._window_checks:
            check_windows(self._window_checks, self._shapes[signature],
                          {v: values[id(v)] for v in self._free_inputs}, self.name)
        self._last = executable
        outputs = executable(values, self.calls, queue)
        self.calls += 1
        if self.single:
            return outputs[0] if outputs else None
        return outputs

    def _bind(self, args: Sequence[Any], kwargs: Mapping[str, Any]) -> dict[int, np.ndarray]:
        if len(args) > len(self.inputs):
            raise MissingInputError(f"{self._what()}expected {len(self.inputs)} argument(s), "
                                    f"got {len(args)}")
        supplied = dict(zip(self.inputs, args))
        by_name = self._keywords
        for key, value in kwargs.items():
            if key not in by_name:
                raise MissingInputError(f"{self._what()}unknown input {key!r}; inputs: "
                                        f"{', '.join(by_name)}")
            supplied[by_name[key]] = value
        values: dict[int, np.ndarray] = {}
        for var in self.inputs:
            if var not in supplied:
                if id(var) not in self._defaults:
                    raise MissingInputError(f"{self._what()}no value given for input "
                                            f"{var.name!r}")
                supplied[var] = self._defaults[id(var)]
            if isinstance(var, SharedVariable):
                var.set_value(supplied[var])
                continue
            value = supplied[var]
            if self.allow_input_downcast and var.dtype in INTS:
                value = _truncated(value)
            array = host_array(value, var)  # refuses what it cannot hold exactly
            check_input_shape(var, array.shape)
            values[id(var)] = array
        return values

    def __reduce__(self):
        raise TypeError(f"{self._what()}a compiled function does not pickle (it holds device "
                        "kernels); pickle the model's variables and call ns.function again "
                        "after loading")

    def _what(self) -> str:
        return f"function {self.name!r}: " if self.name else ""

    def __repr__(self) -> str:
        inputs = ", ".join(v.name for v in self.inputs)
        return f"<Function {self.name or ''}({inputs})>".replace("Function (", "Function(")

    def undo_updates(self) -> bool:
        """Restore the shared values the most recent call updated (for rolling back a step
        that produced NaN). Returns False when there is nothing to undo or a shared value has
        been replaced since (by a later call or set_value)."""
        return self._last.undo_updates() if self._last is not None else False

    def kernels(self) -> list[KernelReport]:
        """The kernels of the most recent call: nodes covered, source, and (when profiling is
        on) seconds."""
        if self._last is None:
            raise RuntimeError("call the function once before asking for its kernels")
        return self._last.kernels()


def _variable(value: Any, what: str) -> Variable:
    try:
        return as_variable(value)
    except TypeError as exc:
        raise GraphError(f"{what}: {exc}") from None


def _pairs(table: Any, what: str) -> list[tuple[Any, Any]]:
    """A mapping or a sequence of (key, value) pairs, as a list of pairs."""
    if table is None:
        return []
    items = list(table.items() if isinstance(table, Mapping) else table)
    for item in items:
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise GraphError(f"function {what}: expected a dict or (variable, expression) "
                             f"pairs, got {item!r}")
    return [tuple(item) for item in items]


def _truncated(value: Any) -> Any:
    """allow_input_downcast for an int32 input: floats are truncated toward zero, as NumPy's
    astype and Theano do (without the flag a fraction is refused). Values beyond int32 are
    still refused: they cannot be held at all."""
    array = np.asarray(value)
    if array.dtype.kind == "f":
        with np.errstate(invalid="ignore"):
            finite = np.isfinite(array)
            return np.where(finite, np.trunc(array), array)
    return value


def function(inputs: Sequence[Any], outputs: Any = None, updates=None, givens=None,
             training: bool | None = None, name: str | None = None,
             allow_input_downcast: bool = False) -> Function:
    """Compile `outputs` of `inputs`; `updates` is a list of (shared, new value) pairs applied
    after the outputs are computed. `training` (default: True when there are updates) selects
    batch statistics and live dropout masks.

    An input may be `ns.In(x, value=default)`. `name` names the function in messages.
    `allow_input_downcast=True` also truncates floats fed to int32 inputs (2.7 -> 2; without it
    a fraction is refused). Float inputs always take float64 values, rounded to float32 (the
    device's type), with or without the flag."""
    return Function(inputs, outputs, updates, givens, training, name, allow_input_downcast)


_eval_cache: weakref.WeakKeyDictionary[Variable, dict] = weakref.WeakKeyDictionary()


def eval_variable(var: Variable, inputs: Mapping[Variable, Any]) -> Any:
    """`expr.eval({x: value})`, compiled once per set of inputs and cached on the variable."""
    keys = tuple(sorted(inputs, key=lambda v: v.name))
    per_var = _eval_cache.setdefault(var, {})
    fn = per_var.get(tuple(id(k) for k in keys))
    if fn is None:
        fn = Function(list(keys), var, training=False)
        per_var[tuple(id(k) for k in keys)] = fn
    result = fn(*[inputs[k] for k in keys])
    return float(result) if result.ndim == 0 and result.dtype.kind == "f" else (
        int(result) if result.ndim == 0 else result)
