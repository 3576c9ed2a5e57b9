"""What watching costs: training throughput with and without the trainer's probe (the live
values behind the studio's Filters and Gradient flow panels), side by side.

    python benchmarks/bench_probe.py [--graph resources/examples/mlp.json] [--data mnist5k]
                                     [--epochs 2] [--rounds 3] [--every auto] [--noise]
                                     [--studio]

Trains the graph with its stored settings (the example MLP: SGD, batches of 20) for `--epochs`
epochs, alternating runs without a probe and with `probe_every=--every`, `--rounds` times each
after one warm-up run of each (compiling). Throughput is measured over the optimisation steps
(from the first step's end to the last's; the same epoch-end validations in both), and the
medians of the rounds and the median of each round's ratio are compared; `--noise` adds a second
run without the probe to each round, whose ratio to the first is the noise floor. Besides wall
time, the process's CPU time (all threads) per sample is compared: on a machine shared with
other work it is the steadier figure, and it counts threads that spin for nothing.

`--studio` also trains in the studio's window, offscreen, with the Filters and Gradient flow
panels open and redrawing, with the probe off and on in turn, and compares the wall and CPU
time from the first progress report to the end of training.

What was found with it (on 2 shared cores, PoCL): the probe's own calls took 1.4 % of the run
but training ran 10-17 % slower, in 3-7 ms stalls of the steps for ~0.1 s after each probe. The
weight norms were computed with np.dot, and OpenBLAS's worker thread spins for ~0.1 s after a
call waiting for more work, taking one of the two cores from PoCL's threads. The norms are now
summed without BLAS (train/probe.py `_norm`).
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
    """(samples per second of wall time over the steps, samples per CPU second of the whole
    process (all its threads: the OpenCL device's, BLAS's), snapshots taken, seconds spent
    probing)."""
    model = Model.load(graph_path)
    trainer = build_trainer(model, data, settings, probe_every=every)
    marks: list[tuple[float, float]] = []
    probes: list[float] = []

    def on_event(event):
        if isinstance(event, BatchEnd):
            marks.append((time.perf_counter(), time.process_time()))
        elif isinstance(event, Snapshot):
            probes.append(event.seconds)

    trainer.subscribe(on_event)
    trainer.run()
    steps = len(marks) - 1
    samples = steps * settings.batch_size  # the last short batch of an epoch is ignored
    wall, cpu = (marks[-1][i] - marks[0][i] for i in (0, 1))
    return samples / wall, samples / cpu, len(probes), sum(probes[1:])


def bench_trainer(args) -> None:
    graph = fileformat.load(args.graph)
    settings = TrainingSettings.from_metadata(graph.metadata, dataset=args.data,
                                              epochs=args.epochs, patience=None)
    data = load_dataset(args.data, seed=settings.seed)
    every = args.every if args.every == "auto" else int(args.every)
    print(f"{args.graph} on {args.data}: {settings.describe()}; load average "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    # peers, run in turn within each round so that a busy moment of the shared machine hits
    # all of them alike; the second probe-less run gives the noise floor of the comparison
    peers = [("without probe", None), (f"probe_every={every}", every)]
    if args.noise:
        peers.append(("without probe, again", None))
    for _, probe in peers[:2]:  # warm-up: compile both functions
        train_once(args.graph, data, settings, probe)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in peers}
    counts, probe_seconds = [], []
    for _ in range(args.rounds):
        for name, probe in peers:
            wall, cpu, count, seconds = train_once(args.graph, data, settings, probe)
            runs[name].append((wall, cpu))
            if probe is not None:
                counts.append(count)
                probe_seconds.append(seconds)
    print(f"  {statistics.median(counts):.0f} snapshots per run, "
          f"{statistics.median(probe_seconds):.3f} s probing (after the first)")
    for metric, index in (("samples per second (wall)", 0), ("samples per CPU second", 1)):
        print(f"  {metric}, median of {args.rounds} rounds:")
        for name, _ in peers:
            rates = [run[index] for run in runs[name]]
            print(f"    {name:22} {statistics.median(rates):9.0f}   (rounds: "
                  f"{', '.join(f'{r:.0f}' for r in rates)})")
        base = [run[index] for run in runs[peers[0][0]]]
        for name, _ in peers[1:]:
            rates = [run[index] for run in runs[name]]
            paired = statistics.median(r / b for r, b in zip(rates, base))
            print(f"    ratio {name} / without probe: {paired:.3f} median of the rounds' "
                  f"ratios, {statistics.median(rates) / statistics.median(base):.3f} of the "
                  f"medians, {max(rates) / max(base):.3f} of the best runs (overhead "
                  f"{100 * (1 - paired):.1f} %)")


def bench_studio(args) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    from nodestudio.gui.mainwindow import MainWindow
    app = QApplication.instance() or QApplication([])
    window = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    window.show()
    window.open_path(args.graph, ask=False)
    training = window.training
    ended: list[tuple[float, float]] = []  # when training ended, before any panel redraws
    training.session.finished.connect(
        lambda _: ended.append((time.perf_counter(), time.process_time())))
    for name in ("filters", "gradients"):
        window.show_panel(name)
    training.dataset.setCurrentIndex(training.dataset.findData(args.data))
    training.epochs.setValue(args.epochs)

    def run(probe) -> tuple[float, float]:
        """(wall, CPU) seconds from the first progress report to the end of the run."""
        session = training.session
        session.probe_every = probe
        first: list[tuple[float, float]] = []
        session.batch_progress.connect(
            lambda _: first or first.append((time.perf_counter(), time.process_time())))
        loop = QEventLoop()
        session.finished.connect(loop.quit)
        training.train()
        loop.exec()
        session.finished.disconnect(loop.quit)
        wall, cpu = ended[-1][0] - first[0][0], ended[-1][1] - first[0][1]
        window.document.undo_stack.undo()  # back to the untrained values
        return wall, cpu

    run(None)
    run("auto")  # warm-up: compile
    plain, probed = [], []
    for _ in range(args.rounds):  # in turn, so that a busy moment hits both alike
        plain.append(run(None))
        probed.append(run("auto"))
    print(f"studio, Filters and Gradient flow open (time from the run's first report to its "
          f"end, median of {args.rounds} rounds; load average {os.getloadavg()[0]:.2f}):")
    for metric, index in (("wall", 0), ("CPU", 1)):
        a = statistics.median(run[index] for run in plain)
        b = statistics.median(run[index] for run in probed)
        paired = statistics.median(p[index] / q[index] for p, q in zip(plain, probed))
        print(f"  {metric:4} {a:6.2f} s without probe, {b:6.2f} s with; throughput ratio "
              f"{paired:.3f} median of the rounds' ratios, {a / b:.3f} of the medians "
              f"(overhead {100 * (1 - paired):.1f} %)")
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
    parser.add_argument("--noise", action="store_true",
                        help="also time a second run without the probe each round: the noise "
                             "floor of the comparison")
    parser.add_argument("--studio", action="store_true",
                        help="also measure in the studio with the panels open (offscreen)")
    args = parser.parse_args()
    bench_trainer(args)
    if args.studio:
        bench_studio(args)


if __name__ == "__main__":
    main()
