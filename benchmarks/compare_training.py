"""Train the example graphs with NodeStudio's `Trainer` and with PyTorch CPU (2 threads) side by
side, and compare test errors and epoch times.

    python benchmarks/compare_training.py            # 3 seeds, 20 epochs each (~15 min, 2 cores)
    python benchmarks/compare_training.py --quick    # 1 seed, 3 epochs, 10k Fashion-MNIST images
    python benchmarks/compare_training.py --fashion-train 10000   # a faster full run

Both sides get exactly the same experiment, for each seed:

* the same data: `load_dataset(name, seed=seed)` (the same split and the same [0, 1] scaling);
  Fashion-MNIST uses its whole training split (54,000 images; 6,000 validation) and its own
  10,000-image test set, unless `--fashion-train N` cuts the training split to its first N
  images (the split is already a seeded random permutation) and the validation set to N / 10;
* the same model and initial weights: the example graph is loaded (`Model.load`) and
  NodeStudio's initial parameter values are copied into float32 torch tensors;
* the same optimizer: plain SGD at the graph's stored learning rate and batch size;
* the same minibatch order: `epoch_batches(n, batch, seed=seed, epoch=e)`, the permutation the
  Trainer itself draws for epoch e;
* the same model selection: the validation error after each epoch, the parameters of the best
  epoch (first of equals) kept and measured on the test set, with no early stop (all epochs run).

Reported per model and dataset: the mean test error over the seeds on each side, the
difference in percentage points (NodeStudio - PyTorch) and the median epoch time (one pass over
the training set plus the validation pass) on each side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"


@dataclass
class Case:
    label: str
    graph: str
    dataset: str
    epochs: int
    subset: int | None = None  # training images kept (None: the whole training split)


@dataclass
class Result:
    test_error: float
    epoch_seconds: list[float]
    best_epoch: int


def load_data(case: Case, seed: int):
    from nodestudio.data import load_dataset
    from nodestudio.data.dataset import Splits
    splits = load_dataset(case.dataset, seed=seed)
    if case.subset is not None and len(splits.train) > case.subset:
        keep_valid = max(case.subset // 10, 1)
        splits = Splits(splits.train.subset(np.arange(case.subset)),
                        splits.valid.subset(np.arange(min(keep_valid, len(splits.valid)))),
                        splits.test, splits.preprocessor)
    return splits


def run_nodestudio(case: Case, seed: int, splits) -> tuple[Result, dict[str, np.ndarray], dict]:
    from nodestudio.train import Model, Trainer
    model = Model.load(EXAMPLES / case.graph)
    names = [name for name, var in model.shared.items()
             if any(var is p for p in model.params)]
    initial = dict(zip(names, (model.shared[n].get_value().copy() for n in names)))
    settings = model.metadata["training"]
    trainer = Trainer(model, splits, "sgd", float(settings["lr"]),
                      batch_size=int(settings["batch_size"]), epochs=case.epochs, patience=None,
                      seed=seed)
    history = trainer.run()
    return (Result(history.test_error, [r.seconds for r in history.epochs], history.best_epoch),
            initial, settings)


def run_torch(case: Case, seed: int, splits, initial: dict[str, np.ndarray],
              settings: dict) -> Result:
    import torch

    from nodestudio.data.batches import epoch_batches
    torch.set_num_threads(2)
    params = {n: torch.tensor(v, dtype=torch.float32, requires_grad=True)
              for n, v in initial.items()}
    if set(params) == {"W", "b"}:  # logistic regression
        def forward(x):
            return x @ params["W"] + params["b"]
    else:  # the tanh MLP
        def forward(x):
            return torch.tanh(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"]
    opt = torch.optim.SGD(list(params.values()), lr=float(settings["lr"]))
    batch = int(settings["batch_size"])
    xt, yt = torch.from_numpy(splits.train.x), torch.from_numpy(splits.train.y).long()

    def error(data) -> float:
        wrong = 0
        with torch.no_grad():
            for start in range(0, len(data), 1000):
                x = torch.from_numpy(data.x[start:start + 1000])
                y = torch.from_numpy(data.y[start:start + 1000]).long()
                wrong += int((forward(x).argmax(dim=1) != y).sum())
        return wrong / len(data)

    best, best_epoch, best_values, seconds = np.inf, 0, None, []
    for epoch in range(1, case.epochs + 1):
        began = time.perf_counter()
        for index in epoch_batches(len(splits.train), batch, seed=seed, epoch=epoch - 1):
            idx = torch.from_numpy(index)
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(forward(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        valid = error(splits.valid)
        seconds.append(time.perf_counter() - began)
        if valid < best:
            best, best_epoch = valid, epoch
            best_values = {n: p.detach().clone() for n, p in params.items()}
    with torch.no_grad():
        for n, p in params.items():
            p.copy_(best_values[n])
    return Result(error(splits.test), seconds, best_epoch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="1 seed, 3 epochs, 10,000 Fashion-MNIST training images")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs-logreg", type=int, default=20)
    parser.add_argument("--epochs-mlp", type=int, default=20)
    parser.add_argument("--fashion-train", type=int, default=0,
                        help="Fashion-MNIST training images kept (0: all)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="run only the cases whose label contains one of these words")
    args = parser.parse_args(argv)
    seeds = args.seeds[:1] if args.quick else args.seeds
    e_log, e_mlp = (3, 3) if args.quick else (args.epochs_logreg, args.epochs_mlp)
    fashion = args.fashion_train or None
    if args.quick and fashion is None:
        fashion = 10000
    cases = [
        Case("logistic regression", "logistic_regression.json", "mnist5k", e_log),
        Case("tanh MLP 784-800-10", "mlp.json", "mnist5k", e_mlp),
        Case("tanh MLP 784-800-10", "mlp.json", "fashion-mnist", e_mlp, fashion),
    ]
    if args.only:
        cases = [c for c in cases if any(w in f"{c.label} {c.dataset}" for w in args.only)]

    import torch
    torch.set_num_threads(2)
    import nodestudio as ns
    device = ns.devices()[0] if hasattr(ns, "devices") else "?"
    print(f"NodeStudio device: {device}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads; seeds {seeds}")
    rows = []
    for case in cases:
        ours, theirs = [], []
        for seed in seeds:
            splits = load_data(case, seed)
            a, initial, settings = run_nodestudio(case, seed, splits)
            b = run_torch(case, seed, splits, initial, settings)
            ours.append(a)
            theirs.append(b)
            print(f"  {case.label} / {case.dataset} seed {seed}: train {len(splits.train)}, "
                  f"valid {len(splits.valid)}, test {len(splits.test)}; sgd lr "
                  f"{settings['lr']} batch {settings['batch_size']}, {case.epochs} epochs; "
                  f"NodeStudio {100 * a.test_error:.2f}% (best epoch {a.best_epoch}), "
                  f"PyTorch {100 * b.test_error:.2f}% (best epoch {b.best_epoch})", flush=True)
        dataset = case.dataset + (f" ({len(splits.train)} train)" if case.subset else "")
        ne = 100 * float(np.mean([r.test_error for r in ours]))
        te = 100 * float(np.mean([r.test_error for r in theirs]))
        # the first epoch of a fresh process also builds (or loads) the kernels: left out
        ns_s = statistics.median(s for r in ours for s in r.epoch_seconds[1:] or r.epoch_seconds)
        pt_s = statistics.median(s for r in theirs for s in r.epoch_seconds[1:] or r.epoch_seconds)
        rows.append((case.label, dataset, ne, te, round(ne - te, 2) + 0.0, ns_s, pt_s))

    print()
    header = ("| model | dataset | NodeStudio test error | PyTorch test error | difference "
              "(points) | NodeStudio s/epoch | PyTorch s/epoch |")
    print(header)
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, dataset, ne, te, diff, ns_s, pt_s in rows:
        print(f"| {label} | {dataset} | {ne:.2f}% | {te:.2f}% | {diff:+.2f} | {ns_s:.2f} | "
              f"{pt_s:.2f} |")
    worst = max(abs(r[4]) for r in rows)
    print(f"\nlargest |difference|: {worst:.2f} points (target: within 1.5) -> "
          f"{'OK' if worst <= 1.5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
