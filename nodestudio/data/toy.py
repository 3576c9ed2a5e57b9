"""Toy 2-D classification sets generated from a seed: spirals, moons, circles, xor, blobs.

Points lie roughly in [-1.5, 1.5]^2 (blobs a little wider) so they need no scaling; the
default noise leaves each set learnable by a small MLP but not by a linear model (except
blobs, the linear baseline). Classes are equal in size up to one example, and the rows are
shuffled so that no split or batch sees one class first.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nodestudio.data.dataset import Dataset
from nodestudio.data.errors import DatasetError


def _counts(n_samples: int, n_classes: int, name: str) -> np.ndarray:
    if n_classes < 1:
        raise DatasetError(f"n_classes must be at least 1, got {n_classes}", name)
    if n_samples < n_classes:
        raise DatasetError(f"n_samples must be at least {n_classes}, got {n_samples}", name)
    base, extra = divmod(n_samples, n_classes)
    return np.array([base + (c < extra) for c in range(n_classes)])


def _finish(parts: list[np.ndarray], rng: np.random.Generator, noise: float, name: str,
            n_classes: int) -> Dataset:
    if noise < 0:
        raise DatasetError(f"noise must be non-negative, got {noise}", name)
    x = np.concatenate(parts)
    y = np.concatenate([np.full(len(p), c) for c, p in enumerate(parts)])
    x = x + rng.normal(0.0, noise, size=x.shape)
    order = rng.permutation(len(y))
    return Dataset(x[order], y[order], (2,), n_classes, name)


def make_spirals(n_samples: int = 1000, *, noise: float = 0.05, seed: int = 0,
                 n_classes: int = 2, turns: float = 1.25) -> Dataset:
    """Interleaved spiral arms from the origin, one per class; radius grows to 1."""
    rng = np.random.default_rng(seed)
    parts = []
    for c, n in enumerate(_counts(n_samples, n_classes, "spirals")):
        # sqrt spreads points evenly along the arm instead of crowding the centre.
        r = np.sqrt(rng.uniform(0.0, 1.0, n)) * 0.95 + 0.05
        angle = r * turns * 2 * np.pi + c * 2 * np.pi / n_classes
        parts.append(np.stack([r * np.cos(angle), r * np.sin(angle)], axis=1))
    return _finish(parts, rng, noise, "spirals", n_classes)


def make_moons(n_samples: int = 1000, *, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Two interleaving half circles (as scikit-learn's make_moons), centred on the origin."""
    rng = np.random.default_rng(seed)
    n0, n1 = _counts(n_samples, 2, "moons")
    t0, t1 = rng.uniform(0, np.pi, n0), rng.uniform(0, np.pi, n1)
    outer = np.stack([np.cos(t0) - 0.5, np.sin(t0) - 0.25], axis=1)
    inner = np.stack([0.5 - np.cos(t1), 0.25 - np.sin(t1)], axis=1)
    return _finish([outer, inner], rng, noise, "moons", 2)


def make_circles(n_samples: int = 1000, *, noise: float = 0.05, seed: int = 0,
                 factor: float = 0.5) -> Dataset:
    """A ring of radius 1 (class 0) around a ring of radius `factor` (class 1)."""
    rng = np.random.default_rng(seed)
    parts = []
    for radius, n in zip((1.0, factor), _counts(n_samples, 2, "circles")):
        t = rng.uniform(0, 2 * np.pi, n)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return _finish(parts, rng, noise, "circles", 2)


def make_xor(n_samples: int = 1000, *, noise: float = 0.1, seed: int = 0) -> Dataset:
    """Points in four quadrants; class 1 where exactly one coordinate is negative."""
    rng = np.random.default_rng(seed)
    parts = []
    for c, n in enumerate(_counts(n_samples, 2, "xor")):
        # Uniform magnitudes in [0.1, 1] keep a margin at the axes; signs pick the quadrant.
        mag = rng.uniform(0.1, 1.0, (n, 2))
        s0 = rng.choice([-1.0, 1.0], n)
        s1 = s0 if c == 0 else -s0
        parts.append(mag * np.stack([s0, s1], axis=1))
    return _finish(parts, rng, noise, "xor", 2)


def make_blobs(n_samples: int = 1000, *, noise: float = 0.4, seed: int = 0,
               n_classes: int = 3) -> Dataset:
    """Isotropic Gaussian clusters (std `noise`) with centres evenly spaced on a circle of
    radius 1.5: fixed geometry, so only the points change with the seed."""
    rng = np.random.default_rng(seed)
    parts = []
    for c, n in enumerate(_counts(n_samples, n_classes, "blobs")):
        angle = 2 * np.pi * c / n_classes + np.pi / 2
        parts.append(np.tile([1.5 * np.cos(angle), 1.5 * np.sin(angle)], (n, 1)))
    return _finish(parts, rng, noise, "blobs", n_classes)


TOY_GENERATORS: dict[str, Callable[..., Dataset]] = {
    "spirals": make_spirals, "moons": make_moons, "circles": make_circles,
    "xor": make_xor, "blobs": make_blobs,
}
