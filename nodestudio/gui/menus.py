"""The window's actions, menus and toolbar, built from one table so that the menus, the toolbar
and the Help > Keyboard Shortcuts list always agree."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QMenu, QToolBar

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow

StandardKey = QKeySequence.StandardKey

# Keys the canvas handles itself (listed in Help next to the menu shortcuts).
CANVAS_KEYS = [
    ("Tab", "Quick-add an op at the cursor"),
    ("F", "Fit the graph (or the selection) in view"),
    ("+ / -, mouse wheel", "Zoom around the cursor"),
    ("Arrow keys, middle-button drag", "Pan"),
    ("Drag from an output port to an input port", "Wire; an invalid wire is refused with the "
                                                   "reason at the cursor"),
    ("Drag on empty canvas", "Rubber-band selection (Ctrl toggles)"),
]


@dataclass(frozen=True)
class Command:
    key: str  # attribute name on Actions
    text: str
    slot: Callable[[MainWindow], Callable[[], object]]
    shortcut: QKeySequence | StandardKey | str | None = None
    tip: str = ""


def _commands() -> list[Command]:
    C = Command
    return [
        C("new", "&New", lambda w: w.new_document, StandardKey.New, "Start an empty graph"),
        C("open", "&Open...", lambda w: w.open_dialog, StandardKey.Open, "Open a graph file"),
        C("save", "&Save", lambda w: w.save, StandardKey.Save, "Save the graph"),
        C("save_as", "Save &As...", lambda w: w.save_as, StandardKey.SaveAs),
        C("save_params", "Save &Parameters...", lambda w: w.save_parameters_dialog, None,
          "Save trained parameter arrays beside the graph (.npz)"),
        C("load_params", "&Load Parameters...", lambda w: w.load_parameters_dialog, None,
          "Load parameter arrays (.npz) into the graph"),
        C("screenshot", "Export &Window Image...", lambda w: w.export_window_image),
        C("quit", "&Quit", lambda w: w.close, StandardKey.Quit),
        C("undo", "&Undo", lambda w: w.document.undo_stack.undo, StandardKey.Undo),
        C("redo", "&Redo", lambda w: w.document.undo_stack.redo, StandardKey.Redo),
        C("cut", "Cu&t", lambda w: w.cut, StandardKey.Cut),
        C("copy", "&Copy", lambda w: w.copy, StandardKey.Copy),
        C("paste", "&Paste", lambda w: w.paste, StandardKey.Paste),
        C("duplicate", "D&uplicate", lambda w: w.view.duplicate_selection, "Ctrl+D"),
        C("delete", "&Delete", lambda w: w.view.delete_selection, None,
          "Delete the selected nodes and wires (Delete or Backspace on the canvas)"),
        C("select_all", "Select &All", lambda w: w.select_all, StandardKey.SelectAll),
        C("rename", "Re&name Node", lambda w: w.rename_selected, "F2",
          "Rename the selected node (in the Inspector)"),
        C("expand", "&Expand Composite", lambda w: w.view.expand_selected, "Ctrl+E",
          "Open the selected composite op into its primitive ops"),
        C("collapse", "C&ollapse Group", lambda w: w.view.collapse_selected, "Ctrl+Shift+E",
          "Fold expanded primitive ops back into their composite"),
        C("layout", "Auto-&Layout", lambda w: w.view.auto_layout, "Ctrl+L",
          "Arrange the graph left to right by layers"),
        C("quick_add", "&Add Node...", lambda w: w.view.quick_add, None,
          "Search the ops and add one (Tab on the canvas)"),
        C("find_op", "&Find Op in Palette", lambda w: w.find_op, StandardKey.Find,
          "Search the palette"),
        C("zoom_in", "Zoom &In", lambda w: (lambda: w.view.zoom_by(1.25)), StandardKey.ZoomIn),
        C("zoom_out", "Zoom &Out", lambda w: (lambda: w.view.zoom_by(0.8)), StandardKey.ZoomOut),
        C("fit", "&Fit to View", lambda w: w.view.fit_all, "Ctrl+0"),
        C("reset_layout", "&Reset Window Layout", lambda w: w.reset_layout),
        C("train", "&Train", lambda w: w.train, "F5", "Compile the graph and train it"),
        C("pretrain", "Pre&train...", lambda w: w.pretrain, "Ctrl+F5",
          "Pretrain the selected layers (or the whole stack): RBMs by CD / PCD, stacked "
          "(denoising) autoencoders, DBNs, greedy supervised"),
        C("pause", "&Pause / Resume", lambda w: w.pause_or_resume, "F6"),
        C("stop", "&Stop", lambda w: w.stop_training, "Shift+F5"),
        C("reset_params", "&Reinitialise Parameters", lambda w: w.reset_parameters, None,
          "Forget the trained values: the next run starts from the initialisers"),
        C("shortcuts", "&Keyboard Shortcuts", lambda w: w.show_shortcuts, "F1"),
        C("about", "&About NodeStudio", lambda w: w.show_about),
    ]


class Actions:
    """Every QAction of the window by name: `actions.save`, `actions.undo`, ..."""

    def __init__(self, window: MainWindow):
        self.commands = _commands()
        for command in self.commands:
            action = QAction(command.text, window)
            if command.shortcut is not None:
                action.setShortcut(QKeySequence(command.shortcut))
            if command.tip:
                action.setStatusTip(command.tip)
                action.setToolTip(f"{command.text.replace('&', '').rstrip('.')}: {command.tip}")
            action.triggered.connect(command.slot(window))
            setattr(self, command.key, action)
            window.addAction(action)  # shortcuts work while any dock has focus
        self.theme_group = QActionGroup(window)
        self.themes: dict[str, QAction] = {}
        for name in ("dark", "light"):
            action = QAction(name.title(), window, checkable=True)
            action.triggered.connect(lambda _=False, n=name: window.set_theme(n))
            self.theme_group.addAction(action)
            self.themes[name] = action
        # the Activations panel's canvas mode (gui/inside/activations.py), built on first use
        self.activations = QAction("&Activations on Canvas", window, checkable=True)
        self.activations.setIconText("Activations")  # the toolbar's short label
        self.activations.setStatusTip("Draw each node's output for one example on the canvas")
        self.activations.toggled.connect(lambda on: _inside("activations").set_canvas_mode(
            window, on))

    def shortcut_rows(self) -> list[tuple[str, str]]:
        rows = []
        for command in self.commands:
            action: QAction = getattr(self, command.key)
            if not action.shortcut().isEmpty():
                rows.append((action.shortcut().toString(QKeySequence.NativeText),
                             command.text.replace("&", "").rstrip(".")))
        return rows + CANVAS_KEYS


def _inside(name: str):
    import importlib
    return importlib.import_module(f"nodestudio.gui.inside.{name}")


def build_menus(window: MainWindow, actions: Actions) -> dict[str, QMenu]:
    bar = window.menuBar()
    a = actions
    file_menu = bar.addMenu("&File")
    file_menu.addAction(a.new)
    templates = file_menu.addMenu("New from &Template")
    file_menu.addAction(a.open)
    recent = file_menu.addMenu("Open &Recent")
    examples = file_menu.addMenu("&Examples")
    file_menu.addSeparator()
    file_menu.addActions([a.save, a.save_as])
    file_menu.addSeparator()
    file_menu.addActions([a.save_params, a.load_params, a.screenshot])
    file_menu.addSeparator()
    file_menu.addAction(a.quit)

    edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo])
    edit.addSeparator()
    edit.addActions([a.cut, a.copy, a.paste, a.duplicate, a.delete, a.select_all, a.rename])
    edit.addSeparator()
    edit.addActions([a.quick_add, a.find_op, a.expand, a.collapse, a.layout])

    view = bar.addMenu("&View")
    view.addActions([a.zoom_in, a.zoom_out, a.fit, a.activations])
    view.addSeparator()
    panels = view.addMenu("&Panels")
    themes = view.addMenu("&Theme")
    themes.addActions(list(a.themes.values()))
    view.addAction(a.reset_layout)

    train = bar.addMenu("&Train")
    train.addActions([a.train, a.pretrain, a.pause, a.stop])
    train.addSeparator()
    train.addAction(a.reset_params)

    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a.shortcuts, a.about])
    return {"recent": recent, "examples": examples, "templates": templates, "panels": panels}


def build_toolbar(window: MainWindow, actions: Actions) -> QToolBar:
    bar = QToolBar("Main", window)
    bar.setObjectName("main_toolbar")
    bar.setMovable(False)
    a = actions
    for group in ([a.new, a.open, a.save], [a.undo, a.redo], [a.fit, a.layout, a.activations],
                  [a.train, a.pretrain, a.pause, a.stop]):
        bar.addActions(group)
        bar.addSeparator()
    bar.widgetForAction(a.train).setObjectName("primary")
    return bar
