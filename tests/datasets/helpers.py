"""Helpers for the dataset tests: small MNIST-format folders written on the fly."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nodestudio.data import write_idx


def make_mnist_folder(folder: Path, *, n_train: int = 60, n_test: int = 20, side: int = 6,
                      gz: bool = True, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Four IDX files of random `side`x`side` images with labels cycling through 0..9."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    arrays = []
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, (n, side, side), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", x)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", y)
        arrays += [x, y]
    return tuple(arrays)

