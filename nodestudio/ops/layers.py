"""Layers that own their parameters: a dense layer is dropped on the canvas, given its number of
units and an activation, wired to its input, and is ready to train. Its weights are `ParamDef`s:
their shapes follow the incoming width and the attributes, their initialiser the activation, and
expanding the layer shows them as ordinary parameter nodes. The arithmetic is the same composite
code as the explicit-parameter ops (`dense`, `batch_norm` in nn.py), so it is written once.
A convolution layer (`conv2d_layer`) owns its filters the same way and expands to the primitive
`conv2d`, a bias per filter and the activation."""

from __future__ import annotations

import math

from nodestudio.errors import ShapeError
from nodestudio.ops.conv import pair
from nodestudio.ops.nn import _MODE, batch_norm_expansion
from nodestudio.ops.registry import FLOAT, AttrDef, OpDef, ParamDef, PortDef, register
from nodestudio.ops.shapes import normalise_axes

ACTIVATIONS = ("none", "tanh", "sigmoid", "relu", "leaky_relu", "softplus")
WEIGHT_INITS = ("auto", "glorot_tanh", "glorot_sigmoid", "he_normal", "normal", "uniform",
                "zeros")
# What "auto" means: Glorot-uniform scaled for the activation (x4 for the sigmoid, as in the
# Theano tutorial's MLP), He-normal for rectifiers.
AUTO_INIT = {"none": "glorot_tanh", "tanh": "glorot_tanh", "sigmoid": "glorot_sigmoid",
             "relu": "he_normal", "leaky_relu": "he_normal", "softplus": "he_normal"}


def weight_init(attrs) -> str:
    return AUTO_INIT[attrs["activation"]] if attrs["init"] == "auto" else attrs["init"]


def _in_width(types, attrs) -> int:
    x = types[0]
    if x.ndim < 2:
        raise ShapeError(f"a dense layer needs a batch of rows (B x features), got {x}",
                         port="x")
    width = math.prod(d for d in x.shape[1:] if d is not None)
    if None in x.shape[1:]:
        raise ShapeError(f"a dense layer needs known feature sizes, got {x}", port="x")
    return width


def _dense_layer(F, ins, at, mode):
    x, W, b = ins
    if x.ndim > 2:  # images and feature maps: one row per example
        x = F.reshape(x, (-1, W.shape[0]))
    out = F.matmul(x, W) + b
    activation = at["activation"]
    return [out if activation == "none" else F.apply(activation, out)]


def _label(at) -> str:
    return f"{at['units']}" + ("" if at["activation"] == "none" else f", {at['activation']}")


register(OpDef(
    "dense_layer", "Layers",
    "a fully connected layer that owns its weights: activation(x @ W + b) with W of shape "
    "(incoming width, units), initialised for the activation, and b zeros",
    (PortDef("x", "a batch of rows; images are flattened", dtype=FLOAT),),
    attrs=(AttrDef("units", "int", 100, "output width", low=1, high=1_000_000),
           AttrDef("activation", "choice", "none", "applied after x @ W + b",
                   choices=ACTIVATIONS),
           AttrDef("init", "choice", "auto", "how W is drawn (auto: Glorot for tanh and "
                   "sigmoid, He for rectifiers)", choices=WEIGHT_INITS),
           AttrDef("seed", "int", 0, "added to the per-node seed of the initialiser", low=0)),
    params=(ParamDef("W", lambda types, at: (_in_width(types, at), at["units"]), weight_init,
                     "weights, incoming width x units"),
            ParamDef("b", lambda types, at: (at["units"],), lambda at: "zeros", "biases")),
    expand=_dense_layer, label=_label))


def _conv_input(types, attrs) -> int:
    """The channel count of a conv layer's input, which must be (B, C, H, W) with C known."""
    x = types[0]
    if x.ndim != 4:
        raise ShapeError(f"a conv layer needs a batch of images (B x channels x height x "
                         f"width), got {x}; reshape rows of pixels first", port="x")
    if x.shape[1] is None:
        raise ShapeError(f"a conv layer needs a known number of channels, got {x}", port="x")
    return x.shape[1]


def _conv_filters(types, attrs) -> tuple[int, int, int, int]:
    kh, kw = pair(attrs["kernel_size"], "kernel_size", 1)
    pair(attrs["padding"], "padding", 0)  # refused here, naming the attribute, not at run time
    return (attrs["filters"], _conv_input(types, attrs), kh, kw)


