"""The Gradient check panel: for the node selected on the canvas, "Check gradients" compares
the gradient of the loss that autodiff builds with central finite differences, per input of
the node and per parameter it owns, on the first batch of the training data, and shows the
relative error of each with a pass / fail mark against the threshold.

Both sides are computed in float64 by the reference interpreter (nodestudio/train/gradcheck.py,
which says why), in a worker thread: about a second for a layer of the MLP example.
"""

from __future__ import annotations

import contextlib
import threading

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.graph.history import capture
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.theme import theme

MAX_BATCH = 32  # examples of the batch the check runs on (the cost grows with it)
COLUMNS = ("Gradient with respect to", "Shape", "Relative error", "Result",
           "First samples: autodiff / numeric")


class _Bridge(QObject):
    done = Signal(object, object)  # GradCheck or None, error message or None


class GradCheckPanel(QWidget):
    """See the module docstring. `result` is the last GradCheck (train/gradcheck.py)."""

    checked = Signal()

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.result = None
        self.error: str | None = None
        self.busy = False
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._done, Qt.ConnectionType.QueuedConnection)

        self.node_label = QLabel()
        self.check_button = QPushButton("Check gradients")
        self.check_button.setToolTip("Compare autodiff with central finite differences of the "
                                     "loss, in float64, on the first training batch")
        self.check_button.clicked.connect(self.check)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        top = QHBoxLayout()
        top.addWidget(self.node_label, 1)
        top.addWidget(self.check_button)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.table.horizontalHeader()
        for column in range(len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(len(COLUMNS) - 1, QHeaderView.ResizeMode.Stretch)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(self.table, 1)
        window.scene.node_selection_changed.connect(self._selection_changed)
        self._selection_changed()

    def node(self) -> str | None:
        selected = self.window.scene.selected_node_ids()
        return selected[0] if len(selected) == 1 else None

    def _selection_changed(self, *_args) -> None:
        node = self.node()
        if node is None:
            self.node_label.setText("Select one node on the canvas, then check its gradients")
        else:
            op = self.window.document.graph.nodes[node].op
            self.node_label.setText(f"Node <b>{node}</b> ({op})")
        self.check_button.setEnabled(node is not None and not self.busy)

    def check(self) -> None:
        """Run the check on the selected node in a worker thread."""
        node = self.node()
        if node is None or self.busy:
            return
        graph = capture(self.window.document.graph).to_graph()
        settings = self._settings()
        title = self.window.document.title
        self.busy = True
        self.check_button.setEnabled(False)
        self.summary.setText(f"Checking the gradients of {node}…")
        bridge = self._bridge

        def work() -> None:
            from nodestudio.errors import NodeStudioError
            from nodestudio.train.gradcheck import check_node
            from nodestudio.train.model import Model
            from nodestudio.train.settings import load_data
            result, error = None, None
            try:
                model = Model.from_document(graph, title, dict(graph.metadata))
                data = load_data(settings)
                model.check_data(data)
                x, y = model.feed(data.train, slice(0, min(settings.batch_size, MAX_BATCH)))
                result = check_node(model, node, x, y, seed=settings.seed)
            except NodeStudioError as exc:
                error = str(exc).strip().splitlines()[0]
            except Exception as exc:  # noqa: BLE001  (shown, not lost in a thread)
                error = f"internal error: {type(exc).__name__}: {exc}"
            with contextlib.suppress(RuntimeError):  # the panel was closed meanwhile
                bridge.done.emit(result, error)

        threading.Thread(target=work, name="nodestudio-gradcheck", daemon=True).start()

    def _settings(self):
        from nodestudio.train.settings import TrainingSettings
        try:
            return self.window.training.settings()
        except Exception:  # noqa: BLE001  (a half-typed field: the defaults)
            return TrainingSettings()

    def _done(self, result, error: str | None) -> None:
        self.busy = False
        self.result, self.error = result, error
        self._selection_changed()
        self.table.setRowCount(0)
        if result is None:
            self.summary.setText(f"Cannot check: {error}")
            self.checked.emit()
            return
        t = theme()
        verdict = "all pass" if result.passed else "<b>FAIL</b>: a gradient rule is wrong"
        skipped = f" Not checked: {'; '.join(result.skipped)}." if result.skipped else ""
        self.summary.setText(
            f"<b>{result.node}</b> ({result.op}): {verdict}. Relative error "
            f"|a − n| / (|a| + |n|) of autodiff (a) against central differences (n), both "
            f"float64, on {result.batch_size} training examples; pass when ≤ "
            f"{result.threshold:.0e}. h = {result.step:.0e}; {len(result.items[0].autodiff) - 1}"
            f" elements and one random direction per input; {result.seconds:.2f} s.{skipped}")
        self.table.setRowCount(len(result.items))
        for i, item in enumerate(result.items):
            mark = ("✓ pass" if item.passed else "✗ FAIL") + (f" ({item.note})"
                                                              if item.note else "")
            pairs = ",  ".join(f"{a:.4g} / {n:.4g}" for a, n in zip(item.autodiff[:3],
                                                                    item.numeric[:3]))
            cells = (item.label, " x ".join(map(str, item.shape)),
                     f"{item.relative_error:.2e}", mark, pairs)
            for column, text in enumerate(cells):
                cell = QTableWidgetItem(text)
                if column == 3:
                    cell.setForeground(QColor(t.ok if item.passed else t.error))
                self.table.setItem(i, column, cell)
        self.checked.emit()


def build(window) -> GradCheckPanel:
    return GradCheckPanel(window)


PANEL = PanelSpec("gradcheck", "Gradient check", build,
                  summary="Compare the autodiff gradients of the selected node with finite "
                          "differences", order=60)
