"""Light and dark themes: one table of colours that the style sheet, the canvas items and the
plots all read, so that switching theme repaints everything consistently.

`apply_theme(app, name)` sets the Qt palette and style sheet and remembers the choice;
`theme()` is the current `Theme`; views that paint by hand repaint on `theme_changed`.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

from nodestudio.paths import resource_dir


@dataclass(frozen=True)
class Theme:
    name: str
    window: str
    base: str  # text fields, lists
    text: str
    muted: str  # secondary text: shapes, counts
    accent: str  # selection, focus, the primary button
    canvas: str
    grid_minor: str
    grid_major: str
    node_body: str
    node_border: str
    node_text: str
    wire: str
    wire_label: str
    ok: str
    warning: str
    error: str
    # header colour of a node by its op category; "default" for the rest
    categories: dict[str, str] = field(default_factory=dict)
    # port colour by dtype
    ports: dict[str, str] = field(default_factory=dict)
    plot_series: tuple[str, ...] = ()

    def category_color(self, category: str) -> QColor:
        return QColor(self.categories.get(category, self.categories["default"]))

    def color(self, name: str) -> QColor:
        return QColor(getattr(self, name))


_CATEGORIES_DARK = {
    "Inputs": "#3f8f5f", "Layers": "#3b6ea8", "Activation": "#8a5cb8", "Losses": "#b0504a",
    "Math": "#5a6b7d", "Logic": "#6b6b50", "Tensor": "#4f7f86", "Reduce": "#86694f",
    "Regularisation": "#a0733a", "Random": "#7a5f8f", "Linear algebra": "#3b6ea8",
    "Augmentation": "#7a5f8f", "Convolution": "#2f7f9e", "Gradients": "#6a5a78",
    "default": "#5a6470",
}
_CATEGORIES_LIGHT = {
    "Inputs": "#4caf78", "Layers": "#4a84c4", "Activation": "#9b6fcf", "Losses": "#d0665e",
    "Math": "#72859a", "Logic": "#8a8a62", "Tensor": "#5c9aa2", "Reduce": "#a5815f",
    "Regularisation": "#c48a45", "Random": "#9275a8", "Linear algebra": "#4a84c4",
    "Augmentation": "#9275a8", "Convolution": "#3c97b8", "Gradients": "#85739a",
    "default": "#7a8592",
}

DARK = Theme(
    name="dark", window="#1f2227", base="#17191d", text="#e3e6ea", muted="#8b94a0",
    accent="#4c9bff", canvas="#1a1c20", grid_minor="#23262b", grid_major="#2c3036",
    node_body="#2b2f36", node_border="#14161a", node_text="#e8ebef", wire="#8f9aa8",
    wire_label="#aab4c0", ok="#4cc38a", warning="#e5b84b", error="#ef5b5b",
    categories=_CATEGORIES_DARK, ports={"float32": "#6fb1ff", "int32": "#e5b84b",
                                        "any": "#b0b8c4"},
    plot_series=("#4c9bff", "#ff8a4c", "#4cc38a", "#c678dd", "#e5c07b", "#56b6c2"),
)
LIGHT = Theme(
    name="light", window="#f3f4f6", base="#ffffff", text="#1d2127", muted="#66707c",
    accent="#2f7de1", canvas="#f7f8fa", grid_minor="#eceef1", grid_major="#dde1e6",
    node_body="#ffffff", node_border="#c3c9d1", node_text="#1d2127", wire="#6d7886",
    wire_label="#4f5966", ok="#2e9e6a", warning="#c48a1a", error="#d64545",
    categories=_CATEGORIES_LIGHT, ports={"float32": "#2f7de1", "int32": "#c48a1a",
                                         "any": "#7a8592"},
    plot_series=("#2f7de1", "#e8743b", "#2e9e6a", "#9b59b6", "#c49a1a", "#1f9aa8"),
)
THEMES = {"dark": DARK, "light": LIGHT}


class _ThemeSignals(QObject):
    theme_changed = Signal(object)  # the new Theme


signals = _ThemeSignals()
_current: list[Theme] = [DARK]


def theme() -> Theme:
    return _current[0]


def style_sheet(t: Theme) -> str:
    """The application style sheet: resources/styles/studio.qss with the theme's colours and
    arrow images (@arrow_up, @arrow_down) drawn in its text colour."""
    text = _styles_dir().joinpath("studio.qss").read_text(encoding="utf-8")
    for name, path in _arrow_images(t).items():
        text = text.replace("@" + name, path.as_posix())
    for key, value in sorted(vars(t).items(), key=lambda kv: -len(kv[0])):  # longest first
        if isinstance(value, str):
            text = text.replace("@" + key, value)
    return text


_ARROWS = {"arrow_up": "M2 7 L6 3 L10 7", "arrow_down": "M2 4 L6 8 L10 4"}


def _arrow_images(t: Theme) -> dict[str, Path]:
    """Small chevrons as SVG files (style sheets take images by file name only)."""
    folder = Path(tempfile.gettempdir()) / f"nodestudio-style-{os.getuid()}" / t.name
    folder.mkdir(parents=True, exist_ok=True)
    images = {}
    for name, path in _ARROWS.items():
        file = folder / f"{name}.svg"
        svg = (f'<svg xmlns="http://www.w3.org/2000/svg" width="12" height="12" '
               f'viewBox="0 0 12 12"><path d="{path}" fill="none" stroke="{t.muted}" '
               f'stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/></svg>')
        if not file.is_file() or file.read_text(encoding="utf-8") != svg:
            file.write_text(svg, encoding="utf-8")
        images[name] = file
    return images


def _styles_dir() -> Path:
    found = resource_dir("styles")
    if found is None:
        raise FileNotFoundError("resources/styles not found beside the nodestudio package")
    return found


def apply_theme(app: QApplication, name: str) -> Theme:
    t = THEMES.get(name, DARK)
    _current[0] = t
    app.setStyle("Fusion")
    palette = QPalette()
    roles = {QPalette.Window: t.window, QPalette.WindowText: t.text, QPalette.Base: t.base,
             QPalette.AlternateBase: t.window, QPalette.Text: t.text, QPalette.Button: t.window,
             QPalette.ButtonText: t.text, QPalette.Highlight: t.accent,
             QPalette.HighlightedText: "#ffffff", QPalette.ToolTipBase: t.base,
             QPalette.ToolTipText: t.text, QPalette.PlaceholderText: t.muted,
             QPalette.Link: t.accent}
    for role, colour in roles.items():
        palette.setColor(role, QColor(colour))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        palette.setColor(QPalette.Disabled, role, QColor(t.muted))
    app.setPalette(palette)
    app.setStyleSheet(style_sheet(t))
    signals.theme_changed.emit(t)
    return t
