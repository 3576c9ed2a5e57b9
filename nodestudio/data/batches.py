"""Minibatch index generators: plain shuffled, and class-balanced.

Each epoch draws from its own generator seeded by (seed, epoch), so epoch e has the same order
whether or not epochs 0..e-1 were run in this process: training can resume mid-run and
reproduce the batches it would have seen.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


def _check(n: int, batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if n < 0:
        raise ValueError(f"the number of examples must be non-negative, got {n}")


def epoch_batches(n: int, batch_size: int, *, seed: int = 0, epoch: int = 0,
                  drop_last: bool = False) -> Iterator[np.ndarray]:
    """Index arrays covering a fresh random permutation of range(n), `batch_size` at a time.
    The last, short batch is dropped when `drop_last` (keeps batch shapes constant, which
    spares a kernel specialisation per odd size)."""
    _check(n, batch_size)
    order = np.random.default_rng([seed, epoch]).permutation(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start:start + batch_size]


def minibatches(n: int, batch_size: int, *, seed: int = 0, epochs: int = 1,
                start_epoch: int = 0, drop_last: bool = False) -> Iterator[np.ndarray]:
    """`epoch_batches` for epochs start_epoch .. start_epoch+epochs-1, one after the other."""
    for epoch in range(start_epoch, start_epoch + epochs):
        yield from epoch_batches(n, batch_size, seed=seed, epoch=epoch, drop_last=drop_last)


def balanced_batches(y: np.ndarray, batch_size: int, *, seed: int = 0, epoch: int = 0,
                     n_batches: int | None = None) -> Iterator[np.ndarray]:
    """Batches holding (nearly) equal numbers of each class present in `y`.

    Each class is walked in its own random order, starting a new permutation when it runs out,
    so rare classes are over-sampled and common ones under-sampled. When `batch_size` is not a
    multiple of the class count, the few extra slots go to classes drawn at random per batch.
    An epoch is ceil(len(y) / batch_size) batches unless `n_batches` says otherwise.
    """
    y = np.asarray(y).reshape(-1)
    _check(len(y), batch_size)
    if len(y) == 0:
        return
    rng = np.random.default_rng([seed, epoch, 1])  # a stream apart from epoch_batches'
    members = [np.flatnonzero(y == c) for c in np.unique(y)]
    k = len(members)
    orders = [rng.permutation(m) for m in members]
    cursors = [0] * k
    if n_batches is None:
        n_batches = -(-len(y) // batch_size)
    base, extra = divmod(batch_size, k)
    for _ in range(n_batches):
        counts = np.full(k, base)
        if extra:
            counts[rng.choice(k, size=extra, replace=False)] += 1
        batch = []
        for c in range(k):
            need = int(counts[c])
            while need:
                if cursors[c] == len(orders[c]):
                    orders[c], cursors[c] = rng.permutation(members[c]), 0
                take = orders[c][cursors[c]:cursors[c] + need]
                cursors[c] += len(take)
                need -= len(take)
                batch.append(take)
        # Shuffled within the batch so code that slices a batch (gradient accumulation,
        # micro-batches) never gets a slice of one class.
        yield rng.permutation(np.concatenate(batch))
