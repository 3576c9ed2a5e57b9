"""`ns.save` / `ns.load`: the API side of the one graph file format."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nodestudio.ir.expr import Variable


@dataclass
class LoadedGraph:
    """What `ns.load` returns: named inputs, shared values and outputs."""

    inputs: dict[str, Variable] = field(default_factory=dict)
    shared: dict[str, Variable] = field(default_factory=dict)
    outputs: dict[str, Variable] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> Variable:
        for table in (self.outputs, self.inputs, self.shared):
            if name in table:
                return table[name]
        raise KeyError(name)


def _named(outputs: Any) -> dict[str, Variable]:
    if isinstance(outputs, Variable):
        return {"out": outputs}
    if isinstance(outputs, Mapping):
        return dict(outputs)
    if isinstance(outputs, Sequence):
        return {f"out{i}" if len(outputs) > 1 else "out": v for i, v in enumerate(outputs)}
    raise TypeError("save takes a variable, a list of variables or a dict name -> variable")


def save(outputs: Any, path: str | Path) -> None:
    """Write the graph that computes `outputs` (with shared values) to a JSON graph file."""
    from nodestudio.graph import fileformat
    from nodestudio.ir.convert import to_document
    fileformat.save(to_document(_named(outputs)), path)


def load(path: str | Path, strict: bool = True) -> LoadedGraph:
    """Read a graph file back into symbolic variables."""
    from nodestudio.graph import fileformat
    from nodestudio.ir.convert import from_document
    loaded = from_document(fileformat.load(path), strict=strict)
    return LoadedGraph(dict(loaded.inputs), dict(loaded.shared), dict(loaded.outputs),
                       list(loaded.skipped))
