"""The command line: `nodestudio` alone opens the studio; `devices`, `demo`, `kernels`, `train`,
`pretrain` and `evaluate` work headless."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nodestudio.errors import NodeStudioError
from nodestudio.train.progress import Progress, percent
from nodestudio.train.settings import TRAIN_DEFAULTS


def _devices(args: argparse.Namespace) -> int:
    from nodestudio.api.device import current_device, devices
    infos = devices()
    if not infos:
        print("no OpenCL device found")
        return 1
    chosen = current_device().index
    for info in infos:
        print(("* " if info.index == chosen else "  ") + str(info))
    return 0


def spirals(n_per_class: int, classes: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved noisy spirals: a small dataset that a linear model cannot separate."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for c in range(classes):
        r = np.linspace(0.05, 1.0, n_per_class)
        t = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class) + rng.normal(0, 0.2, n_per_class)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, c))
    return np.concatenate(xs).astype(np.float32), np.concatenate(ys).astype(np.int32)


def _demo(args: argparse.Namespace) -> int:
    """Train a tanh MLP on spirals through the public API, on the OpenCL device."""
    import nodestudio as ns
    from nodestudio.api.device import current_device, set_device
    if args.device is not None:
        set_device(args.device)
    print(f"device: {current_device().label}")
    x_all, y_all = spirals(300)
    rng = np.random.default_rng(args.seed)
    x, y = ns.matrix("x"), ns.ivector("y")
    hidden = args.hidden
    W1 = ns.shared(rng.uniform(-1, 1, (2, hidden)), "W1")
    b1 = ns.shared(np.zeros(hidden), "b1")
    W2 = ns.shared(np.zeros((hidden, 3)), "W2")
    b2 = ns.shared(np.zeros(3), "b2")
    logits = ns.dense(ns.tanh(ns.dense(x, W1, b1)), W2, b2)
    cost = ns.softmax_cross_entropy(logits, y)
    error = ns.classification_error(logits, y)
    params = [W1, b1, W2, b2]
    grads = ns.grad(cost, params)
    train = ns.function([x, y], cost,
                        updates=[(p, p - args.lr * g) for p, g in zip(params, grads)])
    measure = ns.function([x, y], [cost, error])
    start = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        order = rng.permutation(len(x_all))
        for i in range(0, len(order), args.batch_size):
            batch = order[i:i + args.batch_size]
            train(x_all[batch], y_all[batch])
        loss, err = measure(x_all, y_all)
        if epoch % max(1, args.epochs // 10) == 0 or epoch == args.epochs:
            print(f"epoch {epoch:4d}  loss {float(loss):.4f}  error {100 * float(err):5.1f}%")
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.2f} s")
    return 0


def _kernels(args: argparse.Namespace) -> int:
    """Lower a saved graph for a batch size and print its kernels, in the graph's node names
    (the listing is nodestudio/api/kernels.py's, shared with the studio's Kernels panel)."""
    import nodestudio as ns
    from nodestudio.api.kernels import profile_kernels
    from nodestudio.graph import fileformat
    from nodestudio.ir.convert import from_document
    document = fileformat.load(args.graph)
    loaded = from_document(document)
    inputs = list(loaded.inputs.values())
    given = dict(_parse_shape(text) for text in args.input_shape)
    rng = np.random.default_rng(0)
    values = []
    for var in inputs:
        shape = given.get(var.name) or _batch_shape(var, args.batch_size)
        values.append(rng.integers(0, 2, shape) if var.dtype == "int32" else rng.normal(size=shape))
    fn = ns.function(inputs, list(loaded.outputs.values()))
    user_nodes = {node.id: node.op for node in document.nodes.values()}
    for row in profile_kernels(fn, values, user_nodes, runs=2):
        ms = f"{row.seconds * 1e3:8.3f} ms" if row.seconds is not None else ""
        inner = [n for n in row.ir_nodes if n not in row.nodes]
        detail = f"  ({', '.join(inner)})" if inner else ""
        print(f"{row.name:40s} {ms}  {', '.join(row.nodes) or '-'}{detail}")
        if args.source:
            print(row.source)
    return 0


def _parse_shape(text: str) -> tuple[str, tuple[int, ...]]:
    name, _, dims = text.partition("=")
    try:
        return name, tuple(int(d) for d in dims.replace("x", ",").split(",") if d)
    except ValueError:
        raise SystemExit(f"nodestudio: bad --input-shape {text!r}; write NAME=8,784") from None


def _batch_shape(var, batch_size: int) -> tuple[int, ...]:
    """The first free dimension is the batch; any other must be given with --input-shape."""
    shape = list(var.shape)
    if shape and shape[0] is None:
        shape[0] = batch_size
    if None in shape:
        raise SystemExit(f"nodestudio: input {var.name!r} has shape {var.type}; give its size "
                         f"with --input-shape {var.name}=...")
    return tuple(shape)


# --- train / evaluate -------------------------------------------------------------------------
# TRAIN_DEFAULTS (imported from nodestudio/train/settings.py, shared with the studio's Training
# panel) fill in what neither the command line nor the graph's metadata["training"] gives.


@contextlib.contextmanager
def _stop_on_interrupt(trainer: Any) -> Iterator[None]:
    """The first Ctrl-C ends training after the current step (results are still written);
    a second one interrupts at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        print("\nnodestudio: stopping after this step (Ctrl-C again to abort)", file=sys.stderr)
        trainer.stop()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _settings(args: argparse.Namespace, metadata: dict[str, Any]):
    """The TrainingSettings of `nodestudio train`: the command line first, then the graph
    file's metadata["training"] (which the studio writes), then TRAIN_DEFAULTS."""
    from nodestudio.train.regularise import Regularisation
    from nodestudio.train.settings import TrainingSettings
    given: dict[str, Any] = {key: getattr(args, key) for key in TRAIN_DEFAULTS
                             if getattr(args, key) is not None}
    given.update(dataset=args.data, seed=args.seed, min_epochs=args.min_epochs,
                 device=args.device)
    if args.preprocess is not None:
        given["preprocess"] = args.preprocess
    hyper: dict[str, Any] = {}
    for text in args.hyper:
        hyper.update(_key_values(text, "--hyper"))
    if hyper:
        given["hyper"] = hyper
    if args.schedule is not None:
        kind, _, params = args.schedule.partition(":")
        given.update(schedule=kind, schedule_params=_key_values(params, "--schedule"))
    regularisation = Regularisation(l1=args.l1, l2=args.l2, input_noise=args.input_noise,
                                    label_smoothing=args.label_smoothing,
                                    max_norm=args.max_norm, drop_connect=args.drop_connect,
                                    shift=args.shift, rotate_degrees=args.rotate,
                                    scale=args.scale)
    if regularisation != Regularisation():
        given["regularisation"] = regularisation
    return TrainingSettings.from_metadata(metadata, **given)


