"""The op palette: every op of the registry by category, with a search field.

Ops reach the canvas two ways: activating an item (Enter, double-click) emits `op_activated`,
and dragging an item carries the op name as `OP_MIME` data, which the canvas accepts as a drop.
"""

from __future__ import annotations

import html

from PySide6.QtCore import QEvent, QMimeData, QObject, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.document import OP_MIME
from nodestudio.gui.theme import Theme, signals, theme
from nodestudio.ops import registry
from nodestudio.ops.registry import OpDef

CATEGORY_ORDER = ("Inputs", "Layers", "Activation", "Convolution", "Losses", "Regularisation",
                  "Math", "Reduce", "Tensor", "Logic", "Linear algebra", "Random", "Augmentation",
                  "Gradients")
OP_ROLE = Qt.UserRole  # the op name on op items; None on category items


def op_mime_data(op_name: str) -> QMimeData:
    """What a drag from the palette carries: the op name, utf-8, under OP_MIME."""
    data = QMimeData()
    data.setData(OP_MIME, op_name.encode("utf-8"))
    data.setText(op_name)  # dropping into a text field writes the name
    return data


def op_from_mime(data: QMimeData) -> str | None:
    """The op name a drop carries, or None when it is not a palette drag."""
    if not data.hasFormat(OP_MIME):
        return None
    return bytes(data.data(OP_MIME)).decode("utf-8")


def ordered_categories() -> list[tuple[str, list[OpDef]]]:
    """Registry categories in the palette's order, then any other category by name."""
    grouped = registry.categories()
    rank = {name: i for i, name in enumerate(CATEGORY_ORDER)}
    names = sorted(grouped, key=lambda c: (rank.get(c, len(rank)), c))
    return [(name, grouped[name]) for name in names]


def op_tooltip(op: OpDef) -> str:
    """Rich-text tooltip: the doc, then the ports and the attributes with their docs."""
    t = theme()
    muted = f"color:{t.muted}"

    def rows(title: str, entries: list[tuple[str, str]]) -> str:
        if not entries:
            return ""
        body = "".join(f"<tr><td><b>{html.escape(name)}</b>&nbsp;&nbsp;</td>"
                       f"<td style='{muted}'>{html.escape(doc)}</td></tr>"
                       for name, doc in entries)
        return f"<p style='margin-top:6px'><i>{title}</i></p><table>{body}</table>"

    inputs = [(p.name, _port_doc(p.doc, p.dtype, p.optional)) for p in op.inputs]
    if op.variadic:
        inputs = [("x0 … xn", "as many inputs as the attribute n says")]
    outputs = [(p.name, _port_doc(p.doc, p.dtype, False)) for p in op.outputs]
    attrs = [(a.name, f"{a.kind} = {a.default!r}" + (f" — {a.doc}" if a.doc else ""))
             for a in op.attrs]
    head = (f"<b>{html.escape(op.name)}</b> <span style='{muted}'>· "
            f"{html.escape(op.category)}</span>")
    return (f"<div style='max-width:360px'>{head}<p>{html.escape(op.doc)}</p>"
            + rows("Inputs", inputs) + rows("Outputs", outputs) + rows("Attributes", attrs)
            + "</div>")


def _port_doc(doc: str, dtype: str | None, optional: bool) -> str:
    extras = [dtype] if dtype else []
    if optional:
        extras.append("optional")
    return doc + (f" ({', '.join(extras)})" if extras else "")


def marker_icon(color: QColor, size: int = 12) -> QIcon:
    """A small rounded square in the category colour, drawn at 2x for sharp high-DPI output."""
    scale = 2
    pixmap = QPixmap(size * scale, size * scale)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(Qt.NoPen)
    painter.setBrush(color)
    inset = 2 * scale
    painter.drawRoundedRect(inset, inset, (size - 4) * scale, (size - 4) * scale,
                            2 * scale, 2 * scale)
    painter.end()
    pixmap.setDevicePixelRatio(scale)
    return QIcon(pixmap)


