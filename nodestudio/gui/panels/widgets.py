"""Small building blocks shared by the panels, so that they look alike: section headings, muted
secondary text, aligned forms and the category chip. Colours come from the current theme; the
panels rebuild (or restyle) these on `theme_changed`."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import QFormLayout, QLabel, QWidget

from nodestudio.gui.theme import theme


def section_heading(text: str) -> QLabel:
    """A small uppercase heading that separates the parts of a panel."""
    label = QLabel(text.upper(), objectName="section")
    label.setIndent(0)  # a QLabel with a border indents its text otherwise
    t = theme()
    label.setStyleSheet(f"color: {t.muted}; font-size: 8pt; font-weight: 600; "
                        f"letter-spacing: 1px; padding-top: 8px; "
                        f"border-bottom: 1px solid {t.grid_major}; padding-bottom: 3px;")
    return label


def muted_label(text: str) -> QLabel:
    label = QLabel(text, objectName="muted", wordWrap=True)
    label.setStyleSheet(f"color: {theme().muted};")
    return label


def value_label(text: str, muted: bool = False, error: bool = False) -> QLabel:
    """The right-hand side of a read-only form row; selectable so it can be copied."""
    label = QLabel(text, wordWrap=True)
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    t = theme()
    if error:
        label.setStyleSheet(f"color: {t.error};")
    elif muted:
        label.setStyleSheet(f"color: {t.muted};")
    return label


def form_layout(parent: QWidget | None = None) -> QFormLayout:
    """Labels right-aligned against their fields, fields growing to the panel's width."""
    form = QFormLayout(parent) if parent is not None else QFormLayout()
    form.setContentsMargins(0, 0, 0, 0)
    form.setLabelAlignment(Qt.AlignRight | Qt.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    form.setRowWrapPolicy(QFormLayout.DontWrapRows)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(6)
    return form


def category_chip(category: str) -> QLabel:
    """The op's category on a rounded badge in the category colour (as on the canvas)."""
    colour = theme().category_color(category).name()
    chip = QLabel(category, objectName="categoryChip")
    chip.setStyleSheet(f"background: {colour}; color: #ffffff; border-radius: 4px; "
                       f"padding: 1px 7px; font-size: 8pt; font-weight: 600;")
    chip.setAlignment(Qt.AlignCenter)
    return chip


def align_forms(forms: list[QFormLayout]) -> None:
    """Give the label columns of forms stacked in one panel the same width, so that all
    fields start at one line."""
    labels = []
    for form in forms:
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.LabelRole)
            if item is not None and item.widget() is not None:
                labels.append(item.widget())
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)
        label.setAlignment(Qt.AlignRight | Qt.AlignVCenter)


def banner_style(colour: str) -> str:
    """A tinted box with a coloured edge: problems under a heading, hard to miss, easy to read."""
    tint = QColor(colour)
    tint.setAlpha(40)
    rgba = f"rgba({tint.red()}, {tint.green()}, {tint.blue()}, {tint.alpha()})"
    return (f"background: {rgba}; color: {colour}; border-left: 3px solid {colour}; "
            f"border-radius: 3px; padding: 6px 8px;")
