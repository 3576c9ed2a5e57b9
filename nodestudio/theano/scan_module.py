"""`theano.scan`, unrolled into the graph at build time.

The step function is called n_steps times on symbolic values, each call's outputs fed to the
next, so a compiled function runs the whole loop on the device with no host round trip per
step (and autodiff goes through it like through any graph). Each returned sequence is the
steps stacked along a new first axis; indexing it with an integer (`outs[-1]`) gives that
step's variable itself, so taking the last step costs no copy.

Supported: sequences (tap 0), outputs_info entries None, an initial value or
dict(initial=..., taps=[-1]), non_sequences, a fixed integer n_steps (or the static length of
the sequences), a step function returning outputs, (outputs, updates) or (updates, outputs).
Random draws inside the step come from random streams that the unrolling batches per site."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

import nodestudio as ns
from nodestudio.ir.expr import Variable, as_variable
from nodestudio.theano._support import TheanoCompatError
from nodestudio.theano.random import row, scan_frame


class ScanOutput(Variable):
    """A scan's stacked output that remembers each step's variable."""

    __slots__ = ("steps",)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, (int, np.integer)) and not isinstance(index, bool):
            n = len(self.steps)
            if not -n <= index < n:
                raise IndexError(f"scan output has {n} steps, index {index} is out of range")
            return self.steps[index]
        return super().__getitem__(index)  # type: ignore[misc]


_MAX_JOIN = 64  # inputs one concatenate node takes


def _join(parts: list[Variable]) -> Variable:
    """Concatenate along axis 0, in a tree of nodes of at most _MAX_JOIN inputs each."""
    while len(parts) > _MAX_JOIN:
        parts = [ns.concatenate(parts[i:i + _MAX_JOIN], 0)
                 for i in range(0, len(parts), _MAX_JOIN)]
    return ns.concatenate(parts, 0)


def _stack(steps: list[Variable]) -> ScanOutput:
    """The steps stacked on a new first axis, as a ScanOutput (the output of its own node)."""
    stacked = _join([ns.expand_dims(v, 0) for v in steps])
    node = stacked.owner
    out = ScanOutput(node, 0, stacked.type)
    out.steps = list(steps)
    node.outputs = (out,)
    return out


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _initial(info: Any, i: int) -> Variable | None:
    if info is None:
        return None
    if isinstance(info, Mapping):
        taps = list(info.get("taps", [-1]))
        if taps != [-1]:
            raise TheanoCompatError(f"scan outputs_info[{i}] with taps {taps}",
                                    "only the previous step (taps=[-1]) is offered")
        init = info.get("initial")
        return None if init is None else as_variable(init)
    return as_variable(info)


def _split(result: Any) -> tuple[list[Any], dict]:
    """A step function's (outputs, updates) in whichever order it gave them."""
    if isinstance(result, Mapping):
        return [], dict(result)
    if isinstance(result, tuple) and len(result) == 2:
        first, second = result
        if isinstance(second, Mapping):
            return _list(first), dict(second)
        if isinstance(first, Mapping):
            return _list(second), dict(first)
    return _list(result), {}


def scan(fn, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient=-1, go_backwards=False, mode=None, name=None, profile=False,
         allow_gc=None, strict=False, return_list=False):
    seqs = [as_variable(s) for s in _list(sequences)]
    for s in _list(sequences):
        if isinstance(s, Mapping):
            raise TheanoCompatError("scan sequences given as dicts with taps")
    statics = _list(non_sequences)
    steps = _steps(n_steps, seqs)
    if truncate_gradient != -1:
        raise TheanoCompatError("scan truncate_gradient")
    infos = _list(outputs_info)
    state = [_initial(info, i) for i, info in enumerate(infos)]
    per_output: list[list[Variable]] = []
    updates: dict = {}
    order = range(steps - 1, -1, -1) if go_backwards else range(steps)
    with scan_frame(steps) as frame:
        for count, t in enumerate(order):
            frame.begin_step(count)
            args = [_step_of(s, t) for s in seqs] + [v for v in state if v is not None] + statics
            outs, updates = _split(fn(*args))
            if count == 0:
                if infos and len(outs) != len(infos):
                    raise TheanoCompatError(
                        f"scan with {len(infos)} outputs_info for a step returning "
                        f"{len(outs)} outputs", "give one outputs_info entry per output")
                per_output = [[] for _ in outs]
            outs = [as_variable(o) for o in outs]
            for i, o in enumerate(outs):
                per_output[i].append(o)
            state = [outs[i] if v is not None else None for i, v in enumerate(state)] \
                if state else []
    results = [_stack(steps_i) for steps_i in per_output]
    out: Any = results
    if len(results) == 1 and not return_list:
        out = results[0]
    elif not results:
        out = None
    return out, OrderedDict(updates)


def _steps(n_steps: Any, seqs: list[Variable]) -> int:
    if n_steps is not None:
        if isinstance(n_steps, Variable) or not isinstance(n_steps, (int, np.integer)):
            raise TheanoCompatError("scan with a symbolic n_steps",
                                    "scan is unrolled: give n_steps as a Python int")
        if n_steps < 1:
            raise TheanoCompatError(f"scan with n_steps={n_steps}")
        lengths = [s.shape[0] for s in seqs if s.shape[0] is not None]
        return min([int(n_steps), *lengths])
    if not seqs:
        raise TheanoCompatError("scan without n_steps or sequences")
    lengths = [s.shape[0] for s in seqs]
    if None in lengths:
        raise TheanoCompatError("scan over a sequence of unknown length",
                                "scan is unrolled: give n_steps as a Python int")
    return int(min(lengths))  # type: ignore[type-var]


def _step_of(seq: Variable, t: int) -> Variable:
    return row(seq, t)
