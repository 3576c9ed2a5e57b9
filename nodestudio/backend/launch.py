"""A kernel launch as planned by a code generator, before buffers are bound."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Launch:
    """One kernel launch. `args` names what each kernel argument is bound to:
    "in0".."inN" (the node's inputs), "out0".."outN" (its outputs), "scratch", "scratch1",
    "scratch2", ... (temporaries the plan asks for), "call_index" (a uint that advances on
    every call: random streams), or for gemm plans "A", "B", "C"."""

    kernel: str
    source: str
    options: str
    global_size: tuple[int, ...]
    local_size: tuple[int, ...] | None
    args: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """Launches run in order; `scratch_bytes` sizes the temporary bound to "scratch",
    `more_scratch` those bound to "scratch1", "scratch2", ... (a conv's im2col columns, its
    gemm's own scratch and its output before the permute are separate buffers)."""

    launches: tuple[Launch, ...]
    scratch_bytes: int = 0
    more_scratch: tuple[int, ...] = ()

    @property
    def scratch_sizes(self) -> dict[str, int]:
        """Role -> bytes of every scratch buffer the plan needs (none of 0 bytes)."""
        sizes = {"scratch": self.scratch_bytes,
                 **{f"scratch{i + 1}": b for i, b in enumerate(self.more_scratch)}}
        return {role: b for role, b in sizes.items() if b}
