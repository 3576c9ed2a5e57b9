"""The conv and pool planners (im2col + gemm + permute, col2im gather; pooling gathers) against
the ops' float64 references, built and run with plain pyopencl, in both the CPU variant and the
GPU variant (local-memory gemm tiles; PoCL runs it too), including edge shapes."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.backend.families import plan_family
from nodestudio.ops.conv import conv_out_dim
from tests.backend import test_families
from tests.backend.test_families import normal, reference, run

pytestmark = pytest.mark.opencl
device = test_families.device  # the module-scoped pyopencl context fixture

# (x shape, w shape, stride, padding)
GEOMETRIES = [
    ((2, 1, 28, 28), (20, 1, 5, 5), (1, 1), (0, 0)),    # LeNet's first layer
    ((3, 20, 12, 12), (50, 20, 5, 5), (1, 1), (0, 0)),  # and its second
    ((1, 3, 9, 7), (5, 3, 2, 4), (2, 3), (1, 2)),       # batch 1, odd everything
    ((2, 2, 8, 8), (3, 2, 3, 3), (2, 2), (1, 1)),       # stride 2 with padding
    ((2, 4, 3, 3), (2, 4, 1, 1), (1, 1), (0, 0)),       # pointwise
    ((1, 1, 4, 4), (1, 1, 4, 4), (1, 1), (0, 0)),       # one output pixel
]


def compare(device, op, attrs, inputs, gpu=False):
    """Run `op` and check it against the float64 reference, within float32 accumulation error
    of sums over a thousand terms (relative to the largest output)."""
    out, plan = run(device, op, attrs, inputs, gpu)
    want = reference(op, attrs, inputs)
    assert out.shape == want.shape
    scale = float(np.abs(want).max()) if want.size else 1.0
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=2e-6 * scale + 1e-6, err_msg=op)
    return plan


def _g_shape(xs, ws, stride, pad):
    return (xs[0], ws[0], *(conv_out_dim(xs[2 + i], ws[2 + i], stride[i], pad[i])
                            for i in range(2)))


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
@pytest.mark.parametrize("xs, ws, stride, pad", GEOMETRIES)
def test_conv_and_its_gradients_match_the_reference(device, gpu, xs, ws, stride, pad):
    attrs = {"stride": stride, "padding": pad}
    x, w, g = normal(xs, 1), normal(ws, 2), normal(_g_shape(xs, ws, stride, pad), 3)
    compare(device, "conv2d", attrs, [x, w], gpu)
    compare(device, "conv2d_grad_input", attrs, [g, w, x], gpu)
    plan = compare(device, "conv2d_grad_weight", attrs, [x, g, w], gpu)
    kernels = {launch.kernel for launch in plan.launches}
    assert {"conv_im2col_nk" if gpu else "conv_im2col_nk_rows", "conv_nchw_to_nf"} <= kernels
    assert all("-DKH=" in launch.options for launch in plan.launches
               if launch.kernel.startswith("conv_"))


def test_empty_batch_gives_zero_weight_gradient_and_no_launches(device):
    attrs = {"stride": (1, 1), "padding": (0, 0)}
    x, w = normal((0, 2, 5, 5)), normal((3, 2, 3, 3))
    g = normal((0, 3, 3, 3))
    out, plan = run(device, "conv2d_grad_weight", attrs, [x, g, w])
    np.testing.assert_array_equal(out, np.zeros((3, 2, 3, 3)))
    assert plan_family("conv2d", attrs, [x.shape, w.shape], ["float32"] * 2, [(0, 3, 3, 3)],
                       ["float32"], False).launches == ()


POOLS = [
    ((2, 3, 6, 6), {}),
    ((1, 2, 7, 5), {"ignore_border": False}),
    ((2, 1, 7, 8), {"size": (3, 3), "stride": (2, 2), "ignore_border": False}),
    ((1, 2, 5, 4), {"size": (3, 3), "stride": (1, 1), "padding": (1, 1)}),
    ((1, 1, 9, 7), {"size": (3, 2), "stride": (2, 3), "padding": (1, 1)}),
    ((3, 20, 24, 24), {}),
    ((2, 2, 7, 7), {}),                                  # a last row and column in no window
    ((1, 1, 8, 9), {"size": (2, 2), "stride": (3, 3)}),  # gaps between the windows
    ((1, 1, 6, 6), {"size": (2, 2), "padding": (1, 1)}),
]


def _pool_attrs(extra):
    return {"size": (2, 2), "stride": None, "padding": (0, 0), "ignore_border": True, **extra}


@pytest.mark.parametrize("gpu", [False, True], ids=["cpu", "gpu"])
@pytest.mark.parametrize("xs, extra", POOLS)
def test_pools_and_their_gradients_match_the_reference(device, gpu, xs, extra):
    attrs = _pool_attrs(extra)
    x = normal(xs, 4)
    pooled = compare(device, "max_pool2d", attrs, [x], gpu)
    assert pooled.launches[0].kernel == "pool_forward"
    out, _ = run(device, "max_pool2d", attrs, [x], gpu)
    backward = compare(device, "max_pool2d_grad", attrs, [x, normal(out.shape, 6)], gpu)
    overlap = attrs["stride"] is not None and attrs["stride"][0] < attrs["size"][0]
    assert (backward.launches[-1].kernel == "pool_backward_rows") != overlap
    out, _ = run(device, "avg_pool2d", attrs, [x], gpu)
    g = normal(out.shape, 5)
    compare(device, "avg_pool2d", attrs, [x], gpu)
    compare(device, "max_pool2d_grad", attrs, [x, g], gpu)
    compare(device, "avg_pool2d_grad", attrs, [g, x], gpu)


def test_max_pool_ties_and_nan_follow_numpy(device):
    """Ties: the gradient goes to the first maximum only (never doubled); NaN wins the max and
    takes the gradient, as np.max / np.argmax."""
    attrs = _pool_attrs({"size": (2, 2), "stride": (1, 1)})
    x = np.array([[[[1, 1, 0], [1, 1, 2], [np.nan, 0, 2]]]], np.float32)
    out, _ = run(device, "max_pool2d", attrs, [x])
    np.testing.assert_array_equal(out, [[[[1, 2], [np.nan, 2]]]])
    g = np.array([[[[1, 10], [100, 1000]]]], np.float32)
    gx, _ = run(device, "max_pool2d_grad", attrs, [x, g])
    np.testing.assert_array_equal(gx, [[[[1, 0, 0], [0, 0, 1010], [100, 0, 0]]]])
