"""The controller of one open graph: the document, its file, its undo stack and its annotation.

Every change a user makes goes through `Document.edit`: the edit runs on the live graph while a
`Recorder` (`nodestudio.graph.history`) keeps what it changed; that change is the undo step
(replayed backwards to undo, forwards to redo), and an edit that raises is rolled back at once.
The annotation is kept by an `Annotator` (`nodestudio.ir.annotate`) that rebuilds only what an
edit touched. Views never change the graph themselves; they call the methods here and listen to
the graph's events (the canvas) or to this object's signals (panels).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from nodestudio.errors import GraphError
from nodestudio.graph import fileformat
from nodestudio.graph.history import Change, Recorder
from nodestudio.graph.model import Edge, Graph, PortLike, PortRef, Position, as_port
from nodestudio.ir.annotate import Annotation, Annotator, check_connection
from nodestudio.ir.composites import collapse_group, expand_node
from nodestudio.ops import registry
from nodestudio.train import roles

T = TypeVar("T")
OP_MIME = "application/x-nodestudio-op"  # a drag from the palette: the op name, utf-8


class ChangeCommand(QUndoCommand):
    """Undo / redo = replay the recorded change backwards / forwards. It is pushed after the
    edit already ran, so the first `redo` (QUndoStack.push calls it) does nothing."""

    def __init__(self, text: str, graph: Graph, change: Change):
        super().__init__(text)
        self.graph, self.change = graph, change
        self._applied = True

    def redo(self) -> None:
        if self._applied:
            self._applied = False
            return
        self.change.redo(self.graph)

    def undo(self) -> None:
        self.change.undo(self.graph)


class Document(QObject):
    """One graph being edited. Signals: `annotated` after the types are recomputed (coalesced:
    once per burst of changes; `annotation_changes` says for which nodes), `path_changed`, and
    the undo stack's `cleanChanged`."""

    annotated = Signal()
    path_changed = Signal()
    replaced = Signal()  # a different graph was loaded: views rebuild from `graph`

    def __init__(self, graph: Graph | None = None, path: str | Path | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.graph = graph if graph is not None else Graph()
        self.path: Path | None = Path(path) if path is not None else None
        self.undo_stack = QUndoStack(self)
        self._annotator = Annotator(self.graph)
        self._recorder: Recorder | None = None  # while an edit runs
        self._roles: roles.Roles | None = None
        # for views: the nodes whose annotation may have changed before the last `annotated`
        # signal (None: any node's), so that they can redraw only those
        self.annotation_changes: set[str] | None = None
        self._reannotate = QTimer(self, singleShot=True, interval=0)
        self._reannotate.timeout.connect(self._annotate_now)
        self._unsubscribe = self.graph.subscribe(self._graph_changed)

    # --- the graph and what is known about it ----------------------------------------------
    @property
    def annotation(self) -> Annotation:
        """Types, problems and parameter counts, brought up to date (incrementally) on use."""
        return self._annotator.annotation()

    @property
    def roles(self) -> roles.Roles:
        """The training roles, marked or inferred (kept until the next change)."""
        if self._roles is None:
            self._roles = roles.resolve_roles(self.graph, self.annotation)
        return self._roles

    def _graph_changed(self, event: str, payload: Any) -> None:
        # the first listener of the graph: the recorder hears every change before a view can
        # fail on it
        if self._recorder is not None:
            self._recorder.observe(event, payload)
        self._annotator.observe(event, payload)
        if event != "moved":  # positions do not change types
            self._roles = None
            self._reannotate.start()

    def _annotate_now(self) -> None:
        self.annotation_changes = self._annotator.take_changes()  # brings it up to date
        self.annotated.emit()

    @property
    def modified(self) -> bool:
        return not self.undo_stack.isClean()

    @property
    def title(self) -> str:
        return self.path.name if self.path is not None else "Untitled"

    # --- the one way to change the graph ---------------------------------------------------
    def edit(self, text: str, change: Callable[[Graph], T]) -> T:
        """Run `change` on the graph as one undo step (none when nothing changed). An error
        from `change` (GraphError or any other) leaves the graph exactly as it was."""
        if self._recorder is not None:  # an edit inside an edit is part of it
            return change(self.graph)
        recorder = self._recorder = Recorder(self.graph)
        try:
            result = change(self.graph)
            self._drop_stale_owned_values()  # a layer resized by this edit starts afresh
            step = recorder.finish()
        except BaseException:
            self._recorder = None
            recorder.rollback()
            raise
        self._recorder = None
        if step is not None:
            self.undo_stack.push(ChangeCommand(text, self.graph, step))
        return result

    def _drop_stale_owned_values(self) -> None:
        """Trained values of a layer's own parameters that no longer fit it (its `units` or its
        incoming width changed) are dropped in the same edit: the layer is initialised anew.
        Only layers this edit rebuilt are looked at; nothing is done without such values."""
        graph = self.graph
        if not any("/" in k and k not in graph.nodes for k in graph.values):
            return
        while True:  # a layer dropping its values may let the next one be built: look again
            self._annotator.annotation()
            stale = self._annotator.stale_owned_values()
            if not stale:
                return
            for key in stale:
                del graph.values[key]

    def add_node(self, op: str, attrs: Mapping[str, Any] | None = None,
                 position: Position | None = None) -> str:
        opdef = registry.get(op)
        full = {a.name: copy.deepcopy(a.default) for a in opdef.attrs}
        full.update(attrs or {})
        return self.edit(f"Add {opdef.name}",
                         lambda g: g.add_node(opdef.name, full, position=position).id)

    def remove_nodes(self, node_ids: Iterable[str]) -> None:
        ids = [n for n in node_ids if n in self.graph.nodes]
        if ids:
            self.edit("Delete " + _names(ids), lambda g: [g.remove_node(n) for n in ids])

    def connection_problem(self, src: PortLike, dst: PortLike,
                           without: Edge | None = None) -> str | None:
        """Why the wire src -> dst cannot be made (None: it can); `without`: as if that wire
        were deleted first (one being re-routed)."""
        return check_connection(self.graph, src, dst, self.annotation, without)

    def connect(self, src: PortLike, dst: PortLike) -> Edge:
        """Wire an output to an input; GraphError with the reason when it is not valid."""
        src, dst = as_port(src), as_port(dst)
        problem = self.connection_problem(src, dst)
        if problem is not None:
            raise GraphError(problem, node=dst.node, port=dst.port)
        return self.edit(f"Connect {src} to {dst}", lambda g: g.connect(src, dst))

    def disconnect(self, edges: Iterable[Edge]) -> None:
        edges = [e for e in edges if e in self.graph.edges]
        if edges:
            self.edit("Delete wire" + ("s" if len(edges) > 1 else ""),
                      lambda g: [g.disconnect(e) for e in edges])

    def set_attrs(self, node_id: str, attrs: Mapping[str, Any]) -> None:
        """Change attributes; GraphError (naming node and attribute) when a value is invalid."""
        node = self.graph.node(node_id)
        opdef = registry.get(node.op, node=node_id)
        merged = {**node.attrs, **attrs}
        opdef.normalise_attrs(merged, node_id)  # validates; the stored values stay as typed
        names = ", ".join(attrs)
        self.edit(f"Set {node_id}.{names}", lambda g: g.set_attrs(node_id, dict(attrs)))

    def rename(self, node_id: str, new_id: str) -> str:
        """Rename a node (F2, the inspector); GraphError when the name is taken or invalid."""
        self.edit(f"Rename {node_id} to {new_id}", lambda g: g.rename_node(node_id, new_id))
        return new_id

    def mark_output(self, role: str, ref: PortLike | None) -> None:
        """Make an output port the graph's loss, error or prediction (None: unmark)."""
        if ref is None:
            self.edit(f"Unmark the {role}", lambda g: roles.unmark_output(g, role))
        else:
            ref = as_port(ref)
            self.edit(f"Mark {ref} as the {role}", lambda g: roles.mark_output(g, role, ref))

    def mark_input(self, node_id: str, role: str) -> None:
        """Make an input node the features or the labels ("auto": unmark)."""
        text = (f"Unmark {node_id}" if role == "auto" else f"Mark {node_id} as the {role}")
        self.edit(text, lambda g: roles.mark_input(g, node_id, role))

    def apply_fix(self, fix: roles.Fix) -> None:
        """One of the fixes Train offers, as one undo step."""
        self.edit(fix.label, fix.apply)

    def move_nodes(self, positions: Mapping[str, Position]) -> None:
        """Record where nodes were dragged to (one undo step for the whole drag)."""
        moves = {k: p for k, p in positions.items()
                 if k in self.graph.nodes and self.graph.nodes[k].position != tuple(p)}
        if moves:
            self.edit("Move " + _names(list(moves)),
                      lambda g: [g.move(k, p) for k, p in moves.items()])

    def auto_layout(self, node_ids: Iterable[str] | None = None) -> None:
        from nodestudio.graph.layout import layered_positions
        self.edit("Auto-layout", lambda g: [g.move(k, p) for k, p in
                                            layered_positions(g, node_ids).items()])

    def expand(self, node_id: str) -> list[str]:
        """Open a composite op into its primitive ops in place (one undo step)."""
        return self.edit(f"Expand {node_id}", lambda g: expand_node(g, node_id))

    def collapse(self, group_id: str) -> str:
        return self.edit(f"Collapse {group_id}", lambda g: collapse_group(g, group_id).id)

    def set_values(self, values: Mapping[str, np.ndarray], text: str = "Set parameters") -> None:
        """Replace parameter arrays (trained values, a loaded .npz) as one undo step."""
        def change(g: Graph) -> None:
            g.values = {**g.values, **{k: np.asarray(v) for k, v in values.items()}}
        self.edit(text, change)

    def apply_training(self, values: Mapping[str, np.ndarray], settings: Mapping[str, Any],
                       text: str) -> None:
        """A finished run as one undo step: the trained arrays (for nodes still in the graph)
        and the settings it used, kept in metadata["training"] so that saving keeps both."""
        def change(g: Graph) -> None:
            g.values = {**g.values, **{k: np.asarray(v) for k, v in values.items()
                                       if k in g.nodes or k.rpartition("/")[0] in g.nodes}}
            g.metadata = {**g.metadata, "training": copy.deepcopy(dict(settings))}
        self.edit(text, change)

    def reset_parameters(self) -> list[str]:
        """Forget trained parameter values: the next run starts from the initialisers."""
        trained = sorted(self.parameter_values())

        def change(g: Graph) -> None:
            g.values = {k: v for k, v in g.values.items() if k not in trained}
        if trained:
            self.edit("Reinitialise parameters", change)
        return trained

    # --- clipboard ------------------------------------------------------------------------
    def copy_nodes(self, node_ids: Iterable[str]) -> str:
        """The selected nodes, the wires between them and their values, as graph-file JSON."""
        ids = set(node_ids)
        part = Graph()
        for node_id in self.graph.nodes:
            if node_id in ids:
                n = self.graph.nodes[node_id]
                part.add_node(n.op, copy.deepcopy(n.attrs), id=n.id, position=n.position)
                if node_id in self.graph.values:
                    part.values[node_id] = self.graph.values[node_id]
        for e in self.graph.edges:
            if e.src.node in ids and e.dst.node in ids:
                part.restore_edge(e)
        return fileformat.dumps(part)

    def paste(self, text: str, offset: Position = (40.0, 40.0)) -> list[str]:
        """Add the nodes of copied JSON with fresh ids, moved by `offset`; returns the new ids."""
        part = fileformat.loads(text, "<clipboard>")

        def change(g: Graph) -> list[str]:
            renamed: dict[str, str] = {}
            for n in part.nodes.values():
                pos = None if n.position is None else (n.position[0] + offset[0],
                                                       n.position[1] + offset[1])
                renamed[n.id] = g.add_node(n.op, n.attrs, id=g.new_id(n.id.rstrip("_0123456789")
                                                                      or n.op),
                                           position=pos).id
                if n.id in part.values:
                    g.values[renamed[n.id]] = part.values[n.id]
            for e in part.edges:
                g.connect(f"{renamed[e.src.node]}:{e.src.port}",
                          f"{renamed[e.dst.node]}:{e.dst.port}")
            return list(renamed.values())
        return self.edit("Paste" if len(part.nodes) != 1 else f"Paste {next(iter(part.nodes))}",
                         change)

    def duplicate(self, node_ids: Iterable[str]) -> list[str]:
        return self.paste(self.copy_nodes(node_ids))

    # --- files ------------------------------------------------------------------------------
    def save(self, path: str | Path | None = None) -> None:
        """Atomic save (temporary file, then rename); marks the document clean."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("no file name: use save(path)")
        fileformat.save(self.graph, target)
        if target != self.path:
            self.path = target
            self.path_changed.emit()
        self.undo_stack.setClean()

    def replace(self, graph: Graph, path: str | Path | None) -> None:
        """Show another graph (New, Open): a fresh undo history."""
        self._unsubscribe()
        self.graph = graph
        self._unsubscribe = graph.subscribe(self._graph_changed)
        self.path = Path(path) if path is not None else None
        self.undo_stack.clear()
        self._annotator = Annotator(graph)
        self._roles = None
        self.replaced.emit()
        self.path_changed.emit()
        self._reannotate.start()

    def parameter_values(self) -> dict[str, np.ndarray]:
        """Values of parameter nodes and of the parameters layers own ("layer/W")."""
        nodes = self.graph.nodes
        return {k: v for k, v in self.graph.values.items()
                if (k in nodes and nodes[k].op == "parameter")
                or (k not in nodes and k.rpartition("/")[0] in nodes)}

    def save_parameters(self, path: str | Path) -> None:
        """Parameter arrays as .npz (never a pickle), keyed by node id."""
        values = self.parameter_values()
        if not values:
            raise GraphError("the graph holds no parameter values yet: train it first")
        with open(path, "wb") as handle:
            np.savez(handle, **values)

    def load_parameters(self, path: str | Path) -> list[str]:
        """Read a .npz written by save_parameters or `nodestudio train`; shapes must match."""
        note = self.annotation
        loaded: dict[str, np.ndarray] = {}
        with np.load(path, allow_pickle=False) as archive:
            for key in archive.files:
                node = self.graph.nodes.get(key)
                owned = note.owned.get(key)
                if owned is None and (node is None or node.op != "parameter"):
                    raise GraphError(f"{path}: array {key!r} matches no parameter node or "
                                     "layer parameter")
                array = archive[key]
                expected = owned or note.types.get(PortRef(key, "out"))
                if expected is not None and tuple(expected.shape) != array.shape:
                    raise GraphError(f"{path}: array {key!r} has shape {array.shape}, the node "
                                     f"expects {tuple(expected.shape)}", node=key)
                loaded[key] = array.astype(np.float32)
        self.set_values(loaded, f"Load parameters from {Path(path).name}")
        return sorted(loaded)


def _names(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{len(ids)} nodes"

