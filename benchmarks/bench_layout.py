"""How long auto-layout (`layered_positions`) takes, and the shape it gives, for graphs of 100 to
1,000 nodes; grandalf's Sugiyama layout beside it when grandalf is installed (the pure-Python
library docs/DECISIONS.md weighed), with the ratio.

    python benchmarks/bench_layout.py [--sizes 100 300 1000] [--repeat 3]

Graphs: a chain of dense + tanh layers with their parameters (bench_canvas.py's), a random DAG
whose wires reach up to 30 nodes back, and the backward graph of an MLP built with the API
(`ns.grad` of a stack of dense + batch norm + relu layers), grown to the size asked for.
Prints the best of `--repeat` runs in ms, the bounding box's aspect (width / height) and the
number of layers.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))


def random_dag(size: int, seed: int = 1, reach: int = 30):
    from nodestudio.graph.model import Graph

    rng = random.Random(seed)
    graph = Graph()
    for i in range(size):
        graph.add_node("add", id=f"n{i}")
        fan_in = min(i, rng.choice([0, 1, 1, 2, 2, 3]))
        for port, j in enumerate(sorted(rng.sample(range(max(0, i - reach), i), fan_in))):
            graph.connect(f"n{j}:out", f"n{i}:in{port}")
    return graph


def backward_graph(size: int):
    """Cost and gradients of a dense / batch norm / relu stack, as many layers as reach `size`
    nodes in the document."""
    import numpy as np

    import nodestudio as ns
    from nodestudio.ir.convert import to_document

    graph = None
    for depth in range(1, 200):
        rng = np.random.default_rng(0)
        x, y = ns.tensor("x", (None, 32)), ns.ivector("y")
        h, params = x, []
        for k in range(depth):
            W = ns.shared(rng.normal(size=(32, 32)).astype(np.float32), f"W{k}")
            b = ns.shared(np.zeros(32, np.float32), f"b{k}")
            gamma = ns.shared(np.ones(32, np.float32), f"gamma{k}")
            beta = ns.shared(np.zeros(32, np.float32), f"beta{k}")
            mean = ns.shared(np.zeros(32, np.float32), f"mean{k}")
            var = ns.shared(np.ones(32, np.float32), f"var{k}")
            h = ns.relu(ns.batch_norm(ns.dense(h, W, b), gamma, beta, mean, var))
            params += [W, b, gamma, beta]
        cost = ns.softmax_cross_entropy(h, y)
        grads = ns.grad(cost, params)
        graph = to_document({"cost": cost, **{f"g{i}": g for i, g in enumerate(grads)}},
                            layout=False)
        if len(graph.nodes) >= size:
            break
    return graph


def grandalf_layout(graph) -> None:
    from grandalf.graphs import Edge, Graph, Vertex
    from grandalf.layouts import SugiyamaLayout

    class Card:
        w, h = 168.0, 80.0

    vertices = {n: Vertex(n) for n in graph.nodes}
    for v in vertices.values():
        v.view = Card()
    g = Graph(list(vertices.values()),
              [Edge(vertices[e.src.node], vertices[e.dst.node]) for e in graph.edges])
    for component in g.C:
        layout = SugiyamaLayout(component)
        layout.init_all()
        layout.draw(3)


def best_ms(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000.0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    from bench_canvas import make_graph

    from nodestudio.graph.layout import layered_positions

    try:
        import grandalf  # noqa: F401
        peer = True
    except ImportError:
        peer = False
    header = f"{'graph':<10} {'nodes':>6} {'wires':>6} {'ms':>8} {'aspect':>7}"
    print(header + (f" {'grandalf ms':>12} {'ratio':>6}" if peer else ""))
    for size in args.sizes:
        for name, graph in (("chain", make_graph(size)), ("random", random_dag(size)),
                            ("backward", backward_graph(size))):
            ms = best_ms(lambda g=graph: layered_positions(g), args.repeat)
            positions = layered_positions(graph)
            xs = [x for x, _ in positions.values()]
            ys = [y for _, y in positions.values()]
            aspect = (max(xs) - min(xs) + 168) / (max(ys) - min(ys) + 80)
            line = (f"{name:<10} {len(graph.nodes):>6} {len(graph.edges):>6} {ms:>8.1f} "
                    f"{aspect:>7.2f}")
            if peer:
                theirs = best_ms(lambda g=graph: grandalf_layout(g), 1)
                line += f" {theirs:>12.1f} {theirs / ms:>5.1f}x"
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
