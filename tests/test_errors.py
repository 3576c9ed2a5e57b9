"""Errors on bad input: typed NodeStudio errors whose message names the place that is wrong.
Nothing here needs an OpenCL device: every error is raised before anything is compiled."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.errors import GraphError, MissingInputError, NodeStudioError, ShapeError
from nodestudio.ir.expr import apply
from nodestudio.ops import get

# --- shapes --------------------------------------------------------------------------------------


def test_matmul_shape_mismatch_names_node_port_and_both_shapes():
    x = ns.matrix("x")
    A = ns.shared(np.ones((3, 4), np.float32), "A")
    B = ns.shared(np.ones((5, 2), np.float32), "B")
    h = x @ A
    with pytest.raises(ShapeError) as info:
        h @ B
    err = info.value
    assert err.node is not None and err.node.startswith("matmul")
    assert err.port == "b"
    text = str(err)
    assert repr(err.node) in text and "'b'" in text
    assert "(B, 4)" in text and "(5, 2)" in text


def test_broadcast_mismatch_names_ports_and_shapes():
    a, b = ns.tensor("a", (3, 4)), ns.tensor("b", (5,))
    with pytest.raises(ShapeError) as info:
        apply("add", a, b, name="plus")
    text = str(info.value)
    assert info.value.node == "plus" and "'plus'" in text
    assert "(3, 4)" in text and "(5)" in text and "a " in text and "b " in text


def test_input_dtype_mismatch_names_port():
    with pytest.raises(ShapeError) as info:
        apply("one_hot", ns.vector("scores"), depth=3, name="oh")
    assert info.value.node == "oh" and info.value.port == "labels"
    assert "int32" in str(info.value) and "'scores'" in str(info.value)


def test_wrong_number_of_inputs():
    with pytest.raises(GraphError, match=r"'where' takes 3 input\(s\)"):
        apply("where", ns.vector("c"), ns.vector("a"))


@pytest.mark.parametrize("op, shape, attrs, words", [
    ("sum", (2, 3), {"axis": 5}, ["axis 5", "2-d"]),
    ("sum", (2, 3), {"axis": (0, 0)}, ["repeated axis"]),
    ("reshape", (2, 3), {"shape": (4, -1)}, ["(2, 3)", "(4, -1)"]),
    ("reshape", (2, 3), {"shape": (5,)}, ["6 elements", "5 elements"]),
    ("squeeze", (2, 3), {"axes": (0,)}, ["squeeze axis 0", "size 2"]),
    ("transpose", (2, 3), {"axes": (0, 0)}, ["not a permutation"]),
    ("softmax", (), {}, ["at least one axis"]),
    ("slice", (2, 3), {"slices": ((0, 1, 0),)}, ["step"]),
])
def test_shape_rule_errors_name_the_node(op, shape, attrs, words):
    with pytest.raises(ShapeError) as info:
        apply(op, ns.tensor("x", shape), name="n1", **attrs)
    assert info.value.node == "n1" and "'n1'" in str(info.value)
    for word in words:
        assert word in str(info.value)


def test_composite_shape_errors_name_the_composite():
    x = ns.matrix("x")
    g = ns.shared(np.ones(3, np.float32), "g")
    with pytest.raises(ShapeError, match="'bn'.*known size"):
        apply("batch_norm", x, g, g, g, g, name="bn")


# --- compiled functions --------------------------------------------------------------------------


def test_calling_without_an_input_names_it():
    x, y = ns.vector("x"), ns.vector("y")
    f = ns.function([x, y], x + y)
    with pytest.raises(MissingInputError, match="'y'"):
        f(np.ones(3, np.float32))
    with pytest.raises(MissingInputError, match="'z'"):
        f(x=np.ones(3), z=np.ones(3))
    with pytest.raises(MissingInputError, match="expected 2"):
        f(1, 2, 3)


def test_function_missing_a_needed_input_names_it():
    x, hidden = ns.vector("x"), ns.vector("hidden")
    with pytest.raises(MissingInputError, match="hidden"):
        ns.function([x], x * hidden)


def test_wrong_input_shape_names_input_and_shapes():
    x = ns.tensor("x", (None, 3))
    f = ns.function([x], x * 2.0)
    with pytest.raises(NodeStudioError) as info:
        f(np.ones((2, 4), np.float32))
    text = str(info.value)
    assert "'x'" in text and "(2, 4)" in text and "3" in text
    with pytest.raises(NodeStudioError, match=r"'x'.*\(6,\)"):
        f(np.ones(6, np.float32))  # wrong rank


def test_function_inputs_and_updates_must_be_variables_of_the_right_kind():
    x = ns.vector("x")
    with pytest.raises(GraphError, match="function inputs"):
        ns.function([x * 2], x)
    with pytest.raises(GraphError, match="shared"):
        ns.function([x], x, updates=[(x, x + 1)])
    s = ns.shared(np.zeros(3, np.float32), "s")
    with pytest.raises(GraphError, match="'s'"):
        ns.function([x], x, updates=[(s, ns.matrix("m"))])  # wrong rank
    with pytest.raises(ShapeError, match="givens"):
        ns.function([x], x, givens={x: ns.matrix("m2")})


@pytest.mark.parametrize("make, words", [
    (lambda v, s: dict(givens={"x": 1.0}), r"givens: the key 'x' \(str\) is not a variable"),
    (lambda v, s: dict(givens={v: "text"}), r"node 'vec': givens: cannot use str"),
    (lambda v, s: dict(givens=[v]), r"givens: expected a dict or \(variable, expression\)"),
    (lambda v, s: dict(givens={v: 1.0}), r"node 'vec': givens: .* cannot stand for 'vec'"),
    (lambda v, s: dict(updates=[(s, "text")]), r"update of shared variable 'sv': cannot use str"),
    (lambda v, s: dict(updates={s: None}), r"update of shared variable 'sv': cannot use None"),
    (lambda v, s: dict(outputs=["text"]), r"function outputs: cannot use str"),
    (lambda v, s: dict(inputs=v), r"function inputs must be a list of variables"),
    (lambda v, s: dict(inputs=[v, "x"]), r"function inputs: cannot use str"),
])
def test_function_arguments_of_the_wrong_kind_are_graph_errors(make, words):
    """Keys and values that are not variables: a GraphError saying which argument, never an
    AttributeError or TypeError from deep inside."""
    vec, sv = ns.vector("vec"), ns.shared(np.zeros(3, np.float32), "sv")
    with pytest.raises(GraphError, match=words):
        ns.function(**{"inputs": [vec], "outputs": vec * 2.0, **make(vec, sv)})


UPDATE_SHAPE = ("api/function.py only compares the rank of an update value with its shared "
                "variable; a same-rank value of another size is swapped in silently and the "
                "shared value is truncated / padded")


@pytest.mark.opencl
def test_update_of_another_size_is_refused():
    s = ns.shared(np.zeros(2, np.float32), "s2")
    with pytest.raises(NodeStudioError, match="'s2'"):
        f = ns.function([], [], updates=[(s, ns.constant(np.ones(3)))])
        f()


# --- gradients -----------------------------------------------------------------------------------


def test_grad_with_respect_to_an_integer_value():
    x, i = ns.vector("x"), ns.iscalar("count")
    with pytest.raises(GraphError, match="integer") as info:
        ns.grad(ns.sum(x) * i, i)
    assert info.value.node == "count"


def test_grad_of_a_non_scalar_cost():
    x = ns.vector("x")
    with pytest.raises(GraphError, match="scalar cost") as info:
        ns.grad(x * 2.0, x)
    assert info.value.node is not None and "(None,)" in str(info.value)


# --- unknown ops and bad attributes --------------------------------------------------------------


def test_unknown_op_is_named():
    with pytest.raises(GraphError, match="'nope'"):
        apply("nope", ns.vector("x"))
    with pytest.raises(GraphError, match="'nope'") as info:
        get("nope", node="n7")
    assert info.value.node == "n7"


def test_legacy_name_resolves():
    assert get("abs_rect").name == "abs"


@pytest.mark.parametrize("op, inputs, attrs, words", [
    ("leaky_relu", "x", {"alpha": 2.0}, ["'alpha'", "[0.0, 1.0]", "2.0"]),
    ("leaky_relu", "x", {"alpha": -0.5}, ["'alpha'", "-0.5"]),
    ("leaky_relu", "x", {"alpha": "abc"}, ["'alpha'", "float", "'abc'"]),
    ("leaky_relu", "x", {"alpha": None}, ["'alpha'", "None"]),
    ("leaky_relu", "x", {"beta": 1}, ["'beta'", "alpha"]),
    ("one_hot", "labels", {"depth": 0}, ["'depth'", "0"]),
    ("one_hot", "labels", {"depth": 2.5}, ["'depth'", "int", "2.5"]),
    ("one_hot", "labels", {"depth": "ten"}, ["'depth'", "'ten'"]),
    ("sum", "x", {"keepdims": "yes"}, ["'keepdims'", "bool"]),
    ("sum", "x", {"axis": 1.5}, ["'axis'", "axes"]),
    ("dropout", "x", {"p": 1.0}, ["'p'", "1.0"]),
    ("dropout", "x", {"mode": "bogus"}, ["'mode'", "'bogus'", "train"]),
    ("random_uniform_like", "x", {"seed": -2}, ["'seed'", "-2"]),
    ("concatenate", "x", {"n": 0}, ["'n'"]),
    ("reshape", "x", {"shape": "ab"}, ["'shape'"]),
])
def test_bad_attribute_values_name_node_and_attribute(op, inputs, attrs, words):
    arg = ns.ivector("labels") if inputs == "labels" else ns.tensor("x", (2, 3))
    with pytest.raises(GraphError) as info:
        apply(op, arg, name="node9", **attrs)
    text = str(info.value)
    assert info.value.node == "node9" and "'node9'" in text
    for word in words:
        assert word in text, f"{word!r} not in {text!r}"


def test_infinite_int_attribute_is_a_graph_error():
    with pytest.raises(GraphError, match="'depth'"):
        apply("one_hot", ns.ivector("l"), depth=float("inf"), name="oh")


def test_nan_float_attribute_is_refused():
    with pytest.raises(GraphError, match="'alpha'"):
        apply("leaky_relu", ns.vector("x"), alpha=float("nan"), name="lr")


def test_non_integral_shape_attribute_is_refused():
    with pytest.raises(GraphError, match="'shape'"):
        apply("reshape", ns.tensor("x", (2, 3)), shape=(2.5, 3), name="r")


# Bad structural attributes: each must be refused with a GraphError naming the node.
BAD_STRUCTURAL = [
    pytest.param("transpose", (2, 3), {"axes": (3, 0)}, id="transpose-axis-out-of-range"),
    pytest.param("transpose", (2, 3), {"axes": None}, id="transpose-axes-none"),
    pytest.param("expand_dims", (2, 3), {"axes": None}, id="expand_dims-axes-none"),
    pytest.param("slice", (2, 3), {"slices": 5}, id="slice-not-a-sequence"),
    pytest.param("slice", (2, 3), {"slices": (("a", 1, 1),)}, id="slice-not-integers"),
]


@pytest.mark.parametrize("op, shape, attrs", BAD_STRUCTURAL)
def test_bad_structural_attributes_raise_graph_errors(op, shape, attrs):
    with pytest.raises(GraphError) as info:
        apply(op, ns.tensor("x", shape), name="s1", **attrs)
    assert info.value.node == "s1" and str(info.value)


def test_squeeze_of_a_unit_axis_builds():
    out = apply("squeeze", ns.tensor("x", (1, 3)), axes=(0,), name="s2")
    assert out.shape == (3,)


def test_concatenate_of_nothing_is_a_graph_error():
    with pytest.raises(GraphError):
        apply("concatenate", name="cat")


def test_concatenate_of_scalars_is_a_shape_error():
    with pytest.raises(ShapeError, match="'cat0'"):
        apply("concatenate", ns.scalar("a"), ns.scalar("b"), axis=0, name="cat0")


@pytest.mark.parametrize("op, attrs", [("squeeze", {"axes": (0,)}), ("sum", {"axis": 0}),
                                       ("mean", {"axis": (0,)}), ("max", {"axis": (-1,)})])
def test_axis_of_a_scalar_is_a_shape_error(op, attrs):  # regression: 0-d axes were accepted
    with pytest.raises(ShapeError, match="'ax0'"):
        apply(op, ns.scalar("s"), name="ax0", **attrs)


def test_graph_errors_are_node_studio_errors():
    for cls in (GraphError, ShapeError, MissingInputError, ns.CycleError, ns.KernelBuildError,
                ns.DeviceError, ns.FileFormatError):
        assert issubclass(cls, NodeStudioError)
    err = ns.CycleError(["a", "b", "a"])
    assert err.node == "a" and "a -> b -> a" in str(err)


@pytest.mark.opencl
def test_bad_device_spec_is_a_device_error():
    if ns.devices():
        with pytest.raises(ns.DeviceError, match="no-such-device"):
            ns.set_device("no-such-device")
        with pytest.raises(ns.DeviceError, match="out of range"):
            ns.set_device(len(ns.devices()) + 5)
