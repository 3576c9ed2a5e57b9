"""Every built-in dataset loads offline with the right shapes, classes and determinism."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.data import (
    DEFAULT_DATASET,
    DatasetError,
    builtin_names,
    datasets_dir,
    describe_builtins,
    load_builtin,
    load_dataset,
)
from nodestudio.data.builtin import EMBEDDED

EXPECTED = {  # name: (total examples, features, image_shape, classes)
    "mnist5k": (5000, 784, (28, 28), 10),
    "digits": (1797, 64, (8, 8), 10),
    "spirals": (1000, 2, (2,), 2),
    "moons": (1000, 2, (2,), 2),
    "circles": (1000, 2, (2,), 2),
    "xor": (1000, 2, (2,), 2),
    "blobs": (1000, 2, (2,), 3),
}


def test_builtin_list_is_complete():
    assert set(builtin_names()) == set(EXPECTED)
    assert set(describe_builtins()) == set(EXPECTED)
    assert DEFAULT_DATASET == "mnist5k"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_builtin_loads_with_right_shapes(name):
    total, dim, shape, classes = EXPECTED[name]
    splits = load_dataset(name, seed=0)
    sizes = [len(d) for d in splits]
    assert sum(sizes) == total
    # Default: 20% test, then 10% of the rest for validation (stratified, so +-1 per class).
    assert abs(sizes[2] - 0.2 * total) <= classes
    assert abs(sizes[1] - 0.1 * (total - sizes[2])) <= classes
    for d in splits:
        assert d.x.dtype == np.float32 and d.x.shape == (len(d), dim)
        assert d.y.dtype == np.int32 and d.y.shape == (len(d),)
        assert d.image_shape == shape and d.n_classes == classes
        assert d.images().shape == (len(d), *shape)
        assert set(np.unique(d.y)) == set(range(classes))  # stratified: every class everywhere
        assert np.isfinite(d.x).all()
    if len(shape) == 2:  # images are scaled to [0, 1] by the default 'auto' preprocessing
        assert splits.train.x.min() == 0.0 and splits.train.x.max() == 1.0
        assert splits.preprocessor is not None


def test_embedded_contents():
    mnist = load_builtin("mnist5k")
    assert mnist.x.max() == 255 and mnist.x.min() == 0
    assert (mnist.class_counts() == 500).all()
    digits = load_builtin("digits")
    assert digits.x.max() == 16
    assert digits.class_counts().sum() == 1797
    for spec in EMBEDDED.values():  # the files the README documents are the ones shipped
        assert (datasets_dir() / spec.filename).is_file()
    readme = (datasets_dir() / "README.md").read_text(encoding="utf-8")
    for spec in EMBEDDED.values():
        assert spec.sha256 in readme


def test_embedded_arrays_are_shared_read_only():
    data = load_builtin("digits")
    with pytest.raises(ValueError):
        data.x[0, 0] = 1.0
    splits = load_dataset("digits", preprocess=None)
    splits.train.x[0, 0] = 99.0  # splits are copies, so this does not touch the cache
    assert load_builtin("digits").x.max() == 16


def test_splits_deterministic_and_disjoint():
    a = load_dataset("digits", seed=3, preprocess=None)
    b = load_dataset("digits", seed=3, preprocess=None)
    c = load_dataset("digits", seed=4, preprocess=None)
    for da, db in zip(a, b):
        np.testing.assert_array_equal(da.x, db.x)
        np.testing.assert_array_equal(da.y, db.y)
    assert not np.array_equal(a.test.x, c.test.x)
    rows = {r.tobytes() for d in a for r in np.c_[d.x, d.y]}
    assert len(rows) >= 1790  # the 1797 digits include a few exact duplicates


@pytest.mark.parametrize("name", ["spirals", "moons", "circles", "xor", "blobs"])
def test_toy_overrides(name):
    small = load_builtin(name, n_samples=101, noise=0.0, seed=1)
    assert len(small) == 101
    counts = small.class_counts()
    assert counts.max() - counts.min() <= 1
    assert np.array_equal(load_builtin(name, seed=1).x, load_builtin(name, seed=1).x)
    assert not np.array_equal(load_builtin(name, seed=1).x, load_builtin(name, seed=2).x)
    splits = load_dataset(name, n_samples=300, noise=0.3, seed=0)
    assert sum(len(d) for d in splits) == 300
    with pytest.raises(DatasetError, match="noise"):
        load_builtin(name, noise=-1.0)
    with pytest.raises(DatasetError, match="n_samples"):
        load_builtin(name, n_samples=1)


def test_noise_free_toys_have_their_geometry():
    circles = load_builtin("circles", noise=0.0)
    radius = np.hypot(*circles.x.T)
    np.testing.assert_allclose(radius[circles.y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(radius[circles.y == 1], 0.5, atol=1e-6)
    xor = load_builtin("xor", noise=0.0)
    assert ((xor.x[:, 0] * xor.x[:, 1] < 0) == (xor.y == 1)).all()


def test_unknown_name_lists_builtins():
    with pytest.raises(DatasetError) as info:
        load_dataset("mnsit")
    message = str(info.value)
    assert "'mnsit'" in message
    for name in EXPECTED:
        assert name in message


def test_toy_arguments_rejected_for_other_datasets():
    with pytest.raises(DatasetError, match="toy"):
        load_dataset("digits", n_samples=10)


def test_bad_fractions_and_seed():
    with pytest.raises(DatasetError, match="valid_fraction"):
        load_dataset("moons", valid_fraction=1.5)
    with pytest.raises(DatasetError, match="seed"):
        load_dataset("moons", seed=-1)
    with pytest.raises(DatasetError, match="preprocessing"):
        load_dataset("moons", preprocess="normalise-ish")


def test_builtin_shape_agrees_with_the_loaded_data():
    from nodestudio.data import builtin_names, builtin_shape, load_builtin
    for name in builtin_names():
        data = load_builtin(name)
        assert builtin_shape(name) == (tuple(data.image_shape), data.n_classes), name
    assert builtin_shape("table.csv") is None
