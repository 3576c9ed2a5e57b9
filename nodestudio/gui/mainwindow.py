"""The main window: the canvas in the centre, docks around it, menus, files and training.

The window owns one `Document` for the whole session; New and Open swap the graph inside it
(`Document.replace`), so every view keeps its connection. Docks and toolbars have object names,
so their layout is saved in QSettings on close and restored on the next start.

Problems (what is wrong with the graph shown) and the Log (what happened: files, training runs)
are separate docks; opening a graph drops the old graph's problems, and the Curves show the runs
of the graph shown.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QLabel,
    QMainWindow,
    QMessageBox,
    QUndoView,
    QWidget,
)

from nodestudio.data import builtin_shape
from nodestudio.errors import NodeStudioError
from nodestudio.graph.model import Graph
from nodestudio.gui import files
from nodestudio.gui.canvas import GraphScene, GraphView
from nodestudio.gui.dialogs import FixDialog, about_text, shortcuts_dialog
from nodestudio.gui.document import Document
from nodestudio.gui.file_actions import FileActions
from nodestudio.gui.inside.docks import InsideDocks
from nodestudio.gui.inside.live import live_values
from nodestudio.gui.menus import Actions, build_menus, build_toolbar
from nodestudio.gui.panels import InspectorWidget, PaletteWidget, ProblemsWidget
from nodestudio.gui.panels.log import LogWidget
from nodestudio.gui.recovery import Recovery
from nodestudio.gui.roles_hint import RolesHint
from nodestudio.gui.theme import apply_theme, theme
from nodestudio.gui.training import CurvesPanel, TrainingPanel
from nodestudio.gui.training.pretrain import PretrainDialog, Pretrainer

LAYOUT_VERSION = 3  # bump when the docks change, so an old saved layout is not restored


class MainWindow(FileActions, QMainWindow):
    def __init__(self, autosave: bool = True, remember_layout: bool = True,
                 modal_dialogs: bool = True, parent: QWidget | None = None):
        """`modal_dialogs=False` (screenshot mode, nobody to click OK): what a message box
        would say goes to stderr and the log instead."""
        super().__init__(parent)
        self.remember_layout = remember_layout
        self.modal_dialogs = modal_dialogs
        self._left_out: list[str] = []
        self.setObjectName("main_window")
        self.document = Document(parent=self)
        self.recovery = Recovery()  # this window's own autosave
        self.scene = GraphScene(self.document)
        self.view = GraphView(self.scene)
        self.setCentralWidget(self.view)

        self.palette = PaletteWidget()
        self.inspector = InspectorWidget(self.document)
        self.problems = ProblemsWidget(self.document)
        self.log_panel = LogWidget()
        self.history = QUndoView(self.document.undo_stack)
        self.history.setEmptyLabel("Opened graph")
        self.training = TrainingPanel(self.document)
        self.curves = CurvesPanel()
        self.training.attach_curves(self.curves)
        self.curves.set_document(self.document)
        self.docks: dict[str, QDockWidget] = {}
        self._build_docks()
        self.actions = Actions(self)
        self.menus = build_menus(self, self.actions)
        toolbar = build_toolbar(self, self.actions)
        self.roles_hint = RolesHint(self.document)
        toolbar.addWidget(self.roles_hint)
        self.addToolBar(toolbar)
        self.fix_dialog: FixDialog | None = None  # what Train offered last, while it is open
        self.pretrainer = Pretrainer(self.training)  # Train > Pretrain runs
        self.pretrainer.started.connect(lambda _: self._pretraining_started())
        self.pretrain_dialog: PretrainDialog | None = None  # the last one opened
        self._offered: tuple[str, tuple] | None = None
        for dock in self.docks.values():
            self.menus["panels"].addAction(dock.toggleViewAction())
        self.inside = InsideDocks(self, self.menus["panels"])
        self.inspect_specs, self.inspect_docks = self.inside.specs, self.inside.docks
        live_values(self)  # keeps the probe's snapshots for panels opened later
        self._build_status_bar()
        self._connect()
        self._default_state = self.saveState(LAYOUT_VERSION)
        self.resize(1600, 1000)
        self._layout_settled = remember_layout and self._restore_layout()
        self.set_theme(str(QSettings().value("ui/theme", "dark")), remember=False)
        self._autosave = QTimer(self, interval=files.AUTOSAVE_SECONDS * 1000)
        self._autosave.timeout.connect(self.autosave_now)
        if autosave:
            self._autosave.start()
        self._refresh_title()
        self._refresh_recent_menu()
        self._refresh_examples_menu()
        self._refresh_templates_menu()
        self._show_dataset_binding()

    # --- construction ------------------------------------------------------------------------
    def _dock(self, key: str, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{key}")
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable
                         | QDockWidget.DockWidgetFloatable)
        self.addDockWidget(area, dock)
        self.docks[key] = dock
        return dock

    def _build_docks(self) -> None:
        self.setDockNestingEnabled(True)
        self.setCorner(Qt.BottomLeftCorner, Qt.LeftDockWidgetArea)
        self.setCorner(Qt.BottomRightCorner, Qt.RightDockWidgetArea)
        left, right, bottom = (Qt.LeftDockWidgetArea, Qt.RightDockWidgetArea,
                               Qt.BottomDockWidgetArea)
        palette = self._dock("palette", "Palette", self.palette, left)
        history = self._dock("history", "History", self.history, left)
        self.tabifyDockWidget(palette, history)
        palette.raise_()
        inspector = self._dock("inspector", "Inspector", self.inspector, right)
        training = self._dock("training", "Training", self.training, right)
        self.tabifyDockWidget(inspector, training)
        training.raise_()
        curves = self._dock("curves", "Curves", self.curves, bottom)
        problems = self._dock("problems", "Problems", self.problems, bottom)
        self.splitDockWidget(curves, problems, Qt.Horizontal)
        log = self._dock("log", "Log", self.log_panel, bottom)
        self.tabifyDockWidget(problems, log)
        problems.raise_()

    def panel(self, name: str) -> QWidget:
        """The widget of the looking-inside panel `name`, built on first use."""
        return self.inside.panel(name)

    def show_panel(self, name: str) -> QWidget:
        """Open the panel `name` (View > Panels does the same) and bring it to the front."""
        return self.inside.show_panel(name)

    def _default_dock_sizes(self) -> None:
        """Dock sizes only take once the window has its size: called when first shown."""
        d = self.docks
        self.resizeDocks([d["palette"], d["training"]], [210, 340], Qt.Horizontal)
        self.resizeDocks([d["curves"], d["problems"]], [800, 260], Qt.Horizontal)
        self.resizeDocks([d["curves"]], [300], Qt.Vertical)

    def showEvent(self, event) -> None:  # noqa: N802  (Qt's name)
        super().showEvent(event)
        if not self._layout_settled:
            self._layout_settled = True
            QTimer.singleShot(0, self._default_dock_sizes)
    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.graph_summary = QLabel()
        self.graph_summary.setObjectName("muted")
        bar.addPermanentWidget(self.graph_summary)

    def _connect(self) -> None:
        doc, a = self.document, self.actions
        doc.undo_stack.cleanChanged.connect(self._refresh_title)
        doc.path_changed.connect(self._refresh_title)
        doc.annotated.connect(self._refresh_summary)
        doc.undo_stack.canUndoChanged.connect(a.undo.setEnabled)
        doc.undo_stack.canRedoChanged.connect(a.redo.setEnabled)
        # the toolbar keeps short labels; what would be undone shows in the tooltip
        doc.undo_stack.undoTextChanged.connect(lambda t: a.undo.setToolTip(f"Undo {t}".strip()))
        doc.undo_stack.redoTextChanged.connect(lambda t: a.redo.setToolTip(f"Redo {t}".strip()))
        a.undo.setEnabled(False)
        a.redo.setEnabled(False)
        self.scene.node_selection_changed.connect(self.inspector.show_nodes)
        self.scene.connection_refused.connect(
            lambda reason: self.statusBar().showMessage(f"Wire refused: {reason}", 8000))
        self.palette.op_activated.connect(self._add_op_at_centre)
        self.problems.node_activated.connect(self.reveal_node)
        self.problems.counts_changed.connect(self._problem_counts)
        self.log_panel.node_activated.connect(self.reveal_node)
        self.inspector.selection_requested.connect(self.reveal_nodes)
        self.training.log.connect(self._training_message)
        self.training.node_failed.connect(self.reveal_node)
        self.training.session.fixable.connect(self._remember_fixes)
        self.training.session.roles_note.connect(lambda text: self.log_panel.log("info", text))
        self.training.finished_run.connect(self._offer_fixes)
        self.training.dataset.currentIndexChanged.connect(self._show_dataset_binding)
        self.view.rename_requested.connect(self.rename_node)
        self.training.running_changed.connect(self._training_running)
        self._training_running(False)

    # --- documents and files -----------------------------------------------------------------
    def _refresh_title(self) -> None:
        self.setWindowTitle(f"{self.document.title}[*] — NodeStudio")
        self.setWindowModified(self.document.modified)

    def _problem_counts(self, errors: int, warnings: int) -> None:
        total = errors + warnings  # on the dock's tab, where it is seen behind the Log
        self.docks["problems"].setWindowTitle(f"Problems ({total})" if total else "Problems")

    def _refresh_summary(self) -> None:
        note = self.document.annotation
        problems = len(note.errors)
        text = (f"{len(self.document.graph.nodes)} nodes · {note.total_params:,} parameters"
                + (f" · {problems} problem{'s' if problems != 1 else ''}" if problems else ""))
        self.graph_summary.setText(text)

    def show_graph(self, graph: Graph, path: Path | None,
                   left_out: list[str] | None = None) -> None:
        self.document.replace(graph, path)
        self.recovery.discard()  # the work autosaved before was saved or given up
        self._left_out = list(left_out or [])  # nodes of the file on disk that are not shown
        self.inspector.show_nodes([])
        QTimer.singleShot(0, self.view.fit_all)

    def _add_op_at_centre(self, op: str) -> None:
        centre = self.view.mapToScene(self.view.viewport().rect().center())
        node_id = self.document.add_node(op, position=(centre.x(), centre.y()))
        self.scene.select_nodes([node_id])

    def copy(self) -> None:
        text = self.view.copy_selection()
        if text:
            QGuiApplication.clipboard().setText(text)

    def cut(self) -> None:
        self.copy()
        self.view.delete_selection()

    def paste(self) -> None:
        text = QGuiApplication.clipboard().text()
        if text:
            try:
                self.view.paste(text)
            except NodeStudioError as exc:
                self.statusBar().showMessage(f"Nothing to paste: {exc}", 5000)

    def find_op(self) -> None:
        self.docks["palette"].show()
        self.docks["palette"].raise_()
        self.palette.focus_search()

    def rename_selected(self) -> None:
        selected = self.scene.selected_node_ids()
        if len(selected) == 1:
            self.rename_node(selected[0])
        else:
            self.statusBar().showMessage("Select one node to rename it", 4000)

    def rename_node(self, node_id: str) -> None:
        """Show the node in the inspector with its name selected for typing (F2)."""
        self.scene.select_nodes([node_id])
        self.inspector.show_nodes([node_id])
        self.docks["inspector"].show()
        self.docks["inspector"].raise_()
        if not self.inspector.begin_rename():
            self.statusBar().showMessage(f"{node_id} is inside an expanded composite: "
                                         "collapse it to rename", 5000)

    def select_all(self) -> None:
        self.scene.select_nodes(list(self.document.graph.nodes))

    def reveal_node(self, node_id: object) -> None:
        if isinstance(node_id, str) and node_id in self.document.graph.nodes:
            self.reveal_nodes([node_id])

    def reveal_nodes(self, node_ids: list[str]) -> None:
        self.scene.select_nodes(node_ids)
        self.view.center_on_nodes(node_ids)

    # --- training ----------------------------------------------------------------------------
    def train(self) -> None:
        self.docks["training"].raise_()
        self.training.train()

    def pretrain(self) -> None:
        """Train > Pretrain: the dialog (gui/training/pretrain.py), opened window-modal and
        kept as `pretrain_dialog`; accepting it starts the run."""
        dialog = PretrainDialog(self.document.graph, self.scene.selected_node_ids(), self)
        dialog.accepted.connect(lambda: self.pretrainer.start(dialog.request()))
        self.pretrain_dialog = dialog
        dialog.open()

    def _pretraining_started(self) -> None:
        self.docks["training"].raise_()
        self.show_panel("pretraining")

    def pause_or_resume(self) -> None:
        self.training.pause_or_resume()

    def stop_training(self) -> None:
        self.training.stop()

    def reset_parameters(self) -> None:
        names = self.document.reset_parameters()
        self.statusBar().showMessage(
            f"Reinitialised {len(names)} parameters: the next run starts from the initialisers"
            if names else "No trained parameters to forget", 5000)

    def _training_message(self, level: str, message: str, node: object) -> None:
        """Everything the Training panel says goes to the log; a failure at a node is also a
        problem of the graph (until the next run, or another graph is opened)."""
        node_id = node if isinstance(node, str) else None
        self.log_panel.log(level, message, node_id)
        if level == "error" and node_id is not None:
            self.problems.report("error", message, node_id, source="training")
            self.docks["problems"].raise_()

    def _remember_fixes(self, message: str, fixes: object) -> None:
        self._offered = (message, tuple(fixes))  # offered once the run has ended

    def _offer_fixes(self, ok: bool) -> None:
        """Train could not start: say why, with a button per fix; the chosen one is applied as
        one undo step and training starts again."""
        offered, self._offered = self._offered, None
        if ok or offered is None:
            return
        message, fixes = offered
        if not self.modal_dialogs:
            self.log_panel.log("warning", f"{message} (fixes: "
                               f"{'; '.join(f.label for f in fixes)})")
            return
        dialog = self.fix_dialog = FixDialog(self, message, fixes)
        dialog.accepted.connect(lambda: self._apply_fix(dialog.chosen))
        dialog.finished.connect(lambda _: setattr(self, "fix_dialog", None))
        dialog.open()

    def _apply_fix(self, fix) -> None:
        try:
            self.document.apply_fix(fix)
        except NodeStudioError as exc:
            self._tell("warning", "Could not apply the fix", str(exc))
            return
        self.log_panel.log("info", f"{fix.label}: done; training again")
        self.train()

    def _show_dataset_binding(self, *_args) -> None:
        """Tell the canvas what the features and labels inputs will receive."""
        name = self.training.dataset.value()
        shape = builtin_shape(name)
        short = Path(name).name or name
        if shape is None:
            self.scene.set_dataset_binding(short, short)
            return
        example, classes = shape
        self.scene.set_dataset_binding(f"{short}: {' x '.join(map(str, example))}",
                                       f"{short}: {classes} classes", shape)

    def _training_running(self, running: bool) -> None:
        if running:
            self.problems.clear_reports("training")
        self.actions.train.setEnabled(not running)
        self.actions.pretrain.setEnabled(not running)
        self.actions.pause.setEnabled(running)
        self.actions.stop.setEnabled(running)

    # --- look and layout ---------------------------------------------------------------------
    def set_theme(self, name: str, remember: bool = True) -> None:
        app = QApplication.instance()
        current = apply_theme(app, name)
        self.actions.themes[current.name].setChecked(True)
        if remember:
            QSettings().setValue("ui/theme", current.name)

    def _restore_layout(self) -> bool:
        """The layout of the last session; False when there is none to restore."""
        settings = QSettings()
        geometry, state = settings.value("ui/geometry"), settings.value("ui/state")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        return isinstance(state, QByteArray) and self.restoreState(state, LAYOUT_VERSION)

    def reset_layout(self) -> None:
        self.restoreState(self._default_state, LAYOUT_VERSION)
        for dock in self.docks.values():
            dock.show()
        self._default_dock_sizes()

    def show_shortcuts(self) -> None:
        shortcuts_dialog(self, self.actions.shortcut_rows()).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, "About NodeStudio", about_text(theme()))

    # --- closing -----------------------------------------------------------------------------
    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802  (Qt's name)
        if not self._may_discard_changes():
            event.ignore()
            return
        self.training.shutdown()
        if self.remember_layout:
            settings = QSettings()
            settings.setValue("ui/geometry", self.saveGeometry())
            settings.setValue("ui/state", self.saveState(LAYOUT_VERSION))
        self._autosave.stop()
        self.recovery.discard()
        event.accept()
