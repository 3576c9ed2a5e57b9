"""The Theano-style Python API (re-exported as `nodestudio`)."""
