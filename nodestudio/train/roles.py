"""What each part of a graph is for when it is trained: which input receives the dataset's
features and which its labels, which output is the loss to minimise, the error to report and
the prediction.

A user states them on the canvas (an input's `role` attribute; the graph's named outputs
"loss", "error", "prediction"), or leaves the obvious cases to `resolve_roles`: one float
scalar output that nothing consumes is the loss, one float input the features, one integer
input the labels. Inputs named `x` and `y` keep their meaning, so the files of earlier
versions train unchanged. What cannot be decided becomes a `Problem` that says what is missing
and, where there is one, offers the edit that fixes it (`Fix`), which the studio shows as a
button and the command line as a hint.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from nodestudio.errors import GraphError
from nodestudio.graph.model import Graph, PortRef
from nodestudio.ir.annotate import Annotation, annotate
from nodestudio.ops import registry
from nodestudio.ops.registry import FLOAT, INT, TensorType

OUTPUT_ROLES = ("loss", "error", "prediction")
INPUT_ROLES = ("features", "labels")
_SOURCES = ("input", "parameter", "constant")


@dataclass(frozen=True)
class Fix:
    """One edit that resolves a problem: `label` for a button, `apply` changes a graph."""

    label: str
    apply: Callable[[Graph], object]


@dataclass(frozen=True)
class Problem:
    message: str
    fixes: tuple[Fix, ...] = ()

    def __str__(self) -> str:
        if not self.fixes:
            return self.message
        return f"{self.message} ({'; or '.join(f.label.lower() for f in self.fixes)})"


@dataclass
class Roles:
    """The result of `resolve_roles`; `inferred` says in words what was not marked."""

    features: str | None = None  # input node ids
    labels: str | None = None
    outputs: dict[str, PortRef] = field(default_factory=dict)  # "loss", "error", "prediction"
    inferred: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def loss(self) -> PortRef | None:
        return self.outputs.get("loss")

    def describe(self) -> str:
        """"features x, labels y, loss loss:loss, error error:loss" for a log line."""
        parts = [f"{name} {value}" for name, value in
                 (("features", self.features), ("labels", self.labels)) if value]
        parts += [f"{role} {ref}" for role, ref in self.outputs.items()]
        return ", ".join(parts) or "none"


# --- marking ---------------------------------------------------------------------------------
def mark_output(graph: Graph, role: str, ref: PortRef | str) -> None:
    """Make `ref` the graph's `role` output ("loss", "error" or "prediction")."""
    if role not in OUTPUT_ROLES:
        raise GraphError(f"unknown output role {role!r}; one of {', '.join(OUTPUT_ROLES)}")
    graph.set_output(role, ref)


def unmark_output(graph: Graph, role: str) -> None:
    graph.outputs.pop(role, None)


def mark_input(graph: Graph, node_id: str, role: str) -> None:
    """Make input `node_id` the features or the labels ("auto" to unmark); an input that had
    that role before goes back to auto, so each role has one input."""
    node = graph.node(node_id)
    if node.op != "input":
        raise GraphError(f"only input nodes take the {role!r} role", node=node_id)
    if role != "auto":
        for other in graph.nodes.values():
            if other.op == "input" and other.id != node_id and other.attrs.get("role") == role:
                graph.set_attrs(other.id, {"role": "auto"})
    graph.set_attrs(node_id, {"role": role})


# --- resolving -------------------------------------------------------------------------------
def resolve_roles(graph: Graph, note: Annotation | None = None) -> Roles:
    """Every role, from the marks where they are given and by inference where they are not."""
    note = annotate(graph) if note is None else note
    roles = Roles()
    _resolve_inputs(graph, note, roles)
    _resolve_outputs(graph, note, roles)
    return roles


def _input_type(graph: Graph, note: Annotation, node_id: str) -> TensorType | None:
    return note.types.get(PortRef(node_id, "out"))


