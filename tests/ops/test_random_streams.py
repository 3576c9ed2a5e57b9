"""Every dropout (and every `ns.random_uniform_like`) without an explicit seed draws its own
stream: two layers never share a mask, and masks of different shapes share no prefix. An
explicit seed reproduces the stream it always did (files saved with one behave as before), and
the stream of an unseeded dropout follows its node's name, so a saved graph draws the same masks
again."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.ir.expr import apply
from nodestudio.ir.reference import evaluate
from nodestudio.ops import philox


def _masks(outputs, feeds, call=0):
    return [v == 0 for v in evaluate(outputs, feeds, mode="train", call_index=call)]


def test_two_unseeded_dropouts_in_one_graph_draw_different_masks():
    x = ns.matrix("x")
    first = ns.dropout(x, p=0.5, mode="train")
    second = ns.dropout(ns.tanh(x), p=0.5, mode="train")
    ones = np.ones((16, 33))
    a, b = _masks([first, second], {x: ones})
    assert 0.3 < a.mean() < 0.7 and 0.3 < b.mean() < 0.7
    assert (a != b).mean() > 0.3  # independent masks differ in about half the places


def test_masks_of_different_shapes_share_no_prefix():
    x, y = ns.tensor("x", (4, 8)), ns.vector("y")
    a, b = _masks([ns.dropout(x, p=0.5, mode="train"), ns.dropout(y, p=0.5, mode="train")],
                  {x: np.ones((4, 8)), y: np.ones(40)})
    assert (a.reshape(-1) != b[:32]).sum() > 5


def test_an_explicit_seed_reproduces_the_stream_it_always_drew():
    x = ns.matrix("x")
    first = ns.dropout(x, p=0.5, seed=5, mode="train")
    second = ns.dropout(x * 1.0, p=0.5, seed=5, mode="train")
    a, b = _masks([first, second], {x: np.ones((6, 7))}, call=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, philox.uniform(42, 5, 3).reshape(6, 7) < 0.5)
    zero = apply("dropout", x, p=0.5, seed=0, mode="train")  # a file's explicit seed 0
    (c,) = _masks([zero], {x: np.ones((6, 7))})
    np.testing.assert_array_equal(c, philox.uniform(42, 0, 0).reshape(6, 7) < 0.5)


def test_an_unseeded_dropout_follows_its_node_name():
    """What a saved graph relies on: the same node id draws the same masks in every session."""
    x = ns.matrix("x")
    ones = np.ones((5, 9))
    again = [apply("dropout", x, p=0.5, mode="train", name="hidden1_dropout") for _ in range(2)]
    other = apply("dropout", x, p=0.5, mode="train", name="hidden2_dropout")
    a, b, c = _masks([*again, other], {x: ones})
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    seed = zlib.crc32(b"hidden1_dropout") % 2**31
    np.testing.assert_array_equal(a, philox.uniform(45, seed, 0).reshape(5, 9) < 0.5)


def test_unseeded_random_uniform_like_calls_draw_their_own_streams():
    x = ns.vector("x")
    a, b = evaluate([ns.random_uniform_like(x), ns.random_uniform_like(x)], {x: np.zeros(50)})
    assert not np.array_equal(a, b)
    c, d = evaluate([ns.random_uniform_like(x, seed=4), ns.random_uniform_like(x, seed=4)],
                    {x: np.zeros(50)})
    np.testing.assert_array_equal(c, d)


@pytest.mark.opencl
def test_dropout_streams_on_opencl_match_the_reference():
    x = ns.matrix("x")
    outs = [ns.dropout(x, p=0.5), ns.dropout(x, p=0.5), ns.dropout(x, p=0.5, seed=2)]
    fn = ns.function([x], outs, training=True)
    value = np.ones((8, 17), np.float32)
    for call in range(2):
        got = [g == 0 for g in fn(value)]
        want = _masks(outs, {x: value}, call=call)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
        assert (got[0] != got[1]).any()


def test_random_nodes_of_a_document_draw_their_own_streams_by_default():
    """Two random_uniform_like nodes dropped on the canvas keep their default seed (-1, "own
    stream"): each draws from a stream of its node id, not both from seed 0; a seed given
    is kept, and the file round-trips -1."""
    from nodestudio.graph import fileformat
    from nodestudio.graph.model import Graph
    from nodestudio.ir.convert import from_document
    from nodestudio.ops import registry

    graph = Graph()
    graph.add_node("input", {"shape": [None, 6]}, id="x")
    for node_id, attrs in (("noise_a", {}), ("noise_b", {}), ("fixed", {"seed": 3})):
        graph.add_node("random_uniform_like", attrs, id=node_id)
        graph.connect("x:out", f"{node_id}:x")
        graph.set_output(node_id, f"{node_id}:out")
    assert registry.get("random_uniform_like").attr("seed").special == "own stream"
    loaded = from_document(fileformat.loads(fileformat.dumps(graph)))
    outs = [loaded.outputs[n] for n in ("noise_a", "noise_b", "fixed")]
    assert [v.owner.attrs["seed"] for v in outs] == [
        zlib.crc32(b"noise_a") % 2**31, zlib.crc32(b"noise_b") % 2**31, 3]
    a, b, fixed = evaluate(outs, {loaded.inputs["x"]: np.zeros((4, 6))})
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(fixed, philox.uniform(24, 3, 0).reshape(4, 6))
    np.testing.assert_array_equal(a, philox.uniform(24, zlib.crc32(b"noise_a") % 2**31,
                                                    0).reshape(4, 6))
