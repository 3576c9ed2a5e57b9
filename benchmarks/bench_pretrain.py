"""Pretrained versus randomly initialised deep nets on mnist5k, and the deep autoencoder's
conjugate-gradient fine-tuning.

    python benchmarks/bench_pretrain.py                 # the table in docs/PRETRAINING.md
    python benchmarks/bench_pretrain.py --quick         # 1 pretraining and 2 fine-tuning epochs
    python benchmarks/bench_pretrain.py --seeds 0       # one seed (default: 0, 1, 2)
    python benchmarks/bench_pretrain.py --write-docs    # also rewrite that table in the docs

1. Classifier, 784 -> 500 -> 500 -> 500 -> 10 sigmoid (resources/examples/stacked_dae.json,
   and dbn.json when the rbm_layer op is there): the same net, the same data split, the same
   fine-tuning (SGD, the file's learning rate and batch size, `--finetune` epochs, the best
   validation epoch's parameters measured on the test set), for each seed (the data split,
   the minibatch order and the noise follow it; the initial weights are the file's), started

   * from random initialisation (the file's initialisers),
   * from greedy layer-wise pretraining: `dae` (denoising autoencoders, the file's masking
     noise) and `dbn` (RBMs by CD-1), `--pretrain` epochs per layer.

   The budget: fine-tuning epochs are equal. Pretraining is counted apart, in passes over the
   training set (layers x epochs per layer; a pass of one layer is cheaper than a pass of the
   whole net) and in seconds; so that random initialisation is not short-changed, a third row
   trains it for as many extra epochs as pretraining made passes.

2. Deep autoencoder (resources/examples/deep_autoencoder.json, 784 -> 256 -> 64 -> 16): its
   stack is pretrained (`sae`, `--pretrain` epochs per layer), unfolded into the
   784-256-64-16-64-256-784 net (train/unfold.py), and fine-tuned with CG over the flattened
   parameters on the whole training set; the test reconstruction cost (cross-entropy summed
   over the pixels, mean over images) is printed after pretraining alone and after CG.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "resources" / "examples"
DOCS = ROOT / "docs" / "PRETRAINING.md"
BEGIN, END = "<!-- bench_pretrain: begin -->", "<!-- bench_pretrain: end -->"


def finetune(model, data, settings, epochs, seed):
    from nodestudio.train.loop import Trainer
    began = time.perf_counter()
    history = Trainer(model, data, settings["optimizer"], settings["lr"],
                      batch_size=settings["batch_size"], epochs=epochs, seed=seed).run()
    return history, time.perf_counter() - began


def pretrained(name, method, data, epochs, seed):
    """(model holding the pretrained values, passes over the data, seconds)."""
    from nodestudio.graph import fileformat
    from nodestudio.train.strategies.layerwise import Layerwise
    graph = fileformat.load(EXAMPLES / f"{name}.json")
    pre = graph.metadata.get("pretraining", {})
    began = time.perf_counter()
    pretrainer = Layerwise(graph, data, method, epochs=epochs, optimizer=pre.get("optimizer",
                           "sgd"), lr=pre.get("lr"), batch_size=pre.get("batch_size", 20),
                           seed=seed, source=name)
    result = pretrainer.run()
    from nodestudio.train.model import Model
    model = Model.load(EXAMPLES / f"{name}.json")
    model.set_values(result.values)
    return model, len(pretrainer.stages) * epochs, time.perf_counter() - began


def classifier_rows(data, args, seed):
    """(label, pretraining passes, seconds, fine-tuning epochs, seconds, test error)."""
    from nodestudio.graph import fileformat
    from nodestudio.train.model import Model
    rows = []
    settings = fileformat.load(EXAMPLES / "stacked_dae.json").metadata["training"]
    runs = [("random init", "stacked_dae", None), ("SdA (dae) pretrained", "stacked_dae", "dae")]
    if (EXAMPLES / "dbn.json").exists():
        runs.append(("DBN pretrained", "dbn", "dbn"))
    passes = None
    for label, name, method in runs:
        if method is None:
            model, pre_passes, pre_seconds = Model.load(EXAMPLES / f"{name}.json"), 0, 0.0
        else:
            model, pre_passes, pre_seconds = pretrained(name, method, data, args.pretrain, seed)
            passes = pre_passes
        history, seconds = finetune(model, data, settings, args.finetune, seed)
        rows.append((label, pre_passes, pre_seconds, args.finetune, seconds,
                     history.test_error))
        print(f"seed {seed}, {label}: test error {history.test_error:.4f}", flush=True)
    if passes:
        model = Model.load(EXAMPLES / "stacked_dae.json")
        history, seconds = finetune(model, data, settings, args.finetune + passes, seed)
        rows.append((f"random init, {passes} more epochs", 0, 0.0, args.finetune + passes,
                     seconds, history.test_error))
        print(f"seed {seed}, {rows[-1][0]}: test error {history.test_error:.4f}", flush=True)
    return rows


def deep_autoencoder(data, args):
    from nodestudio.graph import fileformat
    from nodestudio.train.loop import Evaluator, Trainer
    from nodestudio.train.model import Model
    from nodestudio.train.unfold import to_deep_autoencoder
    model, passes, pre_seconds = pretrained("deep_autoencoder", "sae", data, args.pretrain,
                                            args.seeds[0])
    graph = fileformat.load(EXAMPLES / "deep_autoencoder.json")
    deep = Model.from_document(to_deep_autoencoder(graph, model.values()), "unfolded")
    pretrained_cost = Evaluator(deep)(data.test)[0]
    began = time.perf_counter()
    history = Trainer(deep, data, "cg", epochs=args.cg_chunks, fullbatch_iterations=10,
                      seed=args.seeds[0]).run()
    return pretrained_cost, history.test_loss, pre_seconds, time.perf_counter() - began


def table(per_seed: list[list[tuple]]) -> str:
    """Mean test error over the seeds (each seed's in brackets), mean seconds."""
    lines = ["| start | pretraining passes (s) | fine-tuning epochs (s) | test error: mean "
             "(per seed) |", "| --- | --- | --- | --- |"]
    for rows in zip(*per_seed):
        label, passes, _, epochs, _, _ = rows[0]
        pre_s = sum(r[2] for r in rows) / len(rows)
        s = sum(r[4] for r in rows) / len(rows)
        errors = [r[5] for r in rows]
        pre = f"{passes} ({pre_s:.0f} s)" if passes else "-"
        each = ", ".join(f"{100 * e:.1f}" for e in errors)
        lines.append(f"| {label} | {pre} | {epochs} ({s:.0f} s) | "
                     f"{100 * sum(errors) / len(errors):.2f} % ({each}) |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pretrain", type=int, default=5, help="epochs per layer")
    parser.add_argument("--finetune", type=int, default=15, help="fine-tuning epochs")
    parser.add_argument("--cg-chunks", type=int, default=10, help="CG chunks of 10 iterations")
    parser.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    args.seeds = [int(v) for v in args.seeds.split(",")]
    if args.quick:
        args.pretrain, args.finetune, args.cg_chunks = 1, 2, 1
    from nodestudio.data import load_dataset
    per_seed = [classifier_rows(load_dataset("mnist5k", seed=seed), args, seed)
                for seed in args.seeds]
    text = table(per_seed)
    print(text)
    data = load_dataset("mnist5k", seed=args.seeds[0])
    before, after, pre_s, cg_s = deep_autoencoder(data, args)
    deep = (f"Deep autoencoder 784-256-64-16-64-256-784, test reconstruction cost "
            f"(cross-entropy summed over the pixels): after pretraining alone {before:.2f} "
            f"({pre_s:.0f} s), after CG fine-tuning ({args.cg_chunks} x 10 iterations, "
            f"{cg_s:.0f} s) {after:.2f}; ratio {after / before:.3f}")
    print(deep)
    if args.write_docs:
        seeds = ", ".join(map(str, args.seeds))
        block = (f"{BEGIN}\n{args.pretrain} pretraining epochs per layer, {args.finetune} "
                 f"fine-tuning epochs, seeds {seeds}; one run on {time.strftime('%Y-%m-%d')} "
                 f"on a shared 2-core machine, load average {os.getloadavg()[0]:.1f} at the "
                 f"end (the seconds are indicative).\n\n{text}\n\n"
                 f"{deep} (seed {args.seeds[0]}).\n{END}")
        docs = DOCS.read_text()
        DOCS.write_text(re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block,
                               docs, flags=re.S))
    return 0


if __name__ == "__main__":
    sys.exit(main())