def _resolve_inputs(graph: Graph, note: Annotation, roles: Roles) -> None:
    inputs = [n for n in graph.nodes.values() if n.op == "input"]
    marked = {role: [n.id for n in inputs if n.attrs.get("role") == role] for role in INPUT_ROLES}
    for role, ids in marked.items():
        if len(ids) > 1:
            roles.problems.append(Problem(
                f"{len(ids)} inputs are marked as the {role} ({', '.join(ids)}): mark one",
                tuple(Fix(f"Keep {i} as the {role}", _input_marker(i, role)) for i in ids)))
    auto = [n.id for n in inputs if n.attrs.get("role", "auto") == "auto"]

    def kind(node_id: str) -> str | None:
        t = _input_type(graph, note, node_id)
        return None if t is None else t.dtype

    # the features: marked, else named x, else the one float input with a batch of rows
    asked: set[str] = set()  # inputs a problem already asks about
    features = marked["features"][:1] or [i for i in auto if i == "x"]
    if not features:
        batch = [i for i in auto if kind(i) == FLOAT and i != "y" and _batched(graph, note, i)]
        if len(batch) == 1:
            features = batch
            roles.inferred.append(f"took {batch[0]!r} as the features, the only float input")
        elif batch:  # float features and float targets (a regression): say which is which
            asked.update(batch)
            roles.problems.append(Problem(
                f"which input holds the dataset's features: {', '.join(batch)}?",
                tuple(Fix(f"Mark {i} as the features", _input_marker(i, "features"))
                      for i in batch)))
        else:
            roles.problems.append(Problem(
                "the graph has no input for the dataset's features: add an input node whose "
                "shape is a batch of rows (like B x 784) and wire it to the first layer"))
    roles.features = features[0] if features else None

    # the labels: marked, else named y, else the one integer input, else one other float input
    labels = marked["labels"][:1] or [i for i in auto if i == "y"]
    rest = [i for i in auto if i not in (roles.features, "x", "y")]
    if not labels:
        ints = [i for i in rest if kind(i) == INT]
        floats = [i for i in rest if kind(i) == FLOAT and _batched(graph, note, i)]
        candidates = ints or floats
        if len(candidates) == 1:
            labels = candidates
            what = "integer" if ints else "other float"
            roles.inferred.append(f"took {labels[0]!r} as the labels, the only {what} input")
        elif len(candidates) > 1:
            asked.update(candidates)
            roles.problems.append(Problem(
                f"which input receives the dataset's labels: {', '.join(candidates)}?",
                tuple(Fix(f"Mark {i} as the labels", _input_marker(i, "labels"))
                      for i in candidates)))
    roles.labels = labels[0] if labels else None

    for node_id in [n.id for n in inputs]:
        if node_id in (roles.features, roles.labels) or node_id in asked or \
                node_id in marked["features"] + marked["labels"]:
            continue
        fixes = () if roles.labels else (Fix(f"Mark {node_id} as the labels",
                                             _input_marker(node_id, "labels")),)
        roles.problems.append(Problem(
            f"input {node_id!r} is neither the features nor the labels, so training cannot "
            "feed it: delete it or mark it", fixes))


def _batched(graph: Graph, note: Annotation, node_id: str) -> bool:
    t = _input_type(graph, note, node_id)
    return t is not None and t.ndim >= 1 and t.shape[0] is None


def _resolve_outputs(graph: Graph, note: Annotation, roles: Roles) -> None:
    candidates = _scalar_sinks(graph, note)
    losses = [ref for ref in candidates if _op_role(graph, ref) != "error"]
    errors = [ref for ref in candidates if _op_role(graph, ref) == "error"]
    for role in OUTPUT_ROLES:
        ref = graph.outputs.get(role)
        if ref is not None:
            if role in ("loss", "error"):
                t = note.types.get(ref)
                if t is not None and (t.dtype != FLOAT or t.ndim != 0):
                    roles.problems.append(Problem(
                        f"the output marked as the {role}, {ref}, is {t}, not a float scalar",
                        tuple(Fix(f"Mark {c} as the {role}", _output_marker(role, c))
                              for c in (losses if role == "loss" else errors))))
                    continue
            roles.outputs[role] = ref
    if "loss" not in roles.outputs and "loss" not in graph.outputs:
        if len(losses) == 1:
            roles.outputs["loss"] = losses[0]
            roles.inferred.append(f"took {losses[0]} as the loss, the only scalar output")
        elif losses:
            roles.problems.append(Problem(
                f"which output is the loss to minimise: {', '.join(map(str, losses))}?",
                tuple(Fix(f"Mark {ref} as the loss", _output_marker("loss", ref))
                      for ref in losses)))
        else:
            roles.problems.append(Problem(
                "the graph has no loss: wire a loss op (softmax_cross_entropy, squared_error, "
                "binary_cross_entropy, ...) to the network's output"))
    if "error" not in graph.outputs and len(errors) == 1:
        roles.outputs["error"] = errors[0]
        roles.inferred.append(f"took {errors[0]} as the error")


def _scalar_sinks(graph: Graph, note: Annotation) -> list[PortRef]:
    """Float scalar output ports that nothing consumes, in document order."""
    consumed = {e.src for e in graph.edges}
    sinks = []
    for node in graph.nodes.values():
        if node.op in _SOURCES:
            continue
        try:
            ports = registry.get(node.op).visible_output_names()
        except GraphError:
            continue
        for port in ports:
            ref = PortRef(node.id, port)
            t = note.types.get(ref)
            if ref not in consumed and t is not None and t.dtype == FLOAT and t.ndim == 0:
                sinks.append(ref)
    return sinks


def _op_role(graph: Graph, ref: PortRef) -> str | None:
    try:
        return registry.get(graph.nodes[ref.node].op).role
    except GraphError:
        return None


def _input_marker(node_id: str, role: str) -> Callable[[Graph], object]:
    return lambda g: mark_input(g, node_id, role)


def _output_marker(role: str, ref: PortRef) -> Callable[[Graph], object]:
    return lambda g: mark_output(g, role, ref)


__all__ = ["Fix", "INPUT_ROLES", "OUTPUT_ROLES", "Problem", "Roles", "mark_input",
           "mark_output", "resolve_roles", "unmark_output"]
