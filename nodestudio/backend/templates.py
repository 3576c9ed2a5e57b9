"""Kernel templates: the `.cl` files under `kernels/`, filled with `string.Template`.

In a wheel the sources are installed as `nodestudio/kernels/`; in a source checkout they live in
the top-level `kernels/` folder beside the package. `$name` placeholders are filled by the code
generators; `$` never appears in OpenCL C, so `string.Template` needs no escaping.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


@functools.cache
def kernels_dir() -> Path:
    for candidate in (_PACKAGE_DIR / "kernels", _PACKAGE_DIR.parent / "kernels"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(
        f"OpenCL kernel sources not found next to {_PACKAGE_DIR} (looked for kernels/)"
    )


@functools.cache
def load_source(name: str) -> str:
    """The raw text of `kernels/<name>`."""
    return (kernels_dir() / name).read_text(encoding="utf-8")


def render(template: str, **values: object) -> str:
    """Fill the template `kernels/<template>`; a missing value raises KeyError naming it."""
    return string.Template(load_source(template)).substitute({k: str(v) for k, v in values.items()})
