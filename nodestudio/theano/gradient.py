"""`theano.gradient`: grad and disconnected_grad."""

from __future__ import annotations

import nodestudio as ns
from nodestudio.theano.tensor.basic import grad


def disconnected_grad(x):
    """x in the forward pass, no gradient through it (the core API's disconnected_grad)."""
    return ns.disconnected_grad(x)


zero_grad = disconnected_grad

__all__ = ["disconnected_grad", "grad", "zero_grad"]
