"""How long one canvas frame takes while panning and zooming, for graphs of 30, 100 and 300 nodes;
and what one edit costs (time with the re-annotation after it, undo memory, wire checks) for
graphs of 100, 300 and 1,000 nodes.

    python benchmarks/bench_canvas.py [--part frames|edits|all] [--frames 80]
        [--sizes 30 100 300] [--edit-sizes 100 300 1000] [--repeats 40] [--platform offscreen]

Each graph is a stack of dense + tanh layers with their parameter nodes, laid out by
`layered_positions` (wrapped into bands when long), shown in a 1600 x 1000 view. A frame =
change the scroll position or the zoom, then `viewport().repaint()` (a synchronous paint of the
whole viewport), so the time is what the user waits for. Prints median and 95th percentile ms
per frame and the share of the 60 fps budget (16.7 ms) they use. Offscreen rendering is raster
on the CPU, like most desktops' Qt.

Edits go through `Document` (no view attached, so only the document's own work is timed): each
timed edit is the `Document` call followed by reading `document.annotation`, i.e. the
re-annotation the document does once per burst of changes. The memory of an undo step is what
clearing the undo stack frees right after one edit (tracemalloc, garbage collected): what the
step holds that the document does not share. The "+ canvas" rows attach a GraphScene and time
until the event loop has handled the document's `annotated` signal (the scene refreshing its
items), which is what a user waits for.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUDGET_MS = 1000.0 / 60.0


def make_graph(size: int):
    """A chain input -> (dense, tanh)* with W and b parameters, `size` nodes in all."""
    from nodestudio.graph.layout import layered_positions
    from nodestudio.graph.model import Graph

    graph = Graph()
    width = 64
    graph.add_node("input", {"shape": [None, width], "dtype": "float32"}, id="x")
    last = "x:out"
    layer = 0
    while len(graph.nodes) + 4 <= size:
        layer += 1
        w = graph.add_node("parameter", {"shape": [width, width], "init": "glorot_tanh"},
                           id=f"W{layer}").id
        b = graph.add_node("parameter", {"shape": [width], "init": "zeros"}, id=f"b{layer}").id
        dense = graph.add_node("dense", {}, id=f"dense{layer}").id
        act = graph.add_node("tanh", {}, id=f"tanh{layer}").id
        graph.connect(last, f"{dense}:x")
        graph.connect(f"{w}:out", f"{dense}:W")
        graph.connect(f"{b}:out", f"{dense}:b")
        graph.connect(f"{dense}:out", f"{act}:x")
        last = f"{act}:out"
    while len(graph.nodes) < size:  # top up with a chain of activations
        node = graph.add_node("relu", {}).id
        graph.connect(last, f"{node}:x")
        last = f"{node}:out"
    for node_id, pos in layered_positions(graph).items():
        graph.move(node_id, pos)
    return graph


def frame_times(view, change, frames: int) -> list[float]:
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    times = []
    for i in range(frames):
        start = time.perf_counter()
        change(i)
        view.viewport().repaint()
        times.append((time.perf_counter() - start) * 1000.0)
        app.processEvents()
    return times


def measure(size: int, frames: int) -> dict[str, list[float]]:
    from PySide6.QtCore import QPointF

    from nodestudio.gui.canvas import GraphScene, GraphView
    from nodestudio.gui.document import Document

    document = Document(make_graph(size))
    scene = GraphScene(document)
    view = GraphView(scene)
    view.resize(1600, 1000)
    view.show()
    results: dict[str, list[float]] = {}
    middle = scene.nodes_rect().center()

    def at_zoom(zoom: float) -> None:
        view.fit_all()
        view.zoom_by(zoom / view.zoom)
        view.centerOn(QPointF(middle.x(), middle.y()))
        view.viewport().repaint()

    at_zoom(1.0)
    results["pan @100%"] = frame_times(view, lambda i: view.pan_by(40 if i % 40 < 20 else -40,
                                                                    12), frames)
    view.fit_all()
    view.viewport().repaint()
    results["pan @fit"] = frame_times(view, lambda i: view.pan_by(30 if i % 2 else -30, 0),
                                      frames)
    at_zoom(0.6)
    results["zoom steps"] = frame_times(view, lambda i: view.zoom_by(1.1 if i % 8 < 4
                                                                     else 1 / 1.1), frames)
    results["fit all"] = frame_times(view, lambda i: (view.zoom_by(2.0) if i % 2 else
                                                      view.fit_all()), frames)
    view.fit_all()
    results["_zoom_at_fit"] = [view.zoom]
    view.close()
    scene.detach()
    return results


# --- edits ------------------------------------------------------------------------------------
def _stats(times: list[float]) -> tuple[float, float]:
    times = sorted(times)
    return statistics.median(times), times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]


@dataclass
class Scenario:
    action: Callable[[], object]  # timed, followed by reading document.annotation
    setup: Callable[[], object] | None = None  # untimed, before each repetition
    after: Callable[[], object] | None = None  # untimed, after each repetition
    memory: bool = False  # also measure what one edit leaves allocated


def edit_scenarios(document) -> dict[str, Scenario]:
    from nodestudio.graph.model import PortRef
    from nodestudio.gui.canvas.gestures import WireGesture

    graph = document.graph
    layers = sorted(int(n[5:]) for n in graph.nodes if n.startswith("dense"))
    mid = layers[len(layers) // 2]
    counter = iter(range(10 ** 9))
    state: dict = {}

    def annotated(action):
        def run():
            action()
            document.annotation  # noqa: B018
        return run

    def fresh_relu() -> None:
        state["relu"] = document.add_node("relu", position=(0.0, -300.0))

    def cut_mid() -> None:
        state["picked"] = next(e for e in graph.edges if e.dst == PortRef(f"dense{mid}", "x"))
        document.disconnect([state["picked"]])

    def hover_picked() -> None:  # the wire into dense<mid>.x picked up, hovering a free input
        picked = next(e for e in graph.edges if e.dst == PortRef(f"dense{mid}", "x"))
        WireGesture(document, picked.src, True, picked).problem(
            PortRef(state["relu"], "x"), False)

    def delete_mid() -> None:  # (tanh<mid> unless a memory run deleted it for good)
        document.remove_nodes([next(f"tanh{k}" for k in range(mid, layers[-1] + 1)
                                    if f"tanh{k}" in graph.nodes)])

    undo = annotated(document.undo_stack.undo)
    undo_twice = annotated(lambda: (document.undo_stack.undo(), document.undo_stack.undo()))
    return {
        "add node": Scenario(lambda: document.add_node(
            "tanh", position=(float(next(counter) % 500), -200.0)), memory=True),
        "set attribute": Scenario(lambda: document.set_attrs(
            f"W{mid}", {"seed": next(counter) % 7 + 1}), memory=True),
        "connect": Scenario(lambda: document.connect(f"tanh{mid}:out", f"{state['relu']}:x"),
                            setup=annotated(fresh_relu), after=undo_twice, memory=True),
        "move": Scenario(lambda: document.move_nodes(
            {f"tanh{mid}": (float(next(counter) % 50), 40.0)}), memory=True),
        "delete": Scenario(delete_mid, after=undo, memory=True),
        "undo (delete)": Scenario(document.undo_stack.undo, setup=annotated(delete_mid)),
        "hover check": Scenario(lambda: document.connection_problem(
            state["picked"].src, PortRef(f"dense{mid}", "x")), setup=annotated(cut_mid),
            after=undo),
        "hover (picked)": Scenario(hover_picked, setup=annotated(fresh_relu)),
    }


def measure_edits(size: int, repeats: int) -> dict[str, tuple[float, float, float | None]]:
    """scenario -> (median ms, p95 ms, KB held by the undo step of one edit, or None)."""
    from nodestudio.gui.document import Document

    document = Document(make_graph(size))
    times = {name: _run(document, scenario, repeats, False)
             for name, scenario in edit_scenarios(document).items()}
    times.update(_with_canvas(size, repeats))
    # Memory on a fresh document built while tracing, so that what an edit frees counts too.
    tracemalloc.start()
    document = Document(make_graph(size))
    sizes = {name: _run(document, scenario, 5, True)
             for name, scenario in edit_scenarios(document).items() if scenario.memory}
    tracemalloc.stop()
    return {name: (*_stats(t), statistics.median(sizes[name]) if name in sizes else None)
            for name, t in times.items()}


def _with_canvas(size: int, repeats: int) -> dict[str, list[float]]:
    """Edits with a GraphScene attached, the time running on until the event loop has handled
    the `annotated` signal (the scene refreshes its items): what a user waits for."""
    from PySide6.QtWidgets import QApplication

    from nodestudio.gui.canvas import GraphScene
    from nodestudio.gui.document import Document

    app = QApplication.instance()
    document = Document(make_graph(size))
    scene = GraphScene(document)
    scenarios = edit_scenarios(document)
    results = {}
    for name in ("set attribute", "move"):
        times = []
        for _ in range(repeats):
            app.processEvents()
            start = time.perf_counter()
            scenarios[name].action()
            app.processEvents()
            times.append((time.perf_counter() - start) * 1000.0)
        results[f"{name} + canvas"] = times
    scene.detach()
    return results


def _run(document, scenario: Scenario, repeats: int, memory: bool) -> list[float]:
    """ms per repetition, or with `memory` the KB each one's undo step holds."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    results = []
    for _ in range(repeats):
        if scenario.setup is not None:
            scenario.setup()
        document.annotation  # noqa: B018
        app.processEvents()
        if memory:  # the edit's step will be the only one
            document.undo_stack.clear()
        gc.collect()
        start = time.perf_counter()
        scenario.action()
        document.annotation  # noqa: B018  (what the document's 0 ms timer computes)
        elapsed = (time.perf_counter() - start) * 1000.0
        if memory:  # what forgetting the step frees is what it held
            gc.collect()
            held = tracemalloc.get_traced_memory()[0]
            document.undo_stack.clear()
            gc.collect()
            results.append((held - tracemalloc.get_traced_memory()[0]) / 1024.0)
        else:
            results.append(elapsed)
        app.processEvents()
        if scenario.after is not None:
            scenario.after()
    return results


