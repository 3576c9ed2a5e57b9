"""The dataset chooser: the built-in sets, files and folders opened so far, and an entry that
opens another one."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QFileDialog, QMenu, QWidget

from nodestudio.data import builtin_names, describe_builtins

OPEN_DATASET = "\x00open"  # item data of the "Open file or folder…" entry


class DatasetCombo(QComboBox):
    """Items hold the name or path that `load_dataset` takes; `value()` is the current one."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        descriptions = describe_builtins()
        for name in builtin_names():
            self.addItem(name, name)
            self.setItemData(self.count() - 1, descriptions.get(name, ""),
                             Qt.ItemDataRole.ToolTipRole)
        self.insertSeparator(self.count())
        self.addItem("Open file or folder…", OPEN_DATASET)
        self.activated.connect(self._activated)
        self._chosen = 0  # the index to return to when "Open…" is cancelled

    def value(self) -> str:
        data = self.currentData()
        return data if isinstance(data, str) and data != OPEN_DATASET else builtin_names()[0]

    def select(self, name_or_path: str) -> None:
        """Select a built-in or a path (added to the list when new)."""
        index = self.findData(name_or_path)
        if index < 0:
            self.add_dataset(name_or_path)
        else:
            self.setCurrentIndex(index)
            self._chosen = index

    def add_dataset(self, path: str) -> None:
        """Offer a file or folder (above the separator) and select it."""
        index = self.findData(path)
        if index < 0:
            index = self.count() - 2  # the separator's row: the new item goes just above it
            self.insertItem(index, Path(path).name or path, path)
            self.setItemData(index, path, Qt.ItemDataRole.ToolTipRole)
        self.setCurrentIndex(index)
        self._chosen = index

    def _activated(self, index: int) -> None:
        if self.itemData(index) != OPEN_DATASET:
            self._chosen = index
            return
        self.setCurrentIndex(self._chosen)  # stays unless something is chosen below
        menu = QMenu(self)
        file_action = menu.addAction("File… (CSV, IDX, mnist.pkl.gz)")
        folder_action = menu.addAction("Folder of IDX files…")
        chosen = menu.exec(self.mapToGlobal(self.rect().bottomLeft()))
        path = ""
        if chosen is file_action:
            path, _ = QFileDialog.getOpenFileName(self, "Open dataset", "",
                                                  "Datasets (*.csv *.gz *.pkl *-ubyte);;"
                                                  "All files (*)")
        elif chosen is folder_action:
            path = QFileDialog.getExistingDirectory(self, "Open dataset folder")
        if path:
            self.add_dataset(path)


__all__ = ["DatasetCombo", "OPEN_DATASET"]