def _training_settings(args: argparse.Namespace, metadata: dict[str, Any]) -> dict[str, Any]:
    """The settings TRAIN_DEFAULTS names, chosen as `_settings` chooses them."""
    from nodestudio.train.settings import TrainingSettings
    settings = TrainingSettings.from_metadata(
        metadata, **{key: getattr(args, key) for key in TRAIN_DEFAULTS
                     if getattr(args, key) is not None})
    return {key: getattr(settings, key) for key in TRAIN_DEFAULTS}


def _select_device(spec: str | None) -> None:
    from nodestudio.train.settings import use_device
    use_device(spec)


def _key_values(text: str, what: str) -> dict[str, int | float | str]:
    """"a=1,b=0.5,variant=smoothed" -> {"a": 1, "b": 0.5, "variant": "smoothed"}."""
    values: dict[str, int | float | str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise SystemExit(f"nodestudio: bad {what} {part!r}; write NAME=VALUE")
        for convert in (int, float, str):
            try:
                values[key] = convert(value)
                break
            except ValueError:
                continue
    return values


def _load_data(settings: Any, download: bool) -> Any:
    """The dataset, and any download's progress on stderr."""
    from nodestudio.train.settings import load_data
    done: set[str] = set()

    def progress(name: str, size: int, total: int | None) -> None:
        if total is not None and size >= total and name not in done:
            done.add(name)
            print(f"nodestudio: downloaded {name} ({size:,} bytes)", file=sys.stderr)

    return load_data(settings, download=download, progress=progress)


def _data_notes(data: Any, model: Any = None) -> None:
    """What 'auto' did to the data; raw values far outside [0, 1]; more outputs than the
    dataset has classes (`model`'s class notes)."""
    from nodestudio.train.settings import note_text
    for note in [*data.notes, *(model.class_notes(data) if model is not None else [])]:
        print(f"nodestudio: {note.level}: {note_text(note)}", file=sys.stderr)


def _train(args: argparse.Namespace) -> int:
    """Train a graph file on a dataset (from --init's values, when given); write
    metrics.json and params.npz."""
    return _run_training(args, init=args.init)


def _pretrain(args: argparse.Namespace) -> int:
    """Pretrain a graph file's layers by --method (nodestudio/train/pretrain.py); write
    metrics.json and params.npz, which `train --init` starts from."""
    from nodestudio.train.pretrain import make_strategy, parse_k
    strategy = make_strategy(args.method, {"k": parse_k(args.k)})
    return _run_training(args, strategy=strategy)


def _run_training(args: argparse.Namespace, strategy: Any = None,
                  init: str | None = None) -> int:
    from nodestudio.api.device import current_device
    from nodestudio.train.model import Model
    from nodestudio.train.settings import build_trainer, set_aside, stored_training
    _select_device(args.device)  # before the model's parameters are made
    model = Model.load(args.graph)
    if init is not None:  # every value named as the graph names it, with its shape
        model.load_values(init)
    settings = _settings(args, model.metadata)
    settings.check()  # a bad setting fails before the data is read
    data = _load_data(settings, args.download)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)  # before training: a bad folder fails at once
    extra = {} if strategy is None else {"strategy": strategy}
    trainer = build_trainer(model, data, settings, patience_doubling=args.patience_doubling,
                            balanced=args.balanced, **extra)
    # the run starts: what it runs with (after the checks, so that bad input stays one line)
    given = {"lr": args.lr is not None, "hyper": bool(args.hyper)}
    unused = {k: v for k, v in set_aside(model.metadata, args.optimizer).items() if not given[k]}
    if unused:
        stored = stored_training(model.metadata).get("optimizer", TRAIN_DEFAULTS["optimizer"])
        pairs = _pairs(unused)
        print(f"nodestudio: note: {args.optimizer} starts from its own defaults; the graph's "
              f"{' and '.join(pairs)} (stored for {stored}) {'are' if len(pairs) > 1 else 'is'}"
              " not used", file=sys.stderr)
    print(f"settings: {settings.describe()}", file=sys.stderr)
    if model.roles is not None:  # what a graph without marks was taken to be
        inferred = f" ({'; '.join(model.roles.inferred)})" if model.roles.inferred else ""
        print(f"roles: {model.roles.describe()}{inferred}", file=sys.stderr)
    _data_notes(data, model)
    if trainer.optimizer is None and args.lr is not None:
        print(f"nodestudio: note: {trainer.method} chooses its own steps; --lr is not used",
              file=sys.stderr)
    batch = settings.batch_size if trainer.optimizer is not None else len(data.train)
    trainer.subscribe(Progress(sys.stderr, len(data.train), settings.epochs, batch))
    with _stop_on_interrupt(trainer):
        history = trainer.run()
    if history.failure is not None:
        print(f"nodestudio: {history.failure.message}", file=sys.stderr)
        return 1
    metrics = {**history.metrics(),
               "settings": settings.effective(data, device=current_device().label)}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1, allow_nan=False) + "\n")
    model.save_values(out / "params.npz")
    if getattr(strategy, "stages", None):  # layer-wise: the graph on top is not trained yet
        summary = (f"pretrained {len(history.epochs)} of {len(strategy.stages)} layers "
                   f"({args.method}) in {sum(r.seconds for r in history.epochs):.1f} s; "
                   f"`nodestudio train {args.graph} --init {out / 'params.npz'}` fine-tunes")
    else:
        summary = (f"best epoch {history.best_epoch} of {len(history.epochs)}"
                   f" ({history.stop_reason})"
                   + ("" if history.test_loss is None else f"  test loss {history.test_loss:.4f}")
                   + percent(" test error", history.test_error))
    print(f"{summary}\nwrote {out / 'metrics.json'} and {out / 'params.npz'}")
    return 0


