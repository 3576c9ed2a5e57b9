"""The classic `mnist.pkl.gz` (deeplearning.net): ((train), (valid), (test)) pairs of arrays.

Unpickling runs whatever callables a pickle names, so a downloaded `.pkl` is code, not data.
`_ArrayOnlyUnpickler` resolves exactly the globals that NumPy's own array pickles use and
refuses everything else *before* anything is called: a pickle whose `__reduce__` names
`os.system` stops at the lookup of `os.system`, with nothing run.
"""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from nodestudio.data.dataset import Dataset, Splits
from nodestudio.data.errors import DatasetError
from nodestudio.data.sources import DEFAULT_MAX_BYTES, Source, read_all, source_name

# The array reconstructor, taken from NumPy itself so the same function serves whichever
# module path the pickle spells (numpy.core before NumPy 2, numpy._core after); importing
# numpy.core by name would warn under NumPy 2.
_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]


class _NdarrayToken:
    """Stands in for `numpy.ndarray` in the pickle: NumPy's pickles only pass the class to
    `_reconstruct`, never call it, and calling the real class would let a pickle allocate an
    array of any size it names (`ndarray((10**12,))`). This token is not callable."""


def _bounded_reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    # NumPy writes _reconstruct(ndarray, (0,), b'b') and then fills the array by BUILD with
    # bytes that are in the file; a bigger shape here would be an allocation the file
    # does not pay for, so only empty placeholders are made.
    if subtype is not _NdarrayToken:
        raise DatasetError("refused an array of a type other than numpy.ndarray")
    if not (isinstance(shape, tuple) and all(isinstance(s, int) and s == 0 for s in shape)):
        raise DatasetError(f"refused a placeholder array of shape {shape!r}")
    return _RECONSTRUCT(np.ndarray, shape, dtype)


_ALLOWED: dict[tuple[str, str], Any] = {
    ("numpy.core.multiarray", "_reconstruct"): _bounded_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _bounded_reconstruct,
    ("numpy", "ndarray"): _NdarrayToken,
    ("numpy", "dtype"): np.dtype,
}


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, label: str):
        # latin1: the file was written by Python 2, whose str held the raw array bytes.
        super().__init__(file, encoding="latin1")
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise DatasetError(f"refused to unpickle {module}.{name}: only NumPy arrays are "
                               "allowed in a dataset pickle", self._label) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DatasetError("refused a persistent id: only NumPy arrays are allowed",
                           self._label)


def load_array_pickle(source: Source, *, name: str | None = None,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> Any:
    """Unpickle a (gzipped) pickle that may hold only tuples/lists/dicts of NumPy arrays and
    plain Python values; anything else raises DatasetError without being constructed."""
    label = source_name(source, name)
    data = read_all(source, name=label, max_bytes=max_bytes)
    try:
        return _ArrayOnlyUnpickler(io.BytesIO(data), label).load()
    except DatasetError as exc:
        if exc.path is None:  # raised by a helper that does not know the file name
            raise DatasetError(exc.detail, label) from None
        raise
    except Exception as exc:  # noqa: BLE001 - a corrupt pickle fails in many ways
        raise DatasetError(f"not a readable pickle ({type(exc).__name__}: {exc})",
                           label) from None


def read_mnist_pickle(source: Source, *, name: str | None = None) -> Splits:
    """The 50,000 / 10,000 / 10,000 split of `mnist.pkl.gz`, with its own validation set."""
    label = source_name(source, name)
    obj = load_array_pickle(source, name=label)
    if not (isinstance(obj, tuple | list) and len(obj) == 3):
        raise DatasetError("expected a (train, valid, test) triple of (images, labels) pairs, "
                           f"found {type(obj).__name__}", label)
    parts = []
    for split, pair in zip(("train", "valid", "test"), obj):
        if not (isinstance(pair, tuple | list) and len(pair) == 2
                and all(isinstance(a, np.ndarray) for a in pair)):
            raise DatasetError(f"the {split} entry is not an (images, labels) pair of arrays",
                               label)
        x, y = pair
        if x.dtype.kind not in "fiu" or y.dtype.kind not in "iu":
            raise DatasetError(f"the {split} arrays hold {x.dtype} images and {y.dtype} labels; "
                               "expected numbers and integers", label)
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
            raise DatasetError(f"the {split} arrays have shapes {x.shape} and {y.shape}; "
                               "expected (N, D) and (N,)", label)
        if y.size and (y.min() < 0 or y.max() > 9):
            i = int(np.flatnonzero((y < 0) | (y > 9))[0])
            raise DatasetError(f"{split} label {int(y[i])} at index {i} is outside 0..9", label)
        if not np.isfinite(x).all():
            raise DatasetError(f"the {split} images contain non-finite values", label)
        side = int(round(np.sqrt(x.shape[1])))
        shape = (side, side) if side * side == x.shape[1] else (x.shape[1],)
        parts.append(Dataset(x, y, shape, 10, f"mnist-pkl:{split}"))
    if len({p.n_features for p in parts}) != 1:
        raise DatasetError("the three splits have different image sizes", label)
    return Splits(*parts)
