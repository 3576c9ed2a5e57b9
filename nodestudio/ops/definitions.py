"""Imports every module that registers ops, in palette order."""

from nodestudio.ops import elementwise, nn, layers, reductions, sources, structure  # noqa: F401, I001
from nodestudio.ops import conv  # noqa: F401  (Convolution)
from nodestudio.ops import autoencoder  # noqa: F401  (Layers: the autoencoder layer)
from nodestudio.ops import rbm  # noqa: F401  (Layers: the restricted Boltzmann machine)
from nodestudio.ops import math_extra, statistics, arrays  # noqa: F401, I001
from nodestudio.ops import indexing  # noqa: F401
from nodestudio.ops import augment  # noqa: F401  (the Augmentation category comes last)