def _pairs(values: dict[str, Any]) -> list[str]:
    """{"lr": 0.1, "hyper": {"momentum": 0.5}} -> ["lr 0.1", "momentum 0.5"]."""
    flat = {k: v for k, v in values.items() if k != "hyper"} | dict(values.get("hyper", {}))
    return [f"{k} {v}" for k, v in flat.items()]


def _evaluate(args: argparse.Namespace) -> int:
    """Loss and error of a graph file with saved parameters on a dataset split."""
    from nodestudio.train.loop import Evaluator
    from nodestudio.train.model import Model
    from nodestudio.train.settings import TrainingSettings
    _select_device(args.device)
    model = Model.load(args.graph)
    model.load_values(args.params)
    # the preprocessing training used: given again, else the graph's stored one, else auto
    given = {"preprocess": args.preprocess} if args.preprocess is not None else {}
    settings = TrainingSettings.from_metadata(model.metadata, dataset=args.data,
                                              seed=args.seed, **given)
    settings.check()
    data = _load_data(settings, args.download)
    _data_notes(data)
    split = getattr(data, args.split)
    model.check_data(split)
    loss, error = Evaluator(model, args.batch_size)(split)
    if loss is None:
        raise NodeStudioError(f"the {args.split} split of {args.data!r} is empty")
    print(f"{args.split} loss {loss:.6f}" + percent(f" {args.split} error", error)
          + f"  ({len(split)} examples)")
    return 0


