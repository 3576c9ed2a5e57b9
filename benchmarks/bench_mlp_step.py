"""One training step (forward, backward, SGD update) of a 784-800-10 tanh MLP with softmax
cross-entropy, float32, measured side by side on NodeStudio's OpenCL device (through the public
API: `ns.function` with `updates`), NumPy and PyTorch CPU (2 threads).

    python benchmarks/bench_mlp_step.py [--batch 128 600] [--seconds 3] [--torch-device cuda]
                                        [--profile]

Prints samples per second for each and the ratios NodeStudio / peer. On a GPU machine
`--torch-device cuda` makes PyTorch on the same GPU the peer (NumPy stays on the CPU).
`--profile` then lists where NodeStudio's step spends its device time, kernel by kernel.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_IN, N_HIDDEN, N_OUT, LR = 784, 800, 10, 0.01


def init_params(seed: int = 0, hidden: int = N_HIDDEN):
    """W1 (Glorot uniform), b1, W2, b2 of a N_IN-hidden-N_OUT MLP (the output layer at zero,
    as the Theano tutorial starts it)."""
    rng = np.random.default_rng(seed)
    bound = np.sqrt(6.0 / (N_IN + hidden))
    return (rng.uniform(-bound, bound, (N_IN, hidden)).astype(np.float32),
            np.zeros(hidden, np.float32),
            np.zeros((hidden, N_OUT), np.float32), np.zeros(N_OUT, np.float32))


def data(batch: int, seed: int = 1):
    rng = np.random.default_rng(seed)
    return (rng.random((batch, N_IN), dtype=np.float32),
            rng.integers(0, N_OUT, batch).astype(np.int32))


def time_steps(step, seconds: float) -> float:
    """Seconds per step: the best of several timed rounds after a warm-up."""
    for _ in range(3):
        step()
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        for _ in range(10):
            step()
        best = min(best, (time.perf_counter() - start) / 10)
    return best


def nodestudio_step(batch: int):
    import nodestudio as ns
    W1, b1, W2, b2 = (ns.shared(p, n) for p, n in zip(init_params(), ("W1", "b1", "W2", "b2")))
    x, y = ns.matrix("x"), ns.ivector("y")
    hidden = ns.tanh(ns.dot(x, W1) + b1)
    cost = ns.softmax_cross_entropy(ns.dot(hidden, W2) + b2, y)
    params = [W1, b1, W2, b2]
    grads = ns.grad(cost, params)
    train = ns.function([x, y], cost, updates=[(p, p - LR * g) for p, g in zip(params, grads)])
    xb, yb = data(batch)
    return lambda: train(xb, yb), train


def numpy_step(batch: int):
    W1, b1, W2, b2 = init_params()
    xb, yb = data(batch)
    onehot = np.eye(N_OUT, dtype=np.float32)[yb]

    def step():
        nonlocal W1, b1, W2, b2
        h = np.tanh(xb @ W1 + b1)
        z = h @ W2 + b2
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        cost = -np.mean(np.log(p[np.arange(batch), yb]))
        dz = (p - onehot) / batch
        dW2, db2 = h.T @ dz, dz.sum(axis=0)
        dh = (dz @ W2.T) * (1 - h * h)
        dW1, db1 = xb.T @ dh, dh.sum(axis=0)
        W1 -= LR * dW1; b1 -= LR * db1; W2 -= LR * dW2; b2 -= LR * db2  # noqa: E702
        return cost
    return step


def torch_step(batch: int, device: str = "cpu"):
    import torch
    torch.set_num_threads(2)
    W1, b1, W2, b2 = (torch.tensor(p, requires_grad=True, device=device)
                      for p in init_params())
    xb, yb = (torch.from_numpy(a).to(device) for a in data(batch))
    yb = yb.long()
    opt = torch.optim.SGD([W1, b1, W2, b2], lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(torch.tanh(xb @ W1 + b1) @ W2 + b2, yb)
        loss.backward()
        opt.step()
        return loss.item()  # waits for the device, as NodeStudio's step reads its cost
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[128, 600])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--torch-device", default="cpu", help="cpu, or cuda on a GPU machine")
    parser.add_argument("--profile", action="store_true",
                        help="after the table, each batch size's kernel times")
    args = parser.parse_args()
    from nodestudio.backend.device import runtime
    print(f"NodeStudio device: {runtime().info.label}; CPU threads for peers: 2; "
          f"cores: {os.cpu_count()}")
    try:
        import torch
        have_torch = True
        print(f"torch {torch.__version__} on {args.torch_device}")
    except ImportError:
        have_torch = False
        print("torch not installed: pip install torch==2.13.0 (CPU) to compare with it")
    print(f"{'batch':>5} {'NodeStudio':>14} {'NumPy':>14} {'PyTorch':>14} "
          f"{'NS/NumPy':>9} {'NS/Torch':>9}   (samples per second)")
    for batch in args.batch:
        step, _ = nodestudio_step(batch)
        ns_rate = batch / time_steps(step, args.seconds)
        np_rate = batch / time_steps(numpy_step(batch), args.seconds)
        th_rate = (batch / time_steps(torch_step(batch, args.torch_device), args.seconds)
                   if have_torch
                   else float("nan"))
        print(f"{batch:5d} {ns_rate:14,.0f} {np_rate:14,.0f} {th_rate:14,.0f} "
              f"{ns_rate / np_rate:9.2f} {ns_rate / th_rate:9.2f}")
    if args.profile:
        for batch in args.batch:
            print_profile(batch)


def print_profile(batch: int) -> None:
    """Device time per kernel of one NodeStudio step (the median of 20 profiled steps)."""
    import nodestudio as ns
    step, train = nodestudio_step(batch)
    ns.enable_profiling(True)
    try:
        times: dict[str, list[float]] = {}
        reports = []
        for _ in range(23):
            step()
            reports = train.kernels()
            for report in reports:
                times.setdefault(report.name, []).append(report.seconds or 0.0)
    finally:
        ns.enable_profiling(False)
    median = {name: sorted(t[3:])[len(t[3:]) // 2] for name, t in times.items()}
    total = sum(median.values())
    print(f"\nbatch {batch}: {len(reports)} kernels, {1e3 * total:.3f} ms of device time per "
          "step")
    for report in sorted(reports, key=lambda r: -median[r.name])[:12]:
        share = median[report.name] / total if total else 0.0
        print(f"  {1e6 * median[report.name]:9.1f} us {share:6.1%}  {report.name:28s} "
              f"{', '.join(report.nodes)[:70]}")


if __name__ == "__main__":
    main()
