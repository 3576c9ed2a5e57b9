"""The "looking inside" panels: filters, activations, gradient flow, gradients on the wires,
the backward graph, the gradient check, kernels, results, compare.

Each panel lives in its own module of this package and declares one module-level
`PANEL = PanelSpec(...)`; `panels()` finds them all by walking the package, so adding a panel
touches no other file. The main window makes a dock for each (hidden until opened from
View > Panels, and built only when first shown, so an unused panel costs nothing at start-up);
`nodestudio --screenshot OUT.png --panel NAME` opens one before the picture is taken.

A panel's `build(window)` receives the `MainWindow` and returns its widget. It reads what it
shows from the window's public parts: `window.document` (the graph and its parameter values,
`document.parameter_values()`), `window.training` (the Training panel: its `session` signals
`epoch_end`, `finished`, `batch_progress`, and the chosen dataset), `window.scene` /
`window.view` (the canvas, to highlight nodes) and `window.reveal_nodes(ids)`.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

if TYPE_CHECKING:
    from nodestudio.gui.mainwindow import MainWindow


@dataclass(frozen=True)
class PanelSpec:
    name: str  # what `--panel` takes: lower case, no spaces ("filters", "backward")
    title: str  # the dock's title and the View > Panels entry
    build: Callable[[MainWindow], QWidget]
    summary: str = ""  # one line for the menu entry's status tip
    order: int = 100  # place in View > Panels (lower first)
    area: Qt.DockWidgetArea = Qt.DockWidgetArea.BottomDockWidgetArea


_extra: dict[str, PanelSpec] = {}  # added at run time (tests, plug-ins)


def register(spec: PanelSpec) -> Callable[[], None]:
    """Add a panel that is not a module of this package; returns the call that removes it."""
    _extra[spec.name] = spec
    return lambda: _extra.pop(spec.name, None)


def panels() -> list[PanelSpec]:
    """Every panel, in menu order: the package's modules with a PANEL, then registered ones."""
    found: dict[str, PanelSpec] = {}
    for module in pkgutil.iter_modules(__path__):
        spec = getattr(importlib.import_module(f"{__name__}.{module.name}"), "PANEL", None)
        if isinstance(spec, PanelSpec):
            if spec.name in found:
                raise ValueError(f"two panels are named {spec.name!r}: "
                                 f"{found[spec.name].title} and {spec.title}")
            found[spec.name] = spec
    found.update(_extra)
    return sorted(found.values(), key=lambda spec: (spec.order, spec.title))


def panel_names() -> list[str]:
    return [spec.name for spec in panels()]


__all__ = ["PanelSpec", "panel_names", "panels", "register"]
