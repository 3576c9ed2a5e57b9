"""The main window's docks for the looking-inside panels: one per panel of this package, hidden
until opened from View > Panels, its widget built when it is first shown, tabbed beside Curves
(or the Inspector) the first time it opens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMenu, QWidget

from nodestudio.gui.inside import PanelSpec, panels

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow


class InsideDocks:
    def __init__(self, window: MainWindow, menu: QMenu):
        self.window = window
        self.specs: dict[str, PanelSpec] = {spec.name: spec for spec in panels()}
        self.docks: dict[str, QDockWidget] = {}
        self._widgets: dict[str, QWidget] = {}
        menu.addSection("Looking inside")
        for spec in self.specs.values():
            dock = QDockWidget(spec.title, window)
            dock.setObjectName(f"dock_inspect_{spec.name}")
            dock.setFeatures(QDockWidget.DockWidgetClosable | QDockWidget.DockWidgetMovable
                             | QDockWidget.DockWidgetFloatable)
            window.addDockWidget(spec.area, dock)
            dock.hide()  # tabbed in when first opened: hidden tabs left a stray tab bar
            # built when opened from the menu, or shown by a restored layout
            dock.visibilityChanged.connect(
                lambda visible, name=spec.name: visible and self.panel(name))
            action = dock.toggleViewAction()
            action.toggled.connect(lambda on, name=spec.name: on and self.show_panel(name))
            action.setStatusTip(spec.summary)
            menu.addAction(action)
            self.docks[spec.name] = dock

    def panel(self, name: str) -> QWidget:
        """The widget of the panel `name`, built on first use."""
        if name not in self.specs:
            raise ValueError(f"no panel named {name!r} (panels: "
                             f"{', '.join(self.specs) or 'none'})")
        widget = self._widgets.get(name)
        if widget is None:
            widget = self.specs[name].build(self.window)
            self._widgets[name] = widget
            self.docks[name].setWidget(widget)
        return widget

    def show_panel(self, name: str) -> QWidget:
        """Open the panel `name` and bring it to the front."""
        widget = self.panel(name)
        dock, window = self.docks[name], self.window
        if not dock.isVisible() and not self._placed_before(dock):
            neighbour = {Qt.BottomDockWidgetArea: window.docks["curves"],
                         Qt.RightDockWidgetArea: window.docks["inspector"]}.get(
                self.specs[name].area)
            if neighbour is not None and neighbour.isVisible():
                window.tabifyDockWidget(neighbour, dock)  # a tab beside Curves or the Inspector
        dock.show()
        dock.raise_()
        return widget

    def _placed_before(self, dock: QDockWidget) -> bool:
        """Whether the dock already has a place of its own: shown before in this session, or
        tabbed or floated by a restored layout."""
        placed = (dock.property("placed") or dock.isFloating()
                  or bool(self.window.tabifiedDockWidgets(dock)))
        dock.setProperty("placed", True)
        return bool(placed)
