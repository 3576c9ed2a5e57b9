"""The Log dock: what happened, in order: files opened and saved, each training run's start,
its epochs and its end. Problems of the graph itself are in the Problems dock, so a long
training run cannot scroll them away.

A message naming a node selects it on click or Enter (`node_activated`). The newest message
is scrolled into view unless the user has scrolled up to read older ones.
"""

from __future__ import annotations

import datetime

from PySide6.QtCore import Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.gui.panels.problems import (
    LEVEL_ROLE,
    LEVELS,
    NODE_ROLE,
    EntryTree,
    severity_icon,
)
from nodestudio.gui.theme import Theme, signals, theme

MAX_LOG = 1000  # oldest lines go first: a long training run must not grow the list forever


class LogWidget(QWidget):
    """Signals: `node_activated(str)`, `message_logged(str level, str message)`."""

    node_activated = Signal(str)
    message_logged = Signal(str, str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.summary = QLabel("No messages", objectName="muted")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every message")
        self.clear_button.clicked.connect(self.clear_log)
        self.tree = EntryTree(self, ["Message", "Node", "Time"])
        self.tree.itemClicked.connect(lambda item, _column: self._chosen(item))
        self.tree.entry_chosen.connect(self._chosen)

        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.addWidget(self.summary)
        top.addStretch(1)
        top.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        layout.addLayout(top)
        layout.addWidget(self.tree, 1)
        signals.theme_changed.connect(self._theme_changed)  # a method: disconnects with us
        self._refresh_summary()

    def log(self, level: str, message: str, node: str | None = None) -> None:
        """Append a timestamped message; level is "error", "warning" or "info"."""
        if level not in LEVELS:
            raise ValueError(f"log level must be one of {LEVELS}, got {level!r}")
        bar = self.tree.verticalScrollBar()
        following = bar.value() >= bar.maximum()  # at the bottom: stay there
        stamp = datetime.datetime.now().strftime("%H:%M:%S")
        item = QTreeWidgetItem([message, node or "", stamp])
        item.setData(0, LEVEL_ROLE, level)
        item.setData(0, NODE_ROLE, node)
        item.setToolTip(0, message)
        if node:
            item.setToolTip(1, f"Click to show {node} on the canvas")
        self._paint(item, theme())
        self.tree.addTopLevelItem(item)
        while self.tree.topLevelItemCount() > MAX_LOG:
            self.tree.takeTopLevelItem(0)
        if following:
            self.tree.scrollToBottom()
        self._refresh_summary()
        self.message_logged.emit(level, message)

    def clear_log(self) -> None:
        self.tree.clear()
        self._refresh_summary()

    def entries(self) -> list[tuple[str, str, str | None]]:
        """(level, message, node) of every message, oldest first."""
        return [(self.tree.topLevelItem(i).data(0, LEVEL_ROLE),
                 self.tree.topLevelItem(i).text(0),
                 self.tree.topLevelItem(i).data(0, NODE_ROLE))
                for i in range(self.tree.topLevelItemCount())]

    def _refresh_summary(self) -> None:
        n = self.tree.topLevelItemCount()
        self.summary.setText(f"{n} message{'s' if n != 1 else ''}" if n else "No messages")
        self.clear_button.setEnabled(n > 0)

    def _paint(self, item: QTreeWidgetItem, t: Theme) -> None:
        item.setIcon(0, severity_icon(item.data(0, LEVEL_ROLE), t))
        item.setForeground(2, QColor(t.muted))

    def _theme_changed(self, t: Theme) -> None:
        for i in range(self.tree.topLevelItemCount()):
            self._paint(self.tree.topLevelItem(i), t)

    def _chosen(self, item: QTreeWidgetItem) -> None:
        node = item.data(0, NODE_ROLE)
        if node:
            self.node_activated.emit(node)


__all__ = ["MAX_LOG", "LogWidget"]