class OpTree(QTreeWidget):
    """The tree of ops; drags carry `op_mime_data` of the dragged op."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setHeaderHidden(True)
        self.setRootIsDecorated(True)
        self.setIndentation(14)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragOnly)
        self.setExpandsOnDoubleClick(True)

    def mimeTypes(self) -> list[str]:
        return [OP_MIME]

    def mimeData(self, items: list[QTreeWidgetItem]) -> QMimeData:
        ops = [i.data(0, OP_ROLE) for i in items if i.data(0, OP_ROLE)]
        return op_mime_data(ops[0]) if ops else QMimeData()


class PaletteWidget(QWidget):
    """Search field over the op tree. Signal `op_activated(str)`: Enter or double-click on an op,
    or Enter in the search field (the first match)."""

    op_activated = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.search = QLineEdit(placeholderText="Search ops…", clearButtonEnabled=True)
        self.search.setObjectName("paletteSearch")
        self.tree = OpTree(self)
        self.empty = QLabel(objectName="muted", alignment=Qt.AlignCenter, wordWrap=True)
        self.empty.hide()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addWidget(self.search)
        layout.addWidget(self.tree, 1)
        layout.addWidget(self.empty)

        self._categories: dict[str, QTreeWidgetItem] = {}
        self._ops: dict[str, QTreeWidgetItem] = {}
        self._expanded_before_search: dict[str, bool] | None = None
        self._populate()
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.tree.itemActivated.connect(self._item_activated)
        signals.theme_changed.connect(self._recolour)

    # --- contents -------------------------------------------------------------------------------
    def _populate(self) -> None:
        for category, ops in ordered_categories():
            parent = QTreeWidgetItem(self.tree, [category])
            parent.setData(0, OP_ROLE, None)
            parent.setFlags(Qt.ItemIsEnabled)  # not selectable, not draggable
            font = parent.font(0)
            font.setBold(True)
            parent.setFont(0, font)
            self._categories[category] = parent
            for op in sorted(ops, key=lambda o: o.name):
                item = QTreeWidgetItem(parent, [op.name])
                item.setData(0, OP_ROLE, op.name)
                item.setToolTip(0, op_tooltip(op))
                item.setFlags(Qt.ItemIsEnabled | Qt.ItemIsSelectable | Qt.ItemIsDragEnabled)
                self._ops[op.name] = item
            parent.setExpanded(True)
        self._recolour(theme())

    def _recolour(self, t: Theme) -> None:
        for category, parent in self._categories.items():
            icon = marker_icon(t.category_color(category))
            parent.setForeground(0, QColor(t.muted))
            for i in range(parent.childCount()):
                parent.child(i).setIcon(0, icon)
        for name, item in self._ops.items():  # tooltips carry theme colours too
            item.setToolTip(0, op_tooltip(registry.get(name)))

    def op_names(self) -> list[str]:
        """Every op the palette offers (visible or not)."""
        return list(self._ops)

    def visible_ops(self) -> list[str]:
        return [name for name, item in self._ops.items()
                if not item.isHidden() and not item.parent().isHidden()]

    # --- search ---------------------------------------------------------------------------------
    def _filter(self, text: str) -> None:
        needle = text.strip().lower()
        if needle and self._expanded_before_search is None:
            self._expanded_before_search = {c: p.isExpanded()
                                            for c, p in self._categories.items()}
        for parent in self._categories.values():
            matches = 0
            for i in range(parent.childCount()):
                item = parent.child(i)
                op = registry.get(item.data(0, OP_ROLE))
                hit = not needle or needle in op.name.lower() or needle in op.doc.lower()
                item.setHidden(not hit)
                matches += hit
            parent.setHidden(matches == 0)
            if needle and matches:
                parent.setExpanded(True)
        if not needle and self._expanded_before_search is not None:
            for category, expanded in self._expanded_before_search.items():
                self._categories[category].setExpanded(expanded)
            self._expanded_before_search = None
        visible = self.visible_ops()
        self.empty.setText(f"No op matches “{text.strip()}”")
        self.empty.setVisible(not visible)
        self.tree.setVisible(bool(visible))
        current = self.tree.currentItem()
        if current is not None and current.isHidden():
            self.tree.setCurrentItem(None)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        if watched is self.search and event.type() == QEvent.KeyPress:
            if event.key() == Qt.Key_Down:
                self._focus_first_match()
                return True
            if event.key() in (Qt.Key_Return, Qt.Key_Enter):
                visible = self.visible_ops()
                if visible:
                    self.op_activated.emit(visible[0])
                return True
            if event.key() == Qt.Key_Escape and self.search.text():
                self.search.clear()
                return True
        return super().eventFilter(watched, event)

    def _focus_first_match(self) -> None:
        visible = self.visible_ops()
        if not visible:
            return
        self.tree.setFocus(Qt.TabFocusReason)
        self.tree.setCurrentItem(self._ops[visible[0]])

    def focus_search(self) -> None:
        """Put the cursor in the search field with its text selected (Ctrl+F / Tab on canvas)."""
        self.search.setFocus(Qt.ShortcutFocusReason)
        self.search.selectAll()

    def _item_activated(self, item: QTreeWidgetItem, column: int) -> None:
        name = item.data(0, OP_ROLE)
        if name:
            self.op_activated.emit(name)
