"""The Kernels panel: the lowered program of the current graph, kernel by kernel.

For the training step (forward, backward and the optimizer's update, as the trainer compiles
it with the Training panel's settings) or the inference pass: each OpenCL kernel in launch
order, the graph nodes fused into it and whether it is forward, backward or update work, its
time and share of the step from OpenCL profiling events (median of a few calls, on a queue of
its own so a training run is not disturbed), its source with syntax highlighting, the number of
kernels per step and the device. Selecting a kernel selects its nodes on the canvas.

Compiling and profiling run in a worker thread (nodestudio/train/program.py; about 0.5 s for
the MLP example once its kernels are in the cache, a few seconds the first time), started
when the panel is first shown, by Refresh, and a second after the graph or the training
settings stop changing.
"""

from __future__ import annotations

import contextlib
import threading
import time

from PySide6.QtCore import QObject, QRect, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontDatabase, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyledItemDelegate,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.graph.history import capture
from nodestudio.gui.inside import PanelSpec
from nodestudio.gui.inside.clsyntax import OpenCLHighlighter
from nodestudio.gui.theme import theme

REFRESH_DELAY_MS = 1000  # quiet time after the last edit before the program is rebuilt
COLUMNS = ("#", "Kernel", "Phase", "Graph nodes fused into it", "Time (µs)", "Share of step")
SHARE_COLUMN = 5
PHASE_COLOURS = {"forward": "#4f8fd8", "backward": "#d8894f", "update": "#8a8f98"}


class _Bridge(QObject):
    done = Signal(int, object, object)  # generation, programs or None, error message or None


class _ShareDelegate(QStyledItemDelegate):
    """Draws the share column as a bar with its percentage."""

    def paint(self, painter: QPainter, option, index) -> None:
        share = index.data(Qt.ItemDataRole.UserRole) or 0.0
        super().paint(painter, option, index)
        rect = option.rect.adjusted(3, 4, -48, -4)
        painter.save()
        painter.fillRect(QRect(rect.left(), rect.top(), int(rect.width() * share),
                               rect.height()), QColor(theme().accent))
        painter.setPen(QColor(theme().text))
        painter.drawText(option.rect.adjusted(0, 0, -4, 0),
                         Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         f"{100 * share:.1f} %")
        painter.restore()


