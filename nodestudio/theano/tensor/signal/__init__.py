"""`theano.tensor.signal`: pooling."""

from nodestudio.theano.tensor.signal import pool

__all__ = ["pool"]
