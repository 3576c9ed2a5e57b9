"""The kernel families (reductions, softmax, layout, one-hot, random) against the ops' NumPy
references, built and run with plain pyopencl on the first available device."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pyopencl as cl
import pytest

from nodestudio import ops
from nodestudio.backend.families import plan_family
from nodestudio.backend.launch import Plan
from nodestudio.ops.registry import TensorType
from nodestudio.ops.structure import slice_index

pytestmark = pytest.mark.opencl

SENTINEL = -7777  # outputs start as this, so an element no kernel wrote shows up


@dataclass
class Device:
    context: cl.Context
    queue: cl.CommandQueue
    programs: dict[tuple[str, str], cl.Program] = field(default_factory=dict)

    def program(self, source: str, options: str) -> cl.Program:
        key = (source, options)
        if key not in self.programs:
            self.programs[key] = cl.Program(self.context, source).build(options)
        return self.programs[key]


@pytest.fixture(scope="module")
def device() -> Device:
    for platform in cl.get_platforms():
        found = platform.get_devices()
        if found:
            context = cl.Context([found[0]])
            return Device(context, cl.CommandQueue(context))
    pytest.skip("no OpenCL device")


def _dtype(a: np.ndarray) -> str:
    return "int32" if a.dtype == np.int32 else "float32"


def check_plan(plan: Plan, in_sizes: list[int], out_size: int) -> None:
    """Structural promises: no launch for an empty output, no empty buffer among the args,
    grids that local sizes divide, scratch asked for exactly when a launch uses it."""
    if out_size == 0:
        assert plan.launches == ()
    used = {role for launch in plan.launches for role in launch.args if role.startswith("scratch")}
    assert used == set(plan.scratch_sizes)
    for launch in plan.launches:
        assert all(g > 0 for g in launch.global_size)
        if launch.local_size is not None:
            assert all(g % loc == 0 for g, loc in zip(launch.global_size, launch.local_size,
                                                      strict=True))
        for role in launch.args:
            if role.startswith("in"):
                assert in_sizes[int(role[2:])] > 0, f"{launch.kernel} binds empty {role}"


def run(device: Device, op: str, attrs: dict, inputs: list[np.ndarray], gpu: bool = False,
        call_index: int = 0) -> tuple[np.ndarray, Plan]:
    """Plan `op`, run every launch, and return the output and the plan."""
    (out_type,) = ops.get(op).shape([TensorType(_dtype(a), a.shape) for a in inputs], attrs)
    plan = plan_family(op, attrs, [a.shape for a in inputs], [_dtype(a) for a in inputs],
                       [out_type.shape], [out_type.dtype], gpu)
    out = np.full(out_type.shape, SENTINEL, np.int32 if out_type.dtype == "int32" else np.float32)
    check_plan(plan, [a.size for a in inputs], out.size)
    ctx, queue = device.context, device.queue
    flags = cl.mem_flags
    buffers: dict[str, object] = {"call_index": np.uint32(call_index)}
    for i, a in enumerate(inputs):
        if a.size:
            buffers[f"in{i}"] = cl.Buffer(ctx, flags.READ_ONLY | flags.COPY_HOST_PTR, hostbuf=a)
    if out.size:
        buffers["out0"] = cl.Buffer(ctx, flags.READ_WRITE | flags.COPY_HOST_PTR, hostbuf=out)
    for role, nbytes in plan.scratch_sizes.items():
        buffers[role] = cl.Buffer(ctx, flags.READ_WRITE, nbytes)
    for launch in plan.launches:
        kernel = cl.Kernel(device.program(launch.source, launch.options), launch.kernel)
        kernel.set_args(*(buffers[role] for role in launch.args))
        cl.enqueue_nd_range_kernel(queue, kernel, launch.global_size, launch.local_size)
    if out.size:
        cl.enqueue_copy(queue, out, buffers["out0"])
    queue.finish()
    return out, plan


def reference(op: str, attrs: dict, inputs: list[np.ndarray], **extra) -> np.ndarray:
    as64 = [a.astype(np.float64) if a.dtype == np.float32 else a for a in inputs]
    with warnings.catch_warnings():  # the mean of nothing is NaN, with a warning
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.asarray(ops.get(op).reference(*as64, **attrs, **extra))


def compare(device: Device, op: str, attrs: dict, inputs: list[np.ndarray],
            gpu: bool = False) -> Plan:
    """Run `op` and check it against the registry's float64 reference."""
    out, plan = run(device, op, attrs, inputs, gpu)
    want = reference(op, attrs, inputs)
    assert out.shape == want.shape
    if out.dtype == np.int32:
        np.testing.assert_array_equal(out, want)
    else:
        np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-5)
    return plan


