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


def test_auto_scales_a_csv_of_raw_pixels_like_the_built_in_and_says_so():
    # --data resources/datasets/mnist_5k.csv.gz used to train on raw 0..255 values (68% error)
    from_file = load_dataset("resources/datasets/mnist_5k.csv.gz", seed=2)
    built_in = load_dataset("mnist5k", seed=2)
    for a, b in zip(from_file, built_in):
        np.testing.assert_array_equal(a.x, b.x)
        np.testing.assert_array_equal(a.y, b.y)
    assert from_file.train.x.max() == 1.0 and from_file.preprocessor.kind == "scale"
    assert [(n.level, n.message) for n in from_file.notes] == [
        ("info", "dataset 'mnist_5k.csv.gz': feature values span 0..255; preprocessing "
                 "'auto' scales them to [0, 1]")]


def _table(tmp_path, values):
    rows = np.c_[values, np.arange(len(values)) % 2]
    path = tmp_path / "table.csv"
    np.savetxt(path, rows, delimiter=",", fmt="%g")
    return path


@pytest.mark.parametrize("values, preprocess, notes", [
    # raw pixels, not preprocessed on purpose: a warning that suggests scaling
    (np.r_[np.arange(0.0, 255.0, 5.0), 255.0].reshape(26, 2), "none",
     [("warning", "dataset 'table.csv': feature values span 0..255 and are not "
                  "preprocessed", "scale")]),
    # whole numbers beyond 255 are not pixels: 'auto' leaves them, with a warning
    (np.arange(0.0, 2000.0, 20.0).reshape(50, 2), "auto",
     [("warning", "dataset 'table.csv': feature values span 0..1980 and are not "
                  "preprocessed", "scale")]),
    # signed measurements: standardising is the suggestion
    (np.linspace(-40.0, 40.0, 100).reshape(50, 2), "auto",
     [("warning", "dataset 'table.csv': feature values span -40..40 and are not "
                  "preprocessed", "standardise")]),
    # already small, or preprocessed: nothing to say
    (np.linspace(-3.0, 3.0, 100).reshape(50, 2), "auto", []),
    (np.arange(0.0, 2000.0, 20.0).reshape(50, 2), "standardise", []),
])
def test_raw_values_far_outside_the_unit_range_draw_a_warning(tmp_path, values, preprocess,
                                                              notes):
    splits = load_dataset(_table(tmp_path, values), preprocess=preprocess, test_fraction=0.2,
                          valid_fraction=0.2, stratify=False)
    assert [(n.level, n.message, n.suggest) for n in splits.notes] == notes


def test_preprocessing_choices_have_one_name_each():
    from nodestudio.data import PREPROCESS_CHOICES, preprocess_choice
    assert list(PREPROCESS_CHOICES) == ["auto", "none", "scale", "standardise", "pca-whiten"]
    assert preprocess_choice("Standardize") == "standardise"
    assert preprocess_choice("PCA") == "pca-whiten" and preprocess_choice("none") == "none"
    for name in PREPROCESS_CHOICES:  # every choice is a preprocessing load_dataset applies
        if name not in ("auto", "none"):
            assert make_preprocessor(name) is not None
    with pytest.raises(DatasetError, match="unknown preprocessing 'zscore'; known: auto, none"):
        preprocess_choice("zscore")
