"""NodeStudio: build, train and look inside neural networks; graphs lowered to OpenCL.

The Theano-style API::

    import nodestudio as ns
    x, y = ns.scalar("x"), ns.scalar("y")
    z = x ** 2 + y ** 3
    gx, gy = ns.grad(z, [x, y])
    f = ns.function([x, y], [z, gx, gy])

The names below are loaded on first use (PEP 562), so that `import nodestudio.graph.model` or
`import nodestudio.data` does not pull in the OpenCL backend, and `import nodestudio` works
without pyopencl until a name that needs a device (`ns.function`, `ns.devices`, ...) is used.
`_EXPORTS` is the one table of what the package offers; the `TYPE_CHECKING` block repeats it for
type checkers and IDEs (tests/test_imports.py checks that the two agree).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# module -> the public names it provides ("public=module_name" where the two differ)
_EXPORTS: dict[str, tuple[str, ...]] = {
    "nodestudio.api.function": ("Function", "In", "function"),
    "nodestudio.api.io": ("load", "save"),
    "nodestudio.api.symbols": (
        "batch_norm", "iscalar", "ivector", "matrix", "op", "scalar", "tensor", "vector"),
    "nodestudio.api.device": ("current_device", "devices", "enable_profiling", "set_device"),
    "nodestudio.errors": (
        "CycleError", "DeviceError", "DeviceMemoryError", "FileFormatError", "GraphError",
        "InputValueError", "KernelBuildError", "MissingInputError", "NodeStudioError",
        "ShapeError"),
    "nodestudio.ir.autodiff": ("grad",),
    "nodestudio.ir.build": (
        "abs", "absolute_error", "argmax", "avg_pool2d", "binary_cross_entropy", "broadcast_like",
        "classification_error", "concatenate", "conv2d", "dense", "dot", "dropout", "eq", "exp",
        "expand_dims", "expm1", "ge", "gt", "l1_penalty", "l2_penalty", "le", "leaky_relu", "log",
        "log1p", "log_softmax", "lt", "matmul", "max", "max_pool2d", "maximum", "mean", "minimum",
        "neq", "one_hot", "pow", "prelu", "random_uniform_like", "relu", "reshape", "sigmoid",
        "sign", "slice", "softmax",
        "softmax_cross_entropy", "softplus", "sqrt", "square", "squared_error", "squeeze", "sum",
        "tanh", "transpose", "where"),
    "nodestudio.ir.expr": ("Variable", "constant"),
    "nodestudio.ir.layers": ("batch_norm_layer", "dense_layer", "layer_params"),
    "nodestudio.ir.reference": ("reference_eval=evaluate",),
    "nodestudio.ir.shared": ("SharedVariable", "shared"),
    "nodestudio.ir.subscript": ("gather", "inc_subtensor", "set_subtensor", "take"),
    "nodestudio.ir.symbolic": (
        "arange", "cast", "dimshuffle", "disconnected_grad", "flatten", "floor", "int_div", "mod",
        "norm", "round", "shape_of", "switch"),
}

# public name -> (module, name in that module)
_SOURCES: dict[str, tuple[str, str]] = {
    public: (module, inner or public)
    for module, names in _EXPORTS.items()
    for public, _, inner in (entry.partition("=") for entry in names)
}

# written out for static tools (ruff, type checkers); tests/test_imports.py checks it is
# exactly the table's names
__all__ = [
    "CycleError", "DeviceError", "DeviceMemoryError", "FileFormatError", "Function", "GraphError",
    "In", "InputValueError", "KernelBuildError", "MissingInputError", "NodeStudioError",
    "ShapeError", "SharedVariable", "Variable", "abs", "absolute_error", "arange", "argmax",
    "avg_pool2d", "batch_norm", "batch_norm_layer", "binary_cross_entropy", "broadcast_like",
    "cast", "classification_error", "concatenate", "constant", "conv2d", "current_device", "dense",
    "dense_layer", "devices", "dimshuffle", "disconnected_grad", "dot", "dropout",
    "enable_profiling", "eq", "exp", "expand_dims", "expm1", "flatten", "floor", "function",
    "gather", "ge", "grad", "gt", "inc_subtensor", "int_div", "iscalar", "ivector", "l1_penalty",
    "l2_penalty", "layer_params", "le", "leaky_relu", "load", "log", "log1p", "log_softmax", "lt",
    "matmul", "matrix", "max", "max_pool2d", "maximum", "mean", "minimum", "mod", "neq", "norm",
    "one_hot", "op", "pow", "prelu", "random_uniform_like", "reference_eval", "relu", "reshape",
    "round", "save", "scalar", "set_device", "set_subtensor", "shape_of", "shared", "sigmoid",
    "sign", "slice", "softmax", "softmax_cross_entropy", "softplus", "sqrt", "square",
    "squared_error", "squeeze", "sum", "switch", "take", "tanh", "tensor", "transpose", "vector",
    "where"
]


def __getattr__(name: str) -> Any:
    source = _SOURCES.get(name)
    if source is None:
        raise AttributeError(f"module 'nodestudio' has no attribute {name!r}")
    module, inner = source
    value = getattr(importlib.import_module(module), inner)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # what __getattr__ provides, spelled out for type checkers and IDEs
    from nodestudio.api.device import current_device, devices, enable_profiling, set_device
    from nodestudio.api.function import Function, In, function
    from nodestudio.api.io import load, save
    from nodestudio.api.symbols import (
        batch_norm,
        iscalar,
        ivector,
        matrix,
        op,
        scalar,
        tensor,
        vector,
    )
    from nodestudio.errors import (
        CycleError,
        DeviceError,
        DeviceMemoryError,
        FileFormatError,
        GraphError,
        InputValueError,
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
        avg_pool2d,
        binary_cross_entropy,
        broadcast_like,
        classification_error,
        concatenate,
        conv2d,
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
        max_pool2d,
        maximum,
        mean,
        minimum,
        neq,
        one_hot,
        pow,
        prelu,
        random_uniform_like,
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
    from nodestudio.ir.layers import batch_norm_layer, dense_layer, layer_params
    from nodestudio.ir.reference import evaluate as reference_eval
    from nodestudio.ir.shared import SharedVariable, shared
    from nodestudio.ir.subscript import gather, inc_subtensor, set_subtensor, take
    from nodestudio.ir.symbolic import (
        arange,
        cast,
        dimshuffle,
        disconnected_grad,
        flatten,
        floor,
        int_div,
        mod,
        norm,
        round,
        shape_of,
        switch,
    )
