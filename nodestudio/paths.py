"""Where the shipped files are: `resources/` sits inside the installed package (the wheel puts
it there) or beside the package in a source checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def resource_dir(*parts: str) -> Path | None:
    """The folder resources/<parts...>, or None when it is in neither place."""
    for base in (_PACKAGE_DIR / "resources", _PACKAGE_DIR.parent / "resources"):
        candidate = base.joinpath(*parts)
        if candidate.is_dir():
            return candidate
    return None
