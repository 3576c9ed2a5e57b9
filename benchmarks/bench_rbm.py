"""One CD-1 epoch and one PCD-15 epoch of a 784-500 Bernoulli RBM on the mnist5k training
split (3,600 rows), minibatches of 20 as in the Theano tutorial (`rbm.py`: batch_size 20,
learning rate 0.1, PCD with 20 particles there too), NodeStudio beside PyTorch CPU in the same run.

    python benchmarks/bench_rbm.py [--epochs 3] [--batch 20] [--threads 2]

NodeStudio runs the training step as the ContrastiveDivergence strategy compiles it: the
`rbm_layer`'s cost, its gradient, plain SGD, the persistent chain as the layer's declared update,
one call per minibatch that returns the cost (the one value read back per step) and the
reconstruction error. PyTorch runs the same algorithm written by hand (no autograd: the CD
gradient in closed form, `torch.rand` draws, `torch.sigmoid`), the cost and reconstruction error
read back per step as well (`.item()`). Both use float32. PyTorch runs with 1 and with
`--threads` intra-op threads (on a loaded machine one thread can be the faster: its threads
wait on each other); NodeStudio's PoCL device uses the machine's cores. Each figure is the best
of `--epochs` timed epochs after one warm-up epoch; the ratios printed are NodeStudio / PyTorch
time (below 1: NodeStudio is faster).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

N_VISIBLE, N_HIDDEN, LR, PARTICLES = 784, 500, 0.1, 20


def batches(n: int, batch: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng([0, epoch]).permutation(n)
    return [order[i:i + batch] for i in range(0, n - n % batch, batch)]


def initial_weights() -> np.ndarray:
    bound = 4 * np.sqrt(6.0 / (N_VISIBLE + N_HIDDEN))
    return np.random.default_rng(0).uniform(-bound, bound, (N_VISIBLE, N_HIDDEN))


def nodestudio_epoch(x: np.ndarray, batch: int, k: int, persistent: bool):
    import nodestudio as ns
    from nodestudio.ir.layers import make_layer
    from nodestudio.ops import registry
    v = ns.tensor("v", (None, N_VISIBLE))
    node, params = make_layer(registry.get("rbm_layer"), [v],
                              {"hidden": N_HIDDEN, "k": k, "persistent": persistent,
                               "particles": PARTICLES, "seed": 1}, "rbm")
    params["W"].set_value(initial_weights())
    _, cost, recon, _, _ = node.outputs
    trained = [params[n] for n in ("W", "vbias", "hbias")]
    grads = ns.grad(cost, trained)
    updates = [(p, p - LR * g) for p, g in zip(trained, grads)]
    updates.append((params["chain"], params["chain"].default_update))
    step = ns.function([v], [cost, recon], updates=updates)

    def epoch(number: int) -> float:
        total = 0.0
        for index in batches(len(x), batch, number):
            out = step(x[index])
            total += float(out[0])  # read back every step, as the trainer does
        return total
    return epoch


def torch_epoch(x: np.ndarray, batch: int, k: int, persistent: bool):
    import torch
    torch.manual_seed(0)
    W = torch.tensor(initial_weights(), dtype=torch.float32)
    vbias, hbias = torch.zeros(N_VISIBLE), torch.zeros(N_HIDDEN)
    chain = torch.zeros(PARTICLES, N_VISIBLE)
    data = torch.from_numpy(x)

    def free_energy(v, pre):
        return -(v @ vbias) - torch.nn.functional.softplus(pre).sum(dim=1)

    @torch.no_grad()
    def step(v0: torch.Tensor) -> tuple[float, float]:
        nonlocal chain
        pre0 = v0 @ W + hbias
        ph0 = torch.sigmoid(pre0)
        v = chain if persistent else v0
        recon_pre = None
        if persistent:
            h_data = (torch.rand_like(ph0) < ph0).float()
            recon_pre = h_data @ W.T + vbias
        for step_index in range(k):
            ph = ph0 if (step_index == 0 and not persistent) else torch.sigmoid(v @ W + hbias)
            h = (torch.rand_like(ph) < ph).float()
            pre_v = h @ W.T + vbias
            if recon_pre is None:
                recon_pre = pre_v
            v = (torch.rand_like(pre_v) < torch.sigmoid(pre_v)).float()
        pre_k = v @ W + hbias
        phk = torch.sigmoid(pre_k)
        n, m = len(v0), len(v)
        cost = free_energy(v0, pre0).mean() - free_energy(v, pre_k).mean()
        recon = (torch.nn.functional.softplus(recon_pre) - v0 * recon_pre).sum(dim=1).mean()
        # the CD gradient of cost in closed form: model term - data term
        W.sub_(LR * (v.T @ phk / m - v0.T @ ph0 / n))
        vbias.sub_(LR * (v.mean(0) - v0.mean(0)))
        hbias.sub_(LR * (phk.mean(0) - ph0.mean(0)))
        if persistent:
            chain = v
        return cost.item(), recon.item()

    def epoch(number: int) -> float:
        total = 0.0
        for index in batches(len(x), batch, number):
            total += step(data[torch.from_numpy(index)])[0]
        return total
    return epoch


def best_time(epoch, epochs: int) -> float:
    epoch(0)  # warm-up: compiles kernels, allocates
    best = float("inf")
    for number in range(1, epochs + 1):
        start = time.perf_counter()
        epoch(number)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    import nodestudio as ns
    from nodestudio.data import load_dataset
    x = load_dataset("mnist5k").train.x
    print(f"784-{N_HIDDEN} RBM, mnist5k train ({len(x)} rows), batch {args.batch}, "
          f"{len(x) // args.batch} steps per epoch; NodeStudio on {ns.current_device().label}, "
          f"PyTorch {torch.__version__} CPU")
    threads = sorted({1, args.threads})
    for label, k, persistent in (("CD-1", 1, False), ("PCD-15", 15, True)):
        ours = best_time(nodestudio_epoch(x, args.batch, k, persistent), args.epochs)
        line = f"{label:7s} epoch  NodeStudio {ours:7.3f} s"
        for count in threads:
            torch.set_num_threads(count)
            theirs = best_time(torch_epoch(x, args.batch, k, persistent), args.epochs)
            line += f"   PyTorch {count} thread(s) {theirs:7.3f} s (ratio {ours / theirs:4.2f})"
        print(line)


if __name__ == "__main__":
    main()