def normal(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# --- reductions ---------------------------------------------------------------------------------
# (shape, axis, keepdims); the first ones run for sum, mean and max, the rest for sum only
REDUCE_CASES = [
    ((), None, False), ((5, 40), (0,), False), ((4, 5, 6), (2, 0), True), ((33, 257), None, False),
    ((0, 5), (0,), False),
]
SUM_CASES = [
    ((1,), None, False), ((7,), None, True), ((7, 100), (-1,), False), ((5, 7), (-1,), True),
    ((5, 7), (), False), ((4, 5, 6), (1,), True), ((2, 3, 4, 5), (0, 2, 3), False),
    ((3, 1, 4), (1,), False), ((257, 33), (0,), False), ((4, 0), (1,), True),
    ((5, 0), (0,), False),
]


@pytest.mark.parametrize("op,shape,axis,keepdims",
                         [(op, *case) for case in REDUCE_CASES for op in ("sum", "mean", "max")]
                         + [("sum", *case) for case in SUM_CASES])
def test_reduce(device, op, shape, axis, keepdims):
    attrs, x = {"axis": axis, "keepdims": keepdims}, normal(shape)
    if op == "max" and x.size == 0 and np.sum(x, axis=axis).size:
        out, _ = run(device, op, attrs, [x])  # np.max of nothing raises; we give -inf
        assert np.all(out == -np.inf)
        return
    compare(device, op, attrs, [x])


SPLIT_SHAPES = [
    ((784, 800), None),     # everything into a scalar: lanes through scratch
    ((20000, 21), (0,)),    # few long columns
    ((3, 40003), (-1,)),    # few long rows, read as float8 with a tail
    ((50, 60, 70), (0, 2)),  # few outputs, two reduced axes
]


@pytest.mark.parametrize("op,gpu,shape,axis",
                         [("sum", gpu, *case) for case in SPLIT_SHAPES for gpu in (False, True)]
                         + [("mean", False, *SPLIT_SHAPES[0]), ("max", True, *SPLIT_SHAPES[2])])
def test_reduce_split_into_lanes(device, op, gpu, shape, axis):
    x = np.random.default_rng(1).random(shape, dtype=np.float32)  # positive: the hard case for sums
    plan = compare(device, op, {"axis": axis, "keepdims": False}, [x], gpu=gpu)
    assert len(plan.launches) == 2 and plan.scratch_bytes > 0


@pytest.mark.parametrize("gpu,columns_per_item", [(True, 1), (False, 16)])
def test_reduce_bias_gradient_is_one_pass_over_columns(device, gpu, columns_per_item):
    plan = compare(device, "sum", {"axis": (0,), "keepdims": False}, [normal((128, 800))], gpu=gpu)
    (launch,) = plan.launches
    (local,) = launch.local_size
    assert 800 // columns_per_item <= launch.global_size[0] < 800 // columns_per_item + local
    assert plan.scratch_bytes == 0


def test_reduce_int_input(device):
    x = np.random.default_rng(2).integers(-50, 50, (6, 45)).astype(np.int32)
    for op, axis in [("mean", (1,)), ("max", (1,)), ("sum", (0,))]:
        compare(device, op, {"axis": axis, "keepdims": False}, [x])


def test_max_propagates_nan_and_handles_infinities(device):
    x = normal((4, 60))
    x[1, 33] = np.nan
    x[2, :] = -np.inf
    x[3, 0] = np.inf
    for axis in [(0,), (1,), None]:
        compare(device, "max", {"axis": axis, "keepdims": False}, [x])


ARGMAX_CASES = [((7,), 0, False), ((5, 7), -1, False), ((5, 7), 0, True), ((4, 5, 6), 1, False),
                ((3, 257), 1, False), ((0, 4), 1, False)]


@pytest.mark.parametrize("shape,axis,keepdims", ARGMAX_CASES)
def test_argmax(device, shape, axis, keepdims):
    ties = np.random.default_rng(3).integers(0, 4, shape).astype(np.float32)  # first max wins
    compare(device, "argmax", {"axis": axis, "keepdims": keepdims}, [ties])


@pytest.mark.parametrize("gpu", [False, True])
def test_argmax_split_into_lanes_keeps_the_first_index(device, gpu):
    x = np.random.default_rng(4).integers(0, 1000, (2, 300000)).astype(np.float32)
    plan = compare(device, "argmax", {"axis": 1, "keepdims": False}, [x], gpu=gpu)
    assert len(plan.launches) == 2
    x[1, 123456] = np.nan
    x[1, 200000] = np.nan
    compare(device, "argmax", {"axis": -1, "keepdims": True}, [x], gpu=gpu)


def test_argmax_nan_inf_and_int_input(device):
    x = np.full((3, 5), -np.inf, np.float32)
    x[1, 2], x[1, 4] = np.nan, np.nan
    x[2, 3] = np.inf
    compare(device, "argmax", {"axis": 1, "keepdims": False}, [x])
    labels = np.random.default_rng(5).integers(0, 3, (4, 7)).astype(np.int32)
    compare(device, "argmax", {"axis": 0, "keepdims": False}, [labels])


# --- softmax ------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,axis", [
    ((1,), -1), ((5, 7), -1), ((4, 5, 6), -2), ((3, 1000), -1),
])
def test_softmax(device, op, shape, axis):
    compare(device, op, {"axis": axis}, [normal(shape) * 3])


