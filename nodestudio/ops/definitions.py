"""Imports every module that registers ops, in palette order."""

from nodestudio.ops import elementwise, nn, reductions, sources, structure  # noqa: F401
