"""Preprocessing fitted on the training set only, then applied unchanged to valid/test data.

Every transform is a small object with `fit(x)` / `transform(x)` whose fitted state is plain
arrays and numbers (`state()` / `from_state()`), so it can be stored in a project file as
JSON or `.npz` without pickle (see docs/DECISIONS.md, "No pickle in project files").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import numpy as np

from nodestudio.data.errors import DatasetError


class Preprocessor:
    """Base class: subclasses set `kind` and implement `_fit`, `transform` and the state."""

    kind: ClassVar[str] = ""

    def fit(self, x: np.ndarray) -> Preprocessor:
        # No float64 copy here: scaling needs only min/max, and a float64 copy of full MNIST
        # would be 376 MB; the subclasses that need float64 convert themselves.
        x = np.asarray(x)
        if x.ndim != 2 or len(x) == 0:
            raise DatasetError(f"{self.kind}: fit needs a non-empty (N, D) array, "
                               f"got shape {x.shape}")
        self._fit(x)
        return self

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def _fit(self, x: np.ndarray) -> None:
        raise NotImplementedError

    def transform(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """The fitted parameters as {'kind': ..., name: list/float}; JSON-serialisable."""
        raise NotImplementedError

    @staticmethod
    def from_state(state: dict[str, Any]) -> Preprocessor:
        kind = state.get("kind")
        cls = _KINDS.get(kind) if isinstance(kind, str) else None
        if cls is None:
            raise DatasetError(f"unknown preprocessor kind {kind!r}; known: {', '.join(_KINDS)}")
        return cls._from_state(state)

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Preprocessor:
        raise NotImplementedError

    def _need_fit(self, *fields: Any) -> None:
        if any(f is None for f in fields):
            raise DatasetError(f"{self.kind}: transform called before fit")


class Scale01(Preprocessor):
    """Map the training range [min, max] to [0, 1] with one scale for all features, as suits
    images (a per-pixel range would blow up the noise of rarely-lit border pixels). Values
    outside the training range map outside [0, 1]; nothing is clipped."""

    kind = "scale"

    def __init__(self) -> None:
        self.low: float | None = None
        self.high: float | None = None

    def _fit(self, x: np.ndarray) -> None:
        self.low, self.high = float(x.min()), float(x.max())

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._need_fit(self.low, self.high)
        span = (self.high - self.low) or 1.0  # a constant training set maps to 0
        out = np.asarray(x, np.float32) - np.float32(self.low)
        out *= np.float32(1.0 / span)
        return out

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "low": self.low, "high": self.high}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Scale01:
        obj = cls()
        obj.low, obj.high = float(state["low"]), float(state["high"])
        return obj


class Standardize(Preprocessor):
    """Per-feature zero mean and unit variance. Features constant in the training data (MNIST's
    corner pixels) keep scale 1, so they become 0 instead of dividing by zero."""

    kind = "standardize"

    def __init__(self, min_std: float = 1e-8) -> None:
        self.min_std = min_std
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def _fit(self, x: np.ndarray) -> None:
        self.mean = x.mean(axis=0, dtype=np.float64)
        std = x.std(axis=0, dtype=np.float64)
        self.std = np.where(std > self.min_std, std, 1.0)

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._need_fit(self.mean, self.std)
        out = np.asarray(x, np.float32) - self.mean.astype(np.float32)
        out /= self.std.astype(np.float32)
        return out

    def state(self) -> dict[str, Any]:
        self._need_fit(self.mean, self.std)
        return {"kind": self.kind, "mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Standardize:
        obj = cls()
        obj.mean = np.asarray(state["mean"], np.float64)
        obj.std = np.asarray(state["std"], np.float64)
        return obj


class PCAWhiten(Preprocessor):
    """PCA whitening: centre, rotate onto the principal axes, divide by sqrt(eigenvalue).

    Only components whose eigenvalue exceeds `threshold` times the largest are kept, which both
    reduces the dimension and avoids dividing by near-zero variances (amplified noise).
    `max_components` caps the count further. With `epsilon` = 0 the whitened training data has
    exactly identity covariance on the kept components; `epsilon` > 0 (added to the
    eigenvalues) damps the smallest components instead ("ZCA-epsilon" regularisation).
    """

    kind = "pca-whiten"

    def __init__(self, threshold: float = 1e-3, max_components: int | None = None,
                 epsilon: float = 0.0) -> None:
        if not 0.0 <= threshold < 1.0:
            raise DatasetError(f"pca-whiten: threshold must be in [0, 1), got {threshold}")
        self.threshold = threshold
        self.max_components = max_components
        self.epsilon = epsilon
        self.mean: np.ndarray | None = None
        self.components: np.ndarray | None = None  # (D, k), columns are unit eigenvectors
        self.eigenvalues: np.ndarray | None = None  # (k,), descending

    def _fit(self, x: np.ndarray) -> None:
        x = np.asarray(x, np.float64)  # the eigenvalues span decades; float32 loses the tail
        self.mean = x.mean(axis=0)
        centred = x - self.mean
        # Population covariance (divide by N), the one whose identity the transform achieves.
        cov = centred.T @ centred / len(x)
        values, vectors = np.linalg.eigh(cov)  # ascending
        values, vectors = values[::-1], vectors[:, ::-1]
        top = values[0] if values.size else 0.0
        if top <= 0.0:
            raise DatasetError("pca-whiten: the training data has no variance")
        keep = values > self.threshold * top
        if self.max_components is not None:
            keep[self.max_components:] = False
        # Sign convention: largest entry of each eigenvector positive, so the fit is
        # reproducible across LAPACK builds that return -v instead of v.
        vectors = vectors[:, keep]
        signs = np.sign(vectors[np.abs(vectors).argmax(axis=0), np.arange(vectors.shape[1])])
        self.components = vectors * np.where(signs == 0, 1.0, signs)
        self.eigenvalues = values[keep]

    @property
    def n_components(self) -> int:
        self._need_fit(self.eigenvalues)
        return len(self.eigenvalues)

    def transform(self, x: np.ndarray) -> np.ndarray:
        self._need_fit(self.mean, self.components, self.eigenvalues)
        projected = (np.asarray(x, np.float64) - self.mean) @ self.components
        return (projected / np.sqrt(self.eigenvalues + self.epsilon)).astype(np.float32)

    def state(self) -> dict[str, Any]:
        self._need_fit(self.mean, self.components, self.eigenvalues)
        return {"kind": self.kind, "threshold": self.threshold, "epsilon": self.epsilon,
                "max_components": self.max_components, "mean": self.mean.tolist(),
                "components": self.components.tolist(), "eigenvalues": self.eigenvalues.tolist()}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> PCAWhiten:
        obj = cls(float(state["threshold"]), state.get("max_components"),
                  float(state["epsilon"]))
        obj.mean = np.asarray(state["mean"], np.float64)
        obj.components = np.asarray(state["components"], np.float64)
        obj.eigenvalues = np.asarray(state["eigenvalues"], np.float64)
        return obj


class Pipeline(Preprocessor):
    """Several preprocessors in order; each is fitted on the output of the previous one."""

    kind = "pipeline"

    def __init__(self, steps: Sequence[Preprocessor]) -> None:
        self.steps = list(steps)

    def _fit(self, x: np.ndarray) -> None:
        for step in self.steps:
            x = step.fit_transform(x)

    def transform(self, x: np.ndarray) -> np.ndarray:
        for step in self.steps:
            x = step.transform(x)
        return np.asarray(x, np.float32)

    def state(self) -> dict[str, Any]:
        return {"kind": self.kind, "steps": [s.state() for s in self.steps]}

    @classmethod
    def _from_state(cls, state: dict[str, Any]) -> Pipeline:
        return cls([Preprocessor.from_state(s) for s in state["steps"]])


_KINDS: dict[str, type[Preprocessor]] = {
    c.kind: c for c in (Scale01, Standardize, PCAWhiten, Pipeline)}

_ALIASES = {"standardise": "standardize", "pca": "pca-whiten", "whiten": "pca-whiten",
            "scale01": "scale"}

# The preprocessing a training run can ask for by name (`nodestudio train --preprocess`, the
# Training dock, TrainingSettings.preprocess), with what each does.
PREPROCESS_CHOICES: dict[str, str] = {
    "auto": "scale images, and whole numbers within 0..255, to [0, 1]; leave other data as is",
    "none": "the raw values",
    "scale": "map the training set's [min, max] to [0, 1], one scale for all features",
    "standardise": "per feature: subtract the training mean, divide by the training std",
    "pca-whiten": "centre, project on the principal axes, divide by sqrt(eigenvalue): "
                  "decorrelated unit-variance features, fewer of them",
}


def preprocess_choice(name: str) -> str:
    """The PREPROCESS_CHOICES key that `name` means ("standardize", "PCA" and the other
    spellings `make_preprocessor` takes are accepted); DatasetError for anything else."""
    if isinstance(name, str):
        key = name.strip().lower().replace("_", "-")
        key = {"standardize": "standardise", "pca": "pca-whiten", "whiten": "pca-whiten",
               "scale01": "scale"}.get(key, key)
        if key in PREPROCESS_CHOICES:
            return key
    raise DatasetError(f"unknown preprocessing {name!r}; known: {', '.join(PREPROCESS_CHOICES)}")

PreprocessSpec = str | Preprocessor | Sequence["str | Preprocessor"] | None


def make_preprocessor(spec: PreprocessSpec) -> Preprocessor | None:
    """'scale', 'standardize', 'pca-whiten' (or 'none'/None), a Preprocessor, or a sequence
    of those run in order (e.g. ['scale', 'pca-whiten']). A fresh, unfitted object."""
    if spec is None or spec == "none":
        return None
    if isinstance(spec, Preprocessor):
        return spec
    if isinstance(spec, str):
        key = spec.lower().replace("_", "-")
        cls = _KINDS.get(_ALIASES.get(key, key))
        if cls is None or cls is Pipeline:
            names = ", ".join(k for k in _KINDS if k != "pipeline")
            raise DatasetError(f"unknown preprocessing {spec!r}; known: {names}, none")
        return cls()
    steps = [make_preprocessor(s) for s in spec]
    return Pipeline([s for s in steps if s is not None])