def _with_one_line_errors(command: Any) -> Any:
    """ValueErrors from settings (a negative learning rate, ...) become one-line errors too."""
    def run(args: argparse.Namespace) -> int:
        from nodestudio.train.loop import TrainingError
        try:
            return command(args)
        except TrainingError:
            raise
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
    return run


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nodestudio", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("devices", help="list the OpenCL devices").set_defaults(run=_devices)
    demo = sub.add_parser("demo", help="train a small MLP on spirals through the Python API")
    demo.add_argument("--epochs", type=int, default=200)
    demo.add_argument("--lr", type=float, default=0.5)
    demo.add_argument("--hidden", type=int, default=64)
    demo.add_argument("--batch-size", type=int, default=100)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--device", default=None, help="index or part of the device name")
    demo.set_defaults(run=_demo)
    kern = sub.add_parser("kernels", help="lower a graph file and list its OpenCL kernels")
    kern.add_argument("graph")
    kern.add_argument("--batch-size", type=int, default=128)
    kern.add_argument("--input-shape", action="append", default=[], metavar="NAME=D1,D2",
                      help="the shape of an input with free dimensions besides the batch")
    kern.add_argument("--source", action="store_true", help="print each kernel's source")
    kern.set_defaults(run=_kernels)
    _add_train_parsers(sub)
    studio = sub.add_parser(
        "studio", help="open the desktop studio (the default with no command)",
        description="Open the main window on GRAPH (default: the MLP example). With "
        "--screenshot, render the window offscreen to a PNG (after --train-epochs N epochs of "
        "training, if given) and exit.")
    studio.add_argument("graph", nargs="?", default=None)
    studio.add_argument("--screenshot", metavar="OUT.png", default=None)
    studio.add_argument("--train-epochs", type=int, default=0, metavar="N")
    studio.add_argument("--pretrain-epochs", type=int, default=0, metavar="N",
                        help="with --screenshot: first pretrain the graph's layers for N epochs "
                        "per layer (Train > Pretrain with the graph's metadata['pretraining'], "
                        "else rbm)")
    studio.add_argument("--theme", choices=("dark", "light"), default=None)
    studio.add_argument("--panel", action="append", default=[], metavar="NAME",
                        help="open a looking-inside panel (filters, backward, kernels, ...) "
                        "before the screenshot; may be given more than once")
    studio.set_defaults(run=_studio)
    return parser