@pytest.mark.parametrize("shape", [(2, 0, 3), (0, 3)])
def test_softmax_of_nothing_launches_nothing(device, shape):
    out, plan = run(device, "softmax", {"axis": 1}, [normal(shape)])
    assert out.shape == shape and plan.launches == ()


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_softmax_is_stable_for_large_logits(device, op):
    x = np.array([[1000.0, 999.0, -1000.0], [-500.0, -501.0, -502.0]], np.float32)
    out, _ = run(device, op, {"axis": -1}, [x])
    assert np.all(np.isfinite(out))
    compare(device, op, {"axis": -1}, [x])


# --- layout -------------------------------------------------------------------------------------
@pytest.mark.parametrize("shape,axes", [
    ((), ()), ((4, 5), (-1, -2)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (1, 0, 2)),
    ((2, 3, 4, 5), (3, 1, 2, 0)), ((1, 7, 1), (2, 1, 0)), ((33, 257), (1, 0)), ((0, 3), (1, 0)),
])
def test_transpose(device, shape, axes):
    compare(device, "transpose", {"axes": axes}, [normal(shape)])


def test_transpose_int(device):
    x = np.arange(60, dtype=np.int32).reshape(3, 4, 5)
    compare(device, "transpose", {"axes": (2, 0, 1)}, [x])


@pytest.mark.parametrize("shapes,axis", [
    ([(3, 4), (3, 5), (3, 1)], 1), ([(2, 3, 4), (2, 3, 4)], -1), ([(0, 4), (3, 4), (0, 4)], 0),
    ([(5, 2)], 0), ([(2, 0), (2, 0)], 1), ([(2, 1, 3), (2, 7, 3)], 1),
])
def test_concatenate(device, shapes, axis):
    xs = [normal(s, seed) for seed, s in enumerate(shapes)]
    compare(device, "concatenate", {"axis": axis, "n": len(xs)}, xs)


def test_concatenate_mixed_dtypes(device):
    a = np.arange(6, dtype=np.int32).reshape(2, 3)
    b = np.arange(4, dtype=np.int32).reshape(2, 2) - 10
    out, _ = run(device, "concatenate", {"axis": 1, "n": 2}, [a, b])
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, np.concatenate([a, b], axis=1))
    compare(device, "concatenate", {"axis": 0, "n": 2}, [a, normal((1, 3))])


SLICE_CASES = [
    ((7,), ((1, None, 2),)), ((5, 7), ((None, None, None), (2, -1, None))),
    ((5, 7), ((-3, None, None),)), ((5, 7), ((3, 1, None),)), ((5, 7), ((-100, 100, 3),)),
    ((), ()), ((2, 3, 4, 5), ((None, None, None), (1, 2, None), (None, None, 3))),
    ((6, 1, 8), ((1, None, 4), (None, None, None), (5, None, None))),
]