class KernelsPanel(QWidget):
    """See the module docstring. `programs` holds the last result (train/program.py's
    Program list: the training step, then inference); `program()` the one shown."""

    refreshed = Signal()  # a new result (or error) is shown

    def __init__(self, window):
        super().__init__()
        self.window = window
        self.programs = None
        self.error: str | None = None
        self._generation = 0
        self._busy = False
        self._bridge = _Bridge(self)
        self._bridge.done.connect(self._done, Qt.ConnectionType.QueuedConnection)

        self.which = QComboBox()
        self.which.addItems(["Training step", "Inference"])
        self.which.setToolTip("The training step: forward, backward and the optimizer's "
                              "update, as Train runs it. Inference: the outputs only.")
        self.which.currentIndexChanged.connect(self._show)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Compile the current graph again and profile a few "
                                       "steps")
        self.refresh_button.clicked.connect(self.refresh)
        self.summary = QLabel("Not compiled yet")
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        top = QHBoxLayout()
        top.addWidget(QLabel("Program:"))
        top.addWidget(self.which)
        top.addWidget(self.refresh_button)
        top.addStretch(1)
        self.summary.setWordWrap(True)  # a long device name must not widen the dock

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().hide()
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setItemDelegateForColumn(SHARE_COLUMN, _ShareDelegate(self.table))
        header = self.table.horizontalHeader()
        for column, mode in enumerate((QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.Stretch,
                                       QHeaderView.ResizeMode.ResizeToContents,
                                       QHeaderView.ResizeMode.Fixed)):
            header.setSectionResizeMode(column, mode)
        header.resizeSection(SHARE_COLUMN, 150)
        self.table.itemSelectionChanged.connect(self._selected)

        self.source_title = QLabel("Source")
        self.source_title.setWordWrap(True)
        self.source = QPlainTextEdit(readOnly=True)
        self.source.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.source.setFont(mono)
        self.source.setPlaceholderText("Select a kernel to see its OpenCL C source")
        self.highlighter = OpenCLHighlighter(self.source.document())
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        right_layout.addWidget(self.source_title)
        right_layout.addWidget(self.source)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(self.table)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.summary)
        layout.addWidget(splitter, 1)

        self._debounce = QTimer(self, singleShot=True, interval=REFRESH_DELAY_MS)
        self._debounce.timeout.connect(self.refresh)
        window.document.annotated.connect(self._graph_changed)
        window.document.replaced.connect(self._graph_changed)
        # the step depends on the batch size and the optimizer chosen in the Training panel
        window.training.batch_size.valueChanged.connect(self._graph_changed)
        window.training.optimizer.currentIndexChanged.connect(self._graph_changed)
        self.refresh()

    # --- compiling, off the GUI thread ---------------------------------------------------------
    def _graph_changed(self) -> None:
        self._debounce.start()

    def refresh(self) -> None:
        """Compile and profile the current graph again (in a worker thread)."""
        self._debounce.stop()
        self._generation += 1
        generation = self._generation
        graph = capture(self.window.document.graph).to_graph()  # later edits do not reach it
        settings = self._settings()
        source = self.window.document.title
        self._busy = True
        self.refresh_button.setEnabled(False)
        self.summary.setText("Compiling and profiling…")

        bridge = self._bridge

        def work() -> None:
            from nodestudio.errors import NodeStudioError
            from nodestudio.train.program import lowered_programs
            programs, error = None, None
            try:
                start = time.perf_counter()
                programs = lowered_programs(graph, settings, source)
                for program in programs:
                    program.notes.append(f"{time.perf_counter() - start:.2f} s")
            except NodeStudioError as exc:
                error = str(exc).strip().splitlines()[0]
            except Exception as exc:  # noqa: BLE001  (shown, not lost in a thread)
                error = f"internal error: {type(exc).__name__}: {exc}"
            with contextlib.suppress(RuntimeError):  # the panel was closed meanwhile
                bridge.done.emit(generation, programs, error)

        threading.Thread(target=work, name="nodestudio-kernels", daemon=True).start()

    def _settings(self):
        from nodestudio.train.settings import TrainingSettings
        try:
            return self.window.training.settings()
        except Exception:  # noqa: BLE001  (a half-typed field: profile with the defaults)
            return TrainingSettings()

    def _done(self, generation: int, programs, error: str | None) -> None:
        if generation != self._generation:
            return  # a newer refresh is under way
        self._busy = False
        self.refresh_button.setEnabled(True)
        self.programs, self.error = programs, error
        self._show()
        self.refreshed.emit()

    @property
    def busy(self) -> bool:
        return self._busy

    # --- showing ---------------------------------------------------------------------------
    def program(self):
        if not self.programs:
            return None
        return self.programs[min(self.which.currentIndex(), len(self.programs) - 1)]

    def _show(self) -> None:
        self.table.setRowCount(0)
        self.source.clear()
        program = self.program()
        if program is None:
            if self.error:
                self.summary.setText(f"Cannot compile this graph: {self.error}")
            return
        shares = program.shares()
        self.table.setRowCount(len(program.rows))
        for i, (row, share) in enumerate(zip(program.rows, shares)):
            micro = "" if row.seconds is None else f"{row.seconds * 1e6:.1f}"
            nodes = ", ".join(row.nodes) or ("optimizer / training guard"
                                             if row.phase == "update" else "—")
            cells = (str(i + 1), row.name, row.phase, nodes, micro, "")
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column in (0, 4):
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight |
                                          Qt.AlignmentFlag.AlignVCenter)
                if column == 2:
                    item.setForeground(QColor(PHASE_COLOURS[row.phase]))
                if column == 1:
                    item.setFont(QFont("monospace"))
                item.setToolTip(f"{row.name}: {len(row.ir_nodes)} IR node(s): "
                                f"{', '.join(row.ir_nodes)}; global size "
                                f"{'x'.join(map(str, row.global_size))}")
                if column == SHARE_COLUMN:
                    item.setData(Qt.ItemDataRole.UserRole, share)
                self.table.setItem(i, column, item)
        counts = {phase: sum(r.phase == phase for r in program.rows)
                  for phase in ("forward", "backward", "update")}
        split = ", ".join(f"{n} {phase}" for phase, n in counts.items() if n)
        took = f"; compiled and profiled in {program.notes[-1]}" if program.notes else ""
        self.summary.setText(
            f"<b>{len(program.rows)} kernels per {program.title}</b> ({split}) · batch "
            f"{program.batch_size} · {program.kernel_seconds * 1e3:.2f} ms of kernel time "
            f"per call (median of a few, profiled) · device <b>{program.device}</b>{took}")

    def _selected(self) -> None:
        program = self.program()
        rows = self.table.selectionModel().selectedRows()
        if program is None or not rows:
            return
        row = program.rows[rows[0].row()]
        self.source_title.setText(f"Source of <b>{row.name}</b> (launch {row.index + 1}, "
                                  f"{row.phase}; global size "
                                  f"{'x'.join(map(str, row.global_size))})")
        self.source.setPlainText(row.source)
        if row.nodes:
            self.window.reveal_nodes(list(row.nodes))

    def selected_row(self):
        program = self.program()
        rows = self.table.selectionModel().selectedRows()
        return None if program is None or not rows else program.rows[rows[0].row()]


def build(window) -> KernelsPanel:
    return KernelsPanel(window)


PANEL = PanelSpec("kernels", "Kernels", build,
                  summary="The OpenCL kernels of the training step: fused nodes, source, "
                          "share of the step time", order=70)
