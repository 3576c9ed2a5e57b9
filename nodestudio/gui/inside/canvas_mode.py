"""What the two canvas-mode docks (Activations, Gradients on the wires) share: the switch that
turns the mode on and off, Refresh, the line saying where the values come from, the hovered
wire's text, and their wiring to the canvas values (inside/canvas_values.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QPushButton, QWidget

from nodestudio.gui.inside.canvas_values import canvas_values

if TYPE_CHECKING:
    from collections.abc import Callable

    from nodestudio.gui.mainwindow import MainWindow


class CanvasModePanel(QWidget):
    """A subclass builds its own widgets around these, and defines `redraw()` (the canvas and
    the dock from the values now) and `show_wire(...)` (the hovered wire)."""

    MODE = ""  # the mode's name for canvas_values.set_mode
    ACTION: str | None = None  # the window's action that mirrors the switch, if any

    def __init__(self, window: MainWindow, switch_text: str, wire_hint: str):
        super().__init__()
        self.window = window
        self.values = canvas_values(window)
        self.toggle = QCheckBox(switch_text)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compute the values now from the document's parameters "
                                       "on a batch of the Training panel's dataset")
        self.source = QLabel()
        self.source.setWordWrap(True)
        self.wire_text = QLabel(wire_hint)
        self.wire_text.setWordWrap(True)
        self.wire_text.setTextInteractionFlags(Qt.TextSelectableByMouse)

    def header(self) -> QHBoxLayout:
        """The switch left, Refresh right."""
        top = QHBoxLayout()
        top.addWidget(self.toggle)
        top.addStretch(1)
        top.addWidget(self.refresh_button)
        return top

    def connect_values(self, on_values: Callable[[], None]) -> None:
        self.toggle.toggled.connect(self.set_mode)
        self.refresh_button.clicked.connect(self.values.refresh)
        self.values.changed.connect(on_values)
        self.values.failed.connect(
            lambda message: self.source.setText(f"Cannot compute: {message}"))
        self.values.hover.hovered.connect(self.show_wire)
        self.values.busy.connect(self._busy)
        self.window.document.replaced.connect(self.redraw)

    def open_on_canvas(self) -> None:
        self.values.first_values()  # here and now: the panel opens with its picture
        self.set_mode(True)  # opening the panel is asking to see it on the canvas

    def _busy(self, busy: bool) -> None:
        self.refresh_button.setEnabled(not busy)
        if busy:
            self.source.setText("Computing the values from the document's parameters "
                                "(compiling the graph)…")

    @property
    def enabled(self) -> bool:
        return self.toggle.isChecked()

    def set_mode(self, on: bool) -> None:
        """The mode on the canvas on or off (the dock's box and the View action agree)."""
        if self.toggle.isChecked() != on:
            self.toggle.setChecked(on)  # comes back here through `toggled`
            return
        action = getattr(getattr(self.window, "actions", None), self.ACTION or "", None)
        if action is not None and action.isChecked() != on:
            action.setChecked(on)
        self.values.set_mode(self.MODE, on)
        if on and self.values.snapshot is None:
            self.values.refresh()  # draws through `changed`
        self.redraw()
