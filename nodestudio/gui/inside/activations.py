"""The Activations panel and canvas mode: for one example of the probe batch, the output of
each node drawn as a small preview on top of its card (canvas/previews.py: an image for an
image-shaped tensor, bars for a short vector, a heat map of the units for a long one, a number
for a scalar); hovering a wire shows its tensor's statistics and histogram, in this dock and in
a popup at the pointer.

The values are the training run's latest probe snapshot while there is one; otherwise Refresh
computes them from the document's parameter values on 64 rows of the Training panel's dataset
(inside/canvas_values.py). The canvas mode is switched from this dock or from View >
Activations on Canvas (the toolbar's "Activations" button); the previews are built when values
or the example change, never while painting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
)

from nodestudio.graph.model import Edge
from nodestudio.gui.canvas.previews import NodePreviews, Preview
from nodestudio.gui.canvas.wire_overlay import Histogram
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.canvas_mode import CanvasModePanel
from nodestudio.gui.inside.canvas_values import stats_text

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

LEGEND = ("Above each node: its output for the chosen example. Images and heat maps: grey "
          "from 0 (black) to the largest value (white); with negative values blue (negative), "
          "white (0), red (positive), symmetric. Bars: one per value, red positive, blue "
          "negative. The caption gives the shape and the value range. Hover a wire for its "
          "statistics over the whole probe batch.")


def node_outputs(snapshot, example: int) -> dict[str, np.ndarray]:
    """Each node's output for one example: node id -> array (the first output of a node with
    several; a tensor without a batch dimension, such as the loss, as it is)."""
    rows = len(snapshot.rows)
    found: dict[str, np.ndarray] = {}
    for key, value in snapshot.activations.items():
        node = key.partition(".")[0]
        if node in found:
            continue
        value = np.asarray(value)
        found[node] = value[example] if value.ndim >= 1 and value.shape[0] == rows else value
    return found


class ActivationsPanel(CanvasModePanel):
    """The dock: canvas toggle, example chooser, Refresh, legend, the hovered wire."""

    MODE, ACTION = "activations", "activations"

    def __init__(self, window: MainWindow):
        super().__init__(window, "Show on canvas",
                         "Hover a wire on the canvas to see its tensor.")
        self.previews = NodePreviews(window.scene)
        self.shown: dict[str, Preview] = {}  # node id -> what its preview shows

        self.toggle.setToolTip("Draw each node's output for the chosen example under the node")
        self.example = QSpinBox()
        self.example.setRange(0, 0)
        self.example.setToolTip("Which example of the probe batch the previews show")
        self.row = QLabel()
        legend = QLabel(LEGEND)
        legend.setWordWrap(True)
        self.histogram = Histogram()
        self.histogram.empty_text = "the histogram of the hovered wire's values shows here"

        top = self.header()
        form = QFormLayout()
        chooser = QHBoxLayout()
        chooser.addWidget(self.example)
        chooser.addWidget(self.row, 1)
        form.addRow("Example", chooser)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(form)
        layout.addWidget(self.source)
        layout.addWidget(legend)
        layout.addWidget(self.wire_text)
        layout.addWidget(self.histogram, 1)

        self.connect_values(self._on_values)
        self.example.valueChanged.connect(self.redraw)
        self._on_values()
        self.open_on_canvas()

    def _on_values(self) -> None:
        snapshot = self.values.snapshot
        self.source.setText(f"Values: {self.values.source}")
        if snapshot is not None:
            self.example.setMaximum(len(snapshot.rows) - 1)
        self.redraw()

    def redraw(self, *_args) -> None:
        snapshot = self.values.snapshot
        if snapshot is None or not self.enabled:
            self.previews.clear()
            self.shown = {}
            return
        example = self.example.value()
        self.row.setText(f"row {snapshot.rows[example]} of the training split")
        outputs = node_outputs(snapshot, example)
        features = self.window.document.roles.features
        if features in self.window.scene.nodes and features not in outputs:
            x = self.values.features()  # the input too: the example itself
            if x is not None and example < len(x):
                outputs = {features: x[example], **outputs}
        self.shown = {node: Preview.of(value, tuple(snapshot.input_shape))
                      for node, value in outputs.items()}
        self.previews.show(self.shown)

    def show_wire(self, edge: Edge | None) -> None:
        if edge is None:
            return  # keep the last wire's figures to read
        found = self.values.wire(edge)
        if found is None:
            self.wire_text.setText(f"{edge.src} → {edge.dst}: not probed (an input, or an "
                                   "output the loss does not use)")
            self.histogram.set_values(None)
            return
        value, grad = found
        self.wire_text.setText(f"{edge.src} → {edge.dst}\n{stats_text('value', value)}\n"
                               f"{stats_text('gradient', grad)}")
        self.histogram.set_values(value, f"values on {edge.src} (whole probe batch)")


def set_canvas_mode(window: MainWindow, on: bool) -> None:
    """What View > Activations on Canvas does: the panel's mode (built on first use)."""
    window.panel("activations").set_mode(on)


def build(window: MainWindow) -> ActivationsPanel:
    return ActivationsPanel(window)


PANEL = PanelSpec("activations", "Activations", build,
                  summary="Each node's output for one example, drawn on the node; wire "
                          "statistics on hover", order=20)
