"""Conformance of every registered op: shape rule vs reference, reference gradients vs finite
differences, and the OpenCL float32 kernels vs the float64 reference (forward and backward).

`CASES` holds the inputs of each op. A registered op without an entry fails
`test_op_conformance_table_is_complete`, so a new op is covered the moment it exists.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import GraphError
from nodestudio.ir.autodiff import grad as ir_grad
from nodestudio.ir.expr import apply
from nodestudio.ir.reference import evaluate
from nodestudio.ops import all_ops, get
from nodestudio.ops.init import INITIALISERS, fans, initial_value
from tests.ops.conformance_indexing import indexing_cases

FLOAT, INT = "float32", "int32"

# --- input generators: (rng, shape) -> float64 / int64 array --------------------------------


def _normal(rng, shape): return rng.standard_normal(shape)
def _small(rng, shape): return rng.uniform(-1.0, 1.0, shape)
def _pos(rng, shape): return rng.uniform(0.5, 2.0, shape)
def _prob(rng, shape): return rng.uniform(0.1, 0.9, shape)
def _away(rng, shape):  # |x| >= 0.2: no kink of abs / relu / sign within reach of FD steps
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(0.2, 2.0, shape)
def _ties(rng, shape): return rng.integers(-1, 2, shape).astype(np.float64)
def _kinks(rng, shape): return rng.choice([-1.5, -0.5, 0.0, 0.0, 0.5, 1.5], shape)
def _cond(rng, shape): return rng.integers(0, 2, shape).astype(np.float64)
def _ints(rng, shape): return rng.integers(-3, 4, shape)
def _exponent(rng, shape): return rng.integers(2, 4, shape).astype(np.float64)
def _neg(rng, shape): return -rng.uniform(0.5, 2.0, shape)


def _distinct(rng, shape):
    """Distinct values 4/size apart: no ties for max / argmax, even after rounding to float32."""
    n = int(np.prod(shape, dtype=np.int64))
    return (rng.permutation(n).reshape(shape) * (4.0 / max(n, 1)) - 2.0).astype(np.float64)


def _labels(k, low=0, high=None):
    return lambda rng, shape: rng.integers(low, k if high is None else high, shape)


@dataclass(frozen=True)
class Arg:
    shape: tuple
    gen: Callable = _normal
    dtype: str = FLOAT


def F(*shape, gen=_normal) -> Arg:  # noqa: N802
    return Arg(tuple(shape), gen, FLOAT)


def I(*shape, gen=_ints) -> Arg:  # noqa: N802, E743
    return Arg(tuple(shape), gen, INT)


@dataclass
class Case:
    id: str
    args: tuple
    attrs: dict = field(default_factory=dict)
    fd: bool = True  # finite differences (off at kinks and ties: forward / rule checks only)
    mode: str = "infer"  # mode of the forward evaluation and of the compiled function
    wrt: tuple | None = None  # input indices to differentiate (default: every float input)
    free: Any = "all"  # shapes with None dims for the free-shape check; None: skip it
    opencl: bool = True  # see OPENCL_SUBSET
    xfail_fd: str | None = None  # a known library bug that breaks the finite-difference check


SOURCE = "source"  # source ops have their own tests below

SHAPE_1 = [("scalar", ()), ("n1", (1,)), ("n7", (7,)), ("n33", (33,)), ("n257", (257,)),
           ("2d", (3, 4))]
SHAPE_2 = [("scalar", (), ()), ("bcast", (3, 1), (1, 4)), ("lead", (5,), (2, 5)),
           ("n1", (1,), (1,)), ("n7_scalar", (7,), ()), ("n33", (33,), (33,)),
           ("n257_1", (257,), (1,))]


def unary(gen=_normal, kinks=None, attrs=None, shapes=SHAPE_1) -> list[Case]:
    cases = [Case(name, (F(*shape, gen=gen),), dict(attrs or {})) for name, shape in shapes]
    if kinks is not None:
        cases.append(Case("kinks", (F(2, 6, gen=kinks),), dict(attrs or {}), fd=False))
    return cases


def binary(gen_a=_normal, gen_b=_normal, ties=False, shapes=SHAPE_2) -> list[Case]:
    cases = [Case(name, (F(*sa, gen=gen_a), F(*sb, gen=gen_b))) for name, sa, sb in shapes]
    if ties:
        cases.append(Case("ties", (F(3, 5, gen=_ties), F(3, 5, gen=_ties)), fd=False))
        cases.append(Case("ties_bcast", (F(3, 1, gen=_ties), F(1, 5, gen=_ties)), fd=False))
    return cases


def int_case(n_inputs: int) -> Case:
    return Case("int", tuple(I(3, 4) for _ in range(n_inputs)), fd=False, free=None)


SUBSETS = [None] + [c for r in range(4) for c in combinations(range(3), r)] + [(-1,), (-3, -1)]


def reductions(gen) -> list[Case]:
    cases = [Case(f"axis{'all' if axis is None else ''.join(map(str, axis)) or '_empty'}"
                  f"{'_keep' if keep else ''}", (F(2, 3, 4, gen=gen),),
                  {"axis": axis, "keepdims": keep})
             for axis in SUBSETS for keep in (False, True)]
    cases += [Case("n1", (F(1, gen=gen),), {"axis": None}),
              Case("n257", (F(257, gen=gen),), {"axis": 0}),
              Case("n33x7_axis0", (F(33, 7, gen=gen),), {"axis": 0}),
              Case("n7x33_axis1_keep", (F(7, 33, gen=gen),), {"axis": 1, "keepdims": True}),
              Case("scalar", (F(gen=gen),), {"axis": None})]
    return cases


_LSE_IDS = ("axisall", "axis1", "axis02_keep", "axis-1", "axis_empty", "n1", "n257",
            "n7x33_axis1_keep", "scalar")


def statistics() -> list[Case]:
    """var / std: at least two elements per reduction (std's gradient at a zero spread is
    0 / 0), ddof 0 and 1, free dimensions (ddof 1 then counts the elements on the device)."""
    return [Case("all", (F(3, 4),), {"axis": None}),
            Case("axis1_keep", (F(3, 4),), {"axis": (1,), "keepdims": True}),
            Case("axis0_ddof1", (F(5, 3),), {"axis": (0,), "ddof": 1}),
            Case("axis02_ddof1", (F(2, 3, 4),), {"axis": (0, 2), "ddof": 1}),
            Case("n257", (F(257),), {"axis": None}),
            Case("n7x33_axis1", (F(7, 33),), {"axis": (1,), "ddof": 1})]


def softmaxes() -> list[Case]:
    return [Case("last", (F(3, 4),), {"axis": -1}), Case("axis0", (F(3, 4),), {"axis": 0}),
            Case("3d_axis1", (F(2, 3, 4),), {"axis": 1}), Case("n1", (F(1),), {"axis": 0}),
            Case("n257", (F(257, gen=_small),), {"axis": 0}),
            Case("n7x33_axis0", (F(7, 33),), {"axis": 0}),
            Case("n33x7", (F(33, 7),), {"axis": -1}),
            Case("large", (F(2, 5, gen=lambda r, s: 40 * r.standard_normal(s)),), {"axis": 1})]


def matmuls() -> list[Case]:
    cases = []
    for ta in (False, True):
        for tb in (False, True):
            for tag, (m, k, n) in [("small", (2, 3, 4)), ("odd", (7, 33, 1)),
                                   ("odd2", (33, 7, 257)), ("ones", (1, 1, 1))]:
                a = (k, m) if ta else (m, k)
                b = (n, k) if tb else (k, n)
                cases.append(Case(f"{'T' if ta else 'N'}{'T' if tb else 'N'}_{tag}",
                                  (F(*a, gen=_small), F(*b, gen=_small)),
                                  {"trans_a": ta, "trans_b": tb}))
    # batched (NumPy matmul): equal batches, a matrix broadcast over a batch, broadcast axes
    for ta, tb in ((False, False), (True, False), (False, True), (True, True)):
        for tag, (ba, bb), (m, k, n) in [("batched", ((3,), (3,)), (4, 5, 2)),
                                         ("bcast_a", ((), (3,)), (2, 7, 3)),
                                         ("bcast_axes", ((2, 1), (3,)), (3, 4, 17))]:
            a = (*ba, *((k, m) if ta else (m, k)))
            b = (*bb, *((n, k) if tb else (k, n)))
            cases.append(Case(f"{'T' if ta else 'N'}{'T' if tb else 'N'}_{tag}",
                              (F(*a, gen=_small), F(*b, gen=_small)),
                              {"trans_a": ta, "trans_b": tb}))
    return cases


def convs() -> dict[str, list[Case]]:
    """conv2d and its two gradient ops over the same geometries: (x, w, attrs)."""
    geometries = [
        ("basic", (2, 3, 6, 5), (4, 3, 3, 3), {}),
        ("stride2_pad1", (2, 2, 7, 6), (3, 2, 3, 3), {"stride": (2, 2), "padding": (1, 1)}),
        ("one_channel_batch1", (1, 1, 5, 5), (2, 1, 5, 5), {}),
        ("odd", (1, 3, 9, 7), (5, 3, 2, 4), {"stride": (2, 3), "padding": (1, 2)}),
        ("pointwise", (2, 4, 3, 3), (2, 4, 1, 1), {}),
    ]
    cases: dict[str, list[Case]] = {"conv2d": [], "conv2d_grad_input": [],
                                     "conv2d_grad_weight": []}
    for tag, xs, ws, attrs in geometries:
        stride, pad = attrs.get("stride", (1, 1)), attrs.get("padding", (0, 0))
        gs = (xs[0], ws[0], *((xs[2 + i] + 2 * pad[i] - ws[2 + i]) // stride[i] + 1
                              for i in range(2)))
        cases["conv2d"].append(Case(tag, (F(*xs), F(*ws)), dict(attrs)))
        cases["conv2d_grad_input"].append(Case(tag, (F(*gs), F(*ws), F(*xs)), dict(attrs),
                                               wrt=(0, 1)))
        cases["conv2d_grad_weight"].append(Case(tag, (F(*xs), F(*gs), F(*ws)), dict(attrs),
                                                wrt=(0, 1)))
    return cases


POOL_GEOMETRIES = [  # (tag, x shape, attrs)
    ("2x2", (2, 3, 6, 6), {}),
    ("3x3_stride1_pad1", (1, 2, 5, 4), {"size": (3, 3), "stride": (1, 1), "padding": (1, 1)}),
    ("ceil", (1, 2, 7, 5), {"size": (2, 2), "ignore_border": False}),
    ("overlap_ceil", (2, 1, 7, 8), {"size": (3, 3), "stride": (2, 2), "ignore_border": False}),
    ("rect_odd", (1, 1, 9, 7), {"size": (3, 2), "stride": (2, 3), "padding": (1, 1)}),
]


def pools(kind: str) -> list[Case]:
    gen = _distinct if kind == "max" else _normal
    cases = [Case(tag, (F(*xs, gen=gen),), dict(attrs)) for tag, xs, attrs in POOL_GEOMETRIES]
    if kind == "max":  # ties: the gradient goes to the first maximum only (forward + OpenCL)
        cases += [Case("ties", (F(2, 2, 4, 4, gen=_ties),), {}, fd=False),
                  Case("ties_overlap", (F(1, 2, 5, 5, gen=_ties),),
                       {"size": (3, 3), "stride": (1, 1)}, fd=False)]
    return cases


def _pooled(xs, attrs) -> tuple[int, ...]:
    from nodestudio.ops.conv import pool_geometry, pool_out_dim
    full = {"size": (2, 2), "stride": None, "padding": (0, 0), "ignore_border": True, **attrs}
    size, stride, pad = pool_geometry(full)
    return (*xs[:2], *(pool_out_dim(xs[2 + i], size[i], stride[i], pad[i],
                                    full["ignore_border"]) for i in range(2)))


CASES: dict[str, Any] = {
    # arithmetic
    "add": binary() + [int_case(2)],
    "sub": binary() + [int_case(2)],
    "mul": binary() + [int_case(2)],
    "div": binary(_normal, _away),
    "pow": binary(_pos, _normal) + [
        Case("neg_base_int_exp", (F(3, 4, gen=_neg), F(3, 4, gen=_exponent)), fd=False)],
    "pow_scalar": unary(_pos, attrs={"exponent": 2.5}) + [
        Case("int7_neg_base", (F(3, 4, gen=_neg),), {"exponent": 7.0}),
        Case("minus_half", (F(7, gen=_pos),), {"exponent": -0.5}),
        Case("minus3", (F(33, gen=_away),), {"exponent": -3.0})],
    "sin": unary(lambda r, s: 3 * r.standard_normal(s)),
    "cos": unary(lambda r, s: 3 * r.standard_normal(s)),
    "erf": unary(lambda r, s: 2 * r.standard_normal(s)),
    "gelu": unary(lambda r, s: 3 * r.standard_normal(s)),
    "elu": unary(_away, kinks=_kinks, attrs={"alpha": 0.5}, shapes=SHAPE_1[:4])
    + [Case("default_alpha", (F(3, 4, gen=_away),))],
    "clip": [Case("both", (F(3, 4, gen=_away),), {"lo": -0.5, "hi": 0.7}),
             Case("scalar", (F(),), {"lo": -1.0, "hi": 1.0}),
             Case("n33_no_hi", (F(33, gen=_away),), {"lo": 0.1, "hi": float("inf")}),
             Case("bounds", (F(2, 6, gen=_kinks),), {"lo": -0.5, "hi": 0.5}, fd=False),
             Case("default", (F(7, gen=_prob),))],
    "neg": unary() + [Case("int", (I(7),), fd=False, free=None)],
    "exp": unary(),
    "log": unary(_pos),
    "expm1": unary(),
    "log1p": unary(_pos),
    "sqrt": unary(_pos),
    "square": unary(),
    "abs": unary(_away, kinks=_kinks),
    "sign": unary(_away, kinks=_kinks),
    "maximum": binary(ties=True),
    "minimum": binary(ties=True),
    # comparisons: odd sizes and broadcasting are covered by the arithmetic ops above
    **{name: binary(ties=True, shapes=SHAPE_2[:3])
       for name in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal")},
    "where": [Case("same", (F(3, 4, gen=_cond), F(3, 4), F(3, 4)), wrt=(1, 2)),
              Case("bcast", (F(3, 1, gen=_cond), F(1, 4), F()), wrt=(1, 2)),
              Case("scalar", (F(gen=_cond), F(), F()), wrt=(1, 2)),
              Case("n257", (F(257, gen=_cond), F(257), F(1)), wrt=(1, 2))],
    # activations
    "sigmoid": unary(lambda r, s: 3 * r.standard_normal(s)),
    "tanh": unary(lambda r, s: 2 * r.standard_normal(s)),
    "relu": unary(_away, kinks=_kinks),
    "leaky_relu": unary(_away, kinks=_kinks, attrs={"alpha": 0.2}, shapes=SHAPE_1[:4])
    + [Case("default_alpha", (F(3, 4, gen=_away),))],
    "prelu": [Case("per_channel", (F(3, 4, gen=_away), F(4, gen=_pos))),
              Case("scalar_alpha", (F(7, gen=_away), F(gen=_pos))),
              Case("kinks", (F(2, 6, gen=_kinks), F(6, gen=_pos)), fd=False)],
    "softplus": unary(lambda r, s: 3 * r.standard_normal(s)),
    "zeros_like": unary(shapes=SHAPE_1[:3]) + [Case("int", (I(3, 4),), fd=False, free=None)],
    "ones_like": unary(shapes=SHAPE_1[:3]) + [Case("int", (I(3, 4),), fd=False, free=None)],
    "broadcast_like": [
        Case("row", (F(1, 4), F(3, 4))),
        Case("col_divide", (F(3, 1), F(3, 4)), {"divide_by_axes": (1,)}),
        Case("scalar_divide_all", (F(), F(2, 3)), {"divide_by_axes": (0, 1)}),
        Case("lead_divide", (F(5,), F(2, 5)), {"divide_by_axes": (0,)}),
        Case("same", (F(33,), F(33,))),
        Case("int", (I(1, 4), I(3, 4)), fd=False, free=None)],
    # random
    "random_uniform_like": [Case("seed0", (F(3, 4),), {"seed": 0}),
                            Case("seed7", (F(257,),), {"seed": 7}),
                            Case("scalar", (F(),), {"seed": 1}),
                            Case("own_stream", (F(5, 3),))],
    # augmentation (no gradient: forward and OpenCL checks only)
    "random_affine": [
        Case("flat", (F(3, 35),), {"height": 5, "width": 7, "max_degrees": 30.0,
                                   "max_scale": 0.2, "seed": 4}, fd=False),
        Case("images", (F(2, 6, 6),), {"height": 6, "width": 6, "seed": 9}, fd=False)],
    # composites
    "dense": [Case("small", (F(3, 4), F(4, 5), F(5))), Case("odd", (F(7, 33), F(33, 1), F(1)))],
    # layers own their parameters: in the IR they are the node's last inputs
    "dense_layer": [
        Case("tanh", (F(3, 4), F(4, 5), F(5)), {"units": 5, "activation": "tanh"},
             free=[(None, 4), (4, 5), (5,)]),
        Case("relu_images", (F(2, 3, 2, 2), F(12, 4), F(4)), {"units": 4, "activation": "relu"},
             free=[(None, 3, 2, 2), (12, 4), (4,)]),
        Case("sigmoid_odd", (F(7, 33), F(33, 1), F(1)), {"units": 1, "activation": "sigmoid"},
             free=[(None, 33), (33, 1), (1,)]),
        Case("none", (F(5, 3), F(3, 2), F(2)), {"units": 2}, free=[(None, 3), (3, 2), (2,)])],
    "batch_norm_layer": [
        Case(mode, (F(6, 3), F(3, gen=_pos), F(3), F(3), F(3, gen=_pos)),
             {"mode": mode, "momentum": 0.2}, free=[(None, 3), (3,), (3,), (3,), (3,)])
        for mode in ("train", "infer")],
    "conv2d_layer": [
        Case("tanh", (F(2, 3, 6, 5), F(4, 3, 3, 3), F(4)),
             {"filters": 4, "kernel_size": (3, 3), "activation": "tanh"},
             free=[(None, 3, 6, 5), (4, 3, 3, 3), (4,)]),
        Case("sigmoid_stride2_pad1", (F(2, 2, 7, 6), F(3, 2, 3, 3), F(3)),
             {"filters": 3, "kernel_size": (3, 3), "stride": (2, 2), "padding": (1, 1),
              "activation": "sigmoid"}, free=[(None, 2, 7, 6), (3, 2, 3, 3), (3,)]),
        Case("none_one_channel", (F(1, 1, 5, 5), F(2, 1, 5, 5), F(2)),
             {"filters": 2, "kernel_size": (5, 5)}, free=[(None, 1, 5, 5), (2, 1, 5, 5), (2,)])],
    # the autoencoder layer: W, b, b_prime (and W_prime when untied) are its last inputs;
    # its noise in training mode is checked against Philox in tests/ops/test_autoencoder_op.py
    "autoencoder_layer": [
        Case("tied_ce", (F(5, 6, gen=_prob), F(6, 4, gen=_small), F(4), F(6)), {"hidden": 4},
             free=[(None, 6), (6, 4), (4,), (6,)]),
        Case("untied_masking", (F(5, 6, gen=_prob), F(6, 4, gen=_small), F(4), F(6),
                                F(4, 6, gen=_small)),
             {"hidden": 4, "tied": False, "noise": "masking", "noise_level": 0.3, "seed": 3},
             mode="train", free=[(None, 6), (6, 4), (4,), (6,), (4, 6)]),
        Case("tied_squared_gaussian_tanh", (F(7, 5), F(5, 3, gen=_small), F(3), F(5)),
             {"hidden": 3, "activation": "tanh", "decoder": "none", "loss": "squared_error",
              "noise": "gaussian", "noise_level": 0.2, "seed": 5}, mode="train",
             free=[(None, 5), (5, 3), (3,), (5,)]),
        Case("untied_salt_pepper_own_stream", (F(4, 6, gen=_prob), F(6, 2, gen=_small), F(2),
                                               F(6), F(2, 6, gen=_small)),
             {"hidden": 2, "tied": False, "noise": "salt_and_pepper", "noise_level": 0.4},
             mode="train", free=[(None, 6), (6, 2), (2,), (6,), (2, 6)]),
        Case("images", (F(2, 1, 3, 2, gen=_prob), F(6, 3, gen=_small), F(3), F(6)),
             {"hidden": 3}, free=[(None, 1, 3, 2), (6, 3), (3,), (6,)])],
    # the RBM: (v, W, vbias, hbias, chain); Philox draws at call 0 on both sides, so the
    # sampled states agree exactly. Gaussian visibles: their chain end moves with W, which
    # the cost's stop_gradient hides from the analytic gradient but not from finite
    # differences, so they are checked forward and on OpenCL only.
    "rbm_layer": [
        Case("bernoulli_cd1", (F(5, 6, gen=_cond), F(6, 4, gen=_small), F(6, gen=_small),
                               F(4, gen=_small), F(1, 6)), {"hidden": 4, "seed": 3},
             free=[(None, 6), (6, 4), (6,), (4,), (1, 6)]),
        Case("bernoulli_cd3", (F(7, 5, gen=_cond), F(5, 3, gen=_small), F(5), F(3),
                               F(1, 5)), {"hidden": 3, "k": 3},
             free=[(None, 5), (5, 3), (5,), (3,), (1, 5)]),
        Case("bernoulli_pcd2", (F(4, 6, gen=_cond), F(6, 4, gen=_small), F(6), F(4),
                                F(3, 6, gen=_cond)),
             {"hidden": 4, "k": 2, "persistent": True, "particles": 3, "seed": 5},
             free=[(None, 6), (6, 4), (6,), (4,), (3, 6)]),
        Case("gaussian_cd1", (F(5, 6), F(6, 4, gen=_small), F(6), F(4), F(1, 6)),
             {"hidden": 4, "visible": "gaussian", "seed": 8}, fd=False,
             free=[(None, 6), (6, 4), (6,), (4,), (1, 6)]),
        Case("gaussian_pcd2", (F(4, 5), F(5, 3, gen=_small), F(5), F(3), F(6, 5)),
             {"hidden": 3, "visible": "gaussian", "k": 2, "persistent": True,
              "particles": 6}, fd=False, free=[(None, 5), (5, 3), (5,), (3,), (6, 5)])],
    "mode_switch": [Case("infer", (F(3, 4), F(3, 4))),
                    Case("train", (F(3, 4), F(3, 4)), mode="train"),
                    Case("pinned_infer", (F(2, 5), F(2, 5)), {"mode": "infer"}, mode="train")],
    "dropout": [Case("infer", (F(3, 4),), {"p": 0.5, "mode": "infer"}),
                Case("auto_infer", (F(3, 4),), {"p": 0.5}),
                Case("train", (F(4, 8),), {"p": 0.5, "seed": 3, "mode": "train"}),
                Case("auto_train", (F(33,),), {"p": 0.25, "seed": 1}, mode="train"),
                Case("p0_train", (F(3, 4),), {"p": 0.0, "mode": "train"}),
                Case("own_stream_train", (F(5, 6),), {"p": 0.5, "mode": "train"})],
    "batch_norm": [
        Case(f"{mode}_{tag}", (F(*xs), F(3, gen=_pos), F(3), F(3), F(3, gen=_pos)),
             {"axis": axis, "mode": mode, "momentum": 0.2},
             free=[tuple(None if i != axis else 3 for i in range(len(xs))), (None,), (None,),
                   (None,), (None,)])
        for mode in ("train", "infer")
        for tag, xs, axis in [("2d", (6, 3), 1), ("3d", (4, 3, 2), 1), ("axis0", (3, 5), 0)]]
    + [Case("auto_train", (F(6, 3), F(3, gen=_pos), F(3), F(3), F(3, gen=_pos)), mode="train",
            free=[(None, 3), (3,), (3,), (3,), (3,)])],
    "softmax_cross_entropy": [
        Case("small", (F(5, 4), I(5, gen=_labels(4))), free=[(None, 4), (None,)]),
        Case("odd", (F(33, 7), I(33, gen=_labels(7))), free=[(None, 7), (None,)]),
        Case("one_row", (F(1, 3), I(1, gen=_labels(3))), free=[(None, 3), (None,)])],
    "binary_cross_entropy": [Case("small", (F(3, 4, gen=_prob), F(3, 4, gen=_prob))),
                             Case("n33", (F(33, gen=_prob), F(33, gen=_cond)))],
    "squared_error": [Case("small", (F(3, 4), F(3, 4))), Case("bcast", (F(5, 1), F(5, 3)))],
    "absolute_error": [Case("small", (F(3, 4), F(3, 4))), Case("n33", (F(33), F(33)))],
    "classification_error": [
        Case("small", (F(6, 4, gen=_distinct), I(6, gen=_labels(4)))),
        Case("ties_first", (F(5, 3, gen=_ties), I(5, gen=_labels(3))), fd=False)],
    "l1_penalty": [Case("small", (F(3, 4, gen=_away),), {"weight": 0.5}),
                   Case("n33", (F(33, gen=_away),))],
    "l2_penalty": [Case("small", (F(3, 4),), {"weight": 0.01}), Case("n257", (F(257),))],
    # reductions
    "sum": reductions(_normal),
    "mean": reductions(_normal),
    "max": reductions(_distinct) + [
        Case("ties_axis1", (F(3, 5, gen=_ties),), {"axis": 1}, fd=False),
        Case("ties_all", (F(2, 3, gen=_ties),), {"axis": None}, fd=False)],
    "argmax": [Case(f"axis{axis}{'_keep' if keep else ''}", (F(3, 4, 5, gen=_distinct),),
                    {"axis": axis, "keepdims": keep})
               for axis in (0, 1, 2, -1) for keep in (False, True)]
    + [Case("ties_first", (F(4, 6, gen=_ties),), {"axis": 1}, fd=False),
       Case("n257", (F(257, gen=_distinct),), {"axis": 0}),
       Case("n1", (F(1),), {"axis": 0})],
    "min": reductions(_distinct) + [
        Case("ties_axis1", (F(3, 5, gen=_ties),), {"axis": 1}, fd=False),
        Case("ties_all", (F(2, 3, gen=_ties),), {"axis": None}, fd=False)],
    "var": statistics(),
    "std": statistics(),
    "logsumexp": [c for c in reductions(_normal) if c.id in _LSE_IDS] + [
        Case("large", (F(2, 5, gen=lambda r, s: 40 * r.standard_normal(s)),), {"axis": 1})],
    "softmax": softmaxes(),
    "log_softmax": softmaxes(),
    # sources
    "input": SOURCE, "constant": SOURCE, "parameter": SOURCE,
    # structure
    "reshape": [Case("to2d", (F(2, 3, 4),), {"shape": (6, 4)}),
                Case("infer", (F(2, 3, 4),), {"shape": (4, -1)}),
                Case("flat", (F(7, 33),), {"shape": (-1,)}),
                Case("scalar_to_1", (F(),), {"shape": (1,)}),
                Case("1_to_scalar", (F(1),), {"shape": ()}),
                Case("n257", (F(257),), {"shape": (1, 257, 1)})],
    "reshape_like": [Case("3d", (F(6, 4), F(2, 3, 4))), Case("scalar", (F(1, 1), F())),
                     Case("n33", (F(33,), F(3, 11)))],
    "expand_dims": [Case("front", (F(3, 4),), {"axes": (0,)}),
                    Case("back", (F(3, 4),), {"axes": (-1,)}),
                    Case("two", (F(3, 4),), {"axes": (0, 2)}),
                    Case("scalar", (F(),), {"axes": (0,)}),
                    Case("n257", (F(257),), {"axes": (1,)})],
    "squeeze": [Case("two", (F(1, 3, 1),), {"axes": (0, 2)}),
                Case("last", (F(3, 1),), {"axes": (-1,)}),
                Case("to_scalar", (F(1),), {"axes": (0,)}),
                Case("n33", (F(33, 1, 7),), {"axes": (1,)})],
    "transpose": [Case("2d", (F(3, 4),), {"axes": (1, 0)}),
                  Case("3d_201", (F(2, 3, 4),), {"axes": (2, 0, 1)}),
                  Case("3d_021", (F(2, 3, 4),), {"axes": (0, 2, 1)}),
                  Case("identity", (F(2, 3),), {"axes": (0, 1)}),
                  Case("negative", (F(2, 3, 4),), {"axes": (-1, 0, 1)}),
                  Case("n1x7", (F(1, 7),), {"axes": (1, 0)}),
                  Case("n33x257", (F(33, 257, gen=_small),), {"axes": (1, 0)}),
                  Case("1d", (F(7),), {"axes": (0,)})],
    "concatenate": [Case("axis0", (F(2, 3), F(4, 3)), {"axis": 0}),
                    Case("axis1_three", (F(2, 3), F(2, 1), F(2, 4)), {"axis": 1}),
                    Case("last_3d", (F(2, 3, 1), F(2, 3, 7)), {"axis": -1}),
                    Case("one_input", (F(3, 4),), {"axis": 0}),
                    Case("odd", (F(1,), F(33,), F(257,)), {"axis": 0}),
                    Case("int", (I(2, 3), I(1, 3)), {"axis": 0}, fd=False, free=None)],
    "slice": [Case("window", (F(5, 6),), {"slices": ((1, 4, 1), (None, None, 2))}),
              Case("lead_only", (F(5, 6),), {"slices": ((2, None, None),)}),
              Case("negative", (F(7, 3),), {"slices": ((-3, None, 1),)}),
              Case("clipped", (F(4, 3),), {"slices": ((1, 100, 2), (None, None, None))}),
              Case("n257_step7", (F(257),), {"slices": ((3, 250, 7),)}),
              Case("empty_spec", (F(3, 4),), {"slices": ()}),
              Case("3d", (F(3, 4, 5),), {"slices": ((None, None, 2), (1, 3, 1), (0, 5, 2))}),
              Case("empty_result", (F(3, 4),), {"slices": ((2, 1, 1),)}, free=None),
              Case("reverse", (F(5, 6),), {"slices": ((None, None, -1),)}),
              Case("negative_steps", (F(7, 3),), {"slices": ((5, 0, -2), (None, None, -1))}),
              Case("negative_3d", (F(3, 4, 5),), {"slices": ((None, None, None), (3, None, -1),
                                                               (-1, 0, -3))}),
              Case("negative_empty", (F(4, 3),), {"slices": ((1, 2, -1),)}, free=None)],
    "unslice": [Case("window", (F(3, 3), F(5, 6)), {"slices": ((1, 4, 1), (0, 6, 2))}),
                Case("lead", (F(3, 6), F(5, 6)), {"slices": ((2, None, None),)}),
                Case("n257", (F(36,), F(257,)), {"slices": ((3, 250, 7),)})],
    "pad": [Case("2d", (F(3, 4),), {"widths": ((1, 2), (0, 3))}),
            Case("lead_only", (F(2, 3),), {"widths": ((2, 0),)}),
            Case("3d", (F(2, 3, 4),), {"widths": ((0, 0), (1, 1), (2, 0))}),
            Case("n33", (F(33),), {"widths": ((5, 7),)}),
            Case("nothing", (F(3),), {"widths": ((0, 0),)}),
            Case("int", (I(2, 3),), {"widths": ((1, 1), (1, 0))}, fd=False, free=None)],
    "flip": [Case("axis0", (F(3, 4),), {"axes": (0,)}),
             Case("all", (F(2, 3, 4),)),
             Case("last", (F(2, 3, 4),), {"axes": (-1,)}),
             Case("n257", (F(257),)),
             Case("scalar", (F(),)),
             Case("int", (I(3, 4),), {"axes": (1,)}, fd=False, free=None)],
    "one_hot": [Case("vector", (I(5, gen=_labels(4)),), {"depth": 4}),
                Case("out_of_range", (I(8, gen=_labels(4, -1, 5)),), {"depth": 4}),
                Case("scalar", (I(gen=_labels(3)),), {"depth": 3}),
                Case("matrix", (I(2, 3, gen=_labels(5)),), {"depth": 5}),
                Case("n257_depth33", (I(257, gen=_labels(33)),), {"depth": 33}),
                Case("depth1", (I(7, gen=_labels(1)),), {"depth": 1})],
    "matmul": matmuls(),
    # convolution and pooling
    **convs(),
    "max_pool2d": pools("max"),
    "avg_pool2d": pools("avg"),
    # the max-pool gradient has no gradient rule: forward (and OpenCL) checks only
    "max_pool2d_grad": [Case(tag, (F(*xs, gen=_distinct), F(*_pooled(xs, attrs))), dict(attrs),
                             fd=False) for tag, xs, attrs in POOL_GEOMETRIES]
    + [Case("ties", (F(2, 2, 4, 4, gen=_ties), F(2, 2, 2, 2)), {}, fd=False)],
    "avg_pool2d_grad": [Case(tag, (F(*_pooled(xs, attrs)), F(*xs)), dict(attrs), wrt=(0,))
                        for tag, xs, attrs in POOL_GEOMETRIES],
    **indexing_cases(Case, F, I),
}


# A cold PoCL cache compiles each kernel in about 0.3 s, and every case compiles several (its
# forward and backward graphs). To keep this file near three minutes, the device runs every case
# of the ops whose kernels depend on sizes and axes (sum, argmax, matmul, layout ops, one-hot,
# the representative elementwise ops add, mul, exp, tanh, neg) and the listed subset of the
# others; every case of every op is still checked against the reference (shape rule and finite
# differences). The fused elementwise generator is one code path whatever the op.
_UNARY_CL = ("scalar", "n33", "kinks")
_COMPARE_CL = ("bcast", "ties_bcast")
OPENCL_SUBSET: dict[str, tuple[str, ...]] = {
    **{name: _UNARY_CL for name in ("abs", "sign", "relu")},
    **{name: ("scalar", "n33") for name in ("log", "expm1", "log1p", "sqrt", "square",
                                                   "sigmoid", "softplus")},
    **{name: _COMPARE_CL for name in ("equal", "not_equal", "less", "less_equal", "greater",
                                      "greater_equal")},
    "leaky_relu": ("n7", "kinks", "default_alpha"),
    "sub": ("scalar", "bcast", "lead"),
    "div": ("bcast", "lead", "n257_1"),
    "pow": ("bcast", "n7_scalar", "neg_base_int_exp"),
    "pow_scalar": ("n33", "int7_neg_base", "minus_half", "minus3"),
    "maximum": ("bcast", "n33", "ties_bcast"),
    "minimum": ("lead", "n7_scalar", "ties_bcast"),
    "where": ("bcast", "n257"),
    "zeros_like": ("n7", "int"),
    "ones_like": ("scalar", "int"),
    "broadcast_like": ("col_divide", "scalar_divide_all", "lead_divide", "int"),
    "mean": ("axisall", "axis1_keep", "axis02", "axis-3-1_keep", "n257", "n33x7_axis0"),
    "max": ("axisall_keep", "axis1", "axis12", "n257", "n7x33_axis1_keep", "ties_axis1"),
    "softmax": ("last", "axis0", "3d_axis1", "n257", "n7x33_axis0", "large"),
    "log_softmax": ("last", "3d_axis1", "n1", "n33x7", "large"),
    "batch_norm": ("train_3d", "infer_2d"),
    "softmax_cross_entropy": ("odd",),
    "binary_cross_entropy": ("small",),
    "squared_error": ("bcast",),
    "absolute_error": ("n33",),
    "l1_penalty": ("small",),
    "l2_penalty": ("n257",),
    "classification_error": ("ties_first",),
    "dropout": ("auto_infer", "train", "auto_train", "own_stream_train"),
    "dense": ("odd",),
    "dense_layer": ("tanh", "relu_images"),
    "batch_norm_layer": ("train",),
    "slice": ("window", "negative", "n257_step7", "3d", "empty_result", "reverse",
              "negative_steps", "negative_3d", "negative_empty"),
    **{name: ("scalar", "n33") for name in ("sin", "cos", "erf", "gelu")},
    "elu": ("n7", "kinks", "default_alpha"),
    "min": ("axisall_keep", "axis1", "axis12", "n257", "n7x33_axis1_keep", "ties_axis1"),
    "var": ("all", "axis02_ddof1", "n7x33_axis1"),
    "std": ("axis1_keep", "axis0_ddof1", "n257"),
    "logsumexp": ("axisall", "axis02_keep", "axis_empty", "n7x33_axis1_keep", "scalar", "large"),
    "transpose": ("2d", "3d_201", "negative", "n1x7", "n33x257"),
    # the gradient ops' kernels already run in every conv2d / pool case's backward graph
    "conv2d_grad_input": ("stride2_pad1", "odd"),
    "conv2d_grad_weight": ("stride2_pad1", "odd"),
    "max_pool2d_grad": ("overlap_ceil", "ties"),
    "avg_pool2d_grad": ("ceil", "rect_odd"),
}
for _name, _ids in OPENCL_SUBSET.items():
    for _case in CASES[_name]:
        _case.opencl = _case.id in _ids


# --- building a case ----------------------------------------------------------------------------


def _params(kind: str):
    params = []
    for op in all_ops():
        entry = CASES.get(op.name)
        if entry is None:
            params.append(pytest.param(op.name, None, id=f"{op.name}-MISSING"))
        elif entry == SOURCE:
            continue
        else:
            for case in entry:
                if kind == "opencl" and not case.opencl:
                    continue
                float_args = [a for a in case.args if a.dtype == FLOAT]
                if kind == "fd" and (not case.fd or not (case.wrt or float_args)):
                    continue  # kinks, ties and integer-only cases: forward checks only
                marks = ()
                if kind == "fd" and case.xfail_fd:
                    marks = (pytest.mark.xfail(strict=True, reason=case.xfail_fd),)
                params.append(pytest.param(op.name, case, id=f"{op.name}-{case.id}",
                                           marks=marks))
    return params


PARAMS = _params("shape")
FD_PARAMS = _params("fd")
CL_PARAMS = _params("opencl")


def _seed(op_name: str, case: Case) -> int:
    return zlib.crc32(f"{op_name}/{case.id}".encode())


def _build(op_name: str, case: Case, shapes) -> tuple[list, list]:
    inputs = [ns.tensor(f"in{i}", shape, arg.dtype) for i, (arg, shape) in
              enumerate(zip(case.args, shapes))]
    out = apply(op_name, *inputs, **case.attrs)
    outs = list(out) if isinstance(out, tuple) else [out]
    return inputs, outs


@dataclass
class Prepared:
    inputs: list
    outs: list
    values: list  # float64 / int64 input values (rounded through float32 / int32)
    ref: list  # reference outputs in case.mode

    @property
    def feeds(self):
        return dict(zip(self.inputs, self.values))


@functools.cache
def prepare(op_name: str, case_key: int) -> Prepared:
    case = _by_key[case_key]
    rng = np.random.default_rng(_seed(op_name, case))
    inputs, outs = _build(op_name, case, [a.shape for a in case.args])
    values = []
    for arg in case.args:
        v = np.asarray(arg.gen(rng, arg.shape))
        values.append(v.astype(np.float32).astype(np.float64) if arg.dtype == FLOAT
                      else v.astype(np.int32).astype(np.int64))
    ref = evaluate(outs, dict(zip(inputs, values)), mode=case.mode)
    return Prepared(inputs, outs, values, ref)


_by_key: dict[int, Case] = {}


def _key(case: Case) -> int:
    _by_key[id(case)] = case
    return id(case)


def _wrt(case: Case) -> list[int]:
    if case.wrt is not None:
        return list(case.wrt)
    return [i for i, a in enumerate(case.args) if a.dtype == FLOAT]


def _cost(p: Prepared, rng) -> tuple[Any, list[np.ndarray]]:
    """sum_k sum(out_k * w_k) over the float outputs, with fixed random weights w_k."""
    cost, weights = None, []
    for out, ref in zip(p.outs, p.ref):
        if out.dtype != FLOAT:
            continue
        w = rng.uniform(0.5, 1.5, ref.shape) * rng.choice([-1.0, 1.0], ref.shape)
        weights.append(w)
        term = ns.sum(out * ns.constant(w))
        cost = term if cost is None else cost + term
    return cost, weights


# --- (a) shape rules -----------------------------------------------------------------------------


def test_op_conformance_table_is_complete():
    registered = {op.name for op in all_ops()}
    missing = sorted(registered - set(CASES))
    stale = sorted(set(CASES) - registered)
    assert not missing, f"ops without conformance cases (add them to CASES): {missing}"
    assert not stale, f"CASES has entries for ops that are not registered: {stale}"
    for name, ids in OPENCL_SUBSET.items():
        unknown = set(ids) - {c.id for c in CASES[name]}
        assert not unknown, f"OPENCL_SUBSET[{name!r}] names unknown cases {sorted(unknown)}"
    for name, entry in CASES.items():
        if entry != SOURCE:
            ids = [c.id for c in entry]
            assert len(ids) == len(set(ids)), f"duplicate case ids for {name!r}"


def _compatible(declared, actual) -> bool:
    return len(declared) == len(actual) and all(d is None or d == a
                                               for d, a in zip(declared, actual))


@pytest.mark.parametrize("op_name, case", PARAMS)
def test_shape_rule_matches_reference(op_name, case):
    assert case is not None, f"op {op_name!r} has no entry in the conformance table CASES"
    p = prepare(op_name, _key(case))
    op = get(op_name)
    assert len(p.outs) == len(op.outputs)
    for out, ref in zip(p.outs, p.ref):
        assert out.shape == ref.shape, f"{out.name}: rule says {out.shape}, reference {ref.shape}"
        assert out.dtype in (FLOAT, INT)
    if op_name == "argmax":
        assert all(o.dtype == INT for o in p.outs)
    if case.free is None:
        return
    free = ([tuple(None for _ in a.shape) for a in case.args] if case.free == "all"
            else case.free)
    _, free_outs = _build(op_name, case, free)
    for out, ref in zip(free_outs, p.ref):
        assert _compatible(out.shape, ref.shape), (
            f"{out.name}: with free dims the rule says {out.shape}, reference {ref.shape}")
        assert out.dtype == p.outs[free_outs.index(out)].dtype


# --- (b) finite differences on the reference -----------------------------------------------------

FD_EPS, FD_ATOL, FD_RTOL = 1e-6, 1e-5, 1e-3
FD_MAX_COORDS = 48  # coordinates probed per input (random subset for the odd sizes)


@pytest.mark.parametrize("op_name, case", FD_PARAMS)
def test_reference_gradient_matches_finite_differences(op_name, case):
    assert case is not None, f"op {op_name!r} has no entry in the conformance table CASES"
    wrt = _wrt(case)
    if not case.fd or not wrt:
        pytest.skip("no float input, or a kink / tie case (checked forward and on OpenCL only)")
    p = prepare(op_name, _key(case))
    rng = np.random.default_rng(_seed(op_name, case) + 1)
    cost, _ = _cost(p, rng)
    if cost is None:
        pytest.skip("no float output")
    targets = [p.inputs[i] for i in wrt]
    grads = ir_grad(cost, targets)
    feeds = p.feeds
    analytic = evaluate(grads, feeds, mode="train")

    def f(feed):
        return float(evaluate([cost], feed, mode="train")[0])

    for index, var, g in zip(wrt, targets, analytic):
        base = p.values[index]
        assert g.shape == base.shape, f"gradient of {var.name} has shape {g.shape}"
        flat = np.arange(base.size)
        if base.size > FD_MAX_COORDS:
            flat = rng.choice(base.size, FD_MAX_COORDS, replace=False)
        numeric = np.empty(len(flat))
        for j, k in enumerate(flat):
            plus, minus = base.copy(), base.copy()
            plus.flat[k] += FD_EPS
            minus.flat[k] -= FD_EPS
            numeric[j] = (f({**feeds, var: plus}) - f({**feeds, var: minus})) / (2 * FD_EPS)
        np.testing.assert_allclose(g.reshape(-1)[flat], numeric, atol=FD_ATOL, rtol=FD_RTOL,
                                   err_msg=f"d cost / d {var.name} ({op_name}, {case.id})")


# --- (c) OpenCL float32 vs the float64 reference -------------------------------------------------

FWD_ATOL, FWD_RTOL = 1e-5, 1e-4
GRAD_ATOL, GRAD_RTOL = 1e-4, 1e-3


@pytest.mark.opencl
@pytest.mark.parametrize("op_name, case", CL_PARAMS)
def test_opencl_matches_reference(op_name, case):
    assert case is not None, f"op {op_name!r} has no entry in the conformance table CASES"
    p = prepare(op_name, _key(case))
    op = get(op_name)
    wrt = _wrt(case)
    rng = np.random.default_rng(_seed(op_name, case) + 2)
    grads, ref_grads = [], []
    # ops without a gradient rule only ever produce zeros; their forward check is enough
    differentiable = op.grad is not None or op.is_composite
    if wrt and differentiable:
        cost, _ = _cost(p, rng)
        if cost is not None:
            grads = ir_grad(cost, [p.inputs[i] for i in wrt])
            ref_grads = evaluate(grads, p.feeds, mode="train")
    fn = ns.function(p.inputs, [*p.outs, *grads], training=case.mode == "train")
    args = [v.astype(np.float32 if a.dtype == FLOAT else np.int32)
            for v, a in zip(p.values, case.args)]
    results = fn(*args)
    n = len(p.outs)
    for out, got, want in zip(p.outs, results[:n], p.ref):
        assert got.shape == want.shape, f"{out.name}: device shape {got.shape} vs {want.shape}"
        assert got.dtype == (np.float32 if out.dtype == FLOAT else np.int32)
        np.testing.assert_allclose(got, want, atol=FWD_ATOL, rtol=FWD_RTOL,
                                   err_msg=f"forward {out.name} ({op_name}, {case.id})")
    for i, got, want in zip(wrt, results[n:], ref_grads):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, atol=GRAD_ATOL, rtol=GRAD_RTOL,
                                   err_msg=f"gradient wrt input {i} ({op_name}, {case.id})")


# --- random ops: exact agreement with the reference stream --------------------------------------


@pytest.mark.opencl
@pytest.mark.parametrize("shape, seed", [((3, 4), 0), ((257,), 11), ((), 5)])
def test_random_uniform_like_matches_reference_exactly(shape, seed):
    x = ns.tensor("x", shape)
    r = apply("random_uniform_like", x, seed=seed)
    fn = ns.function([x], r)
    value = np.zeros(shape, np.float32)
    draws = [fn(value) for _ in range(3)]
    for call, got in enumerate(draws):
        want = evaluate([r], {x: value}, call_index=call)[0]
        np.testing.assert_array_equal(got.astype(np.float64), want)
        assert ((got >= 0) & (got < 1)).all()
    if draws[0].size > 1:
        assert not np.array_equal(draws[0], draws[1]), "a new stream on every call"


@pytest.mark.opencl
@pytest.mark.parametrize("p", [0.5, 0.25])
def test_dropout_train_matches_reference_mask(p):
    x = ns.tensor("x", (16, 33))
    y = ns.dropout(x, p=p, seed=9, mode="train")
    fn = ns.function([x], y)
    value = np.random.default_rng(0).uniform(0.5, 1.5, (16, 33)).astype(np.float32)
    for call in range(2):
        got = fn(value)
        want = evaluate([y], {x: value}, mode="train", call_index=call)[0]
        np.testing.assert_array_equal(got == 0, want == 0)  # the same mask, bit for bit
        np.testing.assert_allclose(got, want, rtol=1e-6)
        if p == 0.5:
            np.testing.assert_array_equal(got.astype(np.float64), want)
    dropped = float(np.mean(got == 0))
    assert abs(dropped - p) < 0.1


@pytest.mark.opencl
def test_dropout_is_identity_at_inference():
    x = ns.tensor("x", (5, 7))
    value = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    auto = ns.function([x], ns.dropout(x, p=0.5))  # no updates: an inference function
    np.testing.assert_array_equal(auto(value), value)
    explicit = ns.function([x], ns.dropout(x, p=0.9, mode="infer"), training=True)
    np.testing.assert_array_equal(explicit(value), value)
    trained = ns.function([x], ns.dropout(x, p=0.5), training=True)
    assert (trained(value) == 0).any()


# --- batch norm through the public API, with its running averages -------------------------------


@pytest.mark.opencl
def test_batch_norm_train_updates_running_averages_then_infers_with_them():
    rng = np.random.default_rng(3)
    x = ns.tensor("x", (None, 4))
    gamma = ns.shared(rng.uniform(0.5, 1.5, 4).astype(np.float32), "gamma")
    beta = ns.shared(rng.standard_normal(4).astype(np.float32), "beta")
    rmean = ns.shared(np.zeros(4, np.float32), "rmean")
    rvar = ns.shared(np.ones(4, np.float32), "rvar")
    y = ns.batch_norm(x, gamma, beta, rmean, rvar, axis=1, momentum=0.25)
    train = ns.function([x], y, training=True)
    infer = ns.function([x], y)
    mean_np, var_np = np.zeros(4), np.ones(4)
    for _ in range(3):
        batch = (rng.standard_normal((8, 4)) * 2 + 1).astype(np.float32)
        b64 = batch.astype(np.float64)
        mu, var = b64.mean(0), b64.var(0)
        want = (b64 - mu) / np.sqrt(var + 1e-5) * gamma.get_value() + beta.get_value()
        np.testing.assert_allclose(train(batch), want, atol=1e-4, rtol=1e-4)
        mean_np = 0.75 * mean_np + 0.25 * mu
        var_np = 0.75 * var_np + 0.25 * var
        np.testing.assert_allclose(rmean.get_value(), mean_np, atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(rvar.get_value(), var_np, atol=1e-5, rtol=1e-5)
    batch = rng.standard_normal((3, 4)).astype(np.float32)
    want = ((batch - mean_np) / np.sqrt(var_np + 1e-5) * gamma.get_value() + beta.get_value())
    np.testing.assert_allclose(infer(batch), want, atol=1e-5, rtol=1e-4)
    np.testing.assert_allclose(rmean.get_value(), mean_np, atol=1e-5)  # inference: no update


# --- source ops ----------------------------------------------------------------------------------


def test_source_ops_are_registered_as_sources():
    for name in ("input", "constant", "parameter"):
        op = get(name)
        assert op.kernel == "source" and not op.inputs and op.reference is None


def test_input_declares_type_and_checks_fed_values():
    x = ns.tensor("x", (None, 3))
    assert x.type.shape == (None, 3) and x.dtype == FLOAT and x.owner.op.name == "input"
    value = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(evaluate([x], {x: value})[0], value)
    with pytest.raises(ns.MissingInputError, match="'x'"):
        evaluate([x * 2.0], {})
    with pytest.raises(ns.ShapeError, match=r"'x'.*\(4,\)"):
        evaluate([x], {x: np.zeros(4)})
    labels = ns.ivector("labels")
    assert labels.dtype == INT and labels.shape == (None,)
    assert evaluate([labels], {labels: [1, 2]})[0].dtype == np.int64


def test_constant_scalar_and_array():
    c = ns.constant(2.5)
    assert c.shape == () and c.dtype == FLOAT and c.owner.attrs["value"] == 2.5
    assert float(evaluate([c])[0]) == 2.5
    arr = ns.constant(np.arange(6).reshape(2, 3))
    assert arr.dtype == INT and arr.shape == (2, 3)
    np.testing.assert_array_equal(evaluate([arr])[0], np.arange(6).reshape(2, 3))
    f = ns.constant([[0.5, 1.5]])
    assert f.dtype == FLOAT and f.shape == (1, 2)
    filled = apply("constant", shape=(2, 2), value=3.0)  # a constant without data: filled
    np.testing.assert_array_equal(evaluate([filled])[0], np.full((2, 2), 3.0))


@pytest.mark.opencl
def test_constants_on_opencl():
    filled = apply("constant", shape=(2, 3), value=-1.5)
    arr = ns.constant(np.arange(6.0).reshape(2, 3))
    fn = ns.function([], [filled, arr * 2.0, ns.constant(4.0) + 1.0])
    a, b, c = fn()
    np.testing.assert_array_equal(a, np.full((2, 3), -1.5, np.float32))
    np.testing.assert_array_equal(b, np.arange(6.0).reshape(2, 3) * 2)
    assert float(c) == 5.0


def test_parameter_shared_value_and_override():
    w = ns.shared(np.array([[1.0, 2.0]], np.float32), "w")
    assert w.owner.op.name == "parameter" and w.shape == (1, 2) and w.dtype == FLOAT
    np.testing.assert_array_equal(evaluate([w])[0], [[1.0, 2.0]])
    np.testing.assert_array_equal(evaluate([w * 2.0], {w: [[3.0, 4.0]]})[0], [[6.0, 8.0]])
    w.set_value([[5.0, 6.0]])
    np.testing.assert_array_equal(evaluate([w])[0], [[5.0, 6.0]])
    with pytest.raises(ns.ShapeError, match="'w'"):
        w.set_value([1.0, 2.0, 3.0])
    counter = ns.shared(np.int32(3))
    assert counter.dtype == INT and evaluate([counter])[0] == 3


@pytest.mark.opencl
def test_parameter_on_opencl_reads_the_current_value():
    w = ns.shared(np.arange(4.0, dtype=np.float32).reshape(2, 2), "w_cl")
    fn = ns.function([], w * 1.0)
    np.testing.assert_array_equal(fn(), np.arange(4.0).reshape(2, 2))
    w.set_value(np.ones((2, 2)))
    np.testing.assert_array_equal(fn(), np.ones((2, 2)))


@pytest.mark.parametrize("init", INITIALISERS)
def test_parameter_initialisers(init):
    shape = (20, 30)
    value = initial_value(init, shape, seed=4, std=0.1, scale=0.3, value=0.7)
    assert value.shape == shape and value.dtype == np.float64
    np.testing.assert_array_equal(value, initial_value(init, shape, seed=4, std=0.1, scale=0.3,
                                                       value=0.7))  # seeded: reproducible
    fan_in, fan_out = fans(shape)
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    bound = {"zeros": 0.0, "constant": 0.7, "uniform": 0.3, "glorot_tanh": limit,
             "glorot_sigmoid": 4 * limit}.get(init)
    if bound is not None:
        assert np.abs(value).max() <= bound + 1e-12
    if init == "normal":
        assert abs(value.std() - 0.1) < 0.02
    if init == "he_normal":
        assert abs(value.std() - np.sqrt(2.0 / fan_in)) < 0.05


def test_parameter_attributes_are_checked():
    op = get("parameter")
    with pytest.raises(GraphError, match="init"):
        op.normalise_attrs({"shape": (2,), "init": "bogus"}, "p")
    with pytest.raises(GraphError, match="std"):
        op.normalise_attrs({"shape": (2,), "std": -1.0}, "p")
    assert fans((3, 4, 5, 5)) == (4 * 25, 3 * 25)
    with pytest.raises(ValueError):
        initial_value("zeros", (None, 3))
