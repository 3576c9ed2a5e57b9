"""conv2d and pooling as ops: builders, shape rules and errors, and the float64 references
(forward and gradient) against PyTorch's conv2d / max_pool2d / avg_pool2d."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio as ns
from nodestudio.ir.autodiff import grad
from nodestudio.ir.reference import evaluate
from nodestudio.ops import get

F = torch.nn.functional


@pytest.mark.parametrize("shape_x, shape_w, stride, padding", [
    ((2, 3, 7, 6), (4, 3, 3, 3), 2, 1),
    ((1, 1, 28, 28), (20, 1, 5, 5), 1, 0),
    ((3, 2, 9, 8), (3, 2, 2, 4), (3, 2), (2, 1)),
])
def test_conv2d_reference_and_gradients_match_torch(shape_x, shape_w, stride, padding):
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal(shape_x), rng.standard_normal(shape_w)
    x, w = ns.tensor("x", shape_x), ns.tensor("w", shape_w)
    y = ns.conv2d(x, w, stride=stride, padding=padding)
    xt = torch.tensor(xv, requires_grad=True)
    wt = torch.tensor(wv, requires_grad=True)
    yt = F.conv2d(xt, wt, stride=stride, padding=padding)
    assert y.shape == tuple(yt.shape)
    gv = rng.standard_normal(yt.shape)
    yt.backward(torch.tensor(gv))
    cost = ns.sum(y * ns.constant(gv))
    got = evaluate([y, *grad(cost, [x, w])], {x: xv, w: wv})
    for mine, theirs in zip(got, (yt, xt.grad, wt.grad)):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), atol=1e-10)


@pytest.mark.parametrize("size, stride, padding, ignore_border", [
    (2, None, 0, True), (3, 2, 1, True), (2, None, 0, False), (3, 2, 0, False), (3, 1, 1, True),
])
def test_pool_references_match_torch(size, stride, padding, ignore_border):
    rng = np.random.default_rng(1)
    xv = rng.standard_normal((2, 3, 7, 8))
    x = ns.tensor("x", xv.shape)
    kw = dict(size=size, stride=stride, padding=padding, ignore_border=ignore_border)
    for builder, torch_pool, extra in ((ns.max_pool2d, F.max_pool2d, {}),
                                       (ns.avg_pool2d, F.avg_pool2d,
                                        {"count_include_pad": False})):
        y = builder(x, **kw)
        xt = torch.tensor(xv, requires_grad=True)
        yt = torch_pool(xt, size, stride or size, padding, ceil_mode=not ignore_border, **extra)
        gv = rng.standard_normal(yt.shape)
        yt.backward(torch.tensor(gv))
        out, gx = evaluate([y, *grad(ns.sum(y * ns.constant(gv)), [x])], {x: xv})
        np.testing.assert_allclose(out, yt.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(gx, xt.grad.numpy(), atol=1e-12)


def test_max_pool_gradient_goes_to_the_first_max_only():
    x = ns.tensor("x", (1, 1, 2, 4))
    y = ns.max_pool2d(x, size=(2, 2))
    xv = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 2.0, 2.0]]]])
    (gx,) = evaluate(grad(ns.sum(y * ns.constant(np.array([[[[5.0, 7.0]]]]))), [x]), {x: xv})
    np.testing.assert_array_equal(gx, [[[[0.0, 5.0, 7.0, 0.0], [0.0, 0.0, 0.0, 0.0]]]])


def test_shape_rules_name_the_problem():
    x = ns.tensor("x", (None, 3, 28, 28))
    assert ns.conv2d(x, ns.tensor("w", (20, 3, 5, 5))).shape == (None, 20, 24, 24)
    assert ns.max_pool2d(ns.tensor("a", (None, 20, 24, 24))).shape == (None, 20, 12, 12)
    assert ns.max_pool2d(ns.tensor("b", (1, 1, 5, 5)), ignore_border=False).shape == (1, 1, 3, 3)
    with pytest.raises(ns.ShapeError, match="4 channels"):
        ns.conv2d(ns.tensor("c", (1, 4, 8, 8)), ns.tensor("w2", (2, 3, 3, 3)))
    with pytest.raises(ns.ShapeError, match="4-d x"):
        ns.conv2d(ns.tensor("d", (4, 8, 8)), ns.tensor("w3", (2, 4, 3, 3)))
    with pytest.raises(ns.ShapeError, match="'stride'"):
        ns.max_pool2d(x, stride=(0, 1))
    with pytest.raises(ns.ShapeError, match="padding"):
        ns.max_pool2d(x, size=(2, 2), padding=(2, 0))
    with pytest.raises(ns.ShapeError, match="do not fit"):
        ns.conv2d(ns.tensor("e", (1, 3, 2, 2)), ns.tensor("w4", (1, 3, 3, 3)))


def test_ops_are_in_the_convolution_category_and_their_gradients_in_gradients():
    for name in ("conv2d", "max_pool2d", "avg_pool2d"):
        assert get(name).category == "Convolution"
    for name in ("conv2d_grad_input", "conv2d_grad_weight", "max_pool2d_grad",
                 "avg_pool2d_grad", "unslice", "take_grad", "gather_grad", "dynamic_unslice"):
        assert get(name).category == "Gradients"
    assert get("conv2d").label({"stride": (2, 2), "padding": (1, 1)}) == "stride 2, pad 1"
