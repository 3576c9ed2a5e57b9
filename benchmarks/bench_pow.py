"""The tutorial MLP's training step (784-500-10 tanh, softmax cross-entropy, batch 20, float32)
with an L2 term on both weight matrices, written three ways: `(W ** 2).sum()` (the Theano
tutorial's spelling), `ns.sum(ns.square(W))`, and the same model in PyTorch CPU (2 threads).
`x ** c` with a constant exponent must cost no more than `square`: the `**` column over the
`square` column should print about 1.00.

    python benchmarks/bench_pow.py [--batch 20] [--seconds 3]

Also times `W ** 2`, `W ** 2.5` and `W ** 3` alone on a 784x500 matrix (forward only), and the
general `pow` op that `W ** 2` was before the fast path.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.bench_mlp_step import data, time_steps  # noqa: E402
from benchmarks.bench_mlp_step import init_params as mlp_params  # noqa: E402

N_IN, N_HIDDEN, N_OUT, LR, L2 = 784, 500, 10, 0.01, 1e-4


def init_params(seed: int = 0):
    return mlp_params(seed, hidden=N_HIDDEN)


def nodestudio_step(batch: int, spelling: str):
    import nodestudio as ns
    W1, b1, W2, b2 = (ns.shared(p, n) for p, n in zip(init_params(), ("W1", "b1", "W2", "b2")))
    x, y = ns.matrix("x"), ns.ivector("y")
    hidden = ns.tanh(ns.dot(x, W1) + b1)
    if spelling == "pow":
        l2 = ns.sum(W1 ** 2) + ns.sum(W2 ** 2)
    else:
        l2 = ns.sum(ns.square(W1)) + ns.sum(ns.square(W2))
    cost = ns.softmax_cross_entropy(ns.dot(hidden, W2) + b2, y) + L2 * l2
    params = [W1, b1, W2, b2]
    grads = ns.grad(cost, params)
    train = ns.function([x, y], cost, updates=[(p, p - LR * g) for p, g in zip(params, grads)])
    xb, yb = data(batch)
    return lambda: train(xb, yb)


def torch_step(batch: int):
    import torch
    torch.set_num_threads(2)
    W1, b1, W2, b2 = (torch.tensor(p, requires_grad=True) for p in init_params())
    xb, yb = (torch.from_numpy(a) for a in data(batch))
    yb = yb.long()
    opt = torch.optim.SGD([W1, b1, W2, b2], lr=LR)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(torch.tanh(xb @ W1 + b1) @ W2 + b2, yb) + \
            L2 * ((W1 ** 2).sum() + (W2 ** 2).sum())
        loss.backward()
        opt.step()
        return loss.item()
    return step


def power_alone(exponent, general: bool = False) -> float:
    import nodestudio as ns
    from nodestudio.ir.expr import apply
    W = ns.matrix("W")
    fn = ns.function([W], apply("pow", W, float(exponent)) if general else W ** exponent)
    value = np.random.default_rng(2).uniform(0.1, 1.0, (N_IN, N_HIDDEN)).astype(np.float32)
    return time_steps(lambda: fn(value), 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, nargs="+", default=[20])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    from nodestudio.backend.device import runtime
    print(f"NodeStudio device: {runtime().info.label}; PyTorch threads: 2; "
          f"cores: {os.cpu_count()}")
    print(f"{'batch':>5} {'W ** 2':>12} {'square':>12} {'PyTorch':>12} {'**/square':>10} "
          f"{'**/Torch':>9}   (ms per step)")
    for batch in args.batch:
        t_pow = time_steps(nodestudio_step(batch, "pow"), args.seconds)
        t_square = time_steps(nodestudio_step(batch, "square"), args.seconds)
        t_torch = time_steps(torch_step(batch), args.seconds)
        # ratios of speeds: above 1 means the `**` spelling is faster than the peer
        print(f"{batch:5d} {1e3 * t_pow:12.3f} {1e3 * t_square:12.3f} {1e3 * t_torch:12.3f} "
              f"{t_square / t_pow:10.2f} {t_torch / t_pow:9.2f}")
    print(f"\nforward only, {N_IN}x{N_HIDDEN}: " + ", ".join(
        f"W ** {c}: {1e3 * power_alone(c):.3f} ms" for c in (2, 2.5, 3)) +
          f"; the general pow op with exponent 2 (what W ** 2 was): "
          f"{1e3 * power_alone(2, general=True):.3f} ms")


if __name__ == "__main__":
    main()
