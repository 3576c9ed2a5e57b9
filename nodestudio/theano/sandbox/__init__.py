"""`theano.sandbox`: only `rng_mrg` is offered."""

from nodestudio.theano.sandbox import rng_mrg

__all__ = ["rng_mrg"]
