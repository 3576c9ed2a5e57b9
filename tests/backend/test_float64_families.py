"""The kernel families in float64 (and int64 where they copy integers), planned for a CPU and
for a GPU and run with plain pyopencl on the first device, against NumPy in float64 to ~1e-12:
the reduce lanes and vector paths, softmax, both gemm variants (the GPU's tiles too), layout
and indexing. Also: a float32 plan's sources carry no double, and ops without a float64 kernel
refuse one."""

from __future__ import annotations

import numpy as np
import pyopencl as cl
import pytest

from nodestudio import ops
from nodestudio.backend.device import device_has_fp64
from nodestudio.backend.families import plan_family
from nodestudio.errors import ShapeError
from nodestudio.ops.registry import TensorType

pytestmark = pytest.mark.opencl

_DTYPES = {np.dtype(np.float32): "float32", np.dtype(np.float64): "float64",
           np.dtype(np.int32): "int32", np.dtype(np.int64): "int64"}
_NUMPY = {v: k for k, v in _DTYPES.items()}


@pytest.fixture(scope="module")
def queue() -> cl.CommandQueue:
    for platform in cl.get_platforms():
        for found in platform.get_devices():
            if device_has_fp64(found):
                return cl.CommandQueue(cl.Context([found]))
    pytest.skip("no OpenCL device with double precision")


def run(queue, op: str, attrs: dict, inputs: list[np.ndarray], gpu: bool) -> np.ndarray:
    dtypes = [_DTYPES[a.dtype] for a in inputs]
    (out_type,) = ops.get(op).shape([TensorType(d, a.shape) for d, a in zip(dtypes, inputs)],
                                    attrs)
    plan = plan_family(op, attrs, [a.shape for a in inputs], dtypes, [out_type.shape],
                       [out_type.dtype], gpu)
    out = np.full(out_type.shape, -7777, _NUMPY[out_type.dtype])
    ctx, flags = queue.context, cl.mem_flags
    buffers = {f"in{i}": cl.Buffer(ctx, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=a)
               for i, a in enumerate(inputs) if a.size}
    buffers["out0"] = cl.Buffer(ctx, flags.READ_WRITE | flags.COPY_HOST_PTR, hostbuf=out)
    for role, nbytes in plan.scratch_sizes.items():
        buffers[role] = cl.Buffer(ctx, flags.READ_WRITE, nbytes)
    for launch in plan.launches:
        program = cl.Program(ctx, launch.source).build(launch.options)
        kernel = cl.Kernel(program, launch.kernel)
        kernel.set_args(*(buffers[role] for role in launch.args))
        cl.enqueue_nd_range_kernel(queue, kernel, launch.global_size, launch.local_size)
    cl.enqueue_copy(queue, out, buffers["out0"])
    queue.finish()
    want = ops.get(op).reference(*inputs, **attrs)
    assert out.shape == np.shape(want)
    return out, np.asarray(want), plan


def positive(shape, seed=0):
    return np.random.default_rng(seed).random(shape) + 1e-9  # sums of these: the hard case


@pytest.mark.parametrize("gpu", [False, True])
@pytest.mark.parametrize("op,shape,axis", [
    ("sum", (784, 800), None), ("sum", (20000, 21), (0,)), ("sum", (3, 40003), (-1,)),
    ("sum", (128, 800), (0,)), ("mean", (50, 60, 70), (0, 2)), ("max", (3, 40003), (-1,)),
    ("sum", (7, 100), (-1,))])
def test_reductions_in_float64_on_every_path(queue, gpu, op, shape, axis):
    out, want, plan = run(queue, op, {"axis": axis, "keepdims": False}, [positive(shape)], gpu)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, want, rtol=1e-12)
    assert all("cl_khr_fp64" in launch.source for launch in plan.launches)


@pytest.mark.parametrize("gpu", [False, True])
def test_argmax_in_float64_finds_what_float32_cannot_tell_apart(queue, gpu):
    x = np.ones((6, 5000))
    x[np.arange(6), [7, 4999, 0, 2500, 3, 1234]] += 1e-12  # float32 sees all ones
    out, want, _ = run(queue, "argmax", {"axis": 1, "keepdims": False}, [x], gpu)
    np.testing.assert_array_equal(out, [7, 4999, 0, 2500, 3, 1234])


@pytest.mark.parametrize("gpu", [False, True])
def test_softmax_in_float64(queue, gpu):
    x = np.random.default_rng(2).standard_normal((9, 257)) * 10
    for op in ("softmax", "log_softmax"):
        out, want, _ = run(queue, op, {"axis": -1}, [x], gpu)
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("gpu", [False, True])
@pytest.mark.parametrize("m,k,n,ta,tb", [(64, 300, 65, False, False), (5, 3000, 3, True, False),
                                         (33, 17, 130, False, True), (1, 1, 1, True, True)])
def test_gemm_in_float64_both_variants(queue, gpu, m, k, n, ta, tb):
    rng = np.random.default_rng(3)
    a = rng.standard_normal((k, m) if ta else (m, k))
    b = rng.standard_normal((n, k) if tb else (k, n))
    out, want, plan = run(queue, "matmul", {"trans_a": ta, "trans_b": tb}, [a, b], gpu)
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12 * np.sqrt(k))


@pytest.mark.parametrize("gpu", [False, True])
def test_layout_and_indexing_copy_float64_and_int64_exactly(queue, gpu):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((6, 7)) + 1e-14
    big = rng.integers(-2**62, 2**62, (6, 7), dtype=np.int64)
    index = np.array([5, -1, 0, 2], np.int32)
    cases = [("transpose", {"axes": (1, 0)}, [x]), ("transpose", {"axes": (1, 0)}, [big]),
             ("slice", {"slices": ((1, 5, 2), (None, None, 3))}, [big]),
             ("concatenate", {"axis": 1, "n": 2}, [x, x * 3]),
             ("unslice", {"slices": ((1, 4, None),)}, [x[:3], x]),
             ("take", {"axis": 0}, [x, index]), ("take", {"axis": 1}, [big, index]),
             ("take_grad", {"axis": 0}, [x[:4], index, x])]
    for op, attrs, inputs in cases:
        out, want, _ = run(queue, op, attrs, inputs, gpu)
        assert out.dtype == inputs[0].dtype or op == "take_grad"
        np.testing.assert_array_equal(out, want.astype(out.dtype), err_msg=op)


def test_a_float32_plan_has_no_double_and_a_float32_only_family_refuses_float64():
    plan = plan_family("sum", {"axis": None, "keepdims": False}, [(100, 100)], ["float32"],
                       [()], ["float32"], False)
    assert "double" not in plan.launches[0].source
    with pytest.raises(ShapeError, match="max_pool2d computes in float32"):
        plan_family("max_pool2d", {"size": (2, 2), "stride": None, "padding": (0, 0),
                                   "ignore_border": True},
                    [(1, 1, 4, 4)], ["float64"], [(1, 1, 2, 2)], ["float64"], False)
