"""How long opening a graph file takes, by stage and in the studio, for chains of 1,000 to
100,000 nodes: the figures behind "a 10,000-node file opens in under 2 s" (docs/RELIABILITY.md)
and the growth check in tests/ir/test_load_scaling.py.

    python benchmarks/bench_load.py [--sizes 1000 10000 100000] [--studio-max 20000]

Each graph is input -> tanh -> tanh ... written as a file twice: with the positions a saved file
has, and without (the reader then lays it out). Stages, timed separately: reading the file
(`fileformat.load`), auto-layout (file without positions), building the IR, annotating (what the
canvas shows on each node). "studio open" is File > Open in a real main window (offscreen):
`MainWindow.open_path` until the event loop is idle with the canvas built, for the file with
positions. Each figure is the median of --repeats runs; ratios to the previous size show the
growth (10x the nodes: linear work takes 10x, quadratic 100x).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodestudio.graph import fileformat  # noqa: E402
from nodestudio.graph.layout import layered_positions  # noqa: E402
from nodestudio.ir.annotate import annotate  # noqa: E402
from nodestudio.ir.convert import from_document  # noqa: E402


def chain(n: int, positions: bool) -> str:
    nodes = [{"id": "x", "op": "input", "attrs": {"shape": [None, 8]}}]
    nodes += [{"id": f"t{i}", "op": "tanh"} for i in range(1, n)]
    edges = [{"from": f"{nodes[i - 1]['id']}:out", "to": f"t{i}:x"} for i in range(1, n)]
    doc = {"format": "nodestudio-graph", "version": 1, "nodes": nodes, "edges": edges}
    text = json.dumps(doc)
    if positions:  # as a saved file has them: laid out once, here, outside the timing
        graph = fileformat.loads(text)
        for node_id, xy in layered_positions(graph).items():
            graph.nodes[node_id].position = xy
        text = fileformat.dumps(graph)
    return text


def median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def studio_open_seconds(path: Path, repeats: int) -> float:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from nodestudio.gui.mainwindow import MainWindow

    app = QApplication.instance() or QApplication([])
    times = []
    for _ in range(repeats):
        window = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
        window.show()
        app.processEvents()
        start = time.perf_counter()
        assert window.open_path(path, ask=False)
        app.processEvents()
        times.append(time.perf_counter() - start)
        window.document.undo_stack.setClean()
        window.close()
        window.deleteLater()  # destroyed now, not during the next run's timing
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)
        del window
        gc.collect()
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--studio-max", type=int, default=20000,
                        help="open in the studio only files up to this many nodes")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows: list[tuple[int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            placed, bare = chain(n, True), chain(n, False)
            path = Path(folder) / f"chain_{n}.json"
            path.write_text(placed, encoding="utf-8")
            graph = fileformat.loads(placed)
            figures = {
                "read": median_seconds(lambda: fileformat.loads(placed), args.repeats),
                "read + layout": median_seconds(lambda: fileformat.loads(bare), args.repeats),
                "build IR": median_seconds(lambda: from_document(graph, strict=False),
                                           args.repeats),
                "annotate": median_seconds(lambda: annotate(graph), args.repeats),
            }
            if n <= args.studio_max:
                figures["studio open"] = studio_open_seconds(path, args.repeats)
            rows.append((n, figures))
            print(f"{n:>8,} nodes: " + ", ".join(f"{k} {v:.3f} s" for k, v in figures.items()),
                  flush=True)
    print("\n| stage | " + " | ".join(f"{n:,} nodes" for n, _ in rows) + " | growth per 10x |")
    print("|---|" + "---|" * (len(rows) + 1))
    for stage in rows[0][1]:
        cells = [f"{f[stage]:.3f} s" if stage in f else "-" for _, f in rows]
        pairs = [(a[1][stage], b[1][stage], b[0] / a[0]) for a, b in zip(rows, rows[1:])
                 if stage in a[1] and stage in b[1]]
        growth = ", ".join(f"{(t2 / t1) ** (1 / math.log10(k)):.1f}x"
                           for t1, t2, k in pairs) or "-"
        print(f"| {stage} | " + " | ".join(cells) + f" | {growth} |")


if __name__ == "__main__":
    main()
