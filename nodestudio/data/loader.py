"""`load_dataset`: one entry point from a name or a path to preprocessed train/valid/test."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from nodestudio.data.builtin import (
    DEFAULT_DATASET,
    EMBEDDED,
    TOY_GENERATORS,
    load_builtin,
    unknown_name_message,
)
from nodestudio.data.csvfile import read_csv
from nodestudio.data.dataset import DataNote, Dataset, Splits, split_dataset
from nodestudio.data.download import Progress, default_cache_dir, download_mnist
from nodestudio.data.errors import DatasetError
from nodestudio.data.idx import read_mnist_pair
from nodestudio.data.pickled import read_mnist_pickle
from nodestudio.data.preprocess import PreprocessSpec, make_preprocessor

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")
# Debian's dataset-fashion-mnist package installs the four IDX files here.
SYSTEM_DATASETS_DIR = Path("/usr/share/datasets")
_ALIASES = {"mnist-5k": "mnist5k", "mnist_5k": "mnist5k", "fashion_mnist": "fashion-mnist",
            "fashionmnist": "fashion-mnist"}
# Raw (unpreprocessed) features beyond +-RAW_LIMIT draw a warning: saturated tanh and sigmoid
# units, huge first steps. Standardised or [0, 1] data stays well inside it.
RAW_LIMIT = 10.0


def _idx_file(folder: Path, prefix: str, kind: str, rank: int) -> Path | None:
    # Both spellings occur in the wild: "train-images-idx3-ubyte" and "train-images.idx3-ubyte".
    for sep in ("-", "."):
        for suffix in (".gz", ""):
            candidate = folder / f"{prefix}-{kind}{sep}idx{rank}-ubyte{suffix}"
            if candidate.is_file():
                return candidate
    return None


def load_idx_folder(folder: str | os.PathLike, *, name: str | None = None,
                    n_classes: int = 10,
                    class_names: tuple[str, ...] | None = None) -> tuple[Dataset, Dataset]:
    """(train, test) from a folder of MNIST-format IDX files, gzipped or not:
    train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte,
    t10k-labels-idx1-ubyte (each optionally with .gz)."""
    folder = Path(folder)
    name = name or folder.name
    files = {(p, k): _idx_file(folder, p, k, r) for p in ("train", "t10k")
             for k, r in (("images", 3), ("labels", 1))}
    missing = [f"{p}-{k}-idx{3 if k == 'images' else 1}-ubyte[.gz]"
               for (p, k), f in files.items() if f is None]
    if missing:
        raise DatasetError("not an MNIST-format folder: missing " + ", ".join(missing), folder)
    out = []
    for prefix, split in (("train", "train"), ("t10k", "test")):
        images, labels = files[(prefix, "images")], files[(prefix, "labels")]
        assert images is not None and labels is not None
        x, y = read_mnist_pair(images, labels, n_classes=n_classes)
        out.append(Dataset(x, y, x.shape[1:], n_classes, f"{name}:{split}", class_names))
    return out[0], out[1]


def known_folder(name: str, cache_dir: Path | None = None) -> Path | None:
    """Where 'mnist' or 'fashion-mnist' already lies: the cache, then (fashion-mnist) the
    Debian package's folder. None when not found."""
    candidates = [(cache_dir or default_cache_dir()) / name, SYSTEM_DATASETS_DIR / name]
    for folder in candidates:
        # All four files, so a half-filled cache counts as absent and download=True refills it.
        if all(_idx_file(folder, p, k, r) is not None for p in ("train", "t10k")
               for k, r in (("images", 3), ("labels", 1))):
            return folder
    return None


def load_dataset(name_or_path: str | os.PathLike = DEFAULT_DATASET, *, seed: int = 0,
                 valid_fraction: float = 0.1, test_fraction: float = 0.2,
                 preprocess: PreprocessSpec = "auto", stratify: bool = True,
                 n_samples: int | None = None, noise: float | None = None,
                 label_column: int | str = -1, n_classes: int | None = None,
                 download: bool = False, cache_dir: str | os.PathLike | None = None,
                 progress: Progress | None = None) -> Splits:
    """Load, split and preprocess a dataset.

    `name_or_path`: a built-in name (mnist5k, digits, spirals, moons, circles, xor, blobs),
    'mnist' / 'fashion-mnist' (from the cache folder or Debian's /usr/share/datasets;
    `download=True` fetches MNIST), an IDX folder, `mnist.pkl.gz`, or a CSV file.

    Splitting is seeded and stratified by class: `test_fraction` of the data becomes the test
    set unless the source has its own, then `valid_fraction` of the rest the validation set
    (the pickle brings its own validation set too). `preprocess` ('scale', 'standardise',
    'pca-whiten', a list of them, a Preprocessor, None or 'none'; 'auto' scales images, and
    whole numbers within 0..255, to [0, 1] and leaves other data alone) is fitted on the
    training split only and returned as `Splits.preprocessor`; `Splits.notes` says what 'auto'
    did, and warns about raw values far outside [0, 1]. `n_samples`/`noise` set the toy sets'
    size and noise; `label_column` applies to CSV files, `n_classes` to CSV and IDX folders
    (default: max label + 1 for CSV, 10 for IDX). `progress(file, bytes, total)` follows a
    download.
    """
    if not isinstance(seed, int) or seed < 0:
        raise DatasetError(f"seed must be a non-negative integer, got {seed!r}")
    cache = Path(cache_dir) if cache_dir is not None else None
    splits = _load_splits(name_or_path, seed=seed, valid_fraction=valid_fraction,
                          test_fraction=test_fraction, stratify=stratify, n_samples=n_samples,
                          noise=noise, label_column=label_column, n_classes=n_classes,
                          download=download, cache=cache, progress=progress)
    return apply_preprocessing(splits, preprocess, name=_label(name_or_path))


