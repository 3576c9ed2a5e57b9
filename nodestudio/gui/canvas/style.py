"""Pens, brushes, fonts and sizes the canvas items paint with, built once per theme.

Painting hundreds of nodes per frame must not allocate: every QPen / QBrush / QFont an item
needs lives here and is rebuilt only when the theme changes (`style()` notices). Pens are cosmetic
(their width is in device pixels), so lines stay one crisp pixel at every zoom and DPI.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QPen

from nodestudio.gui.theme import Theme, theme

# Node geometry in scene units (the layout spaces columns 280 apart).
NODE_WIDTH = 168.0  # the narrowest card: wider ones fit their title and op's name ...
MAX_NODE_WIDTH = 256.0  # ... up to this, with room left for a wire label between columns
HEADER = 26.0
ROW = 18.0
LABEL_ROW = 18.0
FOOTER = 16.0
PADDING = 6.0
PORT_RADIUS = 4.5
PORT_HIT = 9.0  # how far from a port's centre a press still picks it
CORNER = 6.0
# Below this zoom (level of detail) the 12 px title is under 7 px on screen: cards become tiles
# showing their title as large as fits (titles.py), without ports or body text.
DETAIL_LOD = 0.6
# Below these, wire labels and group titles are skipped, and wires are drawn straight.
TEXT_LOD = 0.45
PORT_LOD = 0.25


def _cosmetic(colour: QColor, width: float = 1.0, style=Qt.SolidLine) -> QPen:
    pen = QPen(colour, width, style)
    pen.setCosmetic(True)
    return pen


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(a.redF() * (1 - t) + b.redF() * t, a.greenF() * (1 - t) + b.greenF() * t,
                           a.blueF() * (1 - t) + b.blueF() * t)


class CanvasStyle:
    """Everything paint() reads, derived from one Theme."""

    def __init__(self, t: Theme):
        self.theme = t
        dark = QColor(t.canvas).lightnessF() < 0.5
        c = t.color
        self.body = QBrush(c("node_body"))
        # Nodes expanded from a composite: body tinted towards the accent colour.
        self.group_body = QBrush(_mix(c("node_body"), c("accent"), 0.14 if dark else 0.08))
        self.group_frame = QBrush(_with_alpha(c("accent"), 0.07 if dark else 0.06))
        self.group_frame_pen = _cosmetic(_with_alpha(c("accent"), 0.55), 1.0, Qt.DashLine)
        self.border = _cosmetic(c("node_border"), 1.0)
        self.selected = _cosmetic(c("accent"), 2.0)
        # training-role tags on output ports: marked ones filled, inferred ones outlined
        self.role_fill = QBrush(c("accent"))
        self.role_pen = QPen(c("accent"), 1.2)
        self.role_text = QPen(QColor("#ffffff"))
        self.error_border = _cosmetic(c("error"), 1.5)
        self.text = c("node_text")
        self.muted = c("muted")
        self.header_text = QColor("#ffffff")
        self.header_sub = QColor(255, 255, 255, 170)
        self.port_border = _cosmetic(c("node_body"), 1.5)
        self.port_ok = _cosmetic(c("ok"), 2.5)
        self.port_bad = _cosmetic(c("error"), 2.5)
        self.wire = _cosmetic(c("wire"), 1.6)
        self.wire_selected = _cosmetic(c("accent"), 2.6)
        self.wire_hover = _cosmetic(c("text"), 2.0)
        self.wire_drag = _cosmetic(c("accent"), 2.0, Qt.DashLine)
        self.wire_ok = _cosmetic(c("ok"), 2.2)
        self.wire_bad = _cosmetic(c("error"), 2.2, Qt.DashLine)
        self.pill = QBrush(c("canvas"))
        self.pill_pen = _cosmetic(_mix(c("canvas"), c("wire"), 0.45), 1.0)
        self.pill_text = c("wire_label")
        self.badge = {"ok": QBrush(c("ok")), "error": QBrush(c("error")),
                      "blocked": QBrush(c("warning"))}
        self.badge_pen = _cosmetic(QColor(0, 0, 0, 90), 1.0)
        self.grid_minor = _cosmetic(c("grid_minor"), 1.0)
        self.grid_major = _cosmetic(c("grid_major"), 1.0)
        self.canvas = QBrush(c("canvas"))
        self.ports = {k: QBrush(QColor(v)) for k, v in t.ports.items()}
        self.categories: dict[str, QBrush] = {}
        self.no_pen = QPen(Qt.NoPen)

        self.title_font = QFont()
        self.title_font.setPixelSize(12)
        self.title_font.setWeight(QFont.DemiBold)
        self.sub_font = QFont()
        self.sub_font.setPixelSize(10)
        self.body_font = QFont()
        self.body_font.setPixelSize(11)
        self.small_font = QFont()
        self.small_font.setPixelSize(10)
        self.title_metrics = QFontMetricsF(self.title_font)
        self.sub_metrics = QFontMetricsF(self.sub_font)
        self.body_metrics = QFontMetricsF(self.body_font)
        self.small_metrics = QFontMetricsF(self.small_font)
        self._overview_fonts: dict[int, QFont] = {}

    def overview_font(self, pixels: float) -> QFont:
        """The title font at a size in scene units (a tile's title, far out)."""
        size = max(1, round(pixels))
        font = self._overview_fonts.get(size)
        if font is None:
            font = self._overview_fonts[size] = QFont(self.title_font)
            font.setPixelSize(size)
        return font

    def category(self, name: str) -> QBrush:
        brush = self.categories.get(name)
        if brush is None:
            brush = self.categories[name] = QBrush(self.theme.category_color(name))
        return brush

    def port(self, dtype: str | None) -> QBrush:
        return self.ports.get(dtype or "any", self.ports["any"])


def _with_alpha(colour: QColor, alpha: float) -> QColor:
    out = QColor(colour)
    out.setAlphaF(alpha)
    return out


_cached: list[CanvasStyle | None] = [None]


def style() -> CanvasStyle:
    """The style of the current theme (built on first use after a theme change)."""
    current = _cached[0]
    if current is None or current.theme is not theme():
        current = _cached[0] = CanvasStyle(theme())
    return current
