"""Opening and editing a graph grows linearly with its size: each stage of opening a file
(reading, auto-layout of a file without positions, building the IR, the canvas annotation),
building one through the graph's methods and deleting its nodes take about 8x as long for 8x
the nodes. Quadratic work (a scan of every wire per wire) would take 64x; the bound is
generous because the machine is shared. Absolute times are in benchmarks/bench_load.py."""

from __future__ import annotations

import gc
import json
import time
from collections.abc import Callable

import pytest

from nodestudio.graph import fileformat
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.model import Graph
from nodestudio.ir.annotate import Annotator
from nodestudio.ir.convert import from_document

SMALL, LARGE = 2000, 16000
# linear: 8, quadratic: 64. Between these sizes the working set also falls out of the CPU's
# caches, which alone costs up to 2x per node on a loaded machine: the bound leaves room for
# that and still fails any quadratic stage by more than 2x.
BOUND = 28.0


def chain_text(n: int) -> str:
    """input -> tanh -> tanh ... (n nodes), without positions, as a file."""
    nodes = [{"id": "x", "op": "input", "attrs": {"shape": [None, 8]}}]
    nodes += [{"id": f"t{i}", "op": "tanh"} for i in range(1, n)]
    edges = [{"from": f"{nodes[i - 1]['id']}:out", "to": f"t{i}:x"} for i in range(1, n)]
    return json.dumps({"format": "nodestudio-graph", "version": 1, "nodes": nodes,
                       "edges": edges})


def build(n: int) -> Graph:
    g = Graph()
    g.add_node("input", {"shape": [None, 8]}, id="x")
    last = "x"
    for i in range(1, n):
        last = g.add_node("tanh", id=f"t{i}").id
        g.connect(f"{'x' if i == 1 else f't{i - 1}'}:out", f"{last}:x")
    return g


def annotate_and_edit(g: Graph) -> None:
    annotator = Annotator(g)
    g.subscribe(annotator.observe)
    annotator.annotation()
    middle = f"t{len(g.nodes) // 2}"
    g.remove_node(middle)  # everything after it is blocked, then built again
    annotator.annotation()
    g.add_node("tanh", id=middle)
    g.connect(f"t{len(g.nodes) // 2 - 1}:out", f"{middle}:x")
    g.connect(f"{middle}:out", f"t{len(g.nodes) // 2 + 1}:x")
    annotator.annotation()


def remove_all(g: Graph) -> None:
    for node_id in list(g.nodes)[::2]:
        g.remove_node(node_id)


def _reading(n: int) -> Callable[[], object]:
    text = chain_text(n)
    return lambda: fileformat.loads(text)


def _laying_out(n: int) -> Callable[[], object]:
    graph = fileformat.loads(chain_text(n))
    return lambda: layered_positions(graph)


def _building(n: int) -> Callable[[], object]:
    graph = fileformat.loads(chain_text(n))
    return lambda: from_document(graph)


def _annotating(n: int) -> Callable[[], object]:
    text = chain_text(n)
    return lambda: annotate_and_edit(fileformat.loads(text))


def _wiring(n: int) -> Callable[[], object]:
    return lambda: build(n)


def _deleting(n: int) -> Callable[[], object]:
    text = chain_text(n)
    return lambda: remove_all(fileformat.loads(text))


# stage: n -> the timed run (its input made beforehand)
STAGES: dict[str, Callable[[int], Callable[[], object]]] = {
    "read": _reading, "lay out": _laying_out, "build the IR": _building,
    "annotate and edit": _annotating, "wire through the graph": _wiring,
    "delete nodes": _deleting,
}


def best_time(run: Callable[[], object], repeats: int) -> float:
    """The best of `repeats` runs, each without a garbage collection in the middle (the
    machine's noise, not the code's growth)."""
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        gc.disable()
        try:
            start = time.perf_counter()
            run()
            best = min(best, time.perf_counter() - start)
        finally:
            gc.enable()
    return best


@pytest.mark.parametrize("stage", list(STAGES))
def test_each_stage_grows_linearly(stage):
    small = best_time(STAGES[stage](SMALL), 5)
    large = best_time(STAGES[stage](LARGE), 3)
    ratio = large / max(small, 1e-4)
    assert ratio < BOUND, f"{stage}: {SMALL} nodes {small:.3f} s, {LARGE} nodes {large:.3f} s"
