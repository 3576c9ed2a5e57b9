"""Unfolding a pretrained stack into the network that is fine-tuned: document transforms.

A stack of `autoencoder_layer` (or `rbm_layer`) nodes, pretrained layer by layer
(train/strategies/layerwise.py), becomes a new document whose `dense_layer` nodes carry the
pretrained values:

* `to_classifier`: the encoders as hidden layers (hidden_i = act(h_{i-1} @ W_i + b_i), exactly
  the stack's `hidden` outputs), then a softmax output layer (the source graph's own, with its
  values, when it has one on top of the stack; else a new one, zeros), with `loss`, `error`
  and `prediction` as `nodestudio train` expects;
* `to_deep_autoencoder`: the encoders, then their decoders in reverse order (W_i' = W_i.T for
  tied layers, copied into weights of their own: the unfolded net is fine-tuned jointly, as in
  Hinton and Salakhutdinov's deep autoencoder), and the reconstruction cost of the first layer
  (cross-entropy or squared error, summed over the inputs and averaged over the batch, the
  autoencoder layer's own convention) as `loss`. Without a `y` input it trains unsupervised,
  with any optimizer, CG and L-BFGS over the flattened parameters included.

From a shell (after `nodestudio pretrain GRAPH --method sae --out DIR`):

    python -m nodestudio.train.unfold GRAPH DIR/params.npz DIR/unfolded.json [--to KIND]

writes the unfolded document with the pretrained values inside; KIND is `classifier` or
`deep_autoencoder` (default: the graph's `metadata.pretraining.unfold`, else `classifier`).
`nodestudio train DIR/unfolded.json --optimizer cg` then fine-tunes it.

An RBM unfolds the same way: W, hbias encode (p(h|v)), W.T and vbias decode (sigmoid for
binary visible units, linear for Gaussian ones). The GUI and the CLI call these; they know
nothing of either.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

import nodestudio as ns
from nodestudio.errors import GraphError
from nodestudio.graph.model import Graph
from nodestudio.ir.convert import from_document, to_document
from nodestudio.ir.layers import layer_params

STACKABLE = ("autoencoder_layer", "rbm_layer")


@dataclass
class Encoder:
    """One layer of a pretrained stack, as the unfolded networks need it."""

    node: str
    W: np.ndarray  # inputs x hidden
    b: np.ndarray  # hidden biases
    W_decode: np.ndarray  # hidden x inputs
    b_decode: np.ndarray  # input biases
    activation: str  # the encoder's
    decoder: str  # the decoder's activation
    loss: str  # the reconstruction cost of this layer ("cross_entropy" / "squared_error")


def stack_of(graph: Graph, values: Mapping[str, np.ndarray] | None = None) -> list[Encoder]:
    """The stack's layers bottom first, with their values (`values` by "<layer>/<param>", as
    `Model.save_values` writes them, over the document's own; initial values otherwise)."""
    graph = graph.copy()
    if values is not None:
        graph.values.update({k: np.asarray(v) for k, v in values.items()})
    order = [n for n in graph.topological_order() if graph.nodes[n].op in STACKABLE]
    if not order:
        raise GraphError(f"no {' or '.join(STACKABLE)} node to unfold")
    for below, above in zip(order, order[1:]):
        if graph.path(below, above) is None:
            raise GraphError(f"{below!r} and {above!r} are not stacked: {above!r} does not "
                             f"read {below!r}'s code", node=above)
    loaded = from_document(graph)
    return [_encoder(graph, node_id, loaded.variables[node_id][0]) for node_id in order]


def _encoder(graph: Graph, node_id: str, hidden: ns.Variable) -> Encoder:
    params = {k: np.asarray(v.get_value(), np.float64) for k, v in layer_params(hidden).items()}
    at = hidden.owner.attrs
    if graph.nodes[node_id].op == "autoencoder_layer":
        W_decode = params["W_prime"] if "W_prime" in params else params["W"].T
        return Encoder(node_id, params["W"], params["b"], W_decode, params["b_prime"],
                       at["activation"], at["decoder"], at["loss"])
    gaussian = str(at.get("visible", "binary")) == "gaussian"  # an RBM: p(h|v) is a sigmoid
    return Encoder(node_id, params["W"], params["hbias"], params["W"].T, params["vbias"],
                   "sigmoid", "none" if gaussian else "sigmoid",
                   "squared_error" if gaussian else "cross_entropy")


def _named(var: ns.Variable, name: str) -> ns.Variable:
    var.owner.name = name
    return var


def _dense(h: ns.Variable, W: np.ndarray, b: np.ndarray, activation: str, name: str,
           values: dict[str, np.ndarray]) -> ns.Variable:
    out = ns.dense_layer(h, W.shape[1], activation, name=name)
    values[f"{name}/W"], values[f"{name}/b"] = W, b
    return out


def _document(outputs: dict[str, ns.Variable], values: dict[str, np.ndarray],
              title: str) -> Graph:
    graph = to_document(outputs)
    graph.values.update({k: np.asarray(v, np.float32) for k, v in values.items()})
    graph.metadata = {"title": title}
    return graph


def _features_shape(graph: Graph, width: int) -> tuple[int | None, ...]:
    for node in graph.nodes.values():
        if node.op == "input" and node.attrs.get("dtype", "float32") == "float32":
            return tuple(node.attrs.get("shape", (None, width)))
    return (None, width)


