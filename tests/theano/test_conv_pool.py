"""T.nnet.conv2d (Theano's flipped filters, border modes, subsample) and pool_2d against
PyTorch and NumPy, forward and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nodestudio.theano as theano
import nodestudio.theano.tensor as T
from nodestudio.theano import TheanoCompatError
from nodestudio.theano.tensor.nnet import conv2d
from nodestudio.theano.tensor.signal import pool

pytestmark = pytest.mark.opencl
RNG = np.random.RandomState(3)


@pytest.mark.parametrize("border_mode, subsample, torch_padding", [
    ("valid", (1, 1), 0), ("full", (1, 1), (2, 1)), ("half", (1, 1), (1, 1)),
    ("valid", (2, 2), 0), ((1, 2), (2, 1), (1, 2))])
def test_conv2d_is_a_true_convolution_like_theano(border_mode, subsample, torch_padding):
    xv = RNG.randn(2, 3, 9, 8).astype(np.float32)
    wv = RNG.randn(4, 3, 3, 2).astype(np.float32)
    x = T.tensor4("x")
    W = theano.shared(wv, name="W")
    out = conv2d(input=x, filters=W, filter_shape=(4, 3, 3, 2), input_shape=(None, 3, 9, 8),
                 border_mode=border_mode, subsample=subsample)
    gW, gx = T.grad(T.sum(out * out), [W, x])
    got, got_gW, got_gx = theano.function([x], [out, gW, gx])(xv)
    xt = torch.tensor(xv, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(wv, dtype=torch.float64, requires_grad=True)
    want = torch.nn.functional.conv2d(xt, torch.flip(wt, (2, 3)), stride=subsample,
                                      padding=torch_padding)
    (want * want).sum().backward()
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(got_gW, wt.grad.numpy(), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got_gx, xt.grad.numpy(), rtol=1e-4, atol=1e-3)


def test_conv2d_refuses_shapes_and_modes_it_cannot_honour():
    x, W = T.tensor4("x"), theano.shared(np.zeros((2, 1, 3, 3), np.float32))
    with pytest.raises(TheanoCompatError, match="filter_shape"):
        conv2d(x, W, filter_shape=(2, 1, 5, 5))
    with pytest.raises(TheanoCompatError, match="border_mode='same'"):
        conv2d(x, W, border_mode="same")
    with pytest.raises(TheanoCompatError, match="dilation"):
        conv2d(x, W, filter_dilation=(2, 2))


def _pool_reference(a, ws, stride, ignore_border, pad, mode):
    b, c, h, w = a.shape
    padded = np.full((b, c, h + 2 * pad[0], w + 2 * pad[1]), np.nan)
    padded[:, :, pad[0]:pad[0] + h, pad[1]:pad[1] + w] = a

    def count(n, k, s, p):
        if ignore_border:
            return (n + 2 * p - k) // s + 1
        return max(0, (n + 2 * p - k + s - 1) // s) + 1 if n + 2 * p > k else 1

    oh, ow = count(h, ws[0], stride[0], pad[0]), count(w, ws[1], stride[1], pad[1])
    out = np.zeros((b, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = padded[:, :, i * stride[0]:i * stride[0] + ws[0],
                         j * stride[1]:j * stride[1] + ws[1]]
            out[:, :, i, j] = np.nanmax(win, (2, 3)) if mode == "max" else np.nanmean(win, (2, 3))
    return out


@pytest.mark.parametrize("ws, stride, ignore_border, pad, mode", [
    ((2, 2), None, True, (0, 0), "max"), ((2, 2), None, False, (0, 0), "max"),
    ((3, 2), (2, 1), False, (0, 0), "max"), ((2, 2), None, True, (1, 1), "average_exc_pad"),
    ((3, 3), (2, 2), False, (0, 0), "average_exc_pad")])
def test_pool_2d_against_numpy(ws, stride, ignore_border, pad, mode):
    a = RNG.randn(2, 3, 7, 6).astype(np.float32)
    x = T.tensor4("x")
    out = pool.pool_2d(input=x, ws=ws, ignore_border=ignore_border, stride=stride, pad=pad,
                       mode=mode)
    got = theano.function([x], out)(a)
    want = _pool_reference(a.astype(np.float64), ws, stride or ws, ignore_border, pad, mode)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pool_2d_takes_the_older_ds_spelling_and_refuses_padded_inclusive_averages():
    x = T.tensor4("x")
    a = RNG.randn(1, 1, 4, 4).astype(np.float32)
    got = theano.function([x], pool.pool_2d(input=x, ds=(2, 2), ignore_border=True))(a)
    np.testing.assert_allclose(got, a.reshape(1, 1, 2, 2, 2, 2).max((3, 5)))
    summed = theano.function([x], pool.pool_2d(x, ws=(2, 2), ignore_border=True,
                                               mode="sum"))(a)
    np.testing.assert_allclose(summed, a.reshape(1, 1, 2, 2, 2, 2).sum((3, 5)), rtol=1e-5)
    with pytest.raises(TheanoCompatError, match="average_inc_pad"):
        pool.pool_2d(x, ws=(2, 2), pad=(1, 1), ignore_border=True, mode="average_inc_pad")
