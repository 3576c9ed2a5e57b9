"""What a trained classifier gets right and wrong on a split: the confusion matrix, the
misclassified examples, and for 2-D data the decision regions (the picture of TensorFlow
Playground: the class the model predicts at every point of a grid under the data).

    predictor = Predictor(model)                  # compiles the forward pass once
    results = evaluate_split(predictor, data.valid, "valid")
    results.confusion                             # counts, rows: true class, columns: predicted
    results.misclassified                         # indices into the split, in order
    grid = decision_grid(predictor, data.valid.x)  # 2-D features only

The predicted class is the argmax of the scores the graph's error output compares with the
labels (the `scores` input of `classification_error`), so that `results.error` equals the error
`Evaluator` reports; without such an output, the argmax of the `prediction` output, then of the
logits of a `softmax_cross_entropy` loss. A one-column output (a sigmoid probability) predicts
class 1 above 0.5. Evaluation runs in inference mode (no dropout, batch norm on its running
averages) in batches of a fixed size, the last one padded, so a split needs one compiled
function whatever its size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from nodestudio.data.dataset import Dataset
from nodestudio.errors import NodeStudioError
from nodestudio.ir.expr import Variable
from nodestudio.train.model import Model

BATCH = 500  # rows per call of the forward pass (the last batch is padded to it)
GRID_RESOLUTION = 120  # grid points per side of the decision-region picture
SPLIT_TITLES = {"valid": "validation", "test": "test", "train": "training"}


class ResultsError(NodeStudioError):
    """A graph whose outputs do not tell a predicted class; the message names the graph."""


def class_scores(model: Model) -> Variable:
    """The variable whose argmax (per row) is the predicted class. See the module docstring."""
    error = model.error
    if error is not None and error.owner is not None and \
            error.owner.op.name == "classification_error":
        return error.owner.inputs[0]
    prediction = model.prediction
    if prediction is not None and prediction.ndim in (1, 2) and prediction.shape[0] is None:
        return prediction
    loss = model.loss
    if loss.owner is not None and loss.owner.op.name == "softmax_cross_entropy":
        return loss.owner.inputs[0]
    raise ResultsError(f"{model.source}: no output tells the predicted class; mark a "
                       "'prediction' output (a softmax, one row per example) or an 'error' "
                       "output (classification_error)")


class Predictor:
    """The model's class scores and predicted classes for feature rows, with the parameter
    values the model holds at the time of the call."""

    def __init__(self, model: Model):
        from nodestudio.api.function import function  # compiled on first use
        self.model = model
        self.scores_var = class_scores(model)
        self._fn = function([model.x], [self.scores_var], training=False)

    def scores(self, features: np.ndarray) -> np.ndarray:
        """(N, K) scores for (N, D) flat feature rows ((N, 1) for a one-column output)."""
        features = np.asarray(features, dtype=np.float32)
        dims = tuple(features.shape[1] if d is None else d for d in self.model.x.shape[1:])
        parts = []
        for start in range(0, len(features), BATCH):
            rows = features[start:start + BATCH]
            padded = np.zeros((BATCH, rows.shape[1]), np.float32)
            padded[:len(rows)] = rows
            out = np.asarray(self._fn(padded.reshape((BATCH, *dims))))
            parts.append(out.reshape(BATCH, -1)[:len(rows)])
        if not parts:
            return np.zeros((0, 1), np.float32)
        return np.concatenate(parts)

    def classes(self, features: np.ndarray) -> np.ndarray:
        return predicted_classes(self.scores(features))


def predicted_classes(scores: np.ndarray) -> np.ndarray:
    """Argmax per row (the first of equal maxima, as the device's argmax); a one-column
    output is a probability of class 1."""
    scores = np.asarray(scores)
    if scores.ndim == 1 or scores.shape[1] == 1:
        return (scores.reshape(-1) > 0.5).astype(np.int64)
    return np.argmax(scores, axis=1).astype(np.int64)


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """(K, K) counts: row = true class, column = predicted class."""
    labels, predicted = np.asarray(labels, np.int64), np.asarray(predicted, np.int64)
    flat = np.bincount(labels * n_classes + predicted, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


@dataclass(frozen=True, eq=False)
class Results:
    """A model's predictions on one split, and what follows from them."""

    split: str  # "valid", "test" or "train"
    labels: np.ndarray  # (N,) true classes
    predicted: np.ndarray  # (N,) predicted classes
    scores: np.ndarray  # (N, K) the class scores (probabilities when the output is a softmax)
    confusion: np.ndarray  # (K, K) counts, row = true class, column = predicted
    class_names: tuple[str, ...]  # K names (the dataset's, else "0", "1", ...)
    features: np.ndarray = field(repr=False)  # (N, D) the rows as fed to the model
    image_shape: tuple[int, int] | None = None  # how a row is drawn as an image, if it is one
    epoch: int | None = None  # the epoch whose parameters produced it (None: after training)

    @property
    def total(self) -> int:
        return int(self.confusion.sum())

    @property
    def correct(self) -> int:
        return int(np.trace(self.confusion))

    @property
    def error(self) -> float:
        """1 - trace / total: the classification error on the split."""
        return 1.0 - self.correct / self.total if self.total else 0.0

    @property
    def misclassified(self) -> np.ndarray:
        """Indices (into the split, ascending) of the examples the model gets wrong."""
        return np.flatnonzero(self.predicted != self.labels)

    def row_normalised(self) -> np.ndarray:
        """Each row divided by its total (the recall of that true class on the diagonal);
        rows of classes absent from the split stay zero."""
        rows = self.confusion.sum(axis=1, keepdims=True).astype(np.float64)
        return np.divide(self.confusion, rows, out=np.zeros(self.confusion.shape),
                         where=rows > 0)

    @property
    def title(self) -> str:
        return SPLIT_TITLES.get(self.split, self.split)


def image_shape_of(data: Dataset) -> tuple[int, int] | None:
    """How a row is drawn: the dataset's 2-D image shape (28 x 28, 8 x 8), else a square
    when the feature count is one (> 4 features); None for plain vectors."""
    if len(data.image_shape) == 2 and min(data.image_shape) > 1:
        return int(data.image_shape[0]), int(data.image_shape[1])
    if len(data.image_shape) == 3 and data.image_shape[-1] == 1:  # (H, W, 1): grey
        return int(data.image_shape[0]), int(data.image_shape[1])
    side = math.isqrt(data.n_features)
    if data.n_features > 4 and side * side == data.n_features:
        return side, side
    return None


def evaluate_split(predictor: Predictor, data: Dataset, split: str,
                   epoch: int | None = None) -> Results:
    """The predictions of `predictor` on every example of `data`."""
    scores = predictor.scores(data.x)
    predicted = predicted_classes(scores)
    n_classes = max(data.n_classes, scores.shape[1] if scores.shape[1] > 1 else 2,
                    int(predicted.max()) + 1 if len(predicted) else 0)
    names = data.class_names
    if names is None or len(names) != n_classes:
        names = tuple(names or ()) + tuple(str(k) for k in range(len(names or ()), n_classes))
    return Results(split, data.y.astype(np.int64), predicted, scores,
                   confusion_matrix(data.y, predicted, n_classes), tuple(names), data.x,
                   image_shape_of(data), epoch)


@dataclass(frozen=True, eq=False)
class DecisionGrid:
    """The predicted class at every point of a regular grid over two features."""

    xs: np.ndarray  # (W,) first-feature coordinates of the columns
    ys: np.ndarray  # (H,) second-feature coordinates of the rows
    classes: np.ndarray  # (H, W): classes[i, j] is the class at (xs[j], ys[i])
    confidence: np.ndarray  # (H, W): the largest softmax probability there (1 for one column)

    def class_at(self, x: float, y: float) -> int:
        """The class of the grid cell nearest to (x, y)."""
        j = int(np.abs(self.xs - x).argmin())
        i = int(np.abs(self.ys - y).argmin())
        return int(self.classes[i, j])

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return float(self.xs[0]), float(self.xs[-1]), float(self.ys[0]), float(self.ys[-1])


def decision_grid(predictor: Predictor, points: np.ndarray,
                  resolution: int = GRID_RESOLUTION, margin: float = 0.1) -> DecisionGrid:
    """Evaluate the model on a `resolution` x `resolution` grid covering `points` (N, 2) with
    `margin` of their extent added on each side."""
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ResultsError(f"decision regions need two features per example, got "
                           f"{points.shape[1] if points.ndim == 2 else points.shape}")
    low, high = points.min(axis=0), points.max(axis=0)
    pad = np.maximum(high - low, 1e-6) * margin
    xs = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    ys = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    gx, gy = np.meshgrid(xs, ys)  # (H, W), row i at ys[i]
    scores = predictor.scores(np.column_stack([gx.ravel(), gy.ravel()]))
    classes = predicted_classes(scores).reshape(gx.shape)
    if scores.shape[1] > 1:
        shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
        probabilities = shifted / shifted.sum(axis=1, keepdims=True)
        # a prediction output already holds probabilities: softmax would flatten them
        if np.allclose(scores.sum(axis=1), 1.0, atol=1e-3) and scores.min() >= 0:
            probabilities = scores
        confidence = probabilities.max(axis=1).reshape(gx.shape)
    else:
        p = scores.reshape(-1)
        confidence = np.maximum(p, 1.0 - p).reshape(gx.shape)
    return DecisionGrid(xs, ys, classes, confidence)


__all__ = ["BATCH", "DecisionGrid", "Predictor", "Results", "ResultsError", "class_scores",
           "confusion_matrix", "decision_grid", "evaluate_split", "image_shape_of",
           "predicted_classes"]
