"""Small dialogs of the Help menu."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio import __version__
from nodestudio.gui.theme import Theme


def shortcuts_dialog(parent: QWidget, rows: list[tuple[str, str]]) -> QDialog:
    """A table of every keyboard shortcut: the menus' and the canvas's own keys."""
    dialog = QDialog(parent)
    dialog.setWindowTitle("Keyboard Shortcuts")
    table = QTableWidget(len(rows), 2, dialog)
    table.setHorizontalHeaderLabels(["Keys", "Action"])
    table.verticalHeader().hide()
    table.setEditTriggers(QTableWidget.NoEditTriggers)
    table.setSelectionMode(QTableWidget.NoSelection)
    table.setAlternatingRowColors(True)
    for row, (keys, action) in enumerate(rows):
        table.setItem(row, 0, QTableWidgetItem(keys))
        table.setItem(row, 1, QTableWidgetItem(action))
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    buttons = QDialogButtonBox(QDialogButtonBox.Close, dialog)
    buttons.rejected.connect(dialog.reject)
    layout = QVBoxLayout(dialog)
    layout.addWidget(table)
    layout.addWidget(buttons)
    dialog.resize(560, 560)
    return dialog


def about_text(theme: Theme) -> str:
    return (f"<h3>NodeStudio {__version__}</h3>"
            "<p>Build, train and look inside neural networks. Graphs drawn here are lowered "
            "to OpenCL kernels for the forward and backward passes, on a GPU or on the CPU "
            "through PoCL.</p>"
            f"<p style='color:{theme.muted}'>The same graph files work from the canvas, the "
            "Python API (<code>import nodestudio as ns</code>) and the command line "
            "(<code>nodestudio train</code>).</p>")
