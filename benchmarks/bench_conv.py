"""Convolutions on NodeStudio's OpenCL device beside PyTorch CPU, in one run:

1. conv2d forward + backward (input and weight gradients) GFLOP/s for LeNet's two layers, beside
   the matmul's GFLOP/s on a product of the same size (m = batch positions, n = filters,
   k = taps) and PyTorch's conv on the same layer;
2. one training step (forward, backward, SGD update) of LeNet as in Theano's
   convolutional_mlp.py: 1x28x28 input, conv 20@5x5, 2x2 max-pool, tanh, conv 50@5x5, 2x2
   max-pool, tanh, dense 500 tanh, softmax; float32, at batch 64 and 500.

    python benchmarks/bench_conv.py [--batch 64 500] [--seconds 3] [--threads N] [--profile]

PyTorch runs with torch.set_num_threads matched to the machine's cores (or --threads).
Prints samples per second and the ratio NodeStudio / PyTorch; --profile lists where
NodeStudio's step spends its device time, kernel by kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LR = 0.1
# (name, in channels, size, filters): LeNet's layers on 28x28 digits, 5x5 filters
LAYERS = [("conv1 1->20", 1, 28, 20), ("conv2 20->50", 20, 12, 50)]
K = 5


def time_calls(call, seconds: float) -> float:
    """Seconds per call: the best of several timed rounds after a warm-up."""
    for _ in range(3):
        call()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(5):
            call()
        best = min(best, (time.perf_counter() - start) / 5)
    return best


# --- 1. conv layers and the matmul ---------------------------------------------------------------
def conv_flops(batch: int, c: int, size: int, f: int) -> float:
    """Multiply-adds x 2 of forward, input gradient and weight gradient."""
    out = size - K + 1
    return 3 * 2.0 * batch * out * out * f * c * K * K


def ns_conv_layer(batch: int, c: int, size: int, f: int):
    import nodestudio as ns
    rng = np.random.default_rng(0)
    x = ns.tensor("x", (batch, c, size, size))
    w = ns.shared(rng.standard_normal((f, c, K, K)).astype(np.float32) * 0.1, "w")
    y = ns.conv2d(x, w)
    gx, gw = ns.grad(ns.sum(y * y) * 0.5, [x, w])  # y * y: dy = y, cheap and elementwise
    fn = ns.function([x], [ns.sum(gx), ns.sum(gw)])
    xv = rng.standard_normal((batch, c, size, size)).astype(np.float32)
    return lambda: fn(xv)


def ns_matmul(m: int, n: int, k: int):
    import nodestudio as ns
    rng = np.random.default_rng(0)
    a = ns.matrix("a")
    b = ns.shared(rng.standard_normal((k, n)).astype(np.float32), "b")
    fn = ns.function([a], ns.sum(ns.matmul(a, b)))
    av = rng.standard_normal((m, k)).astype(np.float32)
    return lambda: fn(av)


def torch_conv_layer(batch: int, c: int, size: int, f: int):
    import torch
    x = torch.randn(batch, c, size, size, requires_grad=True)
    w = (torch.randn(f, c, K, K) * 0.1).requires_grad_()

    def call():
        y = torch.nn.functional.conv2d(x, w)
        x.grad = w.grad = None
        (y * y * 0.5).sum().backward()
        return float(x.grad.sum()) + float(w.grad.sum())
    return call


def print_conv_table(batches: list[int], seconds: float) -> None:
    print(f"\n{'layer':>14} {'batch':>5} {'NS conv':>9} {'NS matmul':>10} {'Torch conv':>11} "
          f"{'conv/matmul':>11} {'NS/Torch':>9}   (GFLOP/s; conv = forward + both gradients)")
    for batch in batches:
        for name, c, size, f in LAYERS:
            flops = conv_flops(batch, c, size, f)
            out = size - K + 1
            ns_rate = flops / time_calls(ns_conv_layer(batch, c, size, f), seconds) / 1e9
            mm = ns_matmul(batch * out * out, f, c * K * K)
            mm_rate = 2.0 * batch * out * out * f * c * K * K / time_calls(mm, seconds) / 1e9
            th_rate = flops / time_calls(torch_conv_layer(batch, c, size, f), seconds) / 1e9
            print(f"{name:>14} {batch:5d} {ns_rate:9.1f} {mm_rate:10.1f} {th_rate:11.1f} "
                  f"{ns_rate / mm_rate:11.2f} {ns_rate / th_rate:9.2f}")


# --- 2. the LeNet training step ----------------------------------------------------------------
def init_params(seed: int = 0):
    """Theano's convolutional_mlp initialisation (uniform by fan-in and fan-out), float32."""
    rng = np.random.default_rng(seed)

    def uniform(shape, fan_in, fan_out):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        return rng.uniform(-bound, bound, shape).astype(np.float32)
    return [uniform((20, 1, 5, 5), 25, 20 * 25 / 4), np.zeros(20, np.float32),
            uniform((50, 20, 5, 5), 500, 50 * 25 / 4), np.zeros(50, np.float32),
            uniform((800, 500), 800, 500), np.zeros(500, np.float32),
            np.zeros((500, 10), np.float32), np.zeros(10, np.float32)]


