"""How long one canvas frame takes while panning and zooming, for graphs of 30, 100 and 300 nodes.

    python benchmarks/bench_canvas.py [--frames 80] [--sizes 30 100 300] [--platform offscreen]

Each graph is a stack of dense + tanh layers with their parameter nodes, laid out by
`layered_positions` (wrapped into bands when long), shown in a 1600 x 1000 view. A frame =
change the scroll position or the zoom, then `viewport().repaint()` (a synchronous paint of the
whole viewport), so the time is what the user waits for. Prints median and 95th percentile ms
per frame and the share of the 60 fps budget (16.7 ms) they use. Offscreen rendering is raster
on the CPU, like most desktops' Qt.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--sizes", type=int, nargs="+", default=[30, 100, 300])
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    args = parser.parse_args()
    os.environ["QT_QPA_PLATFORM"] = args.platform

    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])
    from nodestudio.gui.theme import apply_theme
    apply_theme(app, "dark")

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
