"""A kernel launch as planned by a code generator, before buffers are bound."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """One kernel launch. `args` names what each kernel argument is bound to:
    "in0".."inN" (the node's inputs), "out0".."outN" (its outputs), "scratch" (a temporary the
    plan asks for), "call_index" (a uint that advances on every call: random streams), or for
    matmul plans "A", "B", "C"."""

    kernel: str
    source: str
    options: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    launches: tuple[Launch, ...]
    scratch_bytes: int = 0
