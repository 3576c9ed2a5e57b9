"""Inspector parts that say what a node is for in training: the editable name, the role of each
output port (the graph's loss, error or prediction, marked or inferred), and the parameters a
layer owns. Every change goes through the document as one undo step."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QLineEdit, QWidget

from nodestudio.errors import GraphError
from nodestudio.graph.model import Node, PortRef
from nodestudio.gui.document import Document
from nodestudio.gui.panels.widgets import muted_label, value_label
from nodestudio.ir.layers import param_key
from nodestudio.ops.registry import OpDef
from nodestudio.train.roles import OUTPUT_ROLES

NO_ROLE = "—"


class NameEdit(QLineEdit):
    """The node's name, renamed on Enter or when focus leaves (F2 focuses it); a refused name
    goes back to the current one and `refused(reason)` says why."""

    def __init__(self, document: Document, node: Node, refused: Callable[[str], None],
                 renamed: Callable[[str], None]):
        super().__init__(node.id, objectName="nodeName")
        self.document, self.node_id = document, node.id
        self._refused, self._renamed = refused, renamed
        self.setToolTip("The node's name (F2 to rename): wires, graph outputs and trained "
                        "values follow it")
        if node.group is not None:
            self.setReadOnly(True)
            self.setToolTip(f"Inside the expanded {node.group!r}: collapse it to rename")
        self.setStyleSheet("font-size: 12pt; font-weight: 600; padding: 2px 4px;")
        self.editingFinished.connect(self._commit)

    def _commit(self) -> None:
        new = self.text().strip()
        if self.isReadOnly() or new == self.node_id or \
                self.node_id not in self.document.graph.nodes:
            return
        try:
            self.document.rename(self.node_id, new)
        except GraphError as exc:
            self.setText(self.node_id)
            self._refused(exc.detail)
            return
        self.node_id = new
        self._renamed(new)


def output_role_rows(document: Document, node: Node, opdef: OpDef,
                     refused: Callable[[str], None]) -> list[tuple[str, QWidget]]:
    """One row per output port: a choice of role, and what Train would take unmarked."""
    marked = {ref: role for role, ref in document.graph.outputs.items()}
    inferred = {ref: role for role, ref in document.roles.outputs.items()
                if document.graph.outputs.get(role) != ref}
    rows = []
    for port in opdef.visible_output_names():
        ref = PortRef(node.id, port)
        row = QWidget()
        layout = QHBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        choice = QComboBox(objectName=f"role:{port}")
        choice.addItems([NO_ROLE, *OUTPUT_ROLES])
        current = marked.get(ref)
        choice.setCurrentText(current if current in OUTPUT_ROLES else NO_ROLE)
        choice.setToolTip("Mark this output as the graph's loss (minimised by training), "
                          "error (reported) or prediction")
        choice.currentTextChanged.connect(
            lambda role, ref=ref, old=current: _mark(document, ref, old, role, refused))
        layout.addWidget(choice)
        if ref in inferred and current is None:
            note = muted_label(f"Train takes it as the {inferred[ref]}")
            note.setToolTip("Inferred: the graph's one scalar output nothing consumes. "
                            "Mark it to make it explicit.")
            layout.addWidget(note, 1)
        else:
            layout.addStretch(1)
        rows.append((f"{port} role", row))
    return rows


def _mark(document: Document, ref: PortRef, old: str | None, role: str,
          refused: Callable[[str], None]) -> None:
    try:
        if role == NO_ROLE:
            if old is not None:
                document.mark_output(old, None)
        else:
            document.mark_output(role, ref)
    except GraphError as exc:
        refused(exc.detail)


def owned_parameter_rows(document: Document, node: Node, opdef: OpDef
                         ) -> list[tuple[str, QWidget]]:
    """A layer's own parameters: shape, initialiser and whether they hold trained values."""
    note, values = document.annotation, document.graph.values
    rows = []
    for param in opdef.owned_params(node.attrs):  # an untied autoencoder's W_prime only
        key = param_key(node.id, param.name)
        t = note.owned.get(key)
        shape = " × ".join(map(str, t.shape)) if t is not None else "unknown until x is wired"
        state = "trained" if key in values else "initial"
        label = value_label(f"{shape} · {state}", muted=t is None)
        if not param.trainable:
            label.setText(label.text() + " · running statistic")
        label.setToolTip(param.doc)
        label.setAlignment(Qt.AlignLeft | Qt.AlignVCenter)
        rows.append((param.name, label))
    return rows

