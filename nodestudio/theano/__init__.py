"""A Theano-compatible surface over NodeStudio: the DeepLearningTutorials run with only their
import lines changed (`import theano` -> `import nodestudio.theano as theano`, `import
theano.tensor as T` -> `import nodestudio.theano.tensor as T`, `from theano.X import Y` ->
`from nodestudio.theano.X import Y`). What maps to what and what differs: docs/THEANO.md.

It sits at the API level: it builds on nodestudio's public API, the IR and the op registry."""

from __future__ import annotations

from nodestudio.theano import gradient, sandbox, tensor
from nodestudio.theano._support import TheanoCompatError
from nodestudio.theano.compile import In, function, shared
from nodestudio.theano.config import config
from nodestudio.theano.scan_module import scan
from nodestudio.theano.tensor.basic import grad
from nodestudio.theano.tensor.types import TensorType

__all__ = ["In", "TensorType", "TheanoCompatError", "config", "function", "grad", "gradient",
           "sandbox", "scan", "shared", "tensor"]