def _studio(args: argparse.Namespace) -> int:
    from nodestudio.gui.app import run_studio
    return run_studio(args.graph, args.screenshot, args.train_epochs, args.theme, args.panel,
                      args.pretrain_epochs)


COMMANDS = ("devices", "demo", "kernels", "train", "pretrain", "evaluate", "studio")


def _add_train_parsers(sub: Any) -> None:
    train = sub.add_parser(
        "train", help="train a graph file on a dataset",
        description="Train GRAPH (inputs x, y; output loss; optional error) on a dataset and "
        "write DIR/metrics.json and DIR/params.npz. Settings not given here come from the "
        "graph's metadata['training'], else the defaults shown. cg and lbfgs work on the whole "
        "training set, 10 iterations per epoch, and ignore --lr and --batch-size. Exit "
        "status: 0 done, 1 the training diverged, 2 bad input.")
    train.add_argument("graph")
    _add_training_options(train)
    train.add_argument("--init", default=None, metavar="FILE.npz",
                       help="start from these parameter values (as `pretrain` or `train` "
                       "wrote them: every parameter of the graph, by its name)")
    train.set_defaults(run=_with_one_line_errors(_train))
    from nodestudio.train.pretrain import METHODS
    pretrain = sub.add_parser(
        "pretrain", help="pretrain a graph file's layers (RBMs, ...) on a dataset",
        description="Pretrain the layers of GRAPH by METHOD and write DIR/params.npz (and "
        "DIR/metrics.json), which `nodestudio train GRAPH --init DIR/params.npz` starts from. "
        "Methods: " + "; ".join(f"{m.name}: {m.doc}" for m in METHODS.values())
        + ". The other options are train's.")
    pretrain.add_argument("graph")
    pretrain.add_argument("--method", required=True, choices=list(METHODS))
    pretrain.add_argument("--k", default=None, metavar="K|EPOCH:K,...",
                          help="Gibbs steps of the RBM layers: a number, or from which epoch "
                          "on which k (1:1,5:3,10:10); default: each layer's own k")
    _add_training_options(pretrain)
    pretrain.set_defaults(run=_with_one_line_errors(_pretrain))
    evaluate = sub.add_parser(
        "evaluate", help="loss and error of a trained graph on a dataset",
        description="Load GRAPH with the parameters saved by `train` and print the loss and "
        "error on a split. Use the --seed given to train: it decides the split.")
    evaluate.add_argument("graph")
    evaluate.add_argument("--params", required=True, metavar="FILE.npz")
    evaluate.add_argument("--data", required=True, metavar="NAME_OR_PATH")
    _add_data_options(evaluate, "(give what train used)")
    evaluate.add_argument("--split", choices=("test", "valid", "train"), default="test")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.add_argument("--batch-size", type=int, default=1000)
    evaluate.add_argument("--device", default=None, help="index or part of the device name")
    evaluate.set_defaults(run=_with_one_line_errors(_evaluate))


