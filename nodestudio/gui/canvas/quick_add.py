"""The Tab popup: a search field over every op, ranked as you type; Enter or a double-click adds
the chosen op where the popup was opened. A frameless overlay inside the view (not a separate
window), so it follows the canvas; it closes on Escape, on a choice, or a click on the canvas."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPainter, QPixmap
from PySide6.QtWidgets import QFrame, QLineEdit, QListWidget, QListWidgetItem, QVBoxLayout, QWidget

from nodestudio.gui.theme import theme
from nodestudio.ops import registry
from nodestudio.ops.registry import OpDef


def rank(op: OpDef, query: str) -> int | None:
    """Lower is better; None hides the op. Name prefix, then name, category, then doc."""
    if not query:
        return 3
    q = query.lower()
    name = op.name.lower()
    if name.startswith(q):
        return 0
    if q in name or q in name.replace("_", " "):
        return 1
    if q in op.category.lower():
        return 2
    if q in op.doc.lower():
        return 4
    return None


def _swatch(colour: QColor) -> QIcon:
    pixmap = QPixmap(12, 12)
    pixmap.fill(Qt.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.Antialiasing)
    painter.setPen(Qt.NoPen)
    painter.setBrush(colour)
    painter.drawRoundedRect(1, 1, 10, 10, 3, 3)
    painter.end()
    return QIcon(pixmap)


class QuickAdd(QFrame):
    """`chosen(op name, scene position)` when the user picks an op; hides itself afterwards."""

    chosen = Signal(str, QPointF)

    def __init__(self, parent: QWidget):
        super().__init__(parent)
        self.setObjectName("quickAdd")
        self.setFrameShape(QFrame.StyledPanel)
        self.scene_pos = QPointF()
        self.search = QLineEdit(self)
        self.search.setPlaceholderText("Add node: type to search")
        self.search.setClearButtonEnabled(True)
        self.list = QListWidget(self)
        self.list.setIconSize(QSize(12, 12))
        self.list.setUniformItemSizes(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.search)
        layout.addWidget(self.list)
        self.resize(280, 320)
        self.search.textChanged.connect(self._filter)
        self.search.installEventFilter(self)
        self.list.installEventFilter(self)
        self.list.itemActivated.connect(self._activate)
        self.list.itemDoubleClicked.connect(self._activate)
        self._ops = sorted(registry.all_ops(), key=lambda op: (op.category, op.name))
        self.hide()

    def popup(self, view_pos, scene_pos: QPointF) -> None:
        """Show at a point of the parent widget, kept inside it, with an empty search."""
        self.scene_pos = QPointF(scene_pos)
        self._restyle()
        self.search.clear()
        self._filter("")
        parent = self.parentWidget()
        x = min(max(view_pos.x(), 0), max(parent.width() - self.width(), 0))
        y = min(max(view_pos.y(), 0), max(parent.height() - self.height(), 0))
        self.move(x, y)
        self.show()
        self.raise_()
        self.search.setFocus(Qt.PopupFocusReason)

    def _restyle(self) -> None:
        t = theme()
        self.setStyleSheet(f"#quickAdd {{ background: {t.base}; border: 1px solid {t.accent};"
                           f" border-radius: 6px; }}")

    def _filter(self, text: str) -> None:
        t = theme()
        ranked = [(r, op) for op in self._ops if (r := rank(op, text.strip())) is not None]
        ranked.sort(key=lambda pair: pair[0])  # stable: category order within a rank
        self.list.clear()
        for _, op in ranked:
            item = QListWidgetItem(_swatch(t.category_color(op.category)),
                                   f"{op.name}    {op.category}")
            item.setData(Qt.UserRole, op.name)
            item.setToolTip(op.doc)
            self.list.addItem(item)
        if self.list.count():
            self.list.setCurrentRow(0)

    def current_op(self) -> str | None:
        item = self.list.currentItem()
        return None if item is None else item.data(Qt.UserRole)

    def _activate(self, item: QListWidgetItem | None = None) -> None:
        op = item.data(Qt.UserRole) if item is not None else self.current_op()
        if op is None:
            return
        self.hide()
        self.chosen.emit(op, self.scene_pos)

    def eventFilter(self, watched, event) -> bool:
        if event.type() == QEvent.KeyPress:
            key = event.key()
            if key == Qt.Key_Escape:
                self.hide()
                self.parentWidget().setFocus()
                return True
            if key in (Qt.Key_Return, Qt.Key_Enter):
                self._activate()
                return True
            if watched is self.search and key in (Qt.Key_Down, Qt.Key_Up):
                row = self.list.currentRow() + (1 if key == Qt.Key_Down else -1)
                self.list.setCurrentRow(max(0, min(row, self.list.count() - 1)))
                return True
        return super().eventFilter(watched, event)
