"""The log-scale axis of the Gradient flow plots (gui/inside/logaxis.py): tick labels that
neither overlap nor repeat, whatever the range, in particular one of less than a decade."""

from __future__ import annotations

import math

import pytest
from PySide6.QtGui import QImage, QPainter

from nodestudio.gui.inside.logaxis import log_ticks, tick_labels


@pytest.mark.parametrize("low, high, room", [
    (0.21, 0.6, 3), (0.21, 0.25, 3), (0.21, 0.25, 2), (1e-5, 0.1, 3), (1e-12, 1.0, 3),
    (6.3e-4, 7.9e-3, 2), (0.3401, 0.3405, 2), (3.2e-8, 5.0e-8, 2), (15.8, 17.8, 5),
    (0.1, 1.0, 4), (2e-3, 2e3, 7),
])
def test_ticks_fit_the_room_inside_the_range_and_read_differently(low, high, room):
    ticks = log_ticks(math.log10(low), math.log10(high), room)
    assert 2 <= len(ticks) <= room
    values = [10.0 ** t for t in ticks]
    assert all(low * (1 - 1e-9) <= v <= high * (1 + 1e-9) for v in values)
    labels = tick_labels(values)
    assert len(set(labels)) == len(labels)
    for label, value in zip(labels, values):  # a label is the value, not just near it
        assert _value_of(label) == pytest.approx(value, rel=1e-9), label


def _value_of(label: str) -> float:
    """The number a label reads: "0.25", "10⁻⁵", "4·10⁻⁸"."""
    plain = label.translate(str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁻", "0123456789-"))
    if plain == label:
        return float(label)
    mantissa, _, power = plain.rpartition("10")
    return float(mantissa.rstrip("·") or 1.0) * 10.0 ** int(power)


def test_powers_of_ten_are_written_as_such():
    assert tick_labels([1e-5, 1e-3, 0.1]) == ["10⁻⁵", "0.001", "0.1"]
    assert tick_labels([4e-8, 5e-8]) == ["4·10⁻⁸", "5·10⁻⁸"]
    assert tick_labels([0.3402, 0.3404]) == ["0.3402", "0.3404"]


@pytest.fixture
def window(studio):
    return studio()


@pytest.mark.parametrize("low, high", [(0.21, 0.6), (0.21, 0.25), (1e-6, 0.5)])
def test_the_gradient_norm_axis_draws_labels_apart(qtbot, window, low, high):
    panel = window.show_panel("gradients")
    plot = panel.norms.getPlotItem()
    plot.setYRange(math.log10(low), math.log10(high), padding=0)
    panel.norms.grab()  # lays the plot out at its size in the window
    axis = plot.getAxis("left")
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    labels = [text for _, _, text in texts]
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    rects = sorted((rect for rect, _, _ in texts), key=lambda r: r.top())
    for upper, lower in zip(rects, rects[1:]):
        assert upper.bottom() <= lower.top(), labels
