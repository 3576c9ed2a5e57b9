"""The random_affine augmentation op: device vs the float64 reference, identity, a quarter
turn, and training with `--rotate` / `--scale`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.cli import main
from nodestudio.ir.expr import apply
from nodestudio.ir.reference import evaluate
from nodestudio.ops.augment import affine_images, draws
from nodestudio.train.regularise import AFFINE_SEED, Regularisation, random_affine

pytestmark = pytest.mark.opencl


@pytest.mark.parametrize("shape, hw, attrs", [
    ((5, 63), (7, 9), {"max_degrees": 40.0, "max_scale": 0.25, "seed": 3}),
    ((4, 8, 8), (8, 8), {"max_degrees": 180.0, "max_scale": 0.0, "seed": 0}),
])
def test_opencl_matches_reference_and_changes_per_call(shape, hw, attrs):
    x = ns.tensor("x", (None,) + shape[1:])
    y = apply("random_affine", x, height=hw[0], width=hw[1], **attrs)
    fn = ns.function([x], y)
    xv = np.random.default_rng(1).random(shape).astype(np.float32)
    outs = []
    for call in range(2):
        got = fn(xv)
        want = evaluate([y], {x: xv.astype(np.float64)}, call_index=call)[0]
        assert got.shape == xv.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)
        outs.append(want)
    assert not np.allclose(outs[0], outs[1]), "new angles and scales on every call"
    assert not np.allclose(outs[0], xv)


def test_zero_ranges_are_the_identity():
    x = ns.tensor("x", (None, 784))
    y = apply("random_affine", x, max_degrees=0.0, max_scale=0.0, seed=5)
    xv = np.random.default_rng(2).random((3, 784)).astype(np.float32)
    fn = ns.function([x], y)
    for _ in range(2):
        np.testing.assert_allclose(fn(xv), xv, atol=1e-6)
    np.testing.assert_allclose(evaluate([y], {x: xv.astype(np.float64)})[0], xv, atol=1e-12)
    assert random_affine(x, 0.0, 0.0) is x


def test_a_near_quarter_turn_is_a_clockwise_rot90():
    """With max_degrees = 90 the angle of some examples lies within 0.3 degrees of +-90: those
    outputs match np.rot90 (clockwise for +90, rows pointing down) on a 5 x 5 image."""
    n = 3000
    img = np.zeros((5, 5))
    img[0, 1:4] = 1.0  # a bar along the top row and one pixel off-centre
    img[3, 3] = 0.5
    angle, scale = draws(n, 7, 0, 90.0, 0.0)
    assert np.all(scale == 1.0)
    x = ns.tensor("x", (n, 5, 5))
    y = apply("random_affine", x, height=5, width=5, max_degrees=90.0, max_scale=0.0, seed=7)
    got = ns.function([x], y)(np.broadcast_to(img, (n, 5, 5)).astype(np.float32))
    checked = 0
    for target, k in ((math.pi / 2, -1), (-math.pi / 2, 1)):
        picks = np.flatnonzero(np.abs(angle - target) < math.radians(0.3))
        assert len(picks) > 0
        for i in picks:
            np.testing.assert_allclose(got[i], np.rot90(img, k), atol=0.03)
            checked += 1
    assert checked >= 2
    # exactly +90 in the reference is exactly rot90
    np.testing.assert_allclose(affine_images(img[None], np.array([math.pi / 2]),
                                             np.array([1.0]))[0], np.rot90(img, -1), atol=1e-12)


def test_regularisation_checks_its_settings_and_input():
    with pytest.raises(ValueError, match="rotate"):
        Regularisation(rotate_degrees=-1.0)
    with pytest.raises(ValueError, match="scale"):
        Regularisation(scale=1.5)
    assert Regularisation(rotate_degrees=10.0).active and Regularisation(scale=0.1).active
    small = ns.tensor("x", (None, 64))
    with pytest.raises(ValueError, match="28 x 28"):
        Regularisation(rotate_degrees=10.0).training_loss(ns.sum(small), small, [])
    x = ns.tensor("x", (None, 784))
    loss = Regularisation(rotate_degrees=10.0, scale=0.1).training_loss(ns.sum(x), x, [])
    from nodestudio.ir.expr import toposort
    nodes = [n for n in toposort([loss]) if n.op.name == "random_affine"]
    assert len(nodes) == 1 and nodes[0].attrs["seed"] == AFFINE_SEED


def test_the_cli_trains_with_random_rotations_and_scalings(tmp_path):
    example = Path(__file__).resolve().parents[2] / "resources/examples/logistic_regression.json"
    assert main(["train", str(example), "--data", "mnist5k", "--epochs", "1", "--rotate", "10",
                 "--scale", "0.1", "--out", str(tmp_path)]) == 0
    (epoch,) = json.loads((tmp_path / "metrics.json").read_text())["epochs"]
    assert math.isfinite(epoch["train_loss"]) and math.isfinite(epoch["valid_loss"])
