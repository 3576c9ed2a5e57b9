"""`theano.gradient`: grad and disconnected_grad."""

from __future__ import annotations

from nodestudio.theano._support import core
from nodestudio.theano.tensor.basic import grad


def disconnected_grad(x):
    """x in the forward pass, no gradient through it (the core API's disconnected_grad)."""
    return core("disconnected_grad", "theano.gradient.disconnected_grad")(x)


zero_grad = disconnected_grad

__all__ = ["disconnected_grad", "grad", "zero_grad"]
