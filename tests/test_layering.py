"""The layering of docs/ARCHITECTURE.md, enforced by reading every module's imports.

Every `import` / `from ... import` anywhere in a module counts: at module level, inside
functions, under `if TYPE_CHECKING:`. An import inside a function is still a dependency (it
runs when the function does), and a type-only import still ties the lower layer to the upper
one. The one deliberate upward import is listed in `ALLOWED_UPWARD` with its reason.

Layers, lowest first (each may import only its own and lower ones):

    foundations   nodestudio/errors.py, observer.py, paths.py (standard library only)
    graph         nodestudio/graph/
    ops           nodestudio/ops/
    ir            nodestudio/ir/
    backend       nodestudio/backend/
    api           nodestudio/api/, nodestudio/__init__.py, nodestudio/theano/ (the
                  Theano-compatible surface, built on the public API, the IR and the ops)
    train         nodestudio/train/
    cli, gui      nodestudio/cli.py, nodestudio/__main__.py, nodestudio/gui/ (one layer: the CLI
                  opens the studio through a lazy import of nodestudio.gui)

    data          nodestudio/data/, beside the stack: imports only the foundations, NumPy and
                  the standard library; imported only by train, cli and gui.

Besides: pyopencl only under nodestudio/backend/; PySide6, shiboken6 and pyqtgraph only under
nodestudio/gui/; train, cli and gui never import nodestudio.backend (devices are chosen through
the API: `ns.devices()`, `ns.current_device()`, `ns.set_device()`).
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FOUNDATIONS = ("nodestudio.errors", "nodestudio.observer", "nodestudio.paths")
STACK = [  # (layer name, module prefixes), lowest first
    ("foundations", FOUNDATIONS),
    ("graph", ("nodestudio.graph",)),
    ("ops", ("nodestudio.ops",)),
    ("ir", ("nodestudio.ir",)),
    ("backend", ("nodestudio.backend",)),
    ("api", ("nodestudio.api", "nodestudio.theano", "nodestudio")),
    ("train", ("nodestudio.train",)),
    ("cli/gui", ("nodestudio.cli", "nodestudio.__main__", "nodestudio.gui")),
]
DATA = "nodestudio.data"
DATA_IMPORTERS = {"train", "cli/gui"}
DATA_THIRD_PARTY = {"numpy"}
ONLY_UNDER = {  # third-party top-level package -> the only part of nodestudio that may import it
    "pyopencl": "nodestudio.backend",
    "PySide6": "nodestudio.gui",
    "shiboken6": "nodestudio.gui",
    "pyqtgraph": "nodestudio.gui",
}
NO_BACKEND = {"train", "cli/gui"}  # device choice goes through the API

# (importer, imported): why this upward import is fine
ALLOWED_UPWARD = {
    ("nodestudio.ir.expr", "nodestudio.api.function"):
        "Variable.eval() compiles through the API when called (docs/ARCHITECTURE.md)",
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    importer: str  # dotted module name of the file
    target: str  # dotted module name imported


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(name: str, root: Path) -> bool:
    base = root.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path, root: Path) -> list[Import]:
    """Every import in the file, wherever it is, resolved to the module it loads
    (`from a.b import c` is `a.b.c` when that is a module, else `a.b`)."""
    importer = module_name(path, root)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    found: dict[tuple[int, str], Import] = {}  # one per line and module
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found[node.lineno, alias.name] = Import(path, node.lineno, importer, alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[:len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                target = sub if alias.name != "*" and _is_module(sub, root) else base
                found[node.lineno, target] = Import(path, node.lineno, importer, target)
    return sorted(found.values(), key=lambda imp: (imp.line, imp.target))


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def layer_of(name: str) -> str | None:
    """The stack layer of a nodestudio module ("data" beside it), None when it has none."""
    if _within(name, DATA):
        return "data"
    best, best_len = None, -1
    for layer, prefixes in STACK:
        for prefix in prefixes:
            # "nodestudio" itself is the package's __init__ only, not everything under it
            matches = name == prefix if prefix == "nodestudio" else _within(name, prefix)
            if matches and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


RANK = {layer: i for i, (layer, _) in enumerate(STACK)}


def violations(root: Path) -> list[str]:
    """Every broken layering rule under root/nodestudio, as "file:line: what"."""
    found = []
    for path in sorted((root / "nodestudio").rglob("*.py")):
        importer_layer = layer_of(module_name(path, root))
        if importer_layer is None:
            found.append(f"{path.relative_to(root)}: {module_name(path, root)} belongs to no "
                         "layer; place it in tests/test_layering.py's STACK")
            continue
        for imp in imports_of(path, root):
            where = f"{path.relative_to(root)}:{imp.line}"
            problem = _problem(imp, importer_layer)
            if problem:
                found.append(f"{where}: {problem}")
    return found


def _problem(imp: Import, layer: str) -> str | None:
    target, top = imp.target, imp.target.partition(".")[0]
    if top in ONLY_UNDER:
        allowed = ONLY_UNDER[top]
        if not _within(imp.importer, allowed):
            return f"{imp.importer} imports {target}, which only {allowed} may import"
        return None
    if top != "nodestudio":
        if layer == "data" and top not in DATA_THIRD_PARTY and top not in sys.stdlib_module_names:
            return f"{imp.importer} (data) imports {target}; data uses only NumPy"
        if layer == "foundations" and top not in sys.stdlib_module_names:
            return f"{imp.importer} (foundations) imports {target}; foundations use only the " \
                   "standard library"
        return None
    target_layer = layer_of(target)
    if target_layer is None:
        return f"{imp.importer} imports {target}, which belongs to no layer"
    if layer in NO_BACKEND and target_layer == "backend":
        return (f"{imp.importer} ({layer}) imports {target}; choose devices through the API "
                "(ns.devices, ns.current_device, ns.set_device)")
    if layer == "data":
        if target_layer not in ("data", "foundations"):
            return f"{imp.importer} (data) imports {target} ({target_layer}); data stands " \
                   "beside the stack and imports only the foundations"
        return None
    if target_layer == "data":
        if layer not in DATA_IMPORTERS:
            return f"{imp.importer} ({layer}) imports {target}; only train, cli and gui use data"
        return None
    if RANK[target_layer] > RANK[layer] and (imp.importer, target) not in ALLOWED_UPWARD:
        return f"{imp.importer} ({layer}) imports {target} ({target_layer}), a layer above it"
    return None


def test_every_module_imports_only_from_below():
    found = violations(ROOT)
    for line in found:
        print(line)
    assert not found, "layering violations (docs/ARCHITECTURE.md):\n" + "\n".join(found)


def test_allowed_upward_imports_still_exist():
    """An exception that no longer matches anything must be removed, not left to hide a later
    import."""
    seen = {(imp.importer, imp.target) for path in (ROOT / "nodestudio").rglob("*.py")
            for imp in imports_of(path, ROOT)}
    assert set(ALLOWED_UPWARD) <= seen


def _plant(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def test_the_scan_finds_each_kind_of_violation(tmp_path):
    """A small fake package with one violation of each rule: each is reported with its line."""
    _plant(tmp_path, {
        "nodestudio/__init__.py": "",
        "nodestudio/errors.py": "import numpy\n",
        "nodestudio/graph/__init__.py": "",
        "nodestudio/graph/model.py": "from nodestudio.errors import GraphError\n"
                                     "\n"
                                     "def f():\n"
                                     "    from ..ir import expr\n",
        "nodestudio/ops/__init__.py": "",
        "nodestudio/ops/registry.py": "import pyopencl as cl\nfrom nodestudio import matrix\n",
        "nodestudio/ir/__init__.py": "",
        "nodestudio/ir/expr.py": "def ev():\n    from nodestudio.api.function import f\n",
        "nodestudio/backend/__init__.py": "",
        "nodestudio/backend/device.py": "import pyopencl\nfrom nodestudio.data import x\n",
        "nodestudio/api/__init__.py": "",
        "nodestudio/api/function.py": "from nodestudio.backend import device\n",
        "nodestudio/train/__init__.py": "",
        "nodestudio/train/settings.py": "from typing import TYPE_CHECKING\n"
                                        "if TYPE_CHECKING:\n"
                                        "    from nodestudio.gui import panel\n"
                                        "def use():\n"
                                        "    from nodestudio.backend.device import set_device\n",
        "nodestudio/data/__init__.py": "import scipy\nfrom nodestudio.ir import expr\n",
        "nodestudio/gui/__init__.py": "import pyqtgraph\nfrom . import panel\n",
        "nodestudio/gui/panel.py": "from PySide6 import QtCore\n",
        "nodestudio/cli.py": "from nodestudio.data import load\n"
                             "def studio():\n    import nodestudio.gui.panel\n",
        "nodestudio/extra.py": "",
    })
    found = violations(tmp_path)
    print("\n".join(found))
    expected = [
        "nodestudio/data/__init__.py:1: nodestudio.data (data) imports scipy",
        "nodestudio/data/__init__.py:2: nodestudio.data (data) imports nodestudio.ir.expr (ir)",
        "nodestudio/errors.py:1: nodestudio.errors (foundations) imports numpy",
        "nodestudio/extra.py: nodestudio.extra belongs to no layer",
        "nodestudio/graph/model.py:4: nodestudio.graph.model (graph) imports nodestudio.ir.expr",
        "nodestudio/ops/registry.py:1: nodestudio.ops.registry imports pyopencl",
        "nodestudio/ops/registry.py:2: nodestudio.ops.registry (ops) imports nodestudio (api)",
        "nodestudio/backend/device.py:2: nodestudio.backend.device (backend) imports "
        "nodestudio.data; only train, cli and gui",
        "nodestudio/train/settings.py:3: nodestudio.train.settings (train) imports "
        "nodestudio.gui.panel (cli/gui)",
        "nodestudio/train/settings.py:5: nodestudio.train.settings (train) imports "
        "nodestudio.backend.device; choose devices through the API",
    ]
    for text in expected:
        assert any(v.startswith(text) for v in found), text
    assert len(found) == len(expected), found  # nothing else: the allowed imports pass
