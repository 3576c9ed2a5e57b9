"""What watching costs: training throughput with and without the trainer's probe (the live
values behind the studio's Filters and Gradient flow panels), side by side.

    python benchmarks/bench_probe.py [--graph resources/examples/mlp.json] [--data mnist5k]
                                     [--epochs 2] [--rounds 3] [--every auto] [--studio]

Trains the graph with its stored settings (the example MLP: SGD, batches of 20) for `--epochs`
epochs, alternating runs without a probe and with `probe_every=--every`, `--rounds` times each
after one warm-up run of each (compiling). Throughput is measured over the optimisation steps
only (from the first step's end to the last's, validation excluded), and the median of the
rounds is compared. `--studio` also trains in the studio's window, offscreen, with the Filters
and Gradient flow panels open and redrawing, once with the probe off and once on, and compares
the wall time from the first progress report to the end of the run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodestudio.data import load_dataset  # noqa: E402
from nodestudio.graph import fileformat  # noqa: E402
from nodestudio.train.events import BatchEnd, Snapshot  # noqa: E402
from nodestudio.train.model import Model  # noqa: E402
from nodestudio.train.settings import TrainingSettings, build_trainer  # noqa: E402


def train_once(graph_path: str, data, settings: TrainingSettings, every):
    """(samples per second over the steps, snapshots taken, seconds spent probing)."""
    model = Model.load(graph_path)
    trainer = build_trainer(model, data, settings, probe_every=every)
    marks: list[float] = []
    probes: list[float] = []

    def on_event(event):
        if isinstance(event, BatchEnd):
            marks.append(time.perf_counter())
        elif isinstance(event, Snapshot):
            probes.append(event.seconds)

    trainer.subscribe(on_event)
    trainer.run()
    steps = len(marks) - 1
    samples = steps * settings.batch_size  # the last short batch of an epoch is ignored
    return samples / (marks[-1] - marks[0]), len(probes), sum(probes[1:])


def bench_trainer(args) -> None:
    graph = fileformat.load(args.graph)
    settings = TrainingSettings.from_metadata(graph.metadata, dataset=args.data,
                                              epochs=args.epochs, patience=None)
    data = load_dataset(args.data, seed=settings.seed)
    every = args.every if args.every == "auto" else int(args.every)
    print(f"{args.graph} on {args.data}: {settings.describe()}")
    for probe in (None, every):  # warm-up: compile both functions
        train_once(args.graph, data, settings, probe)
    plain, probed, counts, probe_seconds = [], [], [], []
    for _ in range(args.rounds):  # alternate, so that a busy moment hits both alike
        plain.append(train_once(args.graph, data, settings, None)[0])
        rate, count, seconds = train_once(args.graph, data, settings, every)
        probed.append(rate)
        counts.append(count)
        probe_seconds.append(seconds)
    a, b = statistics.median(plain), statistics.median(probed)
    print(f"  without probe   {a:10.0f} samples/s   (rounds: "
          f"{', '.join(f'{r:.0f}' for r in plain)})")
    print(f"  probe_every={every!s:5} {b:10.0f} samples/s   (rounds: "
          f"{', '.join(f'{r:.0f}' for r in probed)}); {statistics.median(counts):.0f} "
          f"snapshots per run, {statistics.median(probe_seconds):.3f} s probing")
    print(f"  ratio with / without: {b / a:.3f}  (overhead {100 * (1 - b / a):.1f} %)")


def bench_studio(args) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from nodestudio.gui.mainwindow import MainWindow
    app = QApplication.instance() or QApplication([])
    window = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    window.show()
    window.open_path(args.graph, ask=False)
    for name in ("filters", "gradients"):
        window.show_panel(name)
    training = window.training
    training.dataset.setCurrentIndex(training.dataset.findData(args.data))
    training.epochs.setValue(args.epochs)

    def run(probe) -> float:
        session = training.session
        session.probe_every = probe
        first: list[float] = []
        session.batch_progress.connect(lambda _: first or first.append(time.perf_counter()))
        loop = QEventLoop()
        session.finished.connect(loop.quit)
        training.train()
        loop.exec()
        session.finished.disconnect(loop.quit)
        seconds = time.perf_counter() - first[0]
        window.document.undo_stack.undo()  # back to the untrained values
        return seconds

    run(None)
    run("auto")  # warm-up: compile
    plain = [run(None) for _ in range(args.rounds)]
    probed = [run("auto") for _ in range(args.rounds)]
    a, b = statistics.median(plain), statistics.median(probed)
    print(f"studio, Filters and Gradient flow open: {a:.2f} s without probe, {b:.2f} s with "
          f"(wall time of the run after its first report); ratio of throughput {a / b:.3f} "
          f"(overhead {100 * (1 - a / b):.1f} %)")
    window.document.undo_stack.setClean()
    window.close()
    app.processEvents()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default="resources/examples/mlp.json")
    parser.add_argument("--data", default="mnist5k")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--every", default="auto", help="'auto' or a number of steps")
    parser.add_argument("--studio", action="store_true",
                        help="also measure in the studio with the panels open (offscreen)")
    args = parser.parse_args()
    bench_trainer(args)
    if args.studio:
        bench_studio(args)


if __name__ == "__main__":
    main()
