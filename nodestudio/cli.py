"""The headless command line: `nodestudio devices`, `nodestudio demo`, `nodestudio kernels`."""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np

from nodestudio.errors import NodeStudioError


def _devices(args: argparse.Namespace) -> int:
    from nodestudio.backend.device import devices, runtime
    infos = devices()
    if not infos:
        print("no OpenCL device found")
        return 1
    chosen = runtime().info.index
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
    if args.device is not None:
        ns.set_device(args.device)
    from nodestudio.backend.device import runtime
    print(f"device: {runtime().info.label}")
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
    """Lower a saved graph for a batch size and print its kernels."""
    import nodestudio as ns
    from nodestudio.backend.device import enable_profiling
    loaded = ns.load(args.graph)
    inputs = list(loaded.inputs.values())
    given = dict(_parse_shape(text) for text in args.input_shape)
    rng = np.random.default_rng(0)
    values = []
    for var in inputs:
        shape = given.get(var.name) or _batch_shape(var, args.batch_size)
        values.append(rng.integers(0, 2, shape) if var.dtype == "int32" else rng.normal(size=shape))
    fn = ns.function(inputs, list(loaded.outputs.values()))
    enable_profiling(True)
    fn(*values)
    fn(*values)
    for report in fn.kernels():
        ms = f"{report.seconds * 1e3:8.3f} ms" if report.seconds is not None else ""
        print(f"{report.name:40s} {ms}  {', '.join(report.nodes)}")
        if args.source:
            print(report.source)
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
    return parser


def main(argv: list[str] | None = None) -> int:
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
