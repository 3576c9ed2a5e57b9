"""What imports without OpenCL and Qt, and the lazy top-level package.

The graph model, the registry, the IR and the datasets must load on a machine without pyopencl,
PySide6 or pyqtgraph (docs/ARCHITECTURE.md); so must `import nodestudio` itself, whose names
load on first use (PEP 562). Each check runs in a fresh interpreter in which those packages are
made unimportable by a meta-path finder installed before anything else is imported.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nodestudio

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = ("pyopencl", "PySide6", "shiboken6", "pyqtgraph")

_PRELUDE = textwrap.dedent("""
    import importlib.abc, json, sys
    sys.path.insert(0, {root!r})
    HIDDEN = {hidden!r}

    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in HIDDEN:
                raise ModuleNotFoundError(f"No module named {{name!r}} (hidden by the test)",
                                          name=name)
            return None

    sys.meta_path.insert(0, Hide())
""")


def run_hidden(body: str) -> dict:
    """Run `body` in a fresh interpreter without HIDDEN; it leaves its findings in `result`,
    which comes back as JSON."""
    code = _PRELUDE.format(root=str(ROOT), hidden=HIDDEN) + "result = {}\n" + \
        textwrap.dedent(body) + "\nprint('RESULT' + json.dumps(result))\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")][-1]
    return json.loads(line[len("RESULT"):])


def test_the_hiding_works():
    """The finder really hides them (else the tests below prove nothing)."""
    result = run_hidden("""
        for name in HIDDEN:
            try:
                __import__(name)
                result[name] = "imported"
            except ImportError as exc:
                result[name] = str(exc)
    """)
    assert all("hidden by the test" in result[name] for name in HIDDEN), result


def _op_modules() -> list[str]:
    return sorted(f"nodestudio.ops.{p.stem}" for p in (ROOT / "nodestudio/ops").glob("*.py")
                  if p.stem != "__init__")


HEADLESS = ["nodestudio.graph.model", "nodestudio.graph.fileformat", "nodestudio.graph.history",
            "nodestudio.graph.layout", "nodestudio.ops.registry", *_op_modules(),
            "nodestudio.ir.expr", "nodestudio.ir.build", "nodestudio.ir.autodiff",
            "nodestudio.ir.annotate", "nodestudio.ir.convert", "nodestudio.ir.reference",
            "nodestudio.data"]


def test_lower_layers_import_without_opencl_or_qt():
    """One interpreter, the modules in turn: for each, what went wrong (an import error, the
    backend loaded) the first time it happened, so the message names the module to fix."""
    result = run_hidden(f"""
        import importlib, traceback
        for module in {HEADLESS!r}:
            try:
                importlib.import_module(module)
            except Exception:
                result[module] = traceback.format_exc(limit=-3)
                continue
            backend = sorted(m for m in sys.modules if m.startswith("nodestudio.backend"))
            if backend:
                result[module] = f"loaded {{backend}}"
                break
    """)
    assert result == {}, "\n".join(f"{m}: {why}" for m, why in result.items())


def test_registry_holds_every_op_and_the_ir_works_without_opencl():
    """Not only the import: the registry is complete, a graph is built, differentiated and
    evaluated by the NumPy reference interpreter, the annotation of a document is computed."""
    result = run_hidden("""
        import numpy as np
        from nodestudio.ops import registry
        from nodestudio.ir import build as F
        from nodestudio.ir.autodiff import grad
        from nodestudio.ir.reference import evaluate
        from nodestudio.api.symbols import scalar
        x = scalar("x")
        y = F.tanh(x) * x
        (g,) = grad(y, [x])
        result["ops"] = len(registry.all_ops())
        result["grad"] = float(evaluate([g], {x: np.float64(0.5)})[0])
    """)
    t = np.tanh(0.5)
    assert result["grad"] == pytest.approx(t + 0.5 * (1 - t * t), rel=1e-12)
    from nodestudio.ops import registry
    assert result["ops"] == len(registry.all_ops())


def test_the_package_imports_without_opencl_and_loads_names_on_use():
    result = run_hidden("""
        import nodestudio as ns
        result["after_import"] = sorted(m for m in sys.modules if m.startswith("nodestudio"))
        x = ns.matrix("x")                       # symbols: no device needed
        from nodestudio import grad, tanh
        (g,) = grad(ns.sum(tanh(x)), [x])
        result["grad_type"] = str(g.type)
        result["dir_has_all"] = set(ns.__all__) <= set(dir(ns))
        try:
            ns.function([x], g)
            result["function"] = "compiled"
        except ImportError as exc:
            result["function"] = str(exc)
        try:
            ns.no_such_name
        except AttributeError as exc:
            result["missing"] = str(exc)
    """)
    assert result["after_import"] == ["nodestudio"]
    assert result["grad_type"] == str(nodestudio.matrix("x").type)
    assert result["dir_has_all"]
    assert "pyopencl" in result["function"]  # the device layer is what is missing
    assert result["missing"] == "module 'nodestudio' has no attribute 'no_such_name'"


def _init_tree() -> ast.Module:
    return ast.parse((ROOT / "nodestudio/__init__.py").read_text())


def _type_checking_imports() -> dict[str, tuple[str, str]]:
    """public name -> (module, name) of the imports under `if TYPE_CHECKING:`."""
    names = {}
    for node in _init_tree().body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                assert isinstance(stmt, ast.ImportFrom), ast.dump(stmt)
                for alias in stmt.names:
                    names[alias.asname or alias.name] = (stmt.module, alias.name)
    return names


def test_all_the_lazy_table_and_the_type_checking_block_agree():
    sources = nodestudio._SOURCES
    assert sum(len(names) for names in nodestudio._EXPORTS.values()) == len(sources), \
        "a name appears twice in _EXPORTS"
    assert sorted(nodestudio.__all__) == nodestudio.__all__ == sorted(sources)
    assert _type_checking_imports() == sources


def test_every_exported_name_resolves_to_its_module_attribute():
    import importlib
    for name, (module, inner) in nodestudio._SOURCES.items():
        assert getattr(nodestudio, name) is getattr(importlib.import_module(module), inner), name
    namespace: dict = {}
    exec("from nodestudio import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(nodestudio.__all__)
    assert set(nodestudio.__all__) <= set(dir(nodestudio))


def test_names_used_before_the_lazy_package_still_work():
    """What the eager package offered (the previous __all__) is all still there."""
    before = {
        "absolute_error", "binary_cross_entropy", "classification_error", "l1_penalty",
        "l2_penalty", "softmax_cross_entropy", "squared_error", "CycleError", "DeviceError",
        "FileFormatError", "Function", "GraphError", "KernelBuildError", "MissingInputError",
        "NodeStudioError", "ShapeError", "SharedVariable", "Variable", "abs", "argmax",
        "batch_norm", "broadcast_like", "concatenate", "constant", "dense", "devices", "dot",
        "dropout", "enable_profiling", "eq", "exp", "expand_dims", "expm1", "function", "ge",
        "grad", "gt", "iscalar", "ivector", "le", "leaky_relu", "load", "log", "log1p",
        "log_softmax", "lt", "matmul", "matrix", "max", "maximum", "mean", "minimum", "neq",
        "one_hot", "op", "prelu", "reference_eval", "relu", "reshape", "save", "scalar",
        "set_device", "shared", "sigmoid", "sign", "slice", "softmax", "softplus", "sqrt",
        "square", "squeeze", "sum", "tanh", "tensor", "transpose", "vector", "where",
    }
    assert before <= set(nodestudio.__all__)
    assert nodestudio.__version__
    from nodestudio.ir.reference import evaluate
    assert nodestudio.reference_eval is evaluate