def apply_preprocessing(splits: Splits, preprocess: PreprocessSpec,
                        name: str | None = None) -> Splits:
    """Fit `preprocess` on the training split only and apply it to all three. `name` (the
    dataset as the user named it) is what the notes call it."""
    x = splits.train.x
    label = name or splits.train.name.split(":")[0]
    present = [d.x for d in splits if d.x.size]  # the range of the data, all splits
    low = min((float(a.min()) for a in present), default=0.0)
    high = max((float(a.max()) for a in present), default=0.0)
    span = f"dataset {label!r}: feature values span {low:g}..{high:g}"
    notes = list(splits.notes)
    if isinstance(preprocess, str) and preprocess.strip().lower() == "auto":
        preprocess = "scale" if _raw_intensities(splits.train, low, high) else None
        if preprocess and (low < 0.0 or high > 1.0):
            notes.append(DataNote("info", f"{span}; preprocessing 'auto' scales them to "
                                  "[0, 1]"))
    pre = make_preprocessor(preprocess)
    if pre is None:
        if max(abs(low), abs(high)) > RAW_LIMIT:
            notes.append(DataNote("warning", span + " and are not preprocessed",
                                  "scale" if low >= 0.0 else "standardise"))
        return replace(splits, notes=tuple(notes))
    pre.fit(x)
    return Splits(*(d.with_x(pre.transform(d.x)) for d in splits), preprocessor=pre,
                  notes=tuple(notes))


def _raw_intensities(train: Dataset, low: float, high: float) -> bool:
    """What 'auto' scales: images (2-D image_shape: raw intensities, 0..255 or 0..16), and
    whole numbers within 0..255 however they are shaped (pixels read from a CSV file).
    Other vectors (toy sets, measurements) keep their own units."""
    if len(train.image_shape) >= 2:
        return True
    return 0.0 <= low and 1.0 < high <= 255.0 and bool(np.all(np.floor(train.x) == train.x))


def _label(source: str | os.PathLike) -> str:
    """A dataset as messages name it: the built-in name, or the file or folder name."""
    text = os.fspath(source)
    key = _ALIASES.get(text.strip().lower(), text.strip().lower())
    if key in EMBEDDED or key in TOY_GENERATORS or key in ("mnist", "fashion-mnist"):
        return key
    return Path(text).name or text


def _load_splits(source: str | os.PathLike, *, seed: int, valid_fraction: float,
                 test_fraction: float, stratify: bool, n_samples: int | None,
                 noise: float | None, label_column: int | str, n_classes: int | None,
                 download: bool, cache: Path | None, progress: Progress | None) -> Splits:
    def split(data: Dataset, test: Dataset | None = None) -> Splits:
        return split_dataset(data, valid_fraction=valid_fraction, test_fraction=test_fraction,
                             seed=seed, stratify=stratify, test=test)

    text = os.fspath(source)
    key = text.strip().lower()
    key = _ALIASES.get(key, key)
    toy_args = n_samples is not None or noise is not None
    if key in EMBEDDED or key in TOY_GENERATORS:
        return split(load_builtin(key, seed=seed, n_samples=n_samples, noise=noise))
    if toy_args:
        raise DatasetError("n_samples and noise apply only to the toy datasets "
                           f"({', '.join(TOY_GENERATORS)})", text)
    if key in ("mnist", "fashion-mnist"):
        folder = known_folder(key, cache)
        if folder is None and key == "mnist" and download:
            folder = download_mnist((cache or default_cache_dir()) / "mnist",
                                    progress=progress)
        if folder is None:
            how = ("add --download to the command line to fetch it (about 11 MB; "
                   "download=True in Python)" if key == "mnist" else
                   "install Debian's dataset-fashion-mnist package, or put the four IDX files "
                   f"in {(cache or default_cache_dir()) / key}")
            raise DatasetError(f"{key} is not available offline; {how}", key)
        names = FASHION_CLASSES if key == "fashion-mnist" else None
        return split(*load_idx_folder(folder, name=key, class_names=names))
    path = Path(text)
    if path.is_dir():
        return split(*load_idx_folder(path, n_classes=n_classes or 10))
    if path.is_file():
        lower = path.name.lower()
        if lower.endswith((".pkl", ".pkl.gz", ".pickle", ".pickle.gz")):
            return read_mnist_pickle(path)
        if lower.endswith((".csv", ".csv.gz", ".txt", ".txt.gz", ".tsv", ".tsv.gz")):
            delimiter = "\t" if ".tsv" in lower else ","
            return split(read_csv(path, label_column=label_column, delimiter=delimiter,
                                  n_classes=n_classes))
        raise DatasetError("unknown file type: expected .csv[.gz], .tsv[.gz], .pkl[.gz] or an "
                           "IDX folder", path)
    raise DatasetError(unknown_name_message(text))
