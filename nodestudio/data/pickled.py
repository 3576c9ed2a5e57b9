"""The classic `mnist.pkl.gz` (deeplearning.net): ((train), (valid), (test)) pairs of arrays.

Unpickling runs whatever callables a pickle names, so a downloaded `.pkl` is code, not data.
It is therefore never unpickled: `nodestudio.data.unpickle` interprets it, allowing only what
NumPy arrays and plain values need and naming the byte offset of anything else (a pickle whose
`__reduce__` names `os.system` stops at that name, with nothing run).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nodestudio.data.dataset import Dataset, Splits
from nodestudio.data.errors import DatasetError
from nodestudio.data.sources import (
    Source,
    max_dataset_bytes,
    over_limit,
    read_all,
    source_name,
)
from nodestudio.data.unpickle import Interpreter


def load_array_pickle(source: Source, *, name: str | None = None,
                      max_bytes: int | None = None) -> Any:
    """Read a (gzipped) pickle, protocol 0 to 5, that may hold only tuples, lists, dicts and
    sets of NumPy arrays of numbers and plain Python values; anything else raises DatasetError
    with the byte offset, without being constructed. `max_bytes` (default
    `max_dataset_bytes()`) bounds the decompressed file and, separately, the objects made
    from it."""
    return _interpret(source, name, max_dataset_bytes(max_bytes)).result


def _interpret(source: Source, name: str | None, limit: int) -> Interpreter:
    label = source_name(source, name)
    interpreter = Interpreter(read_all(source, name=label, max_bytes=limit), label, limit)
    interpreter.run()
    return interpreter


def read_mnist_pickle(source: Source, *, name: str | None = None,
                      max_bytes: int | None = None) -> Splits:
    """The 50,000 / 10,000 / 10,000 split of `mnist.pkl.gz`, with its own validation set.
    Errors about its content name the byte offset where the offending value was made."""
    label = source_name(source, name)
    limit = max_dataset_bytes(max_bytes)
    pickled = _interpret(source, label, limit)
    obj = pickled.result

    def fail(message: str, value: Any) -> DatasetError:
        where = pickled.offset_of(value)
        where = pickled.stop if where is None else where
        return DatasetError(f"byte {where}: {message}", label, offset=where)

    if not (isinstance(obj, tuple | list) and len(obj) == 3):
        raise fail("expected a (train, valid, test) triple of (images, labels) pairs, found "
                   f"a {type(obj).__name__}" + (f" of {len(obj)}" if isinstance(
                       obj, tuple | list) else ""), obj)
    parts = []
    for split, pair in zip(("train", "valid", "test"), obj):
        if not (isinstance(pair, tuple | list) and len(pair) == 2
                and all(isinstance(a, np.ndarray) for a in pair)):
            raise fail(f"the {split} entry is not an (images, labels) pair of arrays", pair)
        x, y = pair
        if x.dtype.kind not in "fiu" or y.dtype.kind not in "iu":
            raise fail(f"the {split} arrays hold {x.dtype} images and {y.dtype} labels; "
                       "expected numbers and integers", x if x.dtype.kind not in "fiu" else y)
        if x.ndim != 2 or y.ndim != 1 or len(x) != len(y) or x.shape[1] == 0:
            raise fail(f"the {split} arrays have shapes {x.shape} and {y.shape}; expected "
                       "(N, D) and (N,) with D > 0", x)
        if split == "train" and len(x) == 0:
            raise fail("the train entry holds no examples", x)
        if x.size * 4 > limit:
            raise fail(over_limit(f"the {split} images as float32", x.size * 4, limit), x)
        if y.size and (y.min() < 0 or y.max() > 9):
            i = int(np.flatnonzero((y < 0) | (y > 9))[0])
            raise fail(f"{split} label {int(y[i])} at index {i} is outside 0..9", y)
        if not (np.abs(x) <= np.finfo(np.float32).max).all():  # NaN and Inf fail too
            raise fail(f"the {split} images hold values that are not finite in float32", x)
        side = int(round(np.sqrt(x.shape[1])))
        shape = (side, side) if side * side == x.shape[1] else (x.shape[1],)
        parts.append(Dataset(x, y, shape, 10, f"mnist-pkl:{split}"))
    if len({p.n_features for p in parts}) != 1:
        raise fail("the three splits have different image sizes", obj)
    return Splits(*parts)