def data(batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return (rng.random((batch, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, batch).astype(np.int32))


def nodestudio_lenet(batch: int):
    import nodestudio as ns
    params = [ns.shared(p, f"p{i}") for i, p in enumerate(init_params())]
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    x, y = ns.tensor("x", (None, 1, 28, 28)), ns.ivector("y")
    h1 = ns.tanh(ns.max_pool2d(ns.conv2d(x, w1)) + ns.reshape(b1, (1, 20, 1, 1)))
    h2 = ns.tanh(ns.max_pool2d(ns.conv2d(h1, w2)) + ns.reshape(b2, (1, 50, 1, 1)))
    h3 = ns.tanh(ns.dot(ns.reshape(h2, (-1, 800)), w3) + b3)
    cost = ns.softmax_cross_entropy(ns.dot(h3, w4) + b4, y)
    grads = ns.grad(cost, params)
    train = ns.function([x, y], cost, updates=[(p, p - LR * g) for p, g in zip(params, grads)])
    xb, yb = data(batch)
    return (lambda: train(xb, yb)), train


def torch_lenet(batch: int):
    import torch
    F = torch.nn.functional
    params = [torch.tensor(p, requires_grad=True) for p in init_params()]
    w1, b1, w2, b2, w3, b3, w4, b4 = params
    xb, yb = (torch.from_numpy(a) for a in data(batch))
    yb = yb.long()
    opt = torch.optim.SGD(params, lr=LR)

    def step():
        opt.zero_grad(set_to_none=True)
        h1 = torch.tanh(F.max_pool2d(F.conv2d(xb, w1), 2) + b1.view(1, 20, 1, 1))
        h2 = torch.tanh(F.max_pool2d(F.conv2d(h1, w2), 2) + b2.view(1, 50, 1, 1))
        h3 = torch.tanh(h2.reshape(-1, 800) @ w3 + b3)
        loss = F.cross_entropy(h3 @ w4 + b4, yb)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def print_lenet_table(batches: list[int], seconds: float) -> None:
    print(f"\n{'batch':>5} {'NodeStudio':>12} {'PyTorch':>12} {'NS/Torch':>9}   "
          "(LeNet training steps: samples per second)")
    for batch in batches:
        step, _ = nodestudio_lenet(batch)
        ns_rate = batch / time_calls(step, seconds)
        th_rate = batch / time_calls(torch_lenet(batch), seconds)
        print(f"{batch:5d} {ns_rate:12,.0f} {th_rate:12,.0f} {ns_rate / th_rate:9.2f}")


def print_profile(batch: int) -> None:
    """Device time per kernel of one NodeStudio LeNet step (the median of 10 profiled steps)."""
    import nodestudio as ns
    step, train = nodestudio_lenet(batch)
    ns.enable_profiling(True)
    try:
        times: dict[int, list[float]] = {}
        reports = []
        for _ in range(13):
            step()
            reports = train.kernels()
            for i, report in enumerate(reports):
                times.setdefault(i, []).append(report.seconds or 0.0)
    finally:
        ns.enable_profiling(False)
    median = {i: sorted(t[3:])[len(t[3:]) // 2] for i, t in times.items()}
    total = sum(median.values())
    print(f"\nbatch {batch}: {len(reports)} kernels, {1e3 * total:.2f} ms of device time per "
          "step")
    for i in sorted(median, key=lambda i: -median[i])[:16]:
        report = reports[i]
        print(f"  {1e6 * median[i]:9.1f} us {median[i] / total:6.1%}  {report.name[:34]:34s} "
              f"{', '.join(report.nodes)[:60]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[64, 500])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                        help="PyTorch's threads (default: the machine's cores)")
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--skip-layers", action="store_true", help="only the LeNet step")
    args = parser.parse_args()
    import torch
    torch.set_num_threads(args.threads)
    from nodestudio.backend.device import runtime
    print(f"NodeStudio device: {runtime().info.label}; torch {torch.__version__} CPU with "
          f"{torch.get_num_threads()} threads; cores: {os.cpu_count()}")
    if not args.skip_layers:
        print_conv_table(args.batch, args.seconds)
    print_lenet_table(args.batch, args.seconds)
    if args.profile:
        for batch in args.batch:
            print_profile(batch)


if __name__ == "__main__":
    main()
