"""The Qt binding itself: PySide6 6.12.0 drops a reference to None each time C++ calls a Python
override that returns nothing (QUndoCommand.undo/redo, QGraphicsItem.paint), so the studio
aborted with "deallocating None" after a few thousand repaints. pyproject.toml pins below
6.12; this test fails on a binding with that bug before it can crash the interpreter."""

from __future__ import annotations

import sys

from PySide6.QtGui import QImage, QPainter, QUndoCommand, QUndoStack
from PySide6.QtWidgets import QGraphicsRectItem, QGraphicsScene

CALLS = 1500  # fewer than the references None starts with, so a faulty binding fails, not aborts


class _Step(QUndoCommand):
    def redo(self) -> None:
        pass

    def undo(self) -> None:
        pass


class _Item(QGraphicsRectItem):
    def paint(self, painter, option, widget=None) -> None:
        pass


def test_python_overrides_called_from_cpp_keep_none_alive(qapp):
    stack = QUndoStack()
    stack.push(_Step("step"))
    scene = QGraphicsScene()
    scene.addItem(_Item(0, 0, 10, 10))
    image = QImage(16, 16, QImage.Format_ARGB32)
    before = sys.getrefcount(None)
    for _ in range(CALLS):
        stack.undo()
        stack.redo()
        painter = QPainter(image)
        scene.render(painter)
        painter.end()
    assert sys.getrefcount(None) - before > -CALLS // 2
