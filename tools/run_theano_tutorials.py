"""Run the published Theano DeepLearningTutorials on NodeStudio with only their imports changed.

    python tools/run_theano_tutorials.py /path/to/DeepLearningTutorials/code [names...]

Copies the tutorials' top-level .py files to a temporary folder, rewrites only their import
lines (`import theano` -> `import nodestudio.theano as theano`, `import theano.tensor as T`
-> `import nodestudio.theano.tensor as T`, `from theano.X import Y` ->
`from nodestudio.theano.X import Y`), writes a small `mnist.pkl.gz` from the built-in mnist5k
where `logistic_sgd.load_data` looks for it (../data beside the scripts), then calls each
tutorial's own entry point with short-run arguments (its own parameters, as the tutorials'
test.py does) in a subprocess, and reports how each ended and the errors it printed.
The tutorials' bodies are not edited. See docs/THEANO.md.
"""

from __future__ import annotations

import argparse
import gzip
import pickle
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout: this nodestudio, not an installed one
    sys.path.insert(0, str(ROOT))

# tutorial -> (module, the call that runs it briefly: the entry point with its own parameters)
TUTORIALS: dict[str, tuple[str, str]] = {
    "logistic_sgd": ("logistic_sgd", "sgd_optimization_mnist(n_epochs=3)"),
    "logistic_cg": ("logistic_cg", "cg_optimization_mnist(n_epochs=5)"),
    "mlp": ("mlp", "test_mlp(n_epochs=1)"),
    "dA": ("dA", "test_dA(training_epochs=1, output_folder='dA_plots')"),
    "SdA": ("SdA", "test_SdA(pretraining_epochs=1, training_epochs=2, batch_size=20)"),
    "rbm": ("rbm", "test_rbm(training_epochs=1, batch_size=20, n_chains=10, n_samples=1, "
                   "n_hidden=100, output_folder='rbm_plots')"),
    "DBN": ("DBN", "test_DBN(pretraining_epochs=1, training_epochs=2, batch_size=10)"),
    "convolutional_mlp": ("convolutional_mlp", "evaluate_lenet5(n_epochs=1, batch_size=100)"),
}

# what the tutorials print about their errors (percentages), for the summary
_ERROR_LINES = re.compile(r"(test error|test performance|validation error|test score|"
                          r"validation score|cost is|epoch \d+, cost)[^\n]*", re.I)

_IMPORTS = [  # (pattern on a whole import line, replacement)
    (re.compile(r"^(\s*)import theano\.tensor as (\w+)\s*$"),
     r"\1import nodestudio.theano.tensor as \2"),
    (re.compile(r"^(\s*)import theano\.([\w.]+) as (\w+)\s*$"),
     r"\1import nodestudio.theano.\2 as \3"),
    (re.compile(r"^(\s*)import theano\s*$"), r"\1import nodestudio.theano as theano"),
    (re.compile(r"^(\s*)import theano as (\w+)\s*$"), r"\1import nodestudio.theano as \2"),
    (re.compile(r"^(\s*)from theano(\.[\w.]+)? import "), r"\1from nodestudio.theano\2 import "),
]


def rewrite_imports(source: str) -> tuple[str, int]:
    """The source with its Theano import lines pointed at nodestudio.theano, and how many
    lines changed. Nothing but import lines is touched."""
    lines = source.splitlines(keepends=True)
    changed = 0
    for i, line in enumerate(lines):
        body = line.rstrip("\r\n")
        for pattern, replacement in _IMPORTS:
            new = pattern.sub(replacement, body)
            if new != body:
                lines[i] = new + line[len(body):]
                changed += 1
                break
    return "".join(lines), changed


def write_mnist(path: Path, n_train: int, n_valid: int, n_test: int, seed: int = 0) -> None:
    """mnist.pkl.gz as the tutorials expect it: three (x float32 in [0, 1], y int64) pairs,
    drawn from the built-in mnist5k (shuffled once with `seed`)."""
    import numpy as np

    from nodestudio.data.builtin import load_builtin

    data = load_builtin("mnist5k")
    total = n_train + n_valid + n_test
    if total > len(data.x):
        raise SystemExit(f"mnist5k holds {len(data.x)} images; asked for {total}")
    order = np.random.RandomState(seed).permutation(len(data.x))[:total]
    x = (data.x[order] / 255.0).astype(np.float32)
    y = data.y[order].astype(np.int64)
    cuts = [0, n_train, n_train + n_valid, total]
    sets = tuple((x[a:b], y[a:b]) for a, b in zip(cuts, cuts[1:]))
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb") as f:
        pickle.dump(sets, f, protocol=2)


