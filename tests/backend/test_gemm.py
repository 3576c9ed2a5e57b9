"""The generated SGEMM kernels against numpy in float64, on the OpenCL device at hand (PoCL).

Every shape is compiled into its own program (sizes are baked in), and a PoCL build costs a few
tenths of a second, so the shapes are chosen to cover many edge cases each rather than many.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nodestudio.backend import gemm
from nodestudio.backend.gemm import GemmPlan, Launch, gemm_variant_for, plan_gemm

cl = pytest.importorskip("pyopencl")

pytestmark = pytest.mark.opencl

COMBOS = list(itertools.product((False, True), repeat=2))  # (trans_a, trans_b)

# (m, n, k). The CPU kernel's full blocks are 24 x 16 (fewer rows when narrow), so these hit
# full blocks, right / bottom edges and corners, row and column vectors, thin products (the
# swapped form), k = 1 and k not a multiple of the k unrolling.
SHAPES = [
    (1, 1, 1),
    (2, 7, 12),
    (13, 32, 31),
    (33, 31, 257),
    (257, 13, 33),   # thin n: the CPU plan computes C^T
    (1, 257, 7),     # row vector
    (12, 1, 13),     # column vector
    (32, 33, 2),
]
GPU_SHAPES = [(1, 33, 13), (33, 2, 257), (65, 130, 31)]  # tiles are 16..64 wide


@pytest.fixture(scope="module")
def cl_env():
    try:
        platform = cl.get_platforms()[0]
        device = platform.get_devices()[0]
    except (cl.Error, IndexError) as exc:
        pytest.skip(f"no OpenCL device: {exc}")
    context = cl.Context([device])
    return context, cl.CommandQueue(context), {}


def run_plan(cl_env, plan: GemmPlan, a: np.ndarray, b: np.ndarray, m: int, n: int) -> np.ndarray:
    context, queue, programs = cl_env
    mf = cl.mem_flags
    bufs = {"A": cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=a),
            "B": cl.Buffer(context, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=b),
            # Filled with NaN so that any element the plan fails to write shows up.
            "C": cl.Buffer(context, mf.READ_WRITE | mf.COPY_HOST_PTR,
                           hostbuf=np.full(m * n, np.nan, np.float32))}
    if plan.scratch_floats:
        bufs["scratch"] = cl.Buffer(context, mf.READ_WRITE, plan.scratch_floats * 4)
    for launch in plan.launches:
        # Kernels are cached, not just programs: pyopencl warns when a kernel is retrieved twice.
        key = (launch.source, launch.options, launch.kernel)
        if key not in programs:
            program = cl.Program(context, launch.source).build(options=launch.options)
            for other in plan.launches:
                if other.source == launch.source and other.options == launch.options:
                    programs[(other.source, other.options, other.kernel)] = getattr(program,
                                                                                    other.kernel)
        kernel = programs[key]
        kernel(queue, launch.global_size, launch.local_size, *(bufs[r] for r in launch.args))
    out = np.empty((m, n), np.float32)
    cl.enqueue_copy(queue, out, bufs["C"])
    queue.finish()
    return out


def operands(m: int, n: int, k: int, trans_a: bool, trans_b: bool):
    rng = np.random.default_rng(m * 10007 + n * 101 + k)
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    want = (a.T if trans_a else a).astype(np.float64) @ (b.T if trans_b else b).astype(np.float64)
    return a, b, want


def check(cl_env, plan: GemmPlan, m: int, n: int, k: int, trans_a: bool, trans_b: bool) -> None:
    a, b, want = operands(m, n, k, trans_a, trans_b)
    got = run_plan(cl_env, plan, a, b, m, n)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4 * np.sqrt(k))


@pytest.mark.parametrize("trans_a,trans_b", COMBOS, ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("m,n,k", SHAPES, ids=lambda v: str(v))
def test_cpu_variant_matches_numpy(cl_env, m, n, k, trans_a, trans_b):
    plan = plan_gemm(m, n, k, trans_a=trans_a, trans_b=trans_b, variant="cpu")
    check(cl_env, plan, m, n, k, trans_a, trans_b)


@pytest.mark.parametrize("swapped", [False, True], ids=["normal", "swapped"])
@pytest.mark.parametrize("trans_a,trans_b", COMBOS, ids=["NN", "NT", "TN", "TT"])
def test_cpu_both_forms(cl_env, trans_a, trans_b, swapped):
    # Whichever form the cost model picks, the other must be right too: 26 x 17 has full
    # 24 x 16 blocks and edges either way round, and k = 1024 (rows 4 KiB apart) makes the
    # plans copy X as well as Y into scratch, at different offsets, for some combinations.
    m, n, k = 26, 17, 1024
    plan = gemm._plan_cpu(m, n, k, trans_a, trans_b, swapped=swapped)
    check(cl_env, plan, m, n, k, trans_a, trans_b)


@pytest.mark.parametrize("trans_a,trans_b", COMBOS, ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("m,n,k", GPU_SHAPES, ids=lambda v: str(v))
def test_gpu_variant_matches_numpy(cl_env, m, n, k, trans_a, trans_b):
    plan = plan_gemm(m, n, k, trans_a=trans_a, trans_b=trans_b, variant="gpu")
    check(cl_env, plan, m, n, k, trans_a, trans_b)


@pytest.mark.parametrize("trans_a,trans_b", COMBOS, ids=["NN", "NT", "TN", "TT"])
@pytest.mark.parametrize("m,n,k,slices", [(3, 5, 2000, 14), (130, 10, 700, 5), (70, 10, 1000, 7)],
                         ids=lambda v: str(v))
def test_gpu_split_over_k_matches_numpy(cl_env, m, n, k, slices, trans_a, trans_b):
    """A small output with a long k is computed in slices of k, then summed: same result."""
    plan = plan_gemm(m, n, k, trans_a=trans_a, trans_b=trans_b, variant="gpu")
    first, second = plan.launches
    assert first.global_size[2] == slices and plan.scratch_floats == slices * m * n
    assert first.args == ("A", "B", "scratch") and second.args == ("scratch", "C")
    check(cl_env, plan, m, n, k, trans_a, trans_b)


def test_gpu_keeps_one_launch_where_the_output_fills_the_device():
    for m, n, k in [(4096, 800, 784), (2048, 2048, 512), (10, 10, 100)]:
        plan = plan_gemm(m, n, k, variant="gpu")
        assert len(plan.launches) == 1 and plan.scratch_floats == 0, (m, n, k)


def test_mlp_shapes_cpu(cl_env):
    # The shapes the compiler actually asks for (784-800-10 MLP at batch 128), one per form.
    for m, n, k, ta, tb in [(128, 800, 784, False, False), (128, 784, 800, False, True),
                            (800, 10, 128, True, False)]:
        check(cl_env, plan_gemm(m, n, k, trans_a=ta, trans_b=tb), m, n, k, ta, tb)


# ---------------------------------------------------------------------------------------------
# Plan structure (no device needed, but cheap enough to live here)

@pytest.mark.parametrize("variant", ["cpu", "gpu"])
@pytest.mark.parametrize("trans_a,trans_b", COMBOS)
def test_plan_shape(variant, trans_a, trans_b):
    plan = plan_gemm(128, 784, 800, trans_a=trans_a, trans_b=trans_b, variant=variant)
    assert isinstance(plan, GemmPlan) and plan.launches
    uses_scratch = False
    for launch in plan.launches:
        assert isinstance(launch, Launch)
        assert f"void {launch.kernel}(" in launch.source
        assert "-cl-fast-relaxed-math" not in launch.options
        assert set(launch.args) <= {"A", "B", "C", "scratch"}
        assert len(launch.global_size) == len(launch.local_size or launch.global_size)
        uses_scratch |= "scratch" in launch.args
    assert uses_scratch == (plan.scratch_floats > 0)
    assert "C" in plan.launches[-1].args
    if variant == "cpu":
        # The fast path has no barriers and no local memory.
        assert "barrier(" not in plan.launches[-1].source
        assert "__local float" not in plan.launches[-1].source


def test_plans_are_deterministic():
    assert plan_gemm(33, 31, 257, trans_b=True) == plan_gemm(33, 31, 257, trans_b=True)


def test_variant_for():
    assert gemm_variant_for(True) == "gpu"
    assert gemm_variant_for(False) == "cpu"


@pytest.mark.parametrize("variant", ["cpu", "gpu"])
@pytest.mark.parametrize("m,n,k", [(0, 5, 3), (4, 0, 3), (0, 0, 0), (4, 3, 0), (1, 1, 0)])
def test_zero_sizes_give_an_empty_product_or_zeros(cl_env, variant, m, n, k):
    """A batch of 0 makes m or n zero: nothing to launch; k = 0 is a sum of nothing: zeros
    (C starts as NaN in run_plan, so an element left unwritten would show)."""
    plan = plan_gemm(m, n, k, variant=variant)
    if m * n == 0:
        assert plan.launches == () and plan.scratch_floats == 0
        return
    a = b = np.ones(1, np.float32)  # stand-ins (OpenCL has no empty buffers); never read
    np.testing.assert_array_equal(run_plan(cl_env, plan, a, b, m, n), np.zeros((m, n)))


@pytest.mark.parametrize("bad", [dict(m=-1), dict(n=-2), dict(k=-1), dict(variant="tpu")])
def test_rejects_bad_arguments(bad):
    args = dict(m=4, n=4, k=4, variant="cpu") | bad
    with pytest.raises(ValueError):
        plan_gemm(args.pop("m"), args.pop("n"), args.pop("k"), **args)


@pytest.mark.parametrize("width", range(1, 70))
def test_segments_cover_width_exactly(width):
    pieces = gemm._segments(width)
    ends = list(itertools.accumulate(w for _, w in pieces))
    assert [off for off, _ in pieces] == [0, *ends[:-1]]  # contiguous, in order
    assert ends[-1] == width
    assert all(w in (1, 2, 4, 8, 16) for _, w in pieces)
