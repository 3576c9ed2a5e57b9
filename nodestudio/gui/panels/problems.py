"""The Problems dock: what is wrong with the open graph, now.

Two kinds of rows, both about the graph shown: the document's annotation (one per node with a
problem; a port left unconnected is a warning, everything else an error), rebuilt on
`Document.annotated`; and reports from outside the annotation (`report()`): nodes of the file
that were left out because their op is unknown, a training run that failed at a node. Reports
are dropped when another graph is opened (`Document.replaced`), or by source with
`clear_reports(source)`. What merely happened (files opened, epochs) goes to the Log dock.
An entry naming a node emits `node_activated` on click or Enter.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QKeyEvent, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.errors import GraphError
from nodestudio.gui.document import Document
from nodestudio.gui.theme import Theme, signals, theme

LEVELS = ("error", "warning", "info")
NODE_ROLE = Qt.UserRole
LEVEL_ROLE = Qt.UserRole + 1


@dataclass(frozen=True)
class Report:
    """A problem the annotation does not know: `source` groups them ("file", "training")."""

    level: str
    message: str
    node: str | None
    source: str


def severity(error: GraphError) -> str:
    """A port left unconnected is normal while building a graph: a warning. The rest: errors."""
    return "warning" if error.detail.startswith("missing input") else "error"


def problem_text(error: GraphError) -> str:
    return f"{error.port}: {error.detail}" if error.port else error.detail


_ICONS: dict[tuple[str, str, int], QIcon] = {}


def severity_icon(level: str, t: Theme, size: int = 14) -> QIcon:
    """Error: red disc with '!'; warning: amber triangle with '!'; info: accent disc with 'i'.
    Drawn once per level, theme and size."""
    key = (level, t.name, size)
    if key not in _ICONS:
        _ICONS[key] = _draw_severity_icon(level, t, size)
    return _ICONS[key]


def _draw_severity_icon(level: str, t: Theme, size: int) -> QIcon:
    scale = 2
    pixmap = QPixmap(size * scale, size * scale)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.scale(scale, scale)
    colour = QColor({"error": t.error, "warning": t.warning}.get(level, t.accent))
    box = QRectF(1, 1, size - 2, size - 2)
    painter.setPen(Qt.NoPen)
    painter.setBrush(colour)
    if level == "warning":
        path = QPainterPath()
        path.moveTo(box.center().x(), box.top())
        path.lineTo(box.right(), box.bottom())
        path.lineTo(box.left(), box.bottom())
        path.closeSubpath()
        painter.drawPath(path)
    else:
        painter.drawEllipse(box)
    painter.setPen(QColor("#1d2127" if level == "warning" else "#ffffff"))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(size - 5)
    painter.setFont(font)
    glyph_box = box.adjusted(0, 2, 0, 0) if level == "warning" else box
    painter.drawText(glyph_box, Qt.AlignCenter, "i" if level == "info" else "!")
    painter.end()
    pixmap.setDevicePixelRatio(scale)
    return QIcon(pixmap)


def count_summary(errors: int, warnings: int) -> str:
    if not errors and not warnings:
        return "No problems"
    parts = []
    if errors:
        parts.append(f"{errors} error" + ("s" if errors != 1 else ""))
    if warnings:
        parts.append(f"{warnings} warning" + ("s" if warnings != 1 else ""))
    return " · ".join(parts)


class EntryTree(QTreeWidget):
    """A flat list of entries in columns, the first stretching and the others as wide as
    their text (the Problems and Log panels). A click or Enter on an entry emits `chosen`
    (itemActivated would also fire on a double-click, after the click already did)."""

    entry_chosen = Signal(QTreeWidgetItem)

    def __init__(self, parent: QWidget, headers: list[str]):
        super().__init__(parent)
        self.setColumnCount(len(headers))
        self.setHeaderLabels(headers)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setTextElideMode(Qt.ElideRight)
        header = self.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.Stretch)
        for column in range(1, len(headers)):
            header.setSectionResizeMode(column, QHeaderView.ResizeToContents)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key_Return, Qt.Key_Enter) and self.currentItem() is not None:
            self.entry_chosen.emit(self.currentItem())
            return
        super().keyPressEvent(event)


class ProblemsWidget(QWidget):
    """Signals: `node_activated(str)` (an entry naming a node was clicked or entered),
    `counts_changed(int errors, int warnings)`."""

    node_activated = Signal(str)
    counts_changed = Signal(int, int)

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self._reports: list[Report] = []
        self._counts: tuple[int, int] | None = None

        self.summary = QLabel(objectName="muted")
        self.tree = EntryTree(self, ["Problem", "Node"])
        self.tree.setAlternatingRowColors(False)
        self.tree.itemClicked.connect(lambda item, _column: self._chosen(item))
        self.tree.entry_chosen.connect(self._chosen)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.summary)
        top.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)

        document.annotated.connect(self.refresh)
        document.replaced.connect(self._document_replaced)
        signals.theme_changed.connect(self._theme_changed)  # a method: disconnects with us
        self.refresh()

    # --- public ---------------------------------------------------------------------------------
    def report(self, level: str, message: str, node: str | None = None,
               source: str = "file") -> None:
        """Add a problem of the open graph that the annotation cannot see; it stays until
        another graph is opened or `clear_reports(source)`."""
        if level not in LEVELS:
            raise ValueError(f"problem level must be one of {LEVELS}, got {level!r}")
        self._reports.append(Report(level, message, node, source))
        self.refresh()

    def clear_reports(self, source: str | None = None) -> None:
        """Drop the reports of one source (all of them when None)."""
        kept = [r for r in self._reports if source is not None and r.source != source]
        if len(kept) != len(self._reports):
            self._reports = kept
            self.refresh()

    def entries(self) -> list[tuple[str, str, str | None]]:
        """(level, message, node) of every row, top to bottom: the annotation's problems in
        graph order, then the reports."""
        return [(self.tree.topLevelItem(i).data(0, LEVEL_ROLE),
                 self.tree.topLevelItem(i).text(0),
                 self.tree.topLevelItem(i).data(0, NODE_ROLE))
                for i in range(self.tree.topLevelItemCount())]

    @property
    def counts(self) -> tuple[int, int]:
        return self._counts or (0, 0)

    # --- contents -------------------------------------------------------------------------------
    def refresh(self) -> None:
        t = theme()
        chosen = self.tree.currentItem()
        chosen_key = None if chosen is None else (chosen.text(0), chosen.data(0, NODE_ROLE))
        self.tree.clear()
        rows: list[tuple[str, str, str | None]] = []
        note = self.document.annotation
        order = {node_id: i for i, node_id in enumerate(self.document.graph.nodes)}
        for node_id, error in sorted(note.errors.items(),
                                     key=lambda kv: order.get(kv[0], len(order))):
            rows.append((severity(error), problem_text(error), node_id))
        rows.extend((r.level, r.message, r.node) for r in self._reports)
        for level, message, node in rows:
            item = QTreeWidgetItem(self.tree, [message, node or ""])
            item.setIcon(0, severity_icon(level, t))
            item.setData(0, LEVEL_ROLE, level)
            item.setData(0, NODE_ROLE, node)
            item.setToolTip(0, message)
            if node:
                item.setToolTip(1, f"Click to show {node} on the canvas")
            if chosen_key == (message, node):
                self.tree.setCurrentItem(item)
        if self.tree.currentItem() is not None and chosen_key is None:
            self.tree.setCurrentItem(None)  # the view picks a first row itself: undo that
        errors = sum(1 for r in rows if r[0] == "error")
        warnings = sum(1 for r in rows if r[0] == "warning")
        self.summary.setText(count_summary(errors, warnings))
        colour = t.error if errors else t.warning if warnings else t.muted
        self.summary.setStyleSheet(f"color: {colour};")
        if self._counts != (errors, warnings):
            self._counts = (errors, warnings)
            self.counts_changed.emit(errors, warnings)

    def _document_replaced(self) -> None:
        self._reports.clear()  # they were about the graph that was shown until now
        self.refresh()

    def _theme_changed(self, _theme: Theme) -> None:
        self.refresh()

    def _chosen(self, item: QTreeWidgetItem) -> None:
        node = item.data(0, NODE_ROLE)
        if node:
            self.node_activated.emit(node)
