"""Batch norm's running statistics over training, for the Backward graph panel: which parameter
nodes hold a batch-norm node's running mean and variance (however the node is drawn: a
`batch_norm` wired to parameter nodes, a `batch_norm_layer` owning them, or either one expanded
on the canvas), and a small plot of their channel averages, one point per record."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QVBoxLayout, QWidget

from nodestudio.graph.model import Graph
from nodestudio.gui.theme import theme
from nodestudio.gui.training.plots import Plot

BATCH_NORM_OPS = ("batch_norm", "batch_norm_layer")
MEAN_COLOUR, VAR_COLOUR = "#4c9bff", "#d9822b"


def running_stat_keys(graph: Graph, node_id: str) -> tuple[str, str] | None:
    """(running mean key, running variance key) in the document's values for batch-norm node
    (or expanded batch-norm group) `node_id`; None when it is not one."""
    node = graph.nodes.get(node_id)
    record = graph.groups.get(node_id)
    op = node.op if node is not None else (record or {}).get("op")
    if op not in BATCH_NORM_OPS:
        return None
    if op == "batch_norm_layer":
        return f"{node_id}/running_mean", f"{node_id}/running_var"
    if node is not None:
        incoming = graph.incoming(node_id)
        mean, var = incoming.get("running_mean"), incoming.get("running_var")
    else:  # expanded: what fed the composite's ports
        inputs = record.get("inputs", {})
        mean = _source(inputs.get("running_mean", {}).get("from"))
        var = _source(inputs.get("running_var", {}).get("from"))
    if mean is None or var is None:
        return None
    return str(mean).split(":")[0], str(var).split(":")[0]


def _source(ref: str | None) -> str | None:
    return None if not ref else ref.split(":")[0]


def batch_norm_nodes(graph: Graph, ids) -> list[str]:
    """The batch-norm nodes among `ids`, and the groups expanded from one that `ids` touch."""
    found: list[str] = []
    for nid in ids:
        node = graph.nodes.get(nid)
        key = nid if (node is not None and node.op in BATCH_NORM_OPS) else \
            node.group if node is not None and node.group in graph.groups and \
            graph.groups[node.group].get("op") in BATCH_NORM_OPS else \
            nid if nid in graph.groups and graph.groups[nid].get("op") in BATCH_NORM_OPS else None
        if key is not None and key not in found:
            found.append(key)
    return found


class RunningStatsPlot(QWidget):
    """Channel averages of a batch norm's running mean and variance against the epoch."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.plot = Plot("Batch norm: running statistics (mean over channels)")
        self.plot.setLabel("left", "value")
        self.plot.setMinimumSize(220, 150)
        self.legend = self.plot.addLegend(offset=(6, 6))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.plot)
        # {batch-norm node: [(epoch, mean of running mean, mean of running variance)]}
        self.records: dict[str, list[tuple[float, float, float]]] = {}
        self.shown: str | None = None

    def record(self, node_id: str, epoch: float, mean: np.ndarray, var: np.ndarray) -> None:
        points = self.records.setdefault(node_id, [])
        point = (float(epoch), float(np.mean(mean)), float(np.mean(var)))
        if points and points[-1][0] == point[0]:
            points[-1] = point
        else:
            points.append(point)
        if node_id == self.shown:
            self.show_node(node_id)

    def show_node(self, node_id: str | None) -> None:
        self.shown = node_id
        item = self.plot.getPlotItem()
        item.clear()
        self.legend.clear()
        points = self.records.get(node_id or "", [])
        t = theme()
        item.setTitle(f"{node_id}: running statistics (mean over channels)" if node_id
                      else "running statistics", size="9pt", color=t.text)
        if not points:
            return
        x = np.array([p[0] for p in points])
        for column, name, colour in ((1, "running mean", MEAN_COLOUR),
                                     (2, "running variance", VAR_COLOUR)):
            self.plot.plot(x, np.array([p[column] for p in points]), name=name,
                           pen=pg.mkPen(colour, width=2), symbol="o", symbolSize=5,
                           symbolBrush=colour, symbolPen=pg.mkPen(colour))

    def series(self, node_id: str) -> list[tuple[float, float, float]]:
        return list(self.records.get(node_id, []))


__all__ = ["BATCH_NORM_OPS", "RunningStatsPlot", "batch_norm_nodes", "running_stat_keys"]
