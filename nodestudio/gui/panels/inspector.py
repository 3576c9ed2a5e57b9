"""The inspector: what the selected node is, its attributes as a form, and what is known about it.

The form commits each finished edit through `Document.set_attrs` (one undo step); a refused
value leaves the document untouched and marks the editor with the reason under the form. The
view follows the document: attribute changes (undo, redo) update the editors in place, removed
nodes and a replaced document rebuild it, and every re-annotation refreshes the types, the
parameter count and the problem line.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from nodestudio.errors import GraphError
from nodestudio.graph.model import Graph, Node, PortRef, plain
from nodestudio.gui.document import Document
from nodestudio.gui.panels.attr_editors import AttrEditor, make_editor
from nodestudio.gui.panels.node_roles import NameEdit, output_role_rows, owned_parameter_rows
from nodestudio.gui.panels.widgets import (
    align_forms,
    banner_style,
    category_chip,
    form_layout,
    muted_label,
    section_heading,
    value_label,
)
from nodestudio.gui.theme import signals, theme
from nodestudio.ops import registry
from nodestudio.ops.registry import OpDef


class InspectorWidget(QWidget):
    """Signal `selection_requested(list)`: after Expand / Collapse the inspector shows the new
    nodes and asks the canvas to select them too."""

    selection_requested = Signal(list)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self._ids: list[str] = []
        self._built_for: list[tuple[str, str | None]] | None = None
        self.editors: dict[str, AttrEditor] = {}
        self._refused: dict[str, str] = {}  # attribute -> why its typed value was refused
        self._node_id: str | None = None  # the node the form edits (single selection)
        self.scroll = QScrollArea(widgetResizable=True, frameShape=QFrame.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.scroll)

        self._rebuild_timer = QTimer(self, singleShot=True, interval=0)
        self._rebuild_timer.timeout.connect(self._rebuild)
        self._subscription = [document.graph.subscribe(self._graph_event)]
        # The graph outlives this widget: drop the callback with the C++ object.
        subscription = self._subscription
        self.destroyed.connect(lambda *_: subscription[0]())
        document.replaced.connect(self._document_replaced)
        document.annotated.connect(self._refresh_facts)
        signals.theme_changed.connect(self._theme_changed)  # a method: disconnects with us
        self._rebuild()

    # --- public ---------------------------------------------------------------------------------
    def show_nodes(self, node_ids: list[str]) -> None:
        """Inspect these nodes: none (a hint), one (the full editor) or several (a summary)."""
        ids = list(dict.fromkeys(node_ids))
        if ids == self._ids and self._built_for == self._signature():
            return  # already shown and kept current by the graph events: keep what is typed
        self._ids = ids
        self._rebuild()

    def _signature(self) -> list[tuple[str, str | None]]:
        nodes = self.document.graph.nodes
        return [(i, nodes[i].op if i in nodes else None) for i in self._ids]

    @property
    def shown_nodes(self) -> list[str]:
        return list(self._ids)

    def begin_rename(self) -> bool:
        """Focus the name field with its text selected (F2); False when no single node."""
        edit = getattr(self, "name_edit", None)
        if self._node_id is None or edit is None or edit.isReadOnly():
            return False
        edit.setFocus(Qt.ShortcutFocusReason)
        edit.selectAll()
        return True

    @property
    def refusal(self) -> str:
        """Why the last edit was refused, as shown in the panel ('' when nothing was)."""
        return "" if self.refusal_label.isHidden() else self.refusal_label.text()

    # --- following the document -----------------------------------------------------------------
    def _graph_event(self, event: str, payload: Any) -> None:
        if event == "attrs_changed" and payload[0] == self._node_id:
            self._show_attr_values()
        elif event in ("node_removed", "node_added") and payload.id in self._ids:
            self._rebuild_timer.start()  # after the whole edit: undo removes, then re-adds

    def _theme_changed(self, _theme: object) -> None:
        self._rebuild_timer.start()

    def _document_replaced(self) -> None:
        self._subscription[0]()
        self._subscription[0] = self.document.graph.subscribe(self._graph_event)
        self._rebuild_timer.start()

    def _rebuild(self) -> None:
        graph = self.document.graph
        self._ids = [i for i in self._ids if i in graph.nodes]
        self._built_for = self._signature()
        self.editors, self._refused, self._node_id = {}, {}, None
        if not self._ids:
            content = self._empty_view()
        elif len(self._ids) == 1:
            content = self._node_view(graph.nodes[self._ids[0]])
        else:
            content = self._summary_view()
        old = self.scroll.takeWidget()
        if old is not None:  # later: this may run inside a click on one of its buttons
            old.hide()
            old.deleteLater()
        self.scroll.setWidget(content)

    # --- no selection ---------------------------------------------------------------------------
    def _empty_view(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(16, 24, 16, 16)
        layout.addStretch(1)
        title = QLabel("Nothing selected", objectName="heading", alignment=Qt.AlignCenter)
        hint = muted_label("Select a node on the canvas to edit its attributes and see its "
                           "types. Add nodes from the palette: double-click or drag one onto "
                           "the canvas.")
        hint.setAlignment(Qt.AlignCenter)
        layout.addWidget(title)
        layout.addWidget(hint)
        layout.addWidget(self._new_refusal_label())
        layout.addStretch(2)
        return page

    # --- one node -------------------------------------------------------------------------------
    def _node_view(self, node: Node) -> QWidget:
        self._node_id = node.id
        opdef = registry.get(node.op)
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self._header(node, opdef))
        self.problem_label = QLabel(wordWrap=True, objectName="problem")
        layout.addWidget(self.problem_label)

        layout.addWidget(section_heading("Attributes"))
        self.attr_form = None
        if opdef.attrs:
            form = self.attr_form = form_layout()
            for attr in opdef.attrs:
                editor = make_editor(attr, node.id)
                editor.edited.connect(lambda name=attr.name: self._commit(name))
                self.editors[attr.name] = editor
                form.addRow(attr.name, editor.widget)
            layout.addLayout(form)
        else:
            layout.addWidget(muted_label("This op has no attributes."))
        layout.addWidget(self._new_refusal_label())
        self._show_attr_values()

        self.facts = QVBoxLayout()
        self.facts.setContentsMargins(0, 0, 0, 0)
        self.facts.setSpacing(6)
        layout.addLayout(self.facts)
        self.expand_button = self.collapse_button = None
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 6, 0, 0)
        if opdef.is_composite:
            self.expand_button = QPushButton("Expand into primitive ops")
            self.expand_button.setToolTip("Replace this node by the ops it stands for "
                                          "(undoable; Collapse group puts it back)")
            self.expand_button.clicked.connect(lambda: self._expand(node.id))
            actions.addWidget(self.expand_button)
        if node.group is not None and node.group in self.document.graph.groups:
            self.collapse_button = self._collapse_button(node.group)
            actions.addWidget(self.collapse_button)
        actions.addStretch(1)
        layout.addLayout(actions)
        layout.addStretch(1)
        self._refresh_facts()
        return page

    def _header(self, node: Node, opdef: OpDef) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 0, 0, 4)
        layout.setSpacing(3)
        top = QHBoxLayout()
        top.setSpacing(8)
        self.name_edit = NameEdit(self.document, node, self._refuse, self._renamed)
        top.addWidget(self.name_edit, 1)
        top.addWidget(category_chip(opdef.category))
        layout.addLayout(top)
        kind = opdef.name + (" · composite" if opdef.is_composite else "")
        if node.group is not None:
            kind += f" · inside {node.group}"
        layout.addWidget(muted_label(kind))
        if opdef.doc:
            doc = QLabel(opdef.doc, wordWrap=True)
            layout.addWidget(doc)
        return box

    def _show_attr_values(self) -> None:
        """Put the node's current attribute values in the editors, except where the user is
        typing; a value from the document replaces a refused one."""
        node = self.document.graph.nodes.get(self._node_id or "")
        if node is None:
            return
        for name, editor in self.editors.items():
            if editor.is_being_typed_in():
                continue
            editor.show_value(node.attrs.get(name, editor.attr.default))
            self._mark(name, None)

    def _commit(self, name: str) -> None:
        node = self.document.graph.nodes.get(self._node_id or "")
        editor = self.editors.get(name)
        if node is None or editor is None:
            return
        try:
            value = editor.value()
            if plain(value) != plain(node.attrs.get(name, editor.attr.default)):
                if node.op == "input" and name == "role":  # one input per role
                    self.document.mark_input(node.id, value)
                else:
                    self.document.set_attrs(node.id, {name: value})
        except GraphError as exc:
            self._mark(name, exc.detail)
            return
        editor.show_value(self.document.graph.nodes[node.id].attrs.get(name, value))
        self._mark(name, None)

    def _mark(self, name: str, reason: str | None) -> None:
        self.editors[name].set_invalid(reason is not None)
        if reason is None:
            self._refused.pop(name, None)
        else:
            self._refused[name] = reason
        self.refusal_label.setText("\n".join(self._refused.values()))
        self.refusal_label.setVisible(bool(self._refused))

    def _refresh_facts(self) -> None:
        """Types, parameters, values and the problem line: everything the annotation knows."""
        if self._node_id is None:
            if len(self._ids) > 1:
                self._rebuild()  # the summary holds no editors: rebuilding is free
            return
        graph, note, t = self.document.graph, self.document.annotation, theme()
        node = graph.nodes.get(self._node_id)
        if node is None:
            return
        opdef = registry.get(node.op)
        error = note.errors.get(node.id)
        if error is not None:
            where = f"{error.port}: " if error.port else ""
            self.problem_label.setText(f"{where}{error.detail}")
            self.problem_label.setStyleSheet(banner_style(t.error))
        elif note.status(node.id) == "blocked":
            self.problem_label.setText("Waiting on a problem upstream: types are unknown "
                                       "until it is fixed.")
            self.problem_label.setStyleSheet(banner_style(t.muted))
        self.problem_label.setVisible(error is not None or note.status(node.id) == "blocked")

        while self.facts.count():
            widget = self.facts.takeAt(0).widget()
            if widget is not None:
                widget.hide()  # gone now; deleted once control returns to the event loop
                widget.deleteLater()
        defaults = {a.name: a.default for a in opdef.attrs}
        incoming = graph.incoming(node.id)
        try:
            inputs = opdef.input_names({**defaults, **node.attrs}, node.id)
        except GraphError:  # a count out of range (concatenate's n): the problem says so
            inputs = []
        forms = [self.attr_form] if self.attr_form is not None else []
        if inputs:
            rows = []
            for port in inputs:
                src = incoming.get(port)
                rows.append((port, value_label(str(src) if src else "not connected",
                                               muted=src is None)))
            forms.append(self._facts_section("Inputs", rows))
        rows = []
        for port in opdef.visible_output_names():
            found = note.types.get(PortRef(node.id, port))
            rows.append((port, value_label(str(found) if found else "unknown",
                                           muted=found is None)))
        count = note.params.get(node.id)
        if count:
            owned = node.op == "parameter" or bool(opdef.params)
            rows.append(("parameters", value_label(f"{count:,}" + (" (its own)" if opdef.params
                                                                   else "" if owned
                                                                   else " (used)"))))
        forms.append(self._facts_section("Outputs", rows))
        if node.op not in ("input", "parameter", "constant"):
            forms.append(self._facts_section("Training role", output_role_rows(
                self.document, node, opdef, self._refuse)))
        if opdef.params:
            forms.append(self._facts_section("Own parameters", owned_parameter_rows(
                self.document, node, opdef)))
        if node.op == "parameter":
            forms.append(self._facts_section("Values", _values_rows(graph, node.id)))
        align_forms(forms)

    def _facts_section(self, title: str, rows: list[tuple[str, QWidget]]) -> QFormLayout:
        self.facts.addWidget(section_heading(title))
        box = QWidget()
        form = form_layout(box)
        for label, field in rows:
            form.addRow(label, field)
        self.facts.addWidget(box)
        return form

    def _renamed(self, new_id: str) -> None:
        self._ids = [new_id]
        self._rebuild_timer.start()
        self.selection_requested.emit([new_id])

    def _expand(self, node_id: str) -> None:
        self._regroup(lambda: self.document.expand(node_id))

    def _regroup(self, change: Callable[[], list[str]]) -> None:
        """Expand or collapse, then show and select the nodes that took the old ones' place."""
        try:
            new_ids = change()
        except GraphError as exc:
            self._refuse(exc.detail)
            return
        self.show_nodes(new_ids)
        self.selection_requested.emit(new_ids)

    def _collapse_button(self, group: str) -> QPushButton:
        button = QPushButton("Collapse group")
        button.setToolTip(f"Put the composite {group!r} back in place of its primitive ops")
        button.clicked.connect(lambda: self._collapse(group))
        return button

    def _collapse(self, group: str) -> None:
        self._regroup(lambda: [self.document.collapse(group)])

    # --- several nodes --------------------------------------------------------------------------
    def _summary_view(self) -> QWidget:
        graph, note = self.document.graph, self.document.annotation
        nodes = [graph.nodes[i] for i in self._ids]
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(QLabel(f"{len(nodes)} nodes selected", objectName="heading"))
        ops = Counter(n.op for n in nodes)
        layout.addWidget(muted_label(" · ".join(f"{k} × {op}" if k > 1 else op
                                                for op, k in ops.most_common())))
        form = form_layout()
        params = sum(note.params.get(n.id, 0) for n in nodes if n.op == "parameter")
        form.addRow("Parameters", value_label(f"{params:,}" if params else "none",
                                              muted=not params))
        problems = sum(1 for n in nodes if n.id in note.errors)
        form.addRow("Problems", value_label(str(problems) if problems else "none",
                                            error=bool(problems), muted=not problems))
        layout.addLayout(form)
        groups = {n.group for n in nodes}
        if len(groups) == 1 and None not in groups and next(iter(groups)) in graph.groups:
            group = next(iter(groups))
            layout.addWidget(muted_label(f"Primitive ops expanded from {group!r}."))
            self.collapse_button = self._collapse_button(group)
            row = QHBoxLayout()
            row.addWidget(self.collapse_button)
            row.addStretch(1)
            layout.addLayout(row)
        layout.addWidget(self._new_refusal_label())
        layout.addStretch(1)
        return page

    def _new_refusal_label(self) -> QLabel:
        self.refusal_label = QLabel(wordWrap=True, objectName="refusal")
        self.refusal_label.setStyleSheet(f"color: {theme().error};")
        self.refusal_label.hide()
        return self.refusal_label

    def _refuse(self, reason: str) -> None:
        self.refusal_label.setText(reason)
        self.refusal_label.show()


def _values_rows(graph: Graph, node_id: str) -> list[tuple[str, QWidget]]:
    """Whether a parameter holds trained (or loaded) values, with their shape and statistics."""
    value = graph.values.get(node_id)
    if value is None:
        return [("trained", value_label("not yet: training starts from the initialiser",
                                        muted=True))]
    array = np.asarray(value)
    rows: list[tuple[str, QWidget]] = [
        ("trained", value_label(" × ".join(map(str, array.shape)) or "scalar"))]
    if array.size:
        for name, stat in (("min", array.min()), ("mean", array.mean()), ("max", array.max())):
            rows.append((name, value_label(f"{float(stat):.4g}")))
    return rows

