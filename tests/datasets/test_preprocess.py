"""Preprocessing: fitted on training data only, state round-trips without pickle, and PCA
whitening yields identity covariance on the kept components."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nodestudio.data import (
    DatasetError,
    PCAWhiten,
    Pipeline,
    Preprocessor,
    Scale01,
    Standardize,
    load_builtin,
    load_dataset,
    make_preprocessor,
)


def _correlated(n=2000, d=6, seed=0):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) * np.array([5, 3, 1, 0.5, 0.1, 1e-6])[:, None]
    return rng.normal(size=(n, d)) @ mix + 7.0


def test_pca_whitening_identity_covariance():
    x = _correlated()
    pca = PCAWhiten(threshold=1e-6).fit(x)
    assert pca.n_components == 5  # the 1e-6-scale direction is below the threshold
    z = pca.transform(x).astype(np.float64)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.eye(5), atol=1e-5)


def test_pca_on_digits_reduces_dimension():
    x = load_builtin("digits").x
    strict, loose = PCAWhiten(threshold=0.01).fit(x), PCAWhiten(threshold=1e-4).fit(x)
    assert strict.n_components < loose.n_components < 64
    z = strict.transform(x).astype(np.float64)
    np.testing.assert_allclose(np.cov(z.T, bias=True), np.eye(strict.n_components), atol=1e-4)
    assert PCAWhiten(max_components=7).fit(x).n_components == 7
    damped = PCAWhiten(threshold=0.01, epsilon=1.0).fit(x).transform(x)
    assert np.var(damped, axis=0).max() < 1.0  # epsilon shrinks, never amplifies


def test_fit_on_training_split_only():
    splits = load_dataset("digits", preprocess="standardize", seed=0)
    pre = splits.preprocessor
    raw = load_dataset("digits", preprocess=None, seed=0)
    np.testing.assert_allclose(pre.mean, raw.train.x.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(splits.valid.x, pre.transform(raw.valid.x), rtol=1e-6)
    # statistics come from train: the test split is not exactly centred
    assert np.abs(splits.test.x.mean(axis=0)).max() > 1e-3


def test_pipeline_through_load_dataset():
    splits = load_dataset("mnist5k", preprocess=["scale", "pca-whiten"], seed=0)
    assert isinstance(splits.preprocessor, Pipeline)
    k = splits.preprocessor.steps[1].n_components
    assert splits.train.x.shape[1] == k < 784 and splits.train.image_shape == (k,)
    assert splits.test.x.shape[1] == k
    np.testing.assert_allclose(np.cov(splits.train.x.T.astype(np.float64), bias=True),
                               np.eye(k), atol=1e-3)


@pytest.mark.parametrize("spec", ["scale", "standardize", "pca-whiten",
                                  ["scale", "standardize", "pca-whiten"]])
def test_state_round_trips_through_json(spec):
    x = _correlated(300)
    fitted = make_preprocessor(spec).fit(x)
    state = json.loads(json.dumps(fitted.state()))  # plain JSON: no pickle anywhere
    restored = Preprocessor.from_state(state)
    np.testing.assert_array_equal(restored.transform(x), fitted.transform(x))


def test_scale_and_standardize():
    x = np.array([[0.0, 10.0], [5.0, 10.0], [10.0, 10.0]])
    np.testing.assert_allclose(Scale01().fit_transform(x), [[0, 1], [0.5, 1], [1, 1]])
    z = Standardize().fit_transform(x)
    np.testing.assert_allclose(z[:, 1], 0.0)  # a constant feature becomes 0, not NaN
    np.testing.assert_allclose(z[:, 0].std(), 1.0, rtol=1e-6)
    assert z.dtype == np.float32


def test_errors():
    with pytest.raises(DatasetError, match="before fit"):
        Standardize().transform(np.zeros((2, 2)))
    with pytest.raises(DatasetError, match="no variance"):
        PCAWhiten().fit(np.ones((5, 3)))
    with pytest.raises(DatasetError, match="unknown preprocessor kind"):
        Preprocessor.from_state({"kind": "magic"})
    with pytest.raises(DatasetError, match="non-empty"):
        Scale01().fit(np.zeros((0, 3)))
    assert make_preprocessor("none") is None and make_preprocessor("standardise").kind == \
        "standardize"
