"""Random DAGs of registry ops (Hypothesis): every graph either builds and then runs on OpenCL
exactly as the float64 reference says, or is refused with a NodeStudioError that says why.

Hypothesis explores the structure (ops, operands, shapes, attributes); the input values come from
a NumPy generator seeded by a drawn integer, so they are generic (no near-ties that float32 and
float64 would break differently). Values stay bounded: every op that can grow its input is
followed by tanh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nodestudio as ns
from nodestudio.errors import NodeStudioError
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import apply, toposort
from nodestudio.ir.reference import evaluate

# Examples per test; the "ci" Hypothesis profile (see conftest) lowers them further.
BUILD_EXAMPLES = min(150, settings.default.max_examples * 2)
FORWARD_EXAMPLES = min(20, settings.default.max_examples)
GRAD_EXAMPLES = min(12, settings.default.max_examples)
EXAMPLE_SETTINGS = dict(deadline=None, derandomize=settings.default.derandomize)


# --- graph strategy -------------------------------------------------------------------------------


@dataclass
class Graph:
    inputs: list
    values: list
    pool: list  # every value built so far (inputs first)
    refusals: list = field(default_factory=list)  # messages of refused ops

    @property
    def feeds(self):
        return dict(zip(self.inputs, self.values))

    def size(self, outputs) -> int:
        return sum(1 for n in toposort(outputs) if n.op.kernel != "source")


def _pick(data, pool):
    """An operand, counted back from the newest value: mostly a recent one (deep chains),
    sometimes any (wide DAGs)."""
    recent = data.draw(st.booleans(), label="recent") or data.draw(st.booleans())
    back = st.integers(0, min(2, len(pool) - 1)) if recent else st.integers(0, len(pool) - 1)
    return pool[-1 - data.draw(back, label="operand_back")]


UNARY = {
    "tanh": ns.tanh, "sigmoid": ns.sigmoid, "neg": lambda v: -v, "abs": ns.abs,
    "relu": ns.relu, "softplus": ns.softplus, "leaky_relu": lambda v: ns.leaky_relu(v, 0.1),
    "square": lambda v: ns.tanh(ns.square(v)), "exp": lambda v: ns.exp(ns.tanh(v)),
    "log": lambda v: ns.log(ns.sigmoid(v) + 0.5), "sqrt": lambda v: ns.sqrt(ns.abs(v) + 0.25),
}
BINARY = {
    "add": lambda a, b: ns.tanh(a + b), "sub": lambda a, b: ns.tanh(a - b),
    "mul": lambda a, b: ns.tanh(a * b), "div": lambda a, b: a / (ns.square(b) + 2.0),
    "maximum": ns.maximum, "minimum": ns.minimum,
    "pow": lambda a, b: (ns.sigmoid(a) + 0.5) ** (ns.tanh(b) * 2.0),
    "prelu": lambda a, b: ns.prelu(a, ns.sigmoid(b)),
    "broadcast_like": lambda a, b: ns.broadcast_like(a, b),
}


def r_unary(data, pool):
    return UNARY[data.draw(st.sampled_from(sorted(UNARY)), label="unary")](_pick(data, pool))


def r_binary(data, pool):
    fn = BINARY[data.draw(st.sampled_from(sorted(BINARY)), label="binary")]
    return fn(_pick(data, pool), _pick(data, pool))


def _axis_spec(data, ndim):
    return data.draw(st.one_of(
        st.none(),
        st.lists(st.integers(-ndim, max(ndim - 1, 0)), min_size=0, max_size=ndim, unique=True),
        st.lists(st.integers(-4, 3), max_size=3)), label="axes")  # may be invalid: refused


def r_reduce(data, pool):
    v = _pick(data, pool)
    kind = data.draw(st.sampled_from(["sum", "mean", "max"]), label="reduce")
    axis = _axis_spec(data, v.ndim)
    axis = tuple(axis) if axis is not None else None
    keep = data.draw(st.booleans(), label="keepdims")
    out = apply(kind, v, axis=axis, keepdims=keep)
    return ns.tanh(out) if kind == "sum" else out


def r_matmul(data, pool):
    a = _pick(data, pool)
    if data.draw(st.booleans(), label="gram"):  # a @ aᵀ or aᵀ @ a: fits whenever a is 2-d
        ta = data.draw(st.booleans(), label="trans_a")
        return ns.tanh(ns.matmul(a, a, trans_a=ta, trans_b=not ta))
    b = _pick(data, pool)
    ta, tb = data.draw(st.booleans(), label="trans_a"), data.draw(st.booleans(), label="trans_b")
    return ns.tanh(ns.matmul(a, b, trans_a=ta, trans_b=tb))


def r_softmax(data, pool):
    v = _pick(data, pool)
    axis = data.draw(st.integers(-3, 2), label="axis")
    log = data.draw(st.booleans())
    return ns.log_softmax(v, axis=axis) if log else ns.softmax(v, axis=axis)


def _factorisations(n: int) -> list[tuple[int, ...]]:
    out = [(n,), (1, n), (n, 1)]
    for d in range(2, n):
        if n % d == 0:
            out.append((d, n // d))
            for e in range(2, n // d):
                if (n // d) % e == 0:
                    out.append((d, e, n // d // e))
    return out


def r_reshape(data, pool):
    v = _pick(data, pool)
    n = math.prod(v.shape) if None not in v.shape else None
    choices = [(-1,)]
    if n is not None:
        for f in _factorisations(n):
            choices.append(f)
            i = data.draw(st.integers(0, len(f) - 1), label="minus_one")
            choices.append(f[:i] + (-1,) + f[i + 1:])
        choices.append((n + 1,))  # refused: wrong size
    elif v.shape and v.shape[-1] is not None:
        choices.append((-1, v.shape[-1]))
    return ns.reshape(v, data.draw(st.sampled_from(choices), label="target"))


def r_transpose(data, pool):
    v = _pick(data, pool)
    perm = data.draw(st.permutations(list(range(v.ndim))), label="perm")
    return ns.transpose(v, tuple(perm))


def r_concatenate(data, pool):
    a = _pick(data, pool)
    partner = data.draw(st.sampled_from(["same", "tanh", "other"]), label="partner")
    b = a if partner == "same" else ns.tanh(a) if partner == "tanh" else _pick(data, pool)
    axis = data.draw(st.integers(-max(a.ndim, 1), max(a.ndim - 1, 0)), label="axis")
    return ns.concatenate([a, b], axis=axis)


def r_slice(data, pool):
    v = _pick(data, pool)
    known = 0
    while known < v.ndim and v.shape[known] is not None:
        known += 1
    count = data.draw(st.integers(0, known), label="sliced_axes")
    spec = []
    for axis in range(count):
        dim = v.shape[axis]
        start = data.draw(st.integers(0, dim - 1), label="start")
        stop = data.draw(st.integers(start + 1, dim), label="stop")
        step = data.draw(st.integers(1, 3), label="step")
        if data.draw(st.booleans(), label="negative"):
            start, stop = start - dim, (None if stop == dim else stop - dim)
        spec.append((start, stop, step))
    return ns.slice(v, spec)


def r_dims(data, pool):
    v = _pick(data, pool)
    if data.draw(st.booleans(), label="expand"):
        return ns.expand_dims(v, data.draw(st.integers(-v.ndim - 1, v.ndim), label="axis"))
    axis = data.draw(st.integers(-max(v.ndim, 1), max(v.ndim - 1, 0)), label="axis")
    return ns.squeeze(v, axis)  # refused unless that axis has size 1 (always for a scalar)


RECIPES = [r_unary, r_unary, r_binary, r_binary, r_reduce, r_matmul, r_softmax, r_reshape,
           r_transpose, r_concatenate, r_slice, r_dims]


def draw_graph(data, max_ops: int = 40, free_dims: bool = True) -> Graph:
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    rng = np.random.default_rng(seed)
    palette = data.draw(st.lists(st.sampled_from([1, 2, 3, 4, 5, 7]), min_size=1, max_size=3),
                        label="palette")
    inputs, values = [], []
    for i in range(data.draw(st.integers(1, 3), label="n_inputs")):
        shape = tuple(data.draw(st.sampled_from(palette), label="dim")
                      for _ in range(data.draw(st.integers(0, 3), label="ndim")))
        declared = tuple(None if free_dims and data.draw(st.integers(0, 4)) == 0 else d
                         for d in shape)
        # KNOWN_FREE_BROADCAST_BUG: a free dim fed with size 1 broadcasts at run time, but
        # the gradient does not sum over it; such dims are fed at least 2 until it is fixed.
        shape = tuple(max(s, 2) if d is None else s for s, d in zip(shape, declared))
        inputs.append(ns.tensor(f"in{i}", declared))
        values.append(rng.uniform(-1.5, 1.5, shape).astype(np.float32).astype(np.float64))
    graph = Graph(inputs, values, list(inputs))
    graph.pool.append(ns.tanh(inputs[0]))  # at least one op
    for _ in range(data.draw(st.sampled_from(range(max_ops)), label="n_ops")):  # uniform
        recipe = data.draw(st.sampled_from(RECIPES), label="recipe")
        try:
            value = recipe(data, graph.pool)
        except NodeStudioError as exc:  # refused: must say why
            assert str(exc).strip(), f"{type(exc).__name__} with an empty message"
            graph.refusals.append(str(exc))
            continue
        # anything else (TypeError, IndexError, ...) propagates and fails the test
        graph.pool.append(value)
    return graph


def _outputs(data, graph: Graph, most: int = 6) -> list:
    """The sinks of the DAG (built values nothing else reads), newest first."""
    built = graph.pool[len(graph.inputs):]
    read = {id(v) for node in toposort(built) for v in node.inputs}
    sinks = [v for v in reversed(built) if id(v) not in read]
    return sinks[:most]


def _scaled_close(got, want, tol, what):
    assert got.shape == want.shape, f"{what}: shape {got.shape} vs reference {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, err_msg=what)


def test_a_free_dim_broadcast_at_run_time_is_refused():
    """A free dim fed as 1 that broadcasts would get a gradient of the wrong shape (autodiff
    undoes broadcasting from the declared shapes): both the reference and the device refuse."""
    a, c = ns.tensor("a", (None, None)), ns.tensor("c", (3,))
    g = grad(ns.sum(ns.tanh(a + c)), a)
    feeds = {a: np.full((1, 1), 0.5), c: np.zeros(3)}
    with pytest.raises(ns.ShapeError, match="'a'.*free axis 1"):
        evaluate([g], feeds)
    with pytest.raises(ns.ShapeError, match="'a'.*free axis 1"):
        ns.function([a, c], g)(np.full((1, 1), 0.5, np.float32), np.zeros(3, np.float32))


# --- tests ---------------------------------------------------------------------------------------


@settings(max_examples=BUILD_EXAMPLES, **EXAMPLE_SETTINGS)
@given(st.data())
def test_random_graphs_build_or_refuse_with_a_node_studio_error(data):
    graph = draw_graph(data)
    outputs = _outputs(data, graph)
    assert 1 <= graph.size(outputs) <= 4 * 40
    try:
        results = evaluate(outputs, graph.feeds)
    except NodeStudioError as exc:  # a free dim fed inconsistently: refused at run time
        assert str(exc).strip()
        assert any(None in v.shape for v in graph.inputs)
        return
    for var, value in zip(outputs, results):
        assert len(var.shape) == value.ndim and all(
            d is None or d == s for d, s in zip(var.shape, value.shape)), (var, value.shape)
        assert np.all(np.isfinite(value)), f"{var.name} is not finite"
    cost = ns.sum(outputs[0])
    try:
        grads = grad(cost, graph.inputs)
    except NodeStudioError as exc:
        assert str(exc).strip()
        return
    for var, g in zip(graph.inputs, evaluate(grads, graph.feeds, mode="train")):
        assert g.shape == graph.feeds[var].shape


@pytest.mark.opencl
@settings(max_examples=FORWARD_EXAMPLES, **EXAMPLE_SETTINGS)
@given(st.data())
def test_random_graphs_on_opencl_match_the_reference(data):
    graph = draw_graph(data)
    outputs = _outputs(data, graph)
    fn = ns.function(graph.inputs, outputs)
    args = [v.astype(np.float32) for v in graph.values]
    try:
        want = evaluate(outputs, graph.feeds)
    except NodeStudioError:
        with pytest.raises(NodeStudioError):  # the device refuses the same feed
            fn(*args)
        return
    got = fn(*args)
    for i, (g, w) in enumerate(zip(got, want)):
        _scaled_close(g.astype(np.float64), w, 1e-4, f"output {i} ({outputs[i].name})")


@pytest.mark.opencl
@settings(max_examples=GRAD_EXAMPLES, **EXAMPLE_SETTINGS)
@given(st.data())
def test_random_graph_gradients_on_opencl_match_the_reference(data):
    graph = draw_graph(data, max_ops=25, free_dims=False)
    out = max(_outputs(data, graph), key=lambda v: graph.size([v]))
    cost = ns.sum(out)
    grads = grad(cost, graph.inputs)
    fn = ns.function(graph.inputs, [cost, *grads])
    got = fn(*[v.astype(np.float32) for v in graph.values])
    want = evaluate([cost, *grads], graph.feeds, mode="train")
    _scaled_close(np.asarray(got[0], np.float64), want[0], 1e-4, "cost")
    for var, g, w in zip(graph.inputs, got[1:], want[1:]):
        _scaled_close(g.astype(np.float64), w, 1e-3, f"d cost / d {var.name}")
