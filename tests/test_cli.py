"""The headless command line, run in-process."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.cli import main, spirals

pytestmark = pytest.mark.opencl


def test_devices_lists_the_chosen_device(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("* ") or "\n* " in out
    assert ns.devices()[0].name in out


def test_demo_trains_and_the_error_falls(capsys):
    assert main(["demo", "--epochs", "60", "--seed", "1"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch")]
    errors = [float(line.split("error")[1].strip().rstrip("%")) for line in lines]
    assert len(errors) == 10
    assert errors[-1] < errors[0] and errors[-1] < 40.0


def test_spirals_are_balanced_and_deterministic():
    x1, y1 = spirals(50, seed=3)
    x2, y2 = spirals(50, seed=3)
    assert x1.shape == (150, 2) and np.bincount(y1).tolist() == [50, 50, 50]
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)


def test_kernels_command_reports_each_kernel_with_its_nodes(tmp_path, capsys):
    x = ns.tensor("x", (None, 4))
    W = ns.shared(np.ones((4, 3)), "W")
    b = ns.shared(np.zeros(3), "b")
    path = tmp_path / "layer.json"
    ns.save({"h": ns.tanh(ns.dot(x, W) + b)}, path)
    assert main(["kernels", str(path), "--batch-size", "8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2  # the matmul, then bias + tanh fused
    assert "matmul" in out[0] and "ms" in out[0]
    assert "tanh" in out[1] and "add" in out[1]


def test_a_broken_file_is_a_one_line_error(tmp_path, capsys):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "nodestudio-graph", "version": 99}')
    assert main(["kernels", str(path)]) == 2
    err = capsys.readouterr().err
    assert "broken.json" in err and "newer" in err


def test_kernels_command_asks_for_unknown_sizes(tmp_path):
    path = tmp_path / "free.json"
    x = ns.matrix("x")
    ns.save({"y": ns.tanh(x)}, path)
    with pytest.raises(SystemExit, match="--input-shape x="):
        main(["kernels", str(path)])
    assert main(["kernels", str(path), "--input-shape", "x=3,5"]) == 0
