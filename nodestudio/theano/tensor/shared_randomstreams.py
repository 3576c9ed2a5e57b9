"""`theano.tensor.shared_randomstreams.RandomStreams` (one generator for both stream classes;
the numbers differ from Theano's generators: docs/THEANO.md)."""

from nodestudio.theano.random import RandomStreams

__all__ = ["RandomStreams"]
