"""A trainable model read from a graph file, by convention.

A graph file is trainable when it has

* an input `x`: float features, shape (None, D) (or (None, *dims) with prod(dims) = D: each
  row is reshaped), one example per row;
* an input `y`: int32 labels (None,), or float targets: (None,) gets the labels as numbers
  (binary 0/1 targets), (None, K) gets them one-hot; a graph without `y` (an autoencoder,
  whose loss compares its output with `x`) is trained unsupervised: the labels are not fed
  (`Model.y` is then a placeholder input that no output reads, so `unsupervised` is true);
* an output `loss`: a float scalar, minimised;
* optionally outputs `error` (a float scalar such as classification_error) and `prediction`;
* parameters (shared variables) whose `trainable` attribute is true: what optimizers update.
  Other shared variables (batch-norm running averages) are saved and restored with them.
  Layers or parameters can be frozen (left out of `Model.params`, saved and restored as
  before): `Model.freeze("hidden1")`, or the file's metadata `"frozen": ["hidden1", "W2"]`.

Anything else is a `ModelError` naming the file and what is missing; a dataset whose feature
size or number of classes does not fit the graph is a `DataMismatchError`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from nodestudio.data.dataset import DataNote, Dataset, Splits
from nodestudio.errors import GraphError, NodeStudioError
from nodestudio.graph.model import Graph
from nodestudio.ir.annotate import annotation_of
from nodestudio.ir.convert import Loaded, from_document
from nodestudio.ir.expand import expand
from nodestudio.ir.expr import Variable, apply, toposort
from nodestudio.ir.layers import layer_params
from nodestudio.ir.names import NodeOrigin, origin_of
from nodestudio.ir.reference import evaluate
from nodestudio.ir.shared import SharedVariable
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, INT
from nodestudio.train.roles import Fix, Roles, resolve_roles


class ModelError(NodeStudioError):
    """A graph that does not follow the training convention; the message starts with the file."""

    def __init__(self, source: str, message: str, node: str | None = None):
        self.source = source
        self.detail = message
        self.node = node  # the node at fault, when one is
        super().__init__(f"{source}: {message}")


class DataMismatchError(ModelError):
    """A dataset that does not fit the graph (feature size, number of classes); `fix`, when
    there is one, is the edit that makes the graph fit (the features input's shape, the units
    of the dense layer giving the logits)."""

    def __init__(self, source: str, message: str, fix: Fix | None = None):
        super().__init__(source, message)
        self.fix = fix


class RolesError(ModelError):
    """The features, labels or loss of a graph cannot be told; `problems` offer fixes."""

    def __init__(self, source: str, roles: Roles):
        self.roles = roles
        self.problems = list(roles.problems)
        super().__init__(source, "; ".join(map(str, roles.problems)))


@dataclass
class Model:
    """The variables a trainer needs, found by name in a loaded graph."""

    source: str  # the file (or a description) for error messages
    x: Variable
    y: Variable
    loss: Variable
    error: Variable | None
    prediction: Variable | None
    params: list[SharedVariable]  # trainable, in document order
    shared: dict[str, SharedVariable]  # every shared variable, by node name (what is saved)
    n_classes: int | None  # classes the graph's output distinguishes, when it can tell
    metadata: dict[str, Any] = field(default_factory=dict)  # the file's free metadata
    roles: Roles | None = None  # how a document's roles were told (None: from_loaded by name)
    # the user's nodes, id -> op: what messages and the studio may name (ir/names.py)
    nodes: dict[str, str] = field(default_factory=dict)
    frozen: set[str] = field(default_factory=set)  # shared variables left out of `params`

    @property
    def unsupervised(self) -> bool:
        """True when no output reads `y` (a graph without a `y` input, an autoencoder)."""
        outs = [v for v in (self.loss, self.error, self.prediction) if v is not None]
        return not any(v is self.y for node in toposort(outs) for v in node.inputs)

    # --- construction -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Model:
        """Read a graph file: FileFormatError when it cannot be read, ModelError (naming the
        file and the node) when it cannot be built or its roles cannot be told."""
        from nodestudio.graph import fileformat
        document = fileformat.load(path)
        return cls.from_document(document, str(path), dict(document.metadata))

    @classmethod
    def from_document(cls, graph: Graph, source: str = "<graph>",
                      metadata: Mapping[str, Any] | None = None) -> Model:
        """The model of an editable document, its roles marked or inferred (train/roles.py);
        `RolesError` lists what cannot be told, with the fixes."""
        try:
            loaded = from_document(graph)
        except GraphError as exc:  # the node is named; say which file it is in
            raise ModelError(source, str(exc), exc.node) from exc
        roles = resolve_roles(graph, annotation_of(graph, loaded))
        if roles.problems:
            raise RolesError(source, roles)
        ops = {n.id: registry.get(n.op) for n in graph.nodes.values()}
        outputs = {role: loaded.variables[ref.node][ops[ref.node].output_names().index(ref.port)]
                   for role, ref in roles.outputs.items()}
        loss = outputs.get("loss")
        if "error" not in outputs and loss is not None and \
                loss.owner.op.name == "softmax_cross_entropy":  # report what it measures
            scores, labels = loss.owner.inputs
            outputs["error"] = apply("classification_error", scores, labels,
                                     name=f"{loss.owner.name}/error")
            roles.inferred.append(f"reporting the classification error of {scores.name}, "
                                  "as no error is marked")
        parts = SimpleNamespace(inputs=loaded.inputs, shared=loaded.shared, outputs=outputs)
        model = cls.from_loaded(parts, source, metadata, features=roles.features,
                                labels=roles.labels)
        model.roles = roles
        model.nodes = {node_id: node.op for node_id, node in graph.nodes.items()}
        frozen = (metadata or {}).get("frozen", [])
        if frozen:
            if not isinstance(frozen, list) or not all(isinstance(n, str) for n in frozen):
                raise ModelError(source, "metadata 'frozen' must be a list of layer or "
                                 f"parameter names, got {frozen!r}")
            model.freeze(*frozen)
        return model

    @classmethod
    def from_loaded(cls, loaded: Loaded | Any, source: str = "<graph>",
                    metadata: Mapping[str, Any] | None = None, features: str = "x",
                    labels: str | None = "y") -> Model:
        """From `ns.load(...)` or `from_document(...)`: anything with .inputs/.shared/.outputs;
        the features and labels are the inputs of those names, the loss the output "loss"."""
        inputs, outputs = dict(loaded.inputs), dict(loaded.outputs)
        if "loss" not in outputs:
            raise ModelError(source, "the graph has no output named 'loss' (its outputs: "
                             f"{_listing(outputs)}); a trainable graph needs a scalar 'loss'")
        loss = outputs["loss"]
        _check_scalar(source, "loss", loss)
        error = outputs.get("error")
        if error is not None:
            _check_scalar(source, "error", error)
        # the labels may be left out (unsupervised) only when the features are the one input
        wanted = (features,) if labels is None or set(inputs) <= {features} else (features,
                                                                                 labels)
        for name in wanted:
            if name not in inputs:
                raise ModelError(source, f"the graph has no input named {name!r} (its inputs: "
                                 f"{_listing(inputs)}); a trainable graph reads features from "
                                 f"{features!r} and labels from {labels!r}")
        extra = sorted(set(inputs) - {features, labels})
        if extra:
            raise ModelError(source, f"input(s) {', '.join(map(repr, extra))} cannot be fed "
                             f"by the trainer; only {features!r} (features) and {labels!r} "
                             "(labels) can")
        x, y = inputs[features], inputs.get(labels) if labels is not None else None
        if y is None:  # unsupervised: a placeholder for the labels that nothing reads
            from nodestudio.api.symbols import ivector
            y = ivector("y")
        if x.dtype != FLOAT or x.ndim < 2 or x.shape[0] is not None:
            raise ModelError(source, f"the features input {features!r} must be float with a "
                             f"free batch dimension first, like (None, 784); it is {x.type}")
        if x.ndim > 2 and None in x.shape[1:]:
            raise ModelError(source, f"the features input {features!r} is {x.type}: with more "
                             "than two dimensions only the batch dimension may be free")
        if not (y.ndim == 1 and y.shape[0] is None) and not (
                y.dtype == FLOAT and y.ndim == 2 and y.shape[0] is None):
            raise ModelError(source, f"the labels input {labels!r} must be int32 labels "
                             "(None,), float targets (None,) or one-hot float targets "
                             f"(None, K); it is {y.type}")
        shared = dict(loaded.shared)
        params = [v for v in shared.values() if _trainable(v)]
        if not params:
            raise ModelError(source, "the graph has no trainable parameters (parameter nodes "
                             "with trainable=True): there is nothing to train")
        model = cls(source, x, y, loss, error, outputs.get("prediction"), params, shared,
                    None, dict(metadata or {}))
        model.n_classes = model._classes()
        model.nodes = _forward_nodes([loss, error, outputs.get("prediction"), x, y])
        return model

    def _classes(self) -> int | None:
        """K when the graph treats `y` as labels of K classes: the width of one-hot targets,
        or the depth of a one_hot node applied to `y` (inside softmax_cross_entropy)."""
        if self.y.dtype == FLOAT:
            return self.y.shape[1] if self.y.ndim == 2 else None
        outs = [v for v in (self.loss, self.error, self.prediction) if v is not None]
        depths = {int(node.attrs["depth"]) for node in toposort(expand(outs, "infer"))
                  if node.op.name == "one_hot" and node.inputs[0] is self.y}
        return min(depths) if depths else None

    # --- freezing ------------------------------------------------------------------------------
    def freeze(self, *names: str) -> list[str]:
        """Stop training these layers ("ae1": every parameter the layer owns) or parameters
        ("ae1/W", "W2"): they leave `params` (optimizers skip them) but are still saved and
        restored. Returns the parameters frozen; a name that matches none is a ModelError."""
        matched = self._matching(names)
        self.frozen.update(matched)
        frozen = {id(self.shared[key]) for key in self.frozen}
        self.params = [p for p in self.params if id(p) not in frozen]
        return matched

    def unfreeze(self, *names: str) -> list[str]:
        """Train these layers or parameters again (all of them when no name is given)."""
        matched = self._matching(names) if names else sorted(self.frozen)
        self.frozen.difference_update(matched)
        training = {id(p) for p in self.params} | {id(self.shared[key]) for key in matched}
        self.params = [v for v in self.shared.values() if id(v) in training and _trainable(v)]
        return matched

    def _matching(self, names: Sequence[str]) -> list[str]:
        matched = []
        for name in names:
            found = [key for key in self.shared if key == name or key.startswith(name + "/")]
            if not found:
                raise ModelError(self.source, f"cannot freeze {name!r}: no layer or parameter "
                                 f"of that name (parameters: {_listing(self.shared)})")
            matched += [key for key in found if key not in matched]
        return matched

    # --- data ----------------------------------------------------------------------------------
    def check_data(self, data: Splits | Dataset) -> None:
        """DataMismatchError when a split's feature size or class count does not fit."""
        for split in (data if isinstance(data, Splits) else [data]):
            dims = self.x.shape[1:]
            if None not in dims and math.prod(dims) != split.n_features:
                name = self.roles.features if self.roles is not None else "x"
                want = f"{math.prod(dims)} features per example (input {name!r} is {self.x.type})"
                rows = " x ".join(map(str, split.image_shape))
                shape = (None, *split.image_shape) if self.x.ndim > 2 else (None,
                                                                            split.n_features)
                fix = None if self.roles is None else Fix(
                    f"Set the shape of {name} to {_shape_text(shape)}",
                    lambda g: g.set_attrs(name, {"shape": list(shape)}))
                raise DataMismatchError(self.source, f"the graph expects {want}, but dataset "
                                        f"{split.name!r} has {split.n_features} ({rows})", fix)
            if self.n_classes is not None and split.n_classes > self.n_classes:
                layer = self.logits_layer()
                fix = None if layer is None else _units_fix(layer, split.n_classes)
                raise DataMismatchError(self.source, f"dataset {split.name!r} has "
                                        f"{split.n_classes} classes, but the graph's output "
                                        f"distinguishes {self.n_classes}", fix)

    def class_notes(self, data: Splits) -> list[DataNote]:
        """A warning when the graph's output distinguishes more classes than the dataset has
        (a dense layer left at its default 100 units as the logits of 10 digits): it trains,
        but the extra outputs are never a label."""
        have = data.train.n_classes
        if self.n_classes is None or self.n_classes <= have:
            return []
        layer = self.logits_layer()
        hint = f" (set the units of {layer!r} to {have})" if layer is not None else ""
        name = data.train.name.rpartition(":")[0] or data.train.name  # "mnist5k:train"
        return [DataNote("warning", f"the graph's output distinguishes {self.n_classes} "
                         f"classes, but dataset {name!r} has {have}: "
                         f"{self.n_classes - have} of its outputs are never a label{hint}")]

    def logits_layer(self) -> str | None:
        """The user's dense_layer whose output the loss reads as its logits, when there is
        one: what a class-count fix edits."""
        for node in toposort([v for v in (self.loss, self.error) if v is not None]):
            if len(node.inputs) > 1 and node.inputs[1] is self.y:
                producer = node.inputs[0].owner
                if producer is not None and producer.op.name == "dense_layer" and \
                        producer.name in self.nodes:
                    return producer.name
        return None

    def feed(self, data: Dataset, index: np.ndarray | slice | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
        """The (x, y) values for rows `index` of `data`, shaped and typed as the inputs want."""
        rows = slice(None) if index is None else index
        features, labels = data.x[rows], data.y[rows]
        dims = tuple(features.shape[1] if d is None else d for d in self.x.shape[1:])
        xv = features.reshape((len(features), *dims))
        if self.y.dtype == INT:
            return xv, labels
        if self.y.ndim == 1:
            return xv, labels.astype(np.float32)
        return xv, np.eye(self.y.shape[1], dtype=np.float32)[labels]

    # --- parameter values ----------------------------------------------------------------------
    def values(self) -> dict[str, np.ndarray]:
        """Host copies of every shared variable (one blocking read each)."""
        return {name: var.get_value() for name, var in self.shared.items()}

    def set_values(self, values: Mapping[str, np.ndarray], source: str = "<values>") -> None:
        """Write values by node name; all of them must be given, with the right shapes."""
        missing = [n for n in self.shared if n not in values]
        unknown = [n for n in values if n not in self.shared]
        if missing or unknown:
            parts = ([f"missing {', '.join(map(repr, missing))}"] if missing else []) + (
                [f"unknown {', '.join(map(repr, unknown))}"] if unknown else [])
            raise ModelError(source, f"parameters do not match the graph {self.source}: "
                             + "; ".join(parts))
        arrays = {name: np.asarray(values[name]) for name in self.shared}
        wrong = [f"{name!r} has shape {arrays[name].shape}, the graph wants "
                 f"{var.container.shape}" for name, var in self.shared.items()
                 if arrays[name].shape != var.container.shape]
        if wrong:  # all of them named, and nothing written
            raise ModelError(source, f"parameters do not fit the graph {self.source}: "
                             + "; ".join(wrong))
        for name, var in self.shared.items():
            var.set_value(arrays[name])

    def save_values(self, path: str | os.PathLike[str]) -> None:
        """np.savez of every shared variable by node name (no pickled objects)."""
        with open(path, "wb") as handle:  # a file object: savez would otherwise append .npz
            np.savez(handle, **self.values())

    def load_values(self, path: str | os.PathLike[str]) -> None:
        try:
            with np.load(Path(path), allow_pickle=False) as archive:
                values = {name: archive[name] for name in archive.files}
        except (OSError, ValueError) as exc:  # missing file, not an npz, pickled content
            raise ModelError(str(path), f"cannot read parameters: {exc}") from None
        self.set_values(values, str(path))


@dataclass(frozen=True)
class NonFinite:
    """The first node (in evaluation order) whose value holds NaN or Inf: `origin` says which
    of the user's nodes it belongs to (ir/names.py), `node` is that node's id."""

    origin: NodeOrigin
    summary: str  # e.g. "-inf in 1 of 1 elements"
    on_device: bool  # found by re-running on the device (float32) rather than the reference

    @property
    def node(self) -> str | None:
        return self.origin.node

    @property
    def phase(self) -> str:
        return self.origin.phase  # "forward", or "backward" (a node of the gradient)

    def describe(self) -> str:
        """E.g. "the gradient of node 'hidden' (dense_layer), at its inner op div (backward
        pass: nan in 3 of 10 element(s))"."""
        where = ", in float32 on the device" if self.on_device else ""
        return f"{self.origin.describe()} ({self.phase} pass: {self.summary}{where})"


def locate_non_finite(outputs: Sequence[Variable], feeds: Mapping[Variable, Any],
                      call_index: int = 0, user_nodes: Mapping[str, str] | None = None
                      ) -> NonFinite | None:
    """Walk the primitive graph of `outputs` (the loss and the gradients) in topological order
    with the current parameter values, and name the first node that produces NaN or Inf, as
    the user's node it belongs to (`user_nodes`, id -> op: `Model.nodes`; by default the
    nodes of `outputs` before expansion).

    The float64 reference interpreter goes first: it is quick and needs no compilation. A value
    that overflows only in float32 (exp(100)) stays finite there, so when it finds nothing the
    graph is re-run on the device with every intermediate value as an output."""
    if user_nodes is None:
        user_nodes = {node.name: node.op.name for node in toposort(list(outputs))}
    prim = expand(list(outputs), "train")
    order = toposort(prim)
    variables = [v for node in order for v in node.outputs]
    values = evaluate(variables, feeds, mode="train", call_index=call_index)
    found = _first_bad(variables, values, user_nodes, on_device=False)
    if found is not None:
        return found
    from nodestudio.api.function import function  # the device path, only when needed
    computed = [v for node in order if node.inputs for v in node.outputs]
    inputs = [v for node in order if node.op.name == "input" for v in node.outputs]
    fn = function(inputs, computed, training=True)
    fn.calls = call_index  # the same dropout masks as the failing step
    results = fn(*[feeds[v] for v in inputs])
    return _first_bad(computed, results, user_nodes, on_device=True)


def _first_bad(variables: Sequence[Variable], values: Sequence[np.ndarray],
               user_nodes: Mapping[str, str], on_device: bool) -> NonFinite | None:
    for var, value in zip(variables, values):
        value = np.asarray(value)
        if value.dtype.kind != "f" or np.isfinite(value).all():
            continue
        counts = [(int(np.isnan(value).sum()), "nan"), (int(np.isposinf(value).sum()), "inf"),
                  (int(np.isneginf(value).sum()), "-inf")]
        kinds = ", ".join(f"{label} in {n}" for n, label in counts if n)
        origin = origin_of(var.owner.name, user_nodes, var.owner.op.name)
        return NonFinite(origin, f"{kinds} of {value.size} element(s)", on_device)
    return None


def _forward_nodes(outputs: Sequence[Variable | None]) -> dict[str, str]:
    """The nodes a graph built in Python (or loaded without its document) is made of, as the
    user sees them: composites whole, a layer's own parameters part of the layer."""
    order = toposort([v for v in outputs if v is not None])
    owned = {id(var.owner) for node in order if node.outputs
             for var in layer_params(node.outputs[0]).values()}
    return {node.name: node.op.name for node in order if id(node) not in owned}


def _trainable(var: SharedVariable) -> bool:
    return var.dtype == FLOAT and bool(var.owner.attrs.get("trainable", True))


def _check_scalar(source: str, name: str, var: Variable) -> None:
    if var.dtype != FLOAT or var.ndim != 0:
        raise ModelError(source, f"output {name!r} must be a float scalar; it is {var.type}")


def _shape_text(shape: tuple[int | None, ...]) -> str:
    return " x ".join("B" if d is None else str(d) for d in shape)


def _units_fix(layer: str, classes: int) -> Fix:
    return Fix(f"Set the units of {layer} to {classes}",
               lambda g: g.set_attrs(layer, {"units": classes}))


def _listing(table: Mapping[str, Any]) -> str:
    return ", ".join(map(repr, table)) or "none"


__all__ = ["DataMismatchError", "Model", "ModelError", "NonFinite", "RolesError",
           "locate_non_finite"]