def print_edits(table: dict[int, dict[str, tuple]], sizes: list[int], repeats: int) -> None:
    print(f"\nedits through Document, {repeats} repetitions each; ms median / p95 of the edit "
          "and the re-annotation after it; [KB held by its undo step]")
    head = f"{'scenario':<22}" + "".join(f"{f'{s} nodes':>30}" for s in sizes)
    print(head)
    print("-" * len(head))
    for name in next(iter(table.values())):
        row = f"{name:<22}"
        for size in sizes:
            median, p95, memory = table[size][name]
            cell = f"{median:7.2f} / {p95:7.2f}"
            cell += f" [{memory:7.1f}]" if memory is not None else " " * 10
            row += f"{cell:>30}"
        print(row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["frames", "edits", "all"], default="all")
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 100, 300])
    parser.add_argument("--edit-sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--repeats", type=int, default=40)
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    args = parser.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from nodestudio.gui.theme import apply_theme
    apply_theme(app, "dark")

    if args.part in ("edits", "all"):
        edits = {size: measure_edits(size, args.repeats) for size in args.edit_sizes}
        print_edits(edits, args.edit_sizes, args.repeats)
    if args.part == "edits":
        return
    table = {size: measure(size, args.frames) for size in args.sizes}
    scenarios = [k for k in next(iter(table.values())) if not k.startswith("_")]
    print(f"canvas frame times, 1600 x 1000 view, {args.frames} frames each, "
          f"platform {args.platform}; ms median / p95 (x of the 16.7 ms budget at p95)")
    head = f"{'scenario':<14}" + "".join(f"{f'{s} nodes':>28}" for s in args.sizes)
    print(head)
    print("-" * len(head))
    for name in scenarios:
        row = f"{name:<14}"
        for size in args.sizes:
            times = sorted(table[size][name])
            median = statistics.median(times)
            p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
            row += f"{f'{median:6.2f} / {p95:6.2f} ({p95 / BUDGET_MS:4.2f}x)':>28}"
        print(row)
    zooms = ", ".join(f"{s}: {table[s]['_zoom_at_fit'][0]:.2f}" for s in args.sizes)
    print(f"zoom at fit: {zooms}")


if __name__ == "__main__":
    main()
