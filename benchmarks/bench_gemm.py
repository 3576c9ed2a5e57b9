"""SGEMM speed: nodestudio's generated kernels against numpy (OpenBLAS) on the same shapes.

    python benchmarks/bench_gemm.py            # the shapes of a 784-800-10 MLP step, batch 128/600
    python benchmarks/bench_gemm.py --all      # every transpose combination of those shapes
    python benchmarks/bench_gemm.py --shape 1024 1024 1024 --runs 30

The device is the one nodestudio picks (`NODESTUDIO_DEVICE` overrides); the variant follows it
("gpu" on a GPU, else "cpu"). Times are the best of `--runs` batches after a warm-up; each batch
enqueues the plan's launches `--batch` times and ends with queue.finish(), so per-launch queue
overhead is included but not the Python round trip of a single finish. nodestudio and numpy
take turns (see best_times) so that other load on the machine hits both alike; on a shared
machine run it twice and believe the faster numbers. "speed" is numpy's time over
nodestudio's (above 1: nodestudio is faster).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pyopencl as cl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nodestudio.backend.device import runtime  # noqa: E402
from nodestudio.backend.gemm import GemmPlan, gemm_variant_for, plan_gemm  # noqa: E402

Case = tuple[int, int, int, bool, bool]  # m, n, k, trans_a, trans_b


def mlp_cases(batch: int) -> list[Case]:
    """The products of one training step of a 784-800-10 MLP (x: batch x 784)."""
    return [
        (batch, 800, 784, False, False),  # forward: x @ W1
        (784, 800, batch, True, False),   # weight grad: x.T @ dh
        (batch, 784, 800, False, True),   # input grad: dh @ W1.T
        (batch, 10, 800, False, False),   # forward: h @ W2
        (800, 10, batch, True, False),    # weight grad: h.T @ dy
        (batch, 800, 10, False, True),    # hidden grad: dy @ W2.T
    ]


def best_times(steps, runs: int, batch: int, rounds: int = 4) -> list[float]:
    """Best seconds per call of each `step(batch)` (which must block until done) over `runs`
    samples each. The steps take turns in `rounds` rounds so that load from other processes on
    the machine hits all of them alike; the minimum is the least disturbed sample. Each turn
    starts after a pause: OpenBLAS's threads keep spinning for a while after a call and would
    otherwise steal the cores from the OpenCL driver's threads (and PoCL's from OpenBLAS)."""
    for step in steps:
        step(batch)  # warm-up: builds, first touch, thread start-up
    best = [float("inf")] * len(steps)
    per_round = max(1, -(-runs // rounds))
    for _ in range(rounds):
        for i, step in enumerate(steps):
            time.sleep(0.2)
            for _ in range(per_round):
                start = time.perf_counter()
                step(batch)
                best[i] = min(best[i], (time.perf_counter() - start) / batch)
    return best


def nodestudio_step(rt, plan: GemmPlan, a: np.ndarray, b: np.ndarray, m: int, n: int):
    mf = cl.mem_flags
    bufs = {"A": cl.Buffer(rt.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a),
            "B": cl.Buffer(rt.context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=b),
            "C": cl.Buffer(rt.context, mf.READ_WRITE, m * n * 4)}
    if plan.scratch_floats:
        bufs["scratch"] = cl.Buffer(rt.context, mf.READ_WRITE, plan.scratch_floats * 4)
    programs: dict[tuple[str, str], cl.Program] = {}
    calls = []
    for launch in plan.launches:
        key = (launch.source, launch.options)
        if key not in programs:
            programs[key] = cl.Program(rt.context, launch.source).build(options=launch.options)
        kernel = getattr(programs[key], launch.kernel)
        kernel.set_args(*(bufs[role] for role in launch.args))
        calls.append((kernel, launch.global_size, launch.local_size))
    queue = rt.queue

    def step(count: int, _keep_alive=bufs) -> None:
        # `_keep_alive`: kernel arguments do not hold a reference to their buffers in
        # pyopencl; freeing the buffers while launches still use them crashes PoCL.
        for _ in range(count):
            for kernel, global_size, local_size in calls:
                cl.enqueue_nd_range_kernel(queue, kernel, global_size, local_size)
        queue.finish()

    def result() -> np.ndarray:
        out = np.empty((m, n), np.float32)
        cl.enqueue_copy(queue, out, bufs["C"])
        return out

    return step, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="all 4 transpose combos per shape")
    parser.add_argument("--shape", type=int, nargs=3, metavar=("M", "N", "K"), action="append",
                        help="benchmark this m n k (NN) instead of the MLP shapes; repeatable")
    parser.add_argument("--batches", type=int, nargs="*", default=[128, 600])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--batch", type=int, default=5, help="launches per timed batch")
    args = parser.parse_args()

    rt = runtime()
    variant = gemm_variant_for(rt.is_gpu)
    print(f"device: {rt.info.label}  variant: {variant}  numpy: {np.__version__}")
    if args.shape:
        cases = [(m, n, k, False, False) for m, n, k in args.shape]
    else:
        cases = [c for batch in args.batches for c in mlp_cases(batch)]
    if args.all:
        cases = list(dict.fromkeys((m, n, k, ta, tb) for m, n, k, _, _ in cases
                                   for ta in (False, True) for tb in (False, True)))

    rng = np.random.default_rng(0)
    header = f"{'op':>2} {'m':>5} {'n':>5} {'k':>5} | {'ns ms':>8} {'GFLOP/s':>7} | " \
             f"{'np ms':>8} {'GFLOP/s':>7} | {'speed':>5}"
    print(header)
    print("-" * len(header))
    for m, n, k, ta, tb in cases:
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
        op_a, op_b = (a.T if ta else a), (b.T if tb else b)
        plan = plan_gemm(m, n, k, trans_a=ta, trans_b=tb, variant=variant)
        step, result = nodestudio_step(rt, plan, a, b, m, n)

        def numpy_step(count: int) -> None:
            for _ in range(count):
                op_a @ op_b

        t_ns, t_np = best_times([step, numpy_step], args.runs, args.batch)
        got, want = result(), op_a.astype(np.float64) @ op_b.astype(np.float64)
        if not np.allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k)):
            print(f"  WRONG RESULT for {m}x{n}x{k}: max error {np.abs(got - want).max():.3g}")
        flops = 2.0 * m * n * k
        op = ("T" if ta else "N") + ("T" if tb else "N")
        print(f"{op:>2} {m:>5} {n:>5} {k:>5} | {t_ns * 1e3:8.3f} {flops / t_ns / 1e9:7.1f} | "
              f"{t_np * 1e3:8.3f} {flops / t_np / 1e9:7.1f} | {t_np / t_ns:5.2f}", flush=True)


if __name__ == "__main__":
    main()
