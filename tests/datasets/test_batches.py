"""Splits and minibatch generators: seeded, stratified, complete, and class-balanced."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.data import (
    Dataset,
    DatasetError,
    balanced_batches,
    epoch_batches,
    minibatches,
    split_dataset,
    split_indices,
)


def test_split_indices_partition_and_stratify():
    y = np.repeat(np.arange(4), [100, 50, 30, 20])
    rest, valid, test = split_indices(y, [0.1, 0.2], seed=5)
    together = np.sort(np.concatenate([rest, valid, test]))
    np.testing.assert_array_equal(together, np.arange(len(y)))
    np.testing.assert_array_equal(np.bincount(y[valid]), [10, 5, 3, 2])
    np.testing.assert_array_equal(np.bincount(y[test]), [20, 10, 6, 4])
    again = split_indices(y, [0.1, 0.2], seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(again, (rest, valid, test)))
    plain = split_indices(y, [0.5], seed=5, stratify=False)
    assert len(plain[1]) == 100
    with pytest.raises(DatasetError, match="leave nothing"):
        split_indices(y, [0.5, 0.5])


def test_split_dataset_names_and_given_test():
    data = Dataset(np.arange(40.0).reshape(20, 2), np.arange(20) % 2, (2,), 2, "toy")
    splits = split_dataset(data, valid_fraction=0.2, test_fraction=0.25, seed=0)
    assert [d.name for d in splits] == ["toy:train", "toy:valid", "toy:test"]
    assert [len(d) for d in splits] == [12, 3, 5]
    own = split_dataset(data, valid_fraction=0.5, test=data.subset(np.arange(4)), seed=0)
    assert len(own.test) == 4 and len(own.train) == 10


def test_epoch_batches_cover_and_vary():
    first = list(epoch_batches(103, 10, seed=1, epoch=0))
    assert [len(b) for b in first] == [10] * 10 + [3]
    np.testing.assert_array_equal(np.sort(np.concatenate(first)), np.arange(103))
    again = list(epoch_batches(103, 10, seed=1, epoch=0))
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    second = np.concatenate(list(epoch_batches(103, 10, seed=1, epoch=1)))
    assert not np.array_equal(np.concatenate(first), second)  # a fresh permutation per epoch
    assert [len(b) for b in epoch_batches(103, 10, drop_last=True)] == [10] * 10


def test_minibatches_resume_mid_run():
    full = list(minibatches(50, 8, seed=3, epochs=3))
    tail = list(minibatches(50, 8, seed=3, epochs=2, start_epoch=1))
    per_epoch = len(full) // 3
    assert all(np.array_equal(a, b) for a, b in zip(full[per_epoch:], tail))
    with pytest.raises(ValueError):
        next(minibatches(10, 0))


def test_balanced_batches():
    y = np.repeat(np.arange(3), [300, 30, 6])  # heavily imbalanced
    batches = list(balanced_batches(y, 30, seed=0))
    assert len(batches) == int(np.ceil(len(y) / 30))
    for batch in batches:
        np.testing.assert_array_equal(np.bincount(y[batch], minlength=3), [10, 10, 10])
    odd = list(balanced_batches(y, 32, seed=0, n_batches=20))
    counts = np.array([np.bincount(y[b], minlength=3) for b in odd])
    assert (counts.sum(axis=1) == 32).all() and counts.min() >= 10 and counts.max() <= 11
    # rare classes are walked through whole permutations: every example of class 2 appears
    assert set(np.concatenate(odd)[y[np.concatenate(odd)] == 2]) == set(np.flatnonzero(y == 2))
    same = list(balanced_batches(y, 32, seed=0, n_batches=20))
    assert all(np.array_equal(a, b) for a, b in zip(odd, same))