@pytest.mark.parametrize("shape,slices", SLICE_CASES)
def test_slice(device, shape, slices):
    compare(device, "slice", {"slices": slices}, [normal(shape)])


def test_slice_int(device):
    x = np.arange(35, dtype=np.int32).reshape(5, 7)
    compare(device, "slice", {"slices": ((1, None, 2), (-4, None, None))}, [x])


@pytest.mark.parametrize("shape,slices", SLICE_CASES[1:4] + SLICE_CASES[5:])
def test_unslice(device, shape, slices):
    like = normal(shape)
    g = normal(like[slice_index(slices)].shape, seed=1)
    _, plan = run(device, "unslice", {"slices": slices}, [g, like])
    assert all("in1" not in launch.args for launch in plan.launches)  # like is not read
    compare(device, "unslice", {"slices": slices}, [g, like])


# --- one-hot and random -------------------------------------------------------------------------
@pytest.mark.parametrize("shape,depth", [((5,), 10), ((), 3), ((2, 3), 7), ((0,), 4), ((9,), 1)])
def test_one_hot(device, shape, depth):
    labels = np.random.default_rng(6).integers(-2, depth + 2, shape).astype(np.int32)
    compare(device, "one_hot", {"depth": depth}, [labels])


@pytest.mark.parametrize("shape,seed,call_index", [
    ((), 0, 0), ((7,), 0, 3), ((33, 257), 12345, 0), ((1000,), 2**32 - 1, 2**32 - 1),
    ((0, 3), 1, 1),
])
def test_random_uniform_matches_philox_reference_exactly(device, shape, seed, call_index):
    x = normal(shape)
    out, plan = run(device, "random_uniform_like", {"seed": seed}, [x], call_index=call_index)
    assert all("in0" not in launch.args for launch in plan.launches)  # x only gives the shape
    want = reference("random_uniform_like", {"seed": seed}, [x], _call=call_index)
    assert out.shape == want.shape
    np.testing.assert_array_equal(out.astype(np.float64), want)
    if out.size > 1:
        assert 0.0 <= out.min() and out.max() < 1.0 and len(np.unique(out)) > out.size // 2


def test_random_streams_differ_by_call_and_seed(device):
    x = normal((7,))
    first, _ = run(device, "random_uniform_like", {"seed": 0}, [x], call_index=0)
    second, _ = run(device, "random_uniform_like", {"seed": 0}, [x], call_index=1)
    other, _ = run(device, "random_uniform_like", {"seed": 1}, [x], call_index=0)
    assert not np.array_equal(first, second) and not np.array_equal(first, other)


def test_op_without_a_family_is_refused():
    with pytest.raises(ValueError, match="no kernel family 'elementwise' \\(op 'add'\\)"):
        plan_family("add", {}, [(2, 2), (2, 2)], ["float32"] * 2, [(2, 2)], ["float32"], False)


def test_every_kernel_of_the_registry_has_a_planner():
    """Each OpDef.kernel that is not elementwise, a view, a source or a composite names a
    family with a planner module that loads and offers plan()."""
    import importlib

    from nodestudio.backend.families import FAMILIES
    kernels = {op.kernel for op in ops.all_ops() if op.kernel} - {"elementwise", "view", "source"}
    assert kernels <= set(FAMILIES), sorted(kernels - set(FAMILIES))
    for module in FAMILIES.values():
        assert callable(importlib.import_module(f"nodestudio.backend.planners.{module}").plan)


@pytest.mark.parametrize("op,attrs,shapes", [
    ("sum", {"axis": (1,), "keepdims": False}, [(5, 7)]),
    ("argmax", {"axis": 0, "keepdims": False}, [(5, 7)]),
    ("softmax", {"axis": -1}, [(5, 7)]),
    ("transpose", {"axes": (2, 0, 1)}, [(2, 3, 4)]),
    ("concatenate", {"axis": 1, "n": 3}, [(3, 4), (3, 5), (3, 1)]),
    ("unslice", {"slices": ((-3, None, None),)}, [(3, 7), (5, 7)]),
])
def test_gpu_plans(device, op, attrs, shapes):
    """Plans made for a GPU (bigger work-groups, interleaved lanes) run here too."""
    plan = compare(device, op, attrs, [normal(s, i) for i, s in enumerate(shapes)], gpu=True)
    for launch in plan.launches:
        assert launch.local_size is not None and launch.local_size[0] <= 256
