"""The `Dataset` and `Splits` containers and seeded, optionally class-stratified splitting."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from nodestudio.data.errors import DatasetError

if TYPE_CHECKING:
    from nodestudio.data.preprocess import Preprocessor


@dataclass(frozen=True, eq=False)
class Dataset:
    """Labelled examples: `x` float32 (N, D), one flattened example per row; `y` int32 (N,).

    `image_shape` is how a row is viewed as an image (or (D,) for plain vectors);
    `n_classes` is the label range 0..n_classes-1, which a subset may not fully cover.
    """

    x: np.ndarray
    y: np.ndarray
    image_shape: tuple[int, ...]
    n_classes: int
    name: str
    class_names: tuple[str, ...] | None = field(default=None)

    def __post_init__(self) -> None:
        # Normalise once here so every producer (files, toys, preprocessing) yields one layout.
        x = np.asarray(self.x)
        if x.ndim != 2:  # (N, *image): flattened; prod, not -1, which fails when N is 0
            x = x.reshape(len(x), math.prod(x.shape[1:]))
        try:
            with np.errstate(over="raise", invalid="raise"):
                x = np.ascontiguousarray(x, dtype=np.float32)
        except FloatingPointError:
            raise DatasetError("feature values beyond the float32 range", self.name) from None
        y = np.ascontiguousarray(self.y, dtype=np.int32).reshape(-1)
        shape = tuple(int(s) for s in self.image_shape)
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)
        object.__setattr__(self, "image_shape", shape)
        if len(x) != len(y):
            raise DatasetError(f"{len(x)} examples but {len(y)} labels", self.name)
        if x.shape[1] == 0:
            raise DatasetError("the examples have no features", self.name)
        if math.prod(shape) != x.shape[1]:
            raise DatasetError(f"image shape {shape} does not hold {x.shape[1]} features",
                               self.name)
        if y.size and (y.min() < 0 or y.max() >= self.n_classes):
            raise DatasetError(f"labels span {y.min()}..{y.max()}, outside "
                               f"0..{self.n_classes - 1}", self.name)
        if self.class_names is not None and len(self.class_names) != self.n_classes:
            raise DatasetError(f"{len(self.class_names)} class names for {self.n_classes} "
                               "classes", self.name)

    def __len__(self) -> int:
        return len(self.y)

    def __repr__(self) -> str:
        return (f"Dataset({self.name!r}, n={len(self)}, dim={self.n_features}, "
                f"image_shape={self.image_shape}, n_classes={self.n_classes})")

    @property
    def n_features(self) -> int:
        return int(self.x.shape[1])

    def images(self) -> np.ndarray:
        """`x` viewed as (N, *image_shape)."""
        return self.x.reshape((len(self), *self.image_shape))

    def class_counts(self) -> np.ndarray:
        return np.bincount(self.y, minlength=self.n_classes)

    def subset(self, indices: np.ndarray, name: str | None = None) -> Dataset:
        return Dataset(self.x[indices], self.y[indices], self.image_shape, self.n_classes,
                       name or self.name, self.class_names)

    def with_x(self, x: np.ndarray) -> Dataset:
        """The same labels with new features; a changed width drops the image view."""
        shape = self.image_shape if x.shape[1] == self.n_features else (int(x.shape[1]),)
        return Dataset(x, self.y, shape, self.n_classes, self.name, self.class_names)


@dataclass(frozen=True)
class DataNote:
    """Something worth telling the user about the data as loaded: `level` "info" (what the
    'auto' preprocessing did) or "warning" (raw values far outside [0, 1]). `suggest` names the
    preprocessing that would help, for the front end to phrase its own way (a flag, a field)."""

    level: str
    message: str
    suggest: str | None = None


@dataclass(frozen=True, eq=False)
class Splits:
    """Training, validation and test sets, plus the preprocessor fitted on `train` (if any),
    to apply to new inputs at inference time, and notes on the data for the user."""

    train: Dataset
    valid: Dataset
    test: Dataset
    preprocessor: Preprocessor | None = None
    notes: tuple[DataNote, ...] = ()

    def __iter__(self):
        return iter((self.train, self.valid, self.test))


def _check_fraction(name: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise DatasetError(f"{name} must be in [0, 1), got {value}")
    return value


def split_indices(y: np.ndarray, fractions: Sequence[float], *, seed: int = 0,
                  stratify: bool = True) -> list[np.ndarray]:
    """Partition range(len(y)) into len(fractions)+1 parts: the rest first, then one part per
    fraction, each of round(fraction * N) examples. Stratified: every class is represented in
    each part in proportion, to within one example, so a small validation set still sees every
    class. Deterministic given `seed`; each part is in ascending order."""
    fractions = [_check_fraction("a split fraction", f) for f in fractions]
    if sum(fractions) >= 1.0:
        raise DatasetError(f"split fractions {fractions} leave nothing for training")
    y = np.asarray(y).reshape(-1)
    rng = np.random.default_rng(seed)
    if stratify:
        # Systematic sampling: the j-th (shuffled) member of a class of size n gets the key
        # (j + u) / n with a random offset u; ordering all examples by key interleaves the
        # classes evenly, so any prefix of the order holds each class in proportion (+-1).
        key = np.empty(len(y))
        for c in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == c))
            key[members] = (np.arange(len(members)) + rng.random()) / len(members)
        order = np.argsort(key, kind="stable")
    else:
        order = rng.permutation(len(y))
    cuts = np.round(np.cumsum(fractions) * len(y)).astype(int)
    pieces = np.split(order, cuts)
    return [np.sort(p) for p in (pieces[-1], *pieces[:-1])]


def split_dataset(data: Dataset, *, valid_fraction: float, test_fraction: float = 0.0,
                  seed: int = 0, stratify: bool = True, test: Dataset | None = None) -> Splits:
    """Seeded train/valid/test split. With `test` given (a source with its own test set),
    only validation is split off `data`; else `test_fraction` of `data` becomes the test set
    and `valid_fraction` of the remainder the validation set."""
    valid_fraction = _check_fraction("valid_fraction", valid_fraction)
    test_fraction = _check_fraction("test_fraction", test_fraction)
    if test is None:
        rest, test_idx = split_indices(data.y, [test_fraction], seed=seed, stratify=stratify)
        test = data.subset(test_idx, f"{data.name}:test")
        data = data.subset(rest)
    # A seed derived from `seed` keeps the validation cut from reusing the test cut's stream.
    vseed = int(np.random.SeedSequence([seed, 1]).generate_state(1)[0])
    train_idx, valid_idx = split_indices(data.y, [valid_fraction], seed=vseed,
                                         stratify=stratify)
    if len(train_idx) == 0:
        raise DatasetError(f"no training examples left after splitting {len(data)} examples",
                           data.name)
    base = data.name.split(":")[0]
    return Splits(data.subset(train_idx, f"{base}:train"),
                  data.subset(valid_idx, f"{base}:valid"),
                  replace(test, name=f"{base}:test"))
