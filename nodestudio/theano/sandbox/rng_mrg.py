"""`theano.sandbox.rng_mrg.MRG_RandomStreams`: the same counter-based streams as
`RandomStreams` (Philox, not Theano's MRG31k3p: the numbers differ, docs/THEANO.md)."""

from nodestudio.theano.random import RandomStreams


class MRG_RandomStreams(RandomStreams):  # noqa: N801  (Theano's name)
    """Theano's MRG streams; here the same Philox streams as RandomStreams."""


__all__ = ["MRG_RandomStreams"]