def _conv2d_layer(F, ins, at, mode):
    x, W, b = ins
    out = F.conv2d(x, W, stride=pair(at["stride"], "stride", 1),
                   padding=pair(at["padding"], "padding", 0))
    out = out + F.reshape(b, (1, at["filters"], 1, 1))  # one bias per filter (channel)
    activation = at["activation"]
    return [out if activation == "none" else F.apply(activation, out)]


def _conv_label(at) -> str:
    """"20 @ 5x5, tanh", with the stride and padding when they are not 1 and 0."""
    try:
        (kh, kw), stride = pair(at["kernel_size"], "k", 1), pair(at["stride"], "s", 1)
        padding = pair(at["padding"], "p", 0)
    except ShapeError:
        return "?"
    text = [f"{at['filters']} @ {kh}x{kw}"]
    if stride != (1, 1):
        text.append(f"stride {stride[0]}" if stride[0] == stride[1] else
                    f"stride {stride[0]}x{stride[1]}")
    if padding != (0, 0):
        text.append(f"pad {padding[0]}" if padding[0] == padding[1] else
                    f"pad {padding[0]}x{padding[1]}")
    return ", ".join(text + ([] if at["activation"] == "none" else [at["activation"]]))


register(OpDef(
    "conv2d_layer", "Layers",
    "a 2-D convolution layer that owns its filters: activation(conv2d(x, W) + b) with W of "
    "shape (filters, input channels, kernel height, kernel width), cross-correlation as in "
    "PyTorch (no flip), initialised for the activation (fan-in C*KH*KW, fan-out F*KH*KW), "
    "and b zeros, one per filter",
    (PortDef("x", "a batch of images, B x channels x height x width", dtype=FLOAT),),
    attrs=(AttrDef("filters", "int", 20, "output channels (feature maps)", low=1,
                   high=100_000),
           AttrDef("kernel_size", "shape", (5, 5), "filter height and width"),
           AttrDef("stride", "shape", (1, 1), "step between windows (rows, columns)"),
           AttrDef("padding", "any", (0, 0), "zeros added on each side (rows, columns): an "
                   "int or a pair"),
           AttrDef("activation", "choice", "none", "applied after conv2d(x, W) + b",
                   choices=ACTIVATIONS),
           AttrDef("init", "choice", "auto", "how W is drawn (auto: Glorot for tanh and "
                   "sigmoid, He for rectifiers)", choices=WEIGHT_INITS),
           AttrDef("seed", "int", 0, "added to the per-node seed of the initialiser", low=0)),
    params=(ParamDef("W", _conv_filters, weight_init,
                     "filters, filters x input channels x kernel height x kernel width"),
            ParamDef("b", lambda types, at: (at["filters"],), lambda at: "zeros",
                     "biases, one per filter")),
    expand=_conv2d_layer, label=_conv_label))


def _channels(types, attrs) -> tuple[int]:
    x = types[0]
    if x.ndim == 0:
        raise ShapeError("batch norm needs a batch, got a scalar", port="x")
    axis = normalise_axes((attrs["axis"],), x.ndim)[0]
    if x.shape[axis] is None:
        raise ShapeError("batch norm needs a known size along its feature axis", port="x")
    return (x.shape[axis],)


register(OpDef(
    "batch_norm_layer", "Layers",
    "batch normalisation that owns its scale (gamma), shift (beta) and running statistics: "
    "normalise by the batch mean and variance while training, by the running averages at "
    "inference",
    (PortDef("x", dtype=FLOAT),),
    outputs=(PortDef("out"), PortDef("running_mean_next", hidden=True),
             PortDef("running_var_next", hidden=True)),
    attrs=(AttrDef("axis", "int", 1, "feature (channel) axis"),
           AttrDef("eps", "float", 1e-5, "added to the variance", low=0.0),
           AttrDef("momentum", "float", 0.1, "running-average rate", low=0.0, high=1.0),
           _MODE),
    params=(ParamDef("gamma", _channels, lambda at: "ones", "scale"),
            ParamDef("beta", _channels, lambda at: "zeros", "shift"),
            ParamDef("running_mean", _channels, lambda at: "zeros", "running mean",
                     trainable=False, update="running_mean_next"),
            ParamDef("running_var", _channels, lambda at: "ones", "running variance",
                     trainable=False, update="running_var_next")),
    expand=batch_norm_expansion, label=lambda at: f"axis {at['axis']}"))
