"""tools/run_theano_tutorials.py: the import rewriting, and (where the tutorials are checked
out: $THEANO_TUTORIALS, default /work/dlt/code) one tutorial run through it end to end."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TUTORIALS = Path(os.environ.get("THEANO_TUTORIALS", "/work/dlt/code"))


def _runner():
    spec = importlib.util.spec_from_file_location("run_theano_tutorials",
                                                  ROOT / "tools" / "run_theano_tutorials.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_only_the_theano_import_lines_change():
    source = ("import numpy\nimport theano\nimport theano.tensor as T\r\n"
              "    from theano.tensor.nnet import conv2d\n"
              "from theano.sandbox.rng_mrg import MRG_RandomStreams as RandomStreams\n"
              "x = theano.shared(1)  # import theano\nimport theanolike\n")
    text, changed = _runner().rewrite_imports(source)
    assert changed == 4
    assert text == ("import numpy\nimport nodestudio.theano as theano\n"
                    "import nodestudio.theano.tensor as T\r\n"
                    "    from nodestudio.theano.tensor.nnet import conv2d\n"
                    "from nodestudio.theano.sandbox.rng_mrg import MRG_RandomStreams as "
                    "RandomStreams\nx = theano.shared(1)  # import theano\nimport theanolike\n")


@pytest.mark.opencl
@pytest.mark.skipif(not (TUTORIALS / "logistic_cg.py").is_file(),
                    reason=f"the DeepLearningTutorials are not at {TUTORIALS}")
def test_a_published_tutorial_runs_to_its_end(tmp_path, capsys):
    runner = _runner()
    code = runner.prepare(TUTORIALS, tmp_path, (1200, 600, 600))
    outcome = runner.run_one("logistic_cg", code, timeout=300)
    assert outcome.ok, outcome.tail
    assert any("test performance" in line for line in outcome.errors)
    assert (tmp_path / "data" / "mnist.pkl.gz").is_file()
