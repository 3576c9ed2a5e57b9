"""Small dialogs: the keyboard shortcuts, About, and what Train offers when it cannot start."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHeaderView,
    QLabel,
    QPushButton,
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


class FixDialog(QDialog):
    """Why training could not start, with one button per edit that would fix it. Choosing one
    accepts the dialog with `chosen` set; the window applies it (one undo step) and trains."""

    def __init__(self, parent: QWidget | None, message: str, fixes: Sequence[object]):
        super().__init__(parent)
        self.setWindowTitle("Training cannot start yet")
        self.chosen: object | None = None
        self.buttons: list[QPushButton] = []
        layout = QVBoxLayout(self)
        text = QLabel(_readable(message), wordWrap=True, objectName="fixMessage")
        text.setMinimumWidth(460)
        layout.addWidget(text)
        layout.addWidget(QLabel("Fix it and train:" if len(fixes) == 1 else
                                "Choose one, and train:"))
        for fix in fixes:
            button = QPushButton(getattr(fix, "label", str(fix)))
            button.setAutoDefault(False)
            button.clicked.connect(lambda _=False, fix=fix: self._choose(fix))
            layout.addWidget(button)
            self.buttons.append(button)
        if self.buttons:
            self.buttons[0].setDefault(True)
        cancel = QDialogButtonBox(QDialogButtonBox.Cancel, self)
        cancel.rejected.connect(self.reject)
        layout.addWidget(cancel)

    def _choose(self, fix: object) -> None:
        self.chosen = fix
        self.accept()


def _readable(message: str) -> str:
    """The error without the leading "Untitled: " of a model error: the window says whose."""
    head, sep, rest = message.partition(": ")
    return rest if sep and " " not in head else message