def _add_training_options(train: argparse.ArgumentParser) -> None:
    """The options `train` and `pretrain` share."""
    from nodestudio.train.loop import OPTIMIZER_NAMES
    train.add_argument("--data", required=True, metavar="NAME_OR_PATH",
                       help="a built-in (mnist5k, digits, spirals, ...), 'mnist', a folder "
                       "or a file")
    _add_data_options(train)
    train.add_argument("--optimizer", default=None, metavar="NAME",
                       help=f"one of {', '.join(OPTIMIZER_NAMES)} (default sgd)")
    train.add_argument("--lr", type=float, default=None,
                       help="learning rate (default: the optimizer's own)")
    train.add_argument("--batch-size", type=int, default=None,
                       help="examples per step; the training set size gives plain gradient "
                       "descent (default 100)")
    train.add_argument("--epochs", type=int, default=None, help="at most this many (default 20)")
    train.add_argument("--patience", type=int, default=None,
                       help="stop after this many epochs without a better validation figure")
    train.add_argument("--min-epochs", type=int, default=0, metavar="N",
                       help="never stop early before this many epochs")
    train.add_argument("--patience-doubling", action="store_true",
                       help="the patience budget doubles on each sufficient improvement")
    train.add_argument("--hyper", action="append", default=[], metavar="NAME=VALUE,...",
                       help="optimizer hyperparameters, e.g. momentum=0.9 or "
                            "beta1=0.8,eps=1e-6 (see docs/OPTIMIZERS.md)")
    train.add_argument("--schedule", default=None, metavar="KIND[:NAME=VALUE,...]",
                       help="learning-rate schedule from --lr: constant, "
                            "linear:lr_tau=0.01,tau=2000, step:factor=0.5,every=1000, "
                            "exponential:gamma=0.999")
    regular = train.add_argument_group("regularisation (training loss and updates only)")
    regular.add_argument("--l1", type=float, default=0.0, metavar="W",
                         help="add W * sum |w| over the weight matrices (ndim >= 2)")
    regular.add_argument("--l2", type=float, default=0.0, metavar="W",
                         help="add W * sum w² over the weight matrices (ndim >= 2)")
    regular.add_argument("--input-noise", type=float, default=0.0, metavar="STD",
                         help="add Gaussian noise of this standard deviation to x")
    regular.add_argument("--label-smoothing", type=float, default=0.0, metavar="EPS",
                         help="smooth the labels of softmax cross-entropy losses by EPS")
    regular.add_argument("--max-norm", type=float, default=None, metavar="C",
                         help="rescale each weight matrix column to a norm of at most C")
    regular.add_argument("--drop-connect", type=float, default=0.0, metavar="P",
                         help="drop each weight with probability P per minibatch")
    regular.add_argument("--shift", type=int, default=0, metavar="PIXELS",
                         help="move each 28 x 28 training image by up to PIXELS (0-4) pixels "
                         "along each axis, at random per example and step")
    regular.add_argument("--rotate", type=float, default=0.0, metavar="DEGREES",
                         help="rotate each 28 x 28 training image by up to DEGREES (0-180) "
                         "about its centre, at random per example and step")
    regular.add_argument("--scale", type=float, default=0.0, metavar="FRACTION",
                         help="zoom each 28 x 28 training image by a factor in "
                         "[1 - FRACTION, 1 + FRACTION] (0-0.9), at random per example and step")
    train.add_argument("--balanced", action="store_true",
                       help="batches with equal numbers of each class")
    train.add_argument("--seed", type=int, default=0,
                       help="data split and batch order (default 0)")
    train.add_argument("--device", default=None, help="index or part of the device name")
    train.add_argument("--out", required=True, metavar="DIR")


def _add_data_options(parser: argparse.ArgumentParser, more: str = "") -> None:
    from nodestudio.data import PREPROCESS_CHOICES, DatasetError, preprocess_choice

    def choice(text: str) -> str:
        try:
            return preprocess_choice(text)
        except DatasetError as exc:  # argparse shows it as a usage error
            raise argparse.ArgumentTypeError(str(exc)) from None
    parser.add_argument("--preprocess", type=choice, default=None,
                        metavar="{" + ",".join(PREPROCESS_CHOICES) + "}",
                        help="fitted on the training split, applied to all: " + "; ".join(
                            f"{k}: {v}" for k, v in PREPROCESS_CHOICES.items())
                        + ". Default: the graph's stored setting, else auto " + more)
    parser.add_argument("--download", action="store_true",
                        help="fetch full MNIST (--data mnist, about 11 MB) into the cache "
                        "folder when it is not there (see docs/DATASETS.md)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv = ["studio", *argv]  # `nodestudio`, `nodestudio g.json`, `nodestudio --screenshot`
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except NodeStudioError as exc:
        print(f"nodestudio: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"nodestudio: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
