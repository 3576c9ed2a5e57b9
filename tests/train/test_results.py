"""The Results computation (nodestudio/train/results.py) against NumPy: the confusion matrix
against the trainer's own evaluation, the misclassified examples against a float64 forward
pass, the decision regions against the same pass at grid points."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.data import load_dataset
from nodestudio.graph.model import Graph
from nodestudio.ir.convert import to_document
from nodestudio.train.loop import Trainer
from nodestudio.train.model import Model
from nodestudio.train.results import (
    Predictor,
    ResultsError,
    class_scores,
    confusion_matrix,
    decision_grid,
    evaluate_split,
    image_shape_of,
    predicted_classes,
)

pytestmark = pytest.mark.opencl


def moons_graph(hidden: int = 12) -> Graph:
    """A 2-D toy classifier: 2 -> hidden tanh -> 2 softmax, parameters W1, b1, W2, b2."""
    rng = np.random.default_rng(3)
    x, y = ns.tensor("x", (None, 2)), ns.ivector("y")
    params = {"W1": rng.normal(0, 1.0, (2, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0, 0.5, (hidden, 2)), "b2": np.zeros(2)}
    W1, b1, W2, b2 = (ns.shared(v.astype(np.float32), k) for k, v in params.items())
    logits = ns.dense(ns.tanh(ns.dense(x, W1, b1)), W2, b2)
    outputs = {"loss": ns.softmax_cross_entropy(logits, y),
               "error": ns.classification_error(logits, y), "prediction": ns.softmax(logits)}
    for name, var in outputs.items():
        var.owner.name = name
    logits.owner.name = "logits"
    return to_document(outputs)


def numpy_scores(values: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The moons graph's logits in float64 from its parameter values."""
    v = {k: np.asarray(a, np.float64) for k, a in values.items()}
    return np.tanh(x.astype(np.float64) @ v["W1"] + v["b1"]) @ v["W2"] + v["b2"]


@pytest.fixture(scope="module")
def trained():
    model = Model.from_document(moons_graph(), "moons graph")
    data = load_dataset("moons", seed=0, n_samples=400)
    trainer = Trainer(model, data, "sgd", 0.5, batch_size=20, epochs=3)
    history = trainer.run()
    return model, data, trainer, history


def test_the_confusion_matrix_sums_to_the_split_and_matches_the_trainers_error(trained):
    model, data, trainer, history = trained
    predictor = Predictor(model)
    for split, dataset in (("valid", data.valid), ("test", data.test)):
        results = evaluate_split(predictor, dataset, split)
        assert results.total == len(dataset) and results.confusion.shape == (2, 2)
        _, error = trainer.evaluate(dataset)
        assert 1.0 - np.trace(results.confusion) / results.confusion.sum() == \
            pytest.approx(error, abs=1e-6)
        assert results.error == pytest.approx(error, abs=1e-6)
        np.testing.assert_array_equal(results.confusion.sum(axis=1),
                                      np.bincount(dataset.y, minlength=2))
    assert history.test_error == pytest.approx(
        evaluate_split(predictor, data.test, "test").error, abs=1e-6)


def test_the_misclassified_examples_are_those_a_numpy_forward_pass_gets_wrong(trained):
    model, data, _, _ = trained
    results = evaluate_split(Predictor(model), data.valid, "valid", epoch=3)
    expected = np.argmax(numpy_scores(model.values(), data.valid.x), axis=1)
    wrong = np.flatnonzero(expected != data.valid.y)
    assert len(wrong) > 0  # three epochs leave a few mistakes to check
    np.testing.assert_array_equal(results.misclassified, wrong)
    np.testing.assert_array_equal(results.predicted[wrong], expected[wrong])
    np.testing.assert_array_equal(results.labels[wrong], data.valid.y[wrong])
    # the same counts, cell by cell
    np.testing.assert_array_equal(results.confusion,
                                  confusion_matrix(data.valid.y, expected, 2))
    assert results.class_names == ("0", "1") and results.image_shape is None
    rows = results.row_normalised()
    np.testing.assert_allclose(rows.sum(axis=1), 1.0)


def test_the_decision_grid_holds_the_models_prediction_at_its_points(trained):
    model, data, _, _ = trained
    grid = decision_grid(Predictor(model), data.valid.x, resolution=40)
    assert grid.classes.shape == (40, 40)
    x0, x1, y0, y1 = grid.bounds
    assert x0 < data.valid.x[:, 0].min() and x1 > data.valid.x[:, 0].max()
    assert y0 < data.valid.x[:, 1].min() and y1 > data.valid.x[:, 1].max()
    values = model.values()
    for i, j in [(0, 0), (5, 33), (20, 20), (39, 2), (39, 39), (12, 27)]:
        point = np.array([[grid.xs[j], grid.ys[i]]])
        assert grid.classes[i, j] == np.argmax(numpy_scores(values, point)), (i, j)
        assert grid.class_at(grid.xs[j], grid.ys[i]) == grid.classes[i, j]
    # both classes appear: the picture is of a boundary, not of one colour
    assert set(np.unique(grid.classes)) == {0, 1}
    assert ((grid.confidence >= 0.5) & (grid.confidence <= 1.0)).all()


def test_predicted_classes_and_shapes_of_images():
    assert predicted_classes(np.array([[0.1, 0.7, 0.7], [2.0, -1.0, 0.0]])).tolist() == [1, 0]
    assert predicted_classes(np.array([[0.2], [0.9]])).tolist() == [0, 1]
    digits = load_dataset("digits", seed=0).valid
    assert image_shape_of(digits) == (8, 8)
    spirals = load_dataset("spirals", seed=0, n_samples=50).valid
    assert image_shape_of(spirals) is None
    with pytest.raises(ResultsError, match="two features"):
        decision_grid(None, digits.x)


def test_a_graph_without_a_class_output_is_refused_naming_it():
    x = ns.tensor("x", (None, 3))
    W = ns.shared(np.zeros((3, 3), np.float32), "W")
    loss = ns.mean(ns.square(ns.dot(x, W) - x))
    loss.owner.name = "loss"
    model = Model.from_document(to_document({"loss": loss}), "autoencoder.json")
    with pytest.raises(ResultsError, match="autoencoder.json: no output tells the predicted"):
        class_scores(model)
