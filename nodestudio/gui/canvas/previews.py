"""Small pictures of tensors drawn on the canvas: the output of a node for one example as a
preview on top of its card (the Activations mode, gui/inside/activations.py).

What a tensor looks like is decided once, when the values arrive (`Preview.of`): an image for an
image-shaped tensor (2-D, or a vector whose length is the data's image size or any square of at
least 16), feature maps for a conv-style C x H x W one (its first `MAX_MAPS` channels as small
images side by side), bars for a short vector (up to `MAX_BARS` values), a heat map of the units
wrapped into a rectangle for a longer one, a number for a scalar. The QImage or the bar
rectangles are built then; `PreviewItem.paint` only draws them.

Colours: a tensor with negative values gets a symmetric diverging scale (blue negative, white
zero, red positive, |v| up to its largest magnitude); a non-negative one greys from black (0) to
white (its maximum), as pixels are usually shown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPen
from PySide6.QtWidgets import QGraphicsItem
from shiboken6 import isValid

from nodestudio.gui.canvas.style import DETAIL_LOD, style

MAX_BARS = 32  # a vector up to this long is drawn as bars, a longer one as a heat map
MIN_SQUARE = 16  # a vector of a square length at least this is drawn as a square image
MAX_MAPS = 8  # feature maps (channels) of a C x H x W tensor drawn in its preview
PREVIEW_W, PREVIEW_H = 120.0, 72.0  # the picture's box above the card
SCALAR_H = 22.0  # a scalar's box: just the number
CAPTION = 14.0  # the line under the picture: shape and value range
GAP = 4.0  # between the card and the preview


@dataclass
class Preview:
    """How one example's tensor is drawn: `kind` is "image", "maps", "heat", "bars" or
    "scalar";
    `grid` the 2-D array the image shows (rows x columns, before colouring), `values` the
    flat values; `rgb` the colours of `grid` (uint8 rows x cols x 3)."""

    kind: str
    values: np.ndarray
    shape: tuple[int, ...]
    grid: np.ndarray | None = None
    rgb: np.ndarray | None = None
    low: float = 0.0
    high: float = 0.0
    diverging: bool = False
    caption: str = ""
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, example: np.ndarray, input_shape: tuple[int, ...] = ()) -> Preview:
        """The preview of one example's output (any shape; NaN and Inf are shown as 0 in
        the picture, the caption says they are there)."""
        raw = np.asarray(example, dtype=np.float64)
        flat = raw.reshape(-1)
        finite = np.isfinite(flat)
        clean = np.where(finite, flat, 0.0)
        low = float(clean.min()) if clean.size else 0.0
        high = float(clean.max()) if clean.size else 0.0
        bad = "" if finite.all() else f"  {int((~finite).sum())} non-finite"
        shape = tuple(raw.shape)
        dims = " x ".join(str(d) for d in shape) or "scalar"
        if raw.size == 1 and raw.ndim <= 1:
            value = float(flat[0])
            return cls("scalar", flat, shape, low=value, high=value, caption=f"{value:.4g}")
        caption = f"{dims}  [{low:.2g}, {high:.2g}]{bad}"
        if is_feature_maps(shape):
            grid, columns = feature_maps(clean.reshape(shape), PREVIEW_W / PREVIEW_H)
            shown = min(shape[0], MAX_MAPS)
            rgb, diverging = colours(grid)
            # short enough for the box: the wire's label gives the full shape
            count = f"{shown}/{shape[0]}" if shown < shape[0] else f"{shown}"
            caption = f"{count} maps  [{low:.2g}, {high:.2g}]{bad}"
            return cls("maps", clean, shape, grid=grid, rgb=rgb, low=low, high=high,
                       diverging=diverging, caption=caption,
                       extra={"maps": shown, "columns": columns})
        grid = image_grid(clean, shape, input_shape)
        if grid is None and flat.size <= MAX_BARS:  # scores: which one is largest
            return cls("bars", clean, shape, low=low, high=high, diverging=low < 0,
                       caption=f"{caption}  top {int(np.argmax(clean))}")
        kind = "image"
        if grid is None:  # a long vector: its units wrapped into a rectangle
            kind, grid = "heat", wrapped(clean, PREVIEW_W / PREVIEW_H)
        rgb, diverging = colours(grid)
        return cls(kind, clean, shape, grid=grid, rgb=rgb, low=low, high=high,
                   diverging=diverging, caption=caption)


def image_grid(flat: np.ndarray, shape: tuple[int, ...], input_shape: tuple[int, ...]
               ) -> np.ndarray | None:
    """The 2-D picture of an image-shaped tensor, or None: a 2-D tensor as is, channels of a
    3-D one stacked vertically, a vector of the data's image size (28 x 28) or of a square
    length (>= MIN_SQUARE) reshaped."""
    if len(shape) >= 2:
        return flat.reshape(-1, shape[-1])
    n = flat.size
    if len(input_shape) >= 2 and math.prod(input_shape) == n:
        return flat.reshape(-1, input_shape[-1])
    side = math.isqrt(n)
    if n >= MIN_SQUARE and side * side == n:
        return flat.reshape(side, side)
    return None


def is_feature_maps(shape: tuple[int, ...]) -> bool:
    """A conv layer's output for one example: channels x height x width, each map at least
    2 x 2 and more than one channel (a single channel is just an image)."""
    return len(shape) == 3 and shape[0] > 1 and min(shape[1:]) >= 2


def feature_maps(maps: np.ndarray, aspect: float, limit: int = MAX_MAPS
                 ) -> tuple[np.ndarray, int]:
    """The first `limit` channels of a C x H x W tensor as H x W images in a grid, one cell of
    NaN between them, its columns chosen so that the grid fills a box `aspect` wide per high
    at the largest scale; returns the grid and its number of columns."""
    count = min(maps.shape[0], limit)
    height, width = maps.shape[1:]

    def scale(columns: int) -> float:
        rows = math.ceil(count / columns)
        return min(aspect / (columns * (width + 1) - 1), 1.0 / (rows * (height + 1) - 1))

    columns = max(range(1, count + 1), key=scale)
    rows = math.ceil(count / columns)
    grid = np.full((rows * (height + 1) - 1, columns * (width + 1) - 1), np.nan)
    for c in range(count):
        r, k = divmod(c, columns)
        grid[r * (height + 1):r * (height + 1) + height,
             k * (width + 1):k * (width + 1) + width] = maps[c]
    return grid, columns


def wrapped(flat: np.ndarray, aspect: float) -> np.ndarray:
    """A long vector as rows of a rectangle about `aspect` wide per high; the cells past its
    end are NaN (drawn as the background)."""
    n = flat.size
    cols = max(1, min(n, math.ceil(math.sqrt(n * aspect))))
    rows = math.ceil(n / cols)
    grid = np.full(rows * cols, np.nan)
    grid[:n] = flat
    return grid.reshape(rows, cols)


def colours(grid: np.ndarray) -> tuple[np.ndarray, bool]:
    """RGB (uint8) of each cell and whether the scale is diverging (see the module
    docstring); NaN cells (past a wrapped vector's end) are the canvas grey."""
    present = np.isfinite(grid)
    values = np.where(present, grid, 0.0)
    diverging = bool((values < 0).any())
    if diverging:
        scale = float(np.abs(values).max()) or 1.0
        t = np.clip(values / scale, -1.0, 1.0)  # -1 blue, 0 white, 1 red
        pos, neg = np.clip(t, 0, 1), np.clip(-t, 0, 1)
        r = 255 * (1 - neg * 0.8)
        g = 255 * (1 - np.maximum(pos, neg) * 0.8)
        b = 255 * (1 - pos * 0.8)
        rgb = np.stack([r, g, b], axis=-1)
    else:
        top = float(values.max()) or 1.0
        level = 255 * np.clip(values / top, 0, 1)
        rgb = np.stack([level] * 3, axis=-1)
    rgb = np.rint(rgb).astype(np.uint8)
    rgb[~present] = (90, 90, 90)
    return rgb, diverging


def to_qimage(rgb: np.ndarray) -> QImage:
    """An RGB888 QImage that owns a copy of the pixels."""
    rows, cols = rgb.shape[:2]
    data = np.ascontiguousarray(rgb, dtype=np.uint8)
    return QImage(data.data, cols, rows, 3 * cols, QImage.Format_RGB888).copy()


class PreviewItem(QGraphicsItem):
    """A node's preview, a child of its NodeItem placed above the card. `set_preview` lays
    it out (image, bar rectangles, caption); painting draws what is cached."""

    def __init__(self, parent: QGraphicsItem):
        super().__init__(parent)
        self.preview: Preview | None = None
        self.image: QImage | None = None
        self.bars: list[QRectF] = []  # one per value, in item coordinates
        self.bar_colours: list[QColor] = []
        self.baseline = 0.0
        self._box = QRectF(0, 0, PREVIEW_W, PREVIEW_H)
        self._picture = QRectF()
        self.setZValue(3)  # over a neighbouring card it may overlap: a preview is looked at
        self.setAcceptedMouseButtons(Qt.NoButton)  # clicks go to the node

    def place(self, card: QRectF) -> None:
        """Above the card (where a layered layout leaves the most room), centred."""
        height = self.boundingRect().height() - 2
        self.setPos(card.left() + (card.width() - PREVIEW_W) / 2, card.top() - GAP - height)

    def set_preview(self, preview: Preview) -> None:
        self.prepareGeometryChange()
        self.preview = preview
        self.image, self.bars, self.bar_colours = None, [], []
        self._box = QRectF(0, 0, PREVIEW_W, SCALAR_H if preview.kind == "scalar" else PREVIEW_H)
        area = QRectF(4, 4, PREVIEW_W - 8, PREVIEW_H - 8)
        if preview.rgb is not None:
            rows, cols = preview.rgb.shape[:2]
            scale = min(area.width() / cols, area.height() / rows)
            w, h = cols * scale, rows * scale
            self._picture = QRectF(area.center().x() - w / 2, area.center().y() - h / 2, w, h)
            self.image = to_qimage(preview.rgb)
        elif preview.kind == "bars":
            self._lay_bars(preview, area)
        self.update()

    def _lay_bars(self, preview: Preview, area: QRectF) -> None:
        values = preview.values
        top, bottom = max(preview.high, 0.0), min(preview.low, 0.0)
        span = (top - bottom) or 1.0
        # zero sits where it divides the height as the values do
        self.baseline = area.top() + area.height() * top / span
        step = area.width() / len(values)
        for i, value in enumerate(values):
            height = area.height() * abs(value) / span
            y = self.baseline - height if value >= 0 else self.baseline
            self.bars.append(QRectF(area.left() + i * step + 0.5, y, max(step - 1.0, 1.0),
                                    height))
            self.bar_colours.append(QColor(220, 90, 70) if value >= 0 else QColor(70, 110, 220))

    def boundingRect(self) -> QRectF:
        below = 0.0 if self.preview is not None and self.preview.kind == "scalar" else CAPTION
        return self._box.adjusted(-1, -1, 1, below + 1)

    def paint(self, painter, option, widget=None) -> None:
        preview = self.preview
        if preview is None:
            return
        s = style()
        painter.setPen(QPen(s.pill_pen.color(), 0))
        painter.setBrush(s.pill)
        painter.drawRoundedRect(self._box, 4, 4)
        if preview.kind == "scalar":
            painter.setPen(s.text)
            painter.setFont(s.body_font)
            painter.drawText(self._box, Qt.AlignCenter, f"= {preview.caption}")
            return
        if self.image is not None:
            painter.drawImage(self._picture, self.image)  # one cell per value, unsmoothed
        elif self.bars:
            painter.setPen(Qt.NoPen)
            for rect, colour in zip(self.bars, self.bar_colours):
                painter.fillRect(rect, colour)
            painter.setPen(QPen(s.pill_text, 0))
            painter.drawLine(QPointF(4, self.baseline), QPointF(PREVIEW_W - 4, self.baseline))
        if option.levelOfDetailFromTransform(painter.worldTransform()) >= DETAIL_LOD:
            painter.setFont(s.small_font)
            painter.setPen(s.pill_text)
            painter.drawText(QRectF(0, PREVIEW_H, PREVIEW_W, CAPTION), Qt.AlignCenter,
                             preview.caption)


class NodePreviews:
    """The preview items of a scene's nodes: `show({node id: Preview})` puts each on its node
    (and removes those of other nodes), `clear()` removes them all."""

    def __init__(self, scene):
        self.scene = scene
        self.items: dict[str, PreviewItem] = {}

    def show(self, previews: dict[str, Preview]) -> None:
        for node_id in list(self.items):
            if node_id not in previews or not self._alive(node_id):
                self._drop(node_id)
        for node_id, preview in previews.items():
            node = self.scene.nodes.get(node_id)
            if node is None:
                continue
            item = self.items.get(node_id)
            if item is None:
                item = self.items[node_id] = PreviewItem(node)
            item.set_preview(preview)
            item.place(node.card())

    def clear(self) -> None:
        for node_id in list(self.items):
            self._drop(node_id)

    def _alive(self, node_id: str) -> bool:
        """False once the scene dropped the node (or rebuilt itself): its children went too."""
        item, node = self.items[node_id], self.scene.nodes.get(node_id)
        return isValid(item) and node is not None and item.parentItem() is node

    def _drop(self, node_id: str) -> None:
        item = self.items.pop(node_id)
        node = self.scene.nodes.get(node_id)
        if isValid(item) and node is not None and item.parentItem() is node:
            item.setParentItem(None)
            self.scene.removeItem(item)


__all__ = ["MAX_BARS", "MAX_MAPS", "NodePreviews", "PREVIEW_H", "PREVIEW_W", "Preview",
           "PreviewItem", "colours", "feature_maps", "image_grid", "is_feature_maps", "to_qimage",
           "wrapped"]
