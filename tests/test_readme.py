"""Every snippet of the README (and of docs/*.md) runs as written.

Python blocks run in a temporary folder, one statement at a time; where a bare expression is
followed by a comment that starts with a value (`z.eval(...)  # 12.0, computed ...`), the value
is checked too, to the precision written. Command lines of ```sh blocks that start with
`nodestudio` or `python -m nodestudio` run through the command line's `main` (training for one
epoch), the studio's `--screenshot` in a subprocess where Qt is installed; the others, which
open a window, are parsed.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
SHELL_DOCS = [README, ROOT / "resources/examples/README.md"]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int  # line number of the block's first line of code
    code: str

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    @property
    def first_line(self) -> str:
        return self.code.splitlines()[0] if self.code else ""


def fenced_blocks(path: Path, lang: str) -> list[Block]:
    blocks, current, start = [], None, 0
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if current is None and line.strip() == f"```{lang}":
            current, start = [], number + 1
        elif current is not None and line.strip() == "```":
            blocks.append(Block(path, start, "\n".join(current) + "\n"))
            current = None
        elif current is not None:
            current.append(line)
    assert current is None, f"{path}: unclosed ```{lang} block from line {start - 1}"
    return blocks


# --- running python blocks ------------------------------------------------------------------

_VALUE = re.compile(r"^\s*(\([^)]*\)|\[[^]]*\]|-?\d[\d_]*(?:\.\d*)?(?:e-?\d+)?)(?=[\s,:;]|$)")


def documented_values(code: str) -> dict[int, str]:
    """line -> the value a trailing comment starts with (its source text)."""
    found = {}
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type == tokenize.COMMENT:
            match = _VALUE.match(tok.string[1:])
            if match:
                found[tok.start[0]] = match.group(1)
    return found


def check_value(value, written: str, where: str) -> None:
    expected = ast.literal_eval(written)
    if isinstance(expected, tuple):
        assert tuple(value) == expected, f"{where}: the README says {written}, got {value}"
        return
    decimals = len(written.partition(".")[2].partition("e")[0])
    tolerance = 0.5 * 10.0 ** -decimals  # to the precision written
    assert abs(float(value) - expected) <= tolerance, \
        f"{where}: the README says {written}, got {float(value)!r}"


def run_python(block: Block, namespace: dict) -> None:
    """Execute the block statement by statement, tracebacks pointing at the markdown lines."""
    tree = ast.parse(block.code, str(block.path))
    ast.increment_lineno(tree, block.line - 1)
    values = {line + block.line - 1: text for line, text in documented_values(block.code).items()}
    for stmt in tree.body:
        where = f"{block.path.relative_to(ROOT)}:{stmt.lineno}"
        if isinstance(stmt, ast.Expr) and stmt.end_lineno in values:
            value = eval(compile(ast.Expression(stmt.value), str(block.path), "eval"), namespace)
            check_value(value, values[stmt.end_lineno], where)
        else:
            exec(compile(ast.Module([stmt], []), str(block.path), "exec"), namespace)


def test_documented_values_are_found_and_checked():
    """The checker itself: what it reads from comments, and that a wrong value fails."""
    code = "a = 1\na + 1  # 2.0, as said\n(3, 4)  # (3, 4)\nb  # not a value\nc  # 0.12: err\n"
    assert documented_values(code) == {2: "2.0", 3: "(3, 4)", 5: "0.12"}
    check_value(0.123, "0.12", "x")
    with pytest.raises(AssertionError, match="says 0.12, got 0.126"):
        check_value(0.126, "0.12", "x")
    with pytest.raises(AssertionError, match=r"says \(3, 4\)"):
        check_value((4, 3), "(3, 4)", "x")
    block = Block(README, 10, "x = 2\nx * 3  # 7.0\n")
    with pytest.raises(AssertionError, match="README.md:11: the README says 7.0, got 6.0"):
        run_python(block, {})


@pytest.mark.opencl
@pytest.mark.parametrize("block", fenced_blocks(README, "python"), ids=lambda b: b.where)
def test_readme_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the snippet writes land here
    run_python(block, {"__name__": "__readme__"})


# Blocks of docs/*.md that are not whole programs, by (file, first line): what stands in.
# A fragment runs after a prelude that defines the names it takes from its surrounding text.
_OPTIMIZER_CONTEXT = """
import numpy as np
import nodestudio as ns
rng = np.random.default_rng(0)
X, labels = ns.matrix("X"), ns.ivector("labels")
W = ns.shared(rng.normal(0, 0.1, (20, 3)), "W")
b = ns.shared(np.zeros(3), "b")
params = [W, b]
cost = ns.softmax_cross_entropy(ns.dot(X, W) + b, labels)
X_data = rng.normal(size=(60, 20)).astype(np.float32)
y_data = rng.integers(0, 3, 60).astype(np.int32)
batches = [(X_data[i:i + 20], y_data[i:i + 20]) for i in range(0, 60, 20)]
"""
DOC_FRAGMENTS = {
    ("OPTIMIZERS.md", "import nodestudio as ns"): ("context", _OPTIMIZER_CONTEXT),
    ("OPTIMIZERS.md", "from nodestudio.train import minimize_fullbatch"):
        ("context", _OPTIMIZER_CONTEXT),
    ("DATASETS.md", 'load_dataset(name_or_path="mnist5k", *, seed=0, valid_fraction=0.1, '
                    'test_fraction=0.2,'): ("signature", "nodestudio.data.load_dataset"),
    ("DATASETS.md", "from nodestudio.data import download_mnist"):
        ("compile only", "downloads MNIST from the network"),
}


def _doc_blocks() -> list[Block]:
    return [block for path in DOCS for block in fenced_blocks(path, "python")]


def _check_signature(block: Block, dotted: str) -> None:
    """The block writes `name(params) -> Result`: the parameters must be the function's."""
    module, _, name = dotted.rpartition(".")
    real = inspect.signature(getattr(__import__(module, fromlist=[name]), name))
    text = block.code.strip()
    params = text[text.index("(") + 1:text.rindex(")")]
    namespace: dict = {}
    exec(f"def documented({params}): pass", namespace)
    documented = inspect.signature(namespace["documented"])
    strip = [p.replace(annotation=inspect.Parameter.empty) for p in real.parameters.values()]
    assert list(documented.parameters.values()) == strip, \
        f"{block.where}: documented {documented}, the function is {real}"


