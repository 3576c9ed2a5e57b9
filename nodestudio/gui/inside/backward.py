"""The Backward graph panel: for the nodes selected on the canvas (the whole graph when none
is), the forward ops on the left and the backward graph that autodiff built for them on the
right, both laid out left to right, the backward nodes framed by the forward node they belong
to. Hovering a node lights up its counterparts in the other drawing and shows its value on a
batch of the Training panel's dataset (float64 reference interpreter, with the document's
current parameter values), recomputed when a run ends and on Refresh. A selected batch norm
adds a plot of its running mean and variance over training.

The computation is `nodestudio.ir.backward_view`; this module only draws it and keeps it
current."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QVBoxLayout, QWidget

from nodestudio.errors import NodeStudioError
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.backward_items import PartView
from nodestudio.gui.inside.backward_stats import (
    RunningStatsPlot,
    batch_norm_nodes,
    running_stat_keys,
)
from nodestudio.ir.backward_view import (
    BackwardView,
    backward_view,
    evaluate_view,
    shape_text,
    summarise,
)

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

MAX_BATCH = 128  # examples the values are computed on (the reference is float64 NumPy)
REBUILD_DELAY_MS = 120  # selection and edits come in bursts: draw once they settle


class BackwardPanel(QWidget):
    def __init__(self, window: MainWindow):
        super().__init__()
        self.window = window
        self.view: BackwardView | None = None
        self.model: Any = None
        self.values: dict[tuple[str, str], np.ndarray] = {}
        self.batch_text = ""
        self.epochs_done = 0  # epochs trained in this studio on this document (plot's x)
        self._stat_keys: frozenset[str] = frozenset()  # running averages to read each epoch
        self._data_cache: tuple[tuple, Any] | None = None
        self._stale = True
        self._sized = False
        self._build()
        self._timer = QTimer(self, singleShot=True, interval=REBUILD_DELAY_MS)
        self._timer.timeout.connect(self.rebuild)
        window.scene.node_selection_changed.connect(self._changed)
        window.document.annotated.connect(self._changed)
        window.document.replaced.connect(self._replaced)
        session = window.training.session
        session.run_started.connect(self._run_started)
        session.finished.connect(self._run_finished)
        # the running averages at each epoch's end, read on the training thread
        self._remove_task = session.add_epoch_task(self._read_running_stats)
        session.epoch_task_done.connect(self._running_stats_read)
        self.destroyed.connect(lambda *_: self._remove_task())

    # --- widgets -------------------------------------------------------------------------------
    def _build(self) -> None:
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh values")
        self.refresh_button.setToolTip("Recompute every node's value on a batch of the "
                                       "Training panel's dataset, with the current parameters")
        self.refresh_button.clicked.connect(self.refresh)
        top = QHBoxLayout()
        top.addWidget(self.heading, 1)
        top.addWidget(self.refresh_button)

        self.forward_view, self.backward_view = PartView(), PartView()
        self.forward_view.hovered.connect(lambda nid: self.hover("forward", nid))
        self.backward_view.hovered.connect(lambda nid: self.hover("backward", nid))
        self.stats = RunningStatsPlot()
        self.stats.hide()
        left = QSplitter(Qt.Vertical)
        left.addWidget(_titled("Forward: the ops differentiated", self.forward_view))
        left.addWidget(self.stats)
        right = _titled("Backward: gradients flow left to right, from the loss back to the "
                        "parameters (orange: gradient ops, green: d loss / d parameter; "
                        "dashed: values from elsewhere)", self.backward_view)
        split = QSplitter(Qt.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        split.setSizes([400, 600])
        self.info = QLabel("Hover a node to see its role and its value on the batch.")
        self.info.setWordWrap(True)
        self.info.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.info)

    # --- keeping current -----------------------------------------------------------------------
    def _changed(self, *_args) -> None:
        self._stale = True
        if self.isVisible():
            self._timer.start()

    def _replaced(self) -> None:
        self.stats.records.clear()
        self.epochs_done = 0
        self._changed()

    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        if not self._sized:  # two graphs side by side need more than a bottom strip
            self._sized = True
            dock = getattr(self.window, "inspect_docks", {}).get("backward")
            if dock is not None and not dock.isFloating():
                self.window.resizeDocks([dock], [int(self.window.height() * 0.5)],
                                        Qt.Vertical)
        if self._stale:
            self.rebuild()

    def selection(self) -> list[str]:
        return self.window.scene.selected_node_ids()

    def rebuild(self) -> None:
        """Rebuild both drawings for the current selection and recompute the values."""
        self._timer.stop()
        self._stale = False
        from nodestudio.train.model import Model
        graph = self.window.document.graph
        chosen = self.selection()
        self.view, self.values = None, {}
        try:
            self.model = Model.from_document(graph, self.window.document.title)
            groups = {nid: n.group for nid, n in graph.nodes.items()
                      if n.group is not None and n.group in graph.groups}
            self.view = backward_view(self.model.loss, self.model.params, self.model.nodes,
                                      chosen or None, groups)
        except NodeStudioError as exc:
            self.model = None
            self.heading.setText(f"<b>No backward graph</b>: {exc}")
        for part_view, part in ((self.forward_view, self.view and self.view.forward),
                                (self.backward_view, self.view and self.view.backward)):
            if part is not None:
                part_view.show_part(part)
            else:
                part_view.scene().clear()
        self._show_bn(graph, chosen)
        if self.view is not None:
            self.refresh()

    def refresh(self) -> None:
        """Recompute the values of every node on a batch (the Refresh button)."""
        if self.view is None or self.model is None:
            return
        try:
            feeds, self.batch_text = self._batch()
            self.values = evaluate_view(self.view, feeds)
        except (NodeStudioError, OSError, ValueError) as exc:
            self.values, self.batch_text = {}, f"values unavailable: {exc}"
        self._heading()

    def _batch(self) -> tuple[dict, str]:
        from nodestudio.train.settings import load_data
        settings = self.window.training.settings()
        key = (settings.dataset, settings.seed, settings.preprocess)
        if self._data_cache is None or self._data_cache[0] != key:
            self._data_cache = (key, load_data(settings))
        data = self._data_cache[1]
        n = min(settings.batch_size, MAX_BATCH, len(data.train))
        x, y = self.model.feed(data.train, slice(0, n))
        feeds = {self.model.x: x, self.model.y: y}
        return feeds, f"the first {n} training examples of {data.train.name}"

    def _heading(self) -> None:
        view = self.view
        chosen = self.selection()
        what = ", ".join(chosen[:4]) + (" …" if len(chosen) > 4 else "") if chosen \
            else "the whole graph (select nodes to narrow it)"
        ops = sum(1 for n in view.backward.nodes.values() if n.kind == "op")
        values = f"values on {self.batch_text}" if self.values else self.batch_text
        self.heading.setText(f"<b>Backward graph of {what}</b>: {ops} gradient ops in "
                             f"{len(view.backward.groups)} groups · {values}")

    # --- hovering ------------------------------------------------------------------------------
    def hover(self, part: str, node_id: str | None) -> None:
        """Light up `node_id` of `part` ("forward" / "backward") and its counterparts."""
        view = self.view
        if view is None or node_id is None:
            self.forward_view.highlight(())
            self.backward_view.highlight(())
            return
        nodes = (view.forward if part == "forward" else view.backward).nodes
        node = nodes.get(node_id)
        if node is None:
            return
        forward = node.forward if part == "backward" else node_id
        backward_ids = set(view.backward_of(forward or "")) | {
            k for k, n in view.backward.nodes.items() if n.forward == forward}
        forward_ids = {k for k, n in view.forward.nodes.items()
                       if k == forward or (n.forward == forward and n.kind != "op")}
        if part == "backward":
            backward_ids.add(node_id)
        self.forward_view.highlight(forward_ids, [node.user_node or ""])
        self.backward_view.highlight(backward_ids, [forward or ""])
        value = self.values.get((part, node_id))
        text = f"<b>{node.label}</b> ({node.op}, {shape_text(node.shape)}) — {node.role}"
        if value is not None:
            text += "<br><tt>" + summarise(value).replace("\n", " · ") + "</tt>"
        elif self.batch_text:
            text += f"<br>{self.batch_text}"
        self.info.setText(text)
        card = (self.forward_view if part == "forward" else self.backward_view).cards[node_id]
        card.setToolTip(text.replace("<br>", "\n").replace("<b>", "").replace("</b>", "")
                        .replace("<tt>", "").replace("</tt>", ""))

    # --- batch norm's running statistics -------------------------------------------------------
    def _show_bn(self, graph, chosen: list[str]) -> None:
        found = batch_norm_nodes(graph, chosen)
        self.stats.setVisible(bool(found))
        if found:
            fresh = [nid for nid in found if nid not in self.stats.records]
            if fresh:  # the values it has now, as the first point
                self._record_stats(graph.values, fresh, self.epochs_done)
            self.stats.show_node(found[0])

    def _record_stats(self, values: dict, only: list[str] | None, epoch: float) -> None:
        """A point at `epoch` for each batch-norm node (those in `only`, else all), its
        running averages read from `values`, then the document (none yet: the initial ones)."""
        graph = self.window.document.graph
        ids = only if only is not None else batch_norm_nodes(graph, list(graph.nodes) +
                                                             list(graph.groups))
        for nid in ids:
            keys = running_stat_keys(graph, nid)
            if keys is None:
                continue
            mean = values.get(keys[0], graph.values.get(keys[0]))
            var = values.get(keys[1], graph.values.get(keys[1]))
            mean = np.zeros(1) if mean is None else mean  # the initial running averages
            var = np.ones(1) if var is None else var
            self.stats.record(nid, epoch, mean, var)

    def _run_started(self, _settings) -> None:
        graph = self.window.document.graph
        keys = (running_stat_keys(graph, nid) for nid in
                batch_norm_nodes(graph, list(graph.nodes) + list(graph.groups)))
        self._stat_keys = frozenset(k for pair in keys if pair is not None for k in pair)
        self._record_stats(graph.values, None, self.epochs_done)

    def _read_running_stats(self, trainer, event) -> tuple[float, dict] | None:
        """On the training thread, at an epoch's end: the batch-norm running averages the
        trainer's model holds (only those arrays are read from the device)."""
        record = getattr(event, "record", None)
        if record is None:  # Finished: the run's end is recorded from its kept values
            return None
        wanted = self._stat_keys
        shared = trainer.model.shared
        return (self.epochs_done + record.epoch,
                {k: shared[k].get_value() for k in wanted if k in shared})

    def _running_stats_read(self, task, result) -> None:
        if task != self._read_running_stats or not isinstance(result, tuple):
            return
        epoch, values = result
        if values:
            self._record_stats(values, None, epoch)

    def _run_finished(self, history) -> None:
        self.epochs_done += len(history.epochs)
        self._record_stats(dict(self.window.training.session.values), None, self.epochs_done)
        self._stale = True
        if self.isVisible():
            self.rebuild()


def _titled(title: str, widget: QWidget) -> QWidget:
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    label = QLabel(title)
    label.setWordWrap(True)
    label.setStyleSheet("color: palette(mid);")
    layout.addWidget(label)
    layout.addWidget(widget, 1)
    return box


PANEL = PanelSpec("backward", "Backward graph", BackwardPanel,
                  summary="the gradient autodiff builds for the selected nodes, beside their "
                          "forward ops, with values on a batch", order=50)
