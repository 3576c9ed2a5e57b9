"""NodeStudio: build, train and look inside neural networks; graphs lowered to OpenCL.

The Theano-style API::

    import nodestudio as ns
    x, y = ns.scalar("x"), ns.scalar("y")
    z = x ** 2 + y ** 3
    gx, gy = ns.grad(z, [x, y])
    f = ns.function([x, y], [z, gx, gy])
"""

from nodestudio.api.function import Function, function
from nodestudio.api.io import load, save
from nodestudio.api.symbols import batch_norm, iscalar, ivector, matrix, op, scalar, tensor, vector
from nodestudio.backend.device import devices, enable_profiling, set_device
from nodestudio.errors import (
                                    CycleError,
                                    DeviceError,
                                    FileFormatError,
                                    GraphError,
                                    KernelBuildError,
                                    MissingInputError,
                                    NodeStudioError,
                                    ShapeError,
)
from nodestudio.ir.autodiff import grad
from nodestudio.ir.build import (
                                    abs,
                                    absolute_error,
                                    argmax,
                                    binary_cross_entropy,
                                    broadcast_like,
                                    classification_error,
                                    concatenate,
                                    dense,
                                    dot,
                                    dropout,
                                    eq,
                                    exp,
                                    expand_dims,
                                    expm1,
                                    ge,
                                    gt,
                                    l1_penalty,
                                    l2_penalty,
                                    le,
                                    leaky_relu,
                                    log,
                                    log1p,
                                    log_softmax,
                                    lt,
                                    matmul,
                                    max,
                                    maximum,
                                    mean,
                                    minimum,
                                    neq,
                                    one_hot,
                                    prelu,
                                    relu,
                                    reshape,
                                    sigmoid,
                                    sign,
                                    slice,
                                    softmax,
                                    softmax_cross_entropy,
                                    softplus,
                                    sqrt,
                                    square,
                                    squared_error,
                                    squeeze,
                                    sum,
                                    tanh,
                                    transpose,
                                    where,
)
from nodestudio.ir.expr import Variable, constant
from nodestudio.ir.reference import evaluate as reference_eval
from nodestudio.ir.shared import SharedVariable, shared

__version__ = "0.1.0"

__all__ = [
    "absolute_error", "binary_cross_entropy", "classification_error", "l1_penalty",
    "l2_penalty", "softmax_cross_entropy", "squared_error",
    "CycleError", "DeviceError", "FileFormatError", "Function", "GraphError", "KernelBuildError",
    "MissingInputError", "NodeStudioError", "ShapeError", "SharedVariable", "Variable", "abs",
    "argmax", "batch_norm", "broadcast_like", "concatenate", "constant", "dense", "devices",
    "dot", "dropout", "enable_profiling", "eq", "exp", "expand_dims", "expm1", "function", "ge",
    "grad",
    "gt", "iscalar", "ivector", "le", "leaky_relu", "load", "log", "log1p", "log_softmax", "lt",
    "matmul", "matrix", "max", "maximum", "mean", "minimum", "neq", "one_hot", "op", "prelu",
    "reference_eval", "relu", "reshape", "save", "scalar", "set_device", "shared", "sigmoid",
    "sign", "slice", "softmax", "softplus", "sqrt", "square", "squeeze", "sum", "tanh", "tensor",
    "transpose", "vector", "where",
]