@pytest.mark.opencl
@pytest.mark.parametrize("block", _doc_blocks(), ids=lambda b: b.where)
def test_docs_python_block_runs(block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    kind, detail = DOC_FRAGMENTS.get((block.path.name, block.first_line), ("run", ""))
    namespace = {"__name__": "__docs__"}
    if kind == "signature":
        _check_signature(block, detail)
    elif kind == "compile only":
        compile(block.code, str(block.path), "exec")
    else:
        if kind == "context":
            exec(detail, namespace)
        run_python(block, namespace)


def test_doc_fragment_table_is_current():
    firsts = {(b.path.name, b.first_line) for b in _doc_blocks()}
    assert set(DOC_FRAGMENTS) <= firsts, set(DOC_FRAGMENTS) - firsts


# --- command lines ---------------------------------------------------------------------------

EXAMPLE = ROOT / "resources/examples/logistic_regression.json"  # fast to train: GRAPH.json
PLACEHOLDERS = {"GRAPH.json": str(EXAMPLE), "my_graph.json": str(EXAMPLE)}


@dataclass(frozen=True)
class Command:
    where: str
    argv: list[str]  # after `nodestudio`


def shell_commands(path: Path) -> list[Command]:
    commands = []
    for block in fenced_blocks(path, "sh"):
        lines = block.code.splitlines()
        number = 0
        while number < len(lines):
            start, text = number, lines[number]
            while text.rstrip().endswith("\\"):
                number += 1
                text = text.rstrip()[:-1] + " " + lines[number]
            number += 1
            words = shlex.split(text, comments=True)
            if words[:1] == ["nodestudio"]:
                argv = words[1:]
            elif words[:3] == ["python", "-m", "nodestudio"]:
                argv = words[3:]
            else:
                continue
            commands.append(Command(f"{path.relative_to(ROOT)}:{block.line + start}",
                                    _fill_in(argv)))
    return commands


def _fill_in(argv: list[str]) -> list[str]:
    """Placeholders become real files, optional `[...]` parts are kept, N is 1; files of the
    repository (commands are written to run from its root) get absolute paths, so that what a
    command writes lands in the test's folder."""
    out = []
    for word in argv:
        word = word.strip("[]") if word.startswith("[") or word.endswith("]") else word
        if out and out[-1] == "--train-epochs" and word == "N":
            word = "1"
        word = PLACEHOLDERS.get(word, word)
        if not word.startswith("-") and "/" in word and (ROOT / word).is_file():
            word = str(ROOT / word)
        out.append(word)
    return out


def _one_epoch(argv: list[str]) -> list[str]:
    if "--epochs" in argv:
        at = argv.index("--epochs")
        return argv[:at] + ["--epochs", "1"] + argv[at + 2:]
    return argv + ["--epochs", "1"]


def _offline_data(argv: list[str]) -> list[str]:
    """A dataset this machine cannot load offline (fashion-mnist without Debian's package) is
    replaced by mnist5k: the command's options are what is checked."""
    from nodestudio.data import load_dataset
    from nodestudio.errors import NodeStudioError
    at = argv.index("--data") + 1
    try:
        load_dataset(argv[at])
    except NodeStudioError as exc:
        if "not available offline" not in str(exc):
            raise
        return argv[:at] + ["mnist5k"] + argv[at + 1:]
    return argv


def run_command(command: Command, tmp_path: Path, capsys) -> str | None:
    """None when the command did what it should, else what went wrong."""
    try:
        return _run_command(command, tmp_path, capsys)
    except SystemExit as exc:  # argparse refused the arguments, or the command gave up
        out, err = capsys.readouterr()
        return f"exit status {exc.code}\n{out}\n{err}"


def _run_command(command: Command, tmp_path: Path, capsys) -> str | None:
    from nodestudio import cli
    argv = command.argv
    name = argv[0] if argv and argv[0] in cli.COMMANDS else "studio"
    if name == "studio":
        full = argv if argv[:1] == ["studio"] else ["studio", *argv]
        args = cli.build_parser().parse_args(full)
        if args.graph is not None and not Path(args.graph).is_file():
            return f"no such graph file {args.graph}"
        if args.screenshot and importlib.util.find_spec("PySide6") is not None:
            return _screenshot(full[1:], tmp_path)
        return None  # parsed: a window, or a screenshot where Qt is not installed
    if name == "train":
        argv = _offline_data(_one_epoch(argv))
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return None if code == 0 else f"exit status {code}\n{out}\n{err}"


def _screenshot(argv: list[str], tmp_path: Path) -> str | None:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(ROOT),
               XDG_CONFIG_HOME=str(tmp_path / "config"),
               NODESTUDIO_DATA_DIR=str(tmp_path / "data"))
    proc = subprocess.run([sys.executable, "-m", "nodestudio", *argv], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    out = tmp_path / argv[argv.index("--screenshot") + 1]
    if proc.returncode != 0 or not out.read_bytes().startswith(b"\x89PNG"):
        return f"exit status {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return None


def test_readme_commands_are_found():
    """The extraction itself: continuations joined, comments dropped, placeholders filled."""
    commands = {c.where: c.argv for c in shell_commands(README)}
    assert ["devices"] in commands.values()
    assert ["kernels", str(EXAMPLE), "--batch-size", "128"] in commands.values()
    continued = [argv for argv in commands.values() if "--schedule" in argv]
    assert continued and continued[0][-2:] == ["--out", "runs/y"], continued
    assert any(argv[:2] == ["--screenshot", "out.png"] and "--train-epochs" in argv
               and argv[argv.index("--train-epochs") + 1] == "1" for argv in commands.values())


@pytest.mark.opencl
@pytest.mark.parametrize("path", SHELL_DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_documented_commands_run(path, tmp_path, monkeypatch, capsys):
    """In order, in one folder: `evaluate` reads what `train` wrote above it."""
    monkeypatch.chdir(tmp_path)
    failures = []
    for command in shell_commands(path):
        problem = run_command(command, tmp_path, capsys)
        if problem:
            failures.append(f"{command.where}: nodestudio {shlex.join(command.argv)}: {problem}")
    assert not failures, "\n".join(failures)


def test_a_wrong_command_is_reported(tmp_path, capsys):
    bad = Command("README.md:1", ["kernels", str(EXAMPLE), "--batch-sise", "128"])
    assert "unrecognized arguments: --batch-sise" in run_command(bad, tmp_path, capsys)
    missing = Command("README.md:2", ["studio", "nowhere.json"])
    assert run_command(missing, tmp_path, capsys) == "no such graph file nowhere.json"


def test_numpy_is_what_the_values_compare_against():
    """`check_value` takes NumPy scalars and shapes as the snippets return them."""
    check_value(np.float32(12.0), "12.0", "x")
    check_value(np.zeros((784, 10)).shape, "(784, 10)", "x")
