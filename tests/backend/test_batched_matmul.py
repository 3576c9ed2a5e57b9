"""Batched matrix products (NumPy's matmul semantics): the gemm plans with a batch as the
grid's third dimension, in both variants, and `@` / ns.matmul end to end with gradients
against PyTorch (float64)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import nodestudio as ns
from nodestudio.backend.gemm import Batch, plan_gemm

cl = pytest.importorskip("pyopencl")
pytestmark = pytest.mark.opencl


@pytest.fixture(scope="module")
def cl_env():
    try:
        device = cl.get_platforms()[0].get_devices()[0]
    except (cl.Error, IndexError) as exc:
        pytest.skip(f"no OpenCL device: {exc}")
    context = cl.Context([device])
    return context, cl.CommandQueue(context)


def test_batch_broadcasting_steps():
    batch = Batch.broadcast((2, 1), (3,))
    assert batch.axes == ((2, 1, 0), (3, 0, 1)) and batch.count == 6
    assert batch.matrices(0) == 2 and batch.matrices(1) == 3
    assert batch.index(0) == "(z / 3) * 1" and batch.index(1) == "((z) % 3) * 1"
    with pytest.raises(ValueError, match="do not broadcast"):
        Batch.broadcast((2,), (3,))


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
@pytest.mark.parametrize("trans_a, trans_b", [(False, False), (True, False), (False, True),
                                              (True, True)])
@pytest.mark.parametrize("a_batch, b_batch, m, n, k", [
    ((8,), (8,), 45, 100, 65),          # the tinygrad shape
    ((), (3,), 1, 33, 13),              # a vector times a batch of matrices
    ((2, 1), (3,), 7, 2, 1024),         # broadcast axes; aliasing stride on the CPU
])
def test_batched_plans_match_numpy(cl_env, variant, trans_a, trans_b, a_batch, b_batch, m, n, k):
    context, queue = cl_env
    rng = np.random.default_rng(0)
    a = rng.standard_normal((*a_batch, *((k, m) if trans_a else (m, k)))).astype(np.float32)
    b = rng.standard_normal((*b_batch, *((n, k) if trans_b else (k, n)))).astype(np.float32)
    batch = Batch.broadcast(a_batch, b_batch)
    plan = plan_gemm(m, n, k, trans_a=trans_a, trans_b=trans_b, variant=variant, batch=batch)
    want = np.matmul(np.swapaxes(a, -1, -2) if trans_a else a,
                     np.swapaxes(b, -1, -2) if trans_b else b).astype(np.float64)
    mf = cl.mem_flags
    bufs = {"A": cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a),
            "B": cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=b),
            "C": cl.Buffer(context, mf.READ_WRITE | mf.COPY_HOST_PTR,
                           hostbuf=np.full(want.size, np.nan, np.float32))}
    if plan.scratch_floats:
        bufs["scratch"] = cl.Buffer(context, mf.READ_WRITE, plan.scratch_floats * 4)
    for launch in plan.launches:
        program = cl.Program(context, launch.source).build(launch.options)
        kernel = cl.Kernel(program, launch.kernel)
        kernel.set_args(*(bufs[r] for r in launch.args))
        cl.enqueue_nd_range_kernel(queue, kernel, launch.global_size, launch.local_size)
    got = np.empty(want.size, np.float32)
    cl.enqueue_copy(queue, got, bufs["C"])
    queue.finish()
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4,
                               atol=1e-4 * math.sqrt(k))
    assert len([x for x in plan.launches if x.kernel.startswith("gemm")]) >= 1


@pytest.mark.parametrize("a_shape, b_shape", [
    ((8, 45, 65), (8, 65, 100)), ((65,), (8, 65, 100)), ((45, 65), (8, 65, 100)),
    ((2, 1, 5, 7), (3, 7, 4)), ((8, 45, 65), (65, 100)), ((3, 5), (5,)), ((5,), (5,)),
])
def test_matmul_operator_follows_numpy_with_gradients(a_shape, b_shape):
    rng = np.random.default_rng(1)
    av = rng.standard_normal(a_shape).astype(np.float32)
    bv = rng.standard_normal(b_shape).astype(np.float32)
    a, b = ns.tensor("a", a_shape), ns.tensor("b", b_shape)
    y = a @ b
    assert y.shape == np.matmul(av, bv).shape
    ga, gb = ns.grad(ns.sum(ns.tanh(y)), [a, b])
    got = ns.function([a, b], [y, ga, gb])(av, bv)
    at = torch.tensor(av, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(bv, dtype=torch.float64, requires_grad=True)
    yt = at @ bt
    torch.tanh(yt).sum().backward()
    for mine, theirs in zip(got, (yt, at.grad, bt.grad)):
        theirs = theirs.detach().numpy()
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
    np.testing.assert_allclose(ns.function([a, b], ns.matmul(a, b))(av, bv), got[0], rtol=1e-6)


@pytest.mark.parametrize("m, n, k, trans_a, trans_b", [
    (50, 500, 4096, True, False),   # a conv's weight gradient: split in 2
    (20, 25, 36864, True, False),   # LeNet's first layer at batch 64: split in 18
    (7, 3, 8192, False, True),      # swapped form with a transposed operand in scratch too
    (16, 16, 4100, False, False),
])
def test_cpu_gemm_split_over_long_k_matches_numpy(cl_env, m, n, k, trans_a, trans_b):
    context, queue = cl_env
    rng = np.random.default_rng(2)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    plan = plan_gemm(m, n, k, trans_a=trans_a, trans_b=trans_b, variant="cpu")
    assert plan.launches[-1].kernel.endswith(tuple(f"_sum{s}" for s in range(2, 100)))
    want = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b)
    mf = cl.mem_flags
    bufs = {"A": cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a),
            "B": cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=b),
            "C": cl.Buffer(context, mf.READ_WRITE, want.size * 4),
            "scratch": cl.Buffer(context, mf.READ_WRITE, plan.scratch_floats * 4)}
    for launch in plan.launches:
        kernel = cl.Kernel(cl.Program(context, launch.source).build(launch.options),
                           launch.kernel)
        kernel.set_args(*(bufs[r] for r in launch.args))
        cl.enqueue_nd_range_kernel(queue, kernel, launch.global_size, launch.local_size)
    got = np.empty(want.size, np.float32)
    cl.enqueue_copy(queue, got, bufs["C"])
    queue.finish()
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=1e-4, atol=1e-3 * np.sqrt(k))
