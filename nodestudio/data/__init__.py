"""Datasets for training: built-ins that work offline, MNIST-format files, CSV, preprocessing,
splits and minibatches. Pure NumPy (no Qt, no OpenCL); see docs/DATASETS.md.

    from nodestudio.data import load_dataset
    splits = load_dataset("mnist5k", seed=0)          # Splits(train, valid, test)
    for idx in minibatches(len(splits.train), 64, seed=0, epochs=10): ...
"""

from nodestudio.data.batches import balanced_batches, epoch_batches, minibatches
from nodestudio.data.builtin import (
    DEFAULT_DATASET,
    builtin_names,
    builtin_shape,
    datasets_dir,
    describe_builtins,
    load_builtin,
)
from nodestudio.data.csvfile import read_csv
from nodestudio.data.dataset import DataNote, Dataset, Splits, split_dataset, split_indices
from nodestudio.data.download import MNIST_SHA256, default_cache_dir, download_mnist
from nodestudio.data.errors import DatasetError
from nodestudio.data.idx import read_idx, read_idx_header, read_mnist_pair, write_idx
from nodestudio.data.loader import apply_preprocessing, load_dataset, load_idx_folder
from nodestudio.data.pickled import load_array_pickle, read_mnist_pickle
from nodestudio.data.preprocess import (
    PREPROCESS_CHOICES,
    PCAWhiten,
    Pipeline,
    Preprocessor,
    Scale01,
    Standardize,
    make_preprocessor,
    preprocess_choice,
)
from nodestudio.data.sources import max_dataset_bytes
from nodestudio.data.toy import make_blobs, make_circles, make_moons, make_spirals, make_xor

__all__ = [
    "DEFAULT_DATASET", "MNIST_SHA256", "PREPROCESS_CHOICES", "DataNote", "Dataset",
    "DatasetError", "PCAWhiten", "Pipeline", "Preprocessor", "Scale01", "Splits", "Standardize",
    "apply_preprocessing", "balanced_batches", "builtin_names", "builtin_shape", "datasets_dir",
    "default_cache_dir", "describe_builtins", "download_mnist", "epoch_batches",
    "load_array_pickle", "load_builtin", "load_dataset", "load_idx_folder", "make_blobs",
    "make_circles", "make_moons", "make_preprocessor", "make_spirals", "make_xor",
    "max_dataset_bytes", "minibatches",
    "preprocess_choice", "read_csv", "read_idx", "read_idx_header", "read_mnist_pair",
    "read_mnist_pickle", "split_dataset", "split_indices", "write_idx",
]