def _output_layer(graph: Graph, top: str) -> tuple[str, dict[str, np.ndarray]] | None:
    """The dense_layer reading the stack's top code in the source graph (its classifier)."""
    for ref in graph.consumers(top, "hidden"):
        node = graph.nodes[ref.node]
        if node.op == "dense_layer":
            return node.id, {p: graph.values[f"{node.id}/{p}"] for p in ("W", "b")
                             if f"{node.id}/{p}" in graph.values}
    return None


def to_classifier(graph: Graph, values: Mapping[str, np.ndarray] | None = None,
                  n_classes: int | None = None) -> Graph:
    """A classifier whose hidden layers are the stack's encoders, with their values."""
    stack = stack_of(graph, values)
    merged = graph.copy()
    merged.values.update(dict(values or {}))
    head = _output_layer(merged, stack[-1].node)
    head_values = head[1] if head is not None else {}
    if n_classes is None:
        if head is None:
            raise GraphError("the number of classes is needed: the stack has no output layer "
                             "on top to take it from")
        n_classes = int(merged.nodes[head[0]].attrs["units"])
    x, y = ns.tensor("x", _features_shape(graph, stack[0].W.shape[0])), ns.ivector("y")
    h = x if x.ndim == 2 else ns.reshape(x, (-1, stack[0].W.shape[0]))
    out: dict[str, np.ndarray] = {}
    for i, enc in enumerate(stack, start=1):
        h = _dense(h, enc.W, enc.b, enc.activation, f"hidden{i}", out)
    logits = ns.dense_layer(h, n_classes, init="zeros", name="logits")
    if "W" in head_values and np.shape(head_values["W"]) == (h.shape[1], n_classes):
        out.update({f"logits/{p}": v for p, v in head_values.items()})
    outputs = {"loss": _named(ns.softmax_cross_entropy(logits, y), "loss"),
               "error": _named(ns.classification_error(logits, y), "error"),
               "prediction": _named(ns.softmax(logits), "prediction")}
    sizes = " -> ".join([str(stack[0].W.shape[0]), *(str(e.W.shape[1]) for e in stack),
                         str(n_classes)])
    return _document(outputs, out, f"Classifier unfolded from a pretrained stack ({sizes})")


def to_deep_autoencoder(graph: Graph, values: Mapping[str, np.ndarray] | None = None
                        ) -> Graph:
    """Encoders, then their decoders in reverse order, trained on the first layer's
    reconstruction cost."""
    stack = stack_of(graph, values)
    x = ns.tensor("x", _features_shape(graph, stack[0].W.shape[0]))
    flat = x if x.ndim == 2 else ns.reshape(x, (-1, stack[0].W.shape[0]))
    out: dict[str, np.ndarray] = {}
    h = flat
    for i, enc in enumerate(stack, start=1):
        h = _dense(h, enc.W, enc.b, enc.activation, f"encoder{i}", out)
    for i, enc in reversed(list(enumerate(stack, start=1))):
        last = i == 1
        # the first layer's cross-entropy is computed from its logits (stable, as the layer does)
        activation = "none" if last and enc.loss == "cross_entropy" else enc.decoder
        h = _dense(h, enc.W_decode, enc.b_decode, activation, f"decoder{i}", out)
    first = stack[0]
    if first.loss == "cross_entropy":
        per_input = ns.softplus(h) - flat * h
        prediction = _named(ns.sigmoid(h), "reconstruction")
    else:
        per_input = ns.square(h - flat)
        prediction = h  # decoder1 itself
    loss = _named(ns.mean(ns.sum(per_input, axis=1)), "loss")
    sizes = [first.W.shape[0], *(e.W.shape[1] for e in stack)]
    path = " -> ".join(map(str, sizes + sizes[-2::-1]))
    return _document({"loss": loss, "prediction": prediction}, out,
                     f"Deep autoencoder unfolded from a pretrained stack ({path})")


UNFOLDINGS = {"classifier": to_classifier, "deep_autoencoder": to_deep_autoencoder}


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nodestudio.train.unfold GRAPH PARAMS.npz OUT.json [--to KIND]`."""
    from nodestudio.errors import NodeStudioError
    from nodestudio.graph import fileformat
    parser = argparse.ArgumentParser(prog="python -m nodestudio.train.unfold",
                                     description="unfold a pretrained stack into the network "
                                     "that is fine-tuned (a classifier or a deep autoencoder)")
    parser.add_argument("graph")
    parser.add_argument("params", help="the values `nodestudio pretrain` wrote (params.npz)")
    parser.add_argument("out", help="the unfolded graph file to write")
    parser.add_argument("--to", choices=list(UNFOLDINGS), default=None)
    args = parser.parse_args(argv)
    try:
        graph = fileformat.load(args.graph)
        with np.load(args.params, allow_pickle=False) as archive:
            values = {name: archive[name] for name in archive.files}
        kind = args.to or str(graph.metadata.get("pretraining", {}).get("unfold",
                                                                         "classifier"))
        if kind not in UNFOLDINGS:
            raise GraphError(f"{args.graph}: metadata pretraining.unfold is {kind!r}; it "
                             f"must be one of {list(UNFOLDINGS)}")
        unfolded = UNFOLDINGS[kind](graph, values)
        fileformat.save(unfolded, args.out)
    except (NodeStudioError, OSError, ValueError) as exc:
        print(f"nodestudio: {exc}", file=sys.stderr)
        return 1
    print(f"{args.out}: {unfolded.metadata['title']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Encoder", "STACKABLE", "UNFOLDINGS", "main", "stack_of", "to_classifier",
           "to_deep_autoencoder"]
