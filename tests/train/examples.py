"""Where the example graphs live, and the script that writes them (shared by the tests)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def make_examples() -> ModuleType:
    """`resources/examples/make_examples.py`, imported from its file (it is not a package)."""
    spec = importlib.util.spec_from_file_location("make_examples", EXAMPLES / "make_examples.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