def prepare(code: Path, work: Path, sizes: tuple[int, int, int]) -> Path:
    """Copy the tutorials to work/code with rewritten imports; mnist.pkl.gz in work/data."""
    target = work / "code"
    target.mkdir(parents=True, exist_ok=True)
    for src in sorted(code.glob("*.py")):
        text, _ = rewrite_imports(src.read_text(encoding="utf-8"))
        (target / src.name).write_text(text, encoding="utf-8")
    write_mnist(work / "data" / "mnist.pkl.gz", *sizes)
    return target


@dataclass
class Outcome:
    name: str
    ok: bool
    seconds: float
    errors: list[str]
    tail: str


def run_one(name: str, code_dir: Path, timeout: float) -> Outcome:
    module, call = TUTORIALS[name]
    driver = f"import {module}\n{module}.{call}\n"
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", driver], cwd=code_dir, capture_output=True,
                              text=True, timeout=timeout,
                              env={**_environ(), "PYTHONPATH": str(ROOT)})
        output, ok = proc.stdout + proc.stderr, proc.returncode == 0
    except subprocess.TimeoutExpired as exc:
        output = (exc.stdout or "") + (exc.stderr or "")
        if isinstance(output, bytes):
            output = output.decode(errors="replace")
        output += f"\n[timed out after {timeout:.0f} s]"
        ok = False
    seconds = time.perf_counter() - start
    errors = [m.group(0).strip() for m in _ERROR_LINES.finditer(output)]
    return Outcome(name, ok, seconds, errors, "\n".join(output.strip().splitlines()[-15:]))


def _environ() -> dict[str, str]:
    import os

    return dict(os.environ)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("code", type=Path, help="the tutorials' code/ folder")
    parser.add_argument("names", nargs="*", help=f"which to run (default all: "
                        f"{', '.join(TUTORIALS)})")
    parser.add_argument("--sizes", type=int, nargs=3, default=(3000, 1000, 1000),
                        metavar=("TRAIN", "VALID", "TEST"),
                        help="images in each split of the small mnist.pkl.gz")
    parser.add_argument("--timeout", type=float, default=900, help="seconds per tutorial")
    parser.add_argument("--keep", type=Path, default=None,
                        help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in TUTORIALS]
    if unknown:
        parser.error(f"unknown tutorial(s) {', '.join(unknown)}; known: {', '.join(TUTORIALS)}")
    if not (args.code / "logistic_sgd.py").is_file():
        parser.error(f"{args.code} does not hold the tutorials (no logistic_sgd.py)")
    work = args.keep or Path(tempfile.mkdtemp(prefix="theano-tutorials-"))
    try:
        code_dir = prepare(args.code, work, tuple(args.sizes))
        outcomes = []
        for name in args.names or list(TUTORIALS):
            print(f"--- {name}: {TUTORIALS[name][1]}", flush=True)
            outcome = run_one(name, code_dir, args.timeout)
            outcomes.append(outcome)
            for line in outcome.errors[-4:]:
                print(f"    {line}")
            if not outcome.ok:
                print("    FAILED; last lines:\n" + "\n".join(
                    "      " + t for t in outcome.tail.splitlines()))
            print(f"    {'ok' if outcome.ok else 'FAILED'} in {outcome.seconds:.1f} s",
                  flush=True)
        print("\nsummary")
        for o in outcomes:
            last = o.errors[-1] if o.ok and o.errors else (
                "" if o.ok else o.tail.splitlines()[-1][:110])
            print(f"  {o.name:18s} {'ok' if o.ok else 'FAILED':6s} {o.seconds:7.1f} s  {last}")
        return 0 if all(o.ok for o in outcomes) else 1
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
