"""Conformance cases of the indexing ops (nodestudio/ops/indexing.py), merged into
`CASES` of test_conformance.py. The builders are passed in, so this module does not import the
test module (which imports it)."""

from __future__ import annotations

from typing import Any

import numpy as np


def _fixed(value):
    return lambda rng, shape: np.full(shape, value, dtype=np.int64)


def _ints(low, high):
    return lambda rng, shape: rng.integers(low, high, shape)


def _away(rng, shape):  # no jumps of round / floor / mod within reach of the FD steps
    return rng.choice([-1.0, 1.0], shape) * (rng.integers(0, 3, shape) + rng.uniform(0.1, 0.4,
                                                                                     shape))


def _pos(rng, shape):
    return rng.uniform(0.5, 2.0, shape)


def _nonzero(rng, shape):
    return rng.choice([-3, -2, -1, 1, 2, 3, 5], shape)


def indexing_cases(Case, F, I) -> dict[str, Any]:  # noqa: N803, E741  (the test module builders)
    return {
        "cast": [Case("to_int", (F(3, 4, gen=lambda r, s: 5 * r.standard_normal(s)),),
                      {"dtype": "int32"}, fd=False),
                 Case("to_float", (I(3, 4),), {"dtype": "float32"}, fd=False),
                 Case("float_identity", (F(7),), {"dtype": "float32"})],
        "round": [Case("away", (F(3, 4, gen=_away),)),
                  Case("halves", (F(8, gen=lambda r, s: np.arange(-4, 4) + 0.5),), fd=False)],
        "floor": [Case("away", (F(3, 4, gen=_away),)), Case("n33", (F(33, gen=_away),))],
        "mod": [Case("signs", (F(3, 4, gen=_away), F(3, 4, gen=lambda r, s: r.choice(
                    [-1.0, 1.0], s) * r.uniform(0.7, 0.9, s)))),
                Case("bcast", (F(3, 1, gen=_away), F(1, 4, gen=_pos))),
                Case("by_zero", (F(3, gen=_pos), F(3, gen=lambda r, s: np.zeros(s))), fd=False)],
        "int_mod": [Case("signs", (I(3, 4, gen=_ints(-9, 10)), I(3, 4, gen=_nonzero))),
                    Case("by_zero", (I(5, gen=_ints(-9, 10)), I(gen=_fixed(0)))),
                    Case("bcast", (I(3, 1, gen=_ints(-9, 10)), I(1, 4, gen=_nonzero)))],
        "int_div": [Case("signs", (I(3, 4, gen=_ints(-9, 10)), I(3, 4, gen=_nonzero))),
                    Case("by_zero", (I(5, gen=_ints(-9, 10)), I(gen=_fixed(0))))],
        "stop_gradient": [Case("matrix", (F(3, 4),), fd=False), Case("int", (I(5),), fd=False)],
        "shape_dim": [Case("axis1", (F(3, 4),), {"axis": 1}),
                      Case("last", (F(2, 3, 5),), {"axis": -1})],
        "arange_like": [Case("axis0", (F(5, 2),), {"axis": 0}),
                        Case("n257", (F(257),), {"axis": 0})],
        "dynamic_slice": [
            Case("rows", (F(6, 3), I(gen=_fixed(2))), {"axis": 0, "length": 2}),
            Case("negative", (F(6, 3), I(gen=_fixed(-3))), {"axis": 0, "length": 2}),
            # the device's clamping is tested with a start read from a shared variable
            # (tests/api/test_indexing.py): ns.function refuses this start on the host
            Case("clamped", (F(6, 3), I(gen=_fixed(5))), {"axis": 0, "length": 3},
                 opencl=False),
            Case("axis1", (F(2, 7, 3), I(gen=_fixed(4))), {"axis": 1, "length": 3}),
            Case("int_values", (I(9, gen=_ints(-5, 5)), I(gen=_fixed(6))),
                 {"axis": 0, "length": 3})],
        "dynamic_unslice": [
            Case("rows", (F(2, 3), I(gen=_fixed(1)), F(6, 3)), {"axis": 0}, wrt=(0,)),
            Case("negative_axis1", (F(2, 2, 4), I(gen=_fixed(-2)), F(2, 5, 4)), {"axis": 1},
                 wrt=(0,)),
            Case("clamped", (F(3, 2), I(gen=_fixed(9)), F(4, 2)), {"axis": 0}, wrt=(0,),
                 opencl=False)],
        "take": [Case("rows", (F(5, 3), I(4, gen=_ints(-5, 5))), {"axis": 0}),
                 Case("axis1_matrix_index", (F(3, 5), I(2, 2, gen=_ints(0, 5))), {"axis": 1}),
                 Case("repeats_out_of_range", (F(4, 2), I(9, gen=_ints(-6, 6))), {"axis": 0}),
                 Case("n257", (F(257,), I(33, gen=_ints(0, 257))), {"axis": 0})],
        "take_grad": [Case("rows", (F(4, 3), I(4, gen=_ints(-5, 5)), F(5, 3)), {"axis": 0},
                           wrt=(0,)),
                      Case("repeats", (F(2, 6), I(6, gen=_ints(0, 3)), F(2, 3)), {"axis": 1},
                           wrt=(0,))],
        "gather": [Case("nll", (F(6, 4), I(6, 1, gen=_ints(0, 4))), {"axis": 1}),
                   Case("axis0", (F(4, 3), I(2, 3, gen=_ints(-4, 4))), {"axis": 0}),
                   Case("repeats_3d", (F(2, 3, 4), I(2, 5, 4, gen=_ints(-4, 5))), {"axis": 1})],
        "gather_grad": [Case("nll", (F(6, 1), I(6, 1, gen=_ints(0, 4)), F(6, 4)), {"axis": 1},
                             wrt=(0,)),
                        Case("repeats", (F(5, 3), I(5, 3, gen=_ints(0, 2)), F(2, 3)),
                             {"axis": 0}, wrt=(0,))],
        "flatten": [Case("to2d", (F(2, 3, 4),), {"ndim": 2}),
                    Case("to1d", (F(2, 3, 4),), {"ndim": 1}),
                    Case("same", (F(3, 4),), {"ndim": 2}),
                    Case("scalar", (F(),), {"ndim": 1})],
    }
