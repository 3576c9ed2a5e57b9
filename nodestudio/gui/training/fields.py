"""Editors for the Training panel's numbers: validated as typed, red border when wrong.

`NumberEdit` takes scientific notation (learning rates such as 3e-4 do not fit a spin box) and
an optional check of its own; `ParameterForm` is a form of named values (an optimizer's
hyperparameters, a schedule's parameters) rebuilt whenever the choice above it changes.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QLocale, QObject, Signal
from PySide6.QtGui import QDoubleValidator, QValidator
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QSpinBox,
    QWidget,
)

Check = Callable[[Any], str | None]  # what is wrong with a value, or None


class NumberEdit(QLineEdit):
    """A float (or whole number) field. Empty means None when `optional`, shown with the
    placeholder (e.g. the default it stands for). `problem()` says what is wrong, if anything;
    the `invalid` property drives the style sheet's red border."""

    edited = Signal()

    def __init__(self, value: float | None = None, *, whole: bool = False,
                 optional: bool = False, check: Check | None = None,
                 low: float = -math.inf, placeholder: str = "", tooltip: str = ""):
        super().__init__()
        self.whole, self.optional, self.check, self.low = whole, optional, check, low
        validator = QDoubleValidator(self)
        validator.setNotation(QDoubleValidator.Notation.ScientificNotation)
        validator.setLocale(QLocale.c())  # "0.1" whatever the user's locale: float() reads it
        self.setValidator(validator)
        self.setPlaceholderText(placeholder)
        self._tooltip = tooltip
        self.setToolTip(tooltip)
        self.set_value(value)
        self.textChanged.connect(self._changed)

    def set_value(self, value: float | str | None) -> None:
        """A number, None (empty) or text as typed (kept even when it is wrong)."""
        self.setText("" if value is None else value if isinstance(value, str)
                     else _format(value, self.whole))
        self._changed()

    def value(self) -> float | int | None:
        """The number typed; ValueError when there is none or it is wrong (see problem())."""
        problem = self.problem()
        if problem is not None:
            raise ValueError(problem)
        text = self.text().strip()
        if not text:
            return None
        number = float(text)
        return int(number) if self.whole else number

    def problem(self) -> str | None:
        text = self.text().strip()
        if not text:
            return None if self.optional else "a number is needed"
        state = self.validator().validate(text, 0)[0]
        try:
            number = float(text)
        except ValueError:
            return f"{text!r} is not a number"
        if state == QValidator.State.Invalid or not math.isfinite(number):
            return f"{text!r} is not a number"
        if self.whole and number != int(number):
            return f"{text} is not a whole number"
        if number < self.low:
            return f"must be at least {self.low:g}"
        if self.check is not None:
            return self.check(int(number) if self.whole else number)
        return None

    def _changed(self) -> None:
        problem = self.problem()
        if self.property("invalid") != (problem is not None):
            self.setProperty("invalid", problem is not None)
            self.style().unpolish(self)  # re-read the style sheet for the new property
            self.style().polish(self)
        self.setToolTip(self._tooltip + (f"\n⚠ {problem}" if problem else ""))
        self.edited.emit()


@dataclass(frozen=True)
class FieldSpec:
    """One row of a ParameterForm."""

    name: str
    default: Any
    doc: str
    check: Check | None = None
    whole: bool = False


class ParameterForm(QObject):
    """Rows of named values in a QFormLayout, placed right under the row of `anchor` (so they
    share the form's label column); `set_fields(specs, values)` replaces them for another
    choice, `set_visible` hides them with the option that owns them."""

    changed = Signal()

    def __init__(self, form: QFormLayout, anchor: QWidget):
        super().__init__(anchor)
        self.form, self.anchor = form, anchor
        self.editors: dict[str, NumberEdit | QComboBox] = {}
        self._specs: dict[str, FieldSpec] = {}
        self._visible = True

    def set_fields(self, specs: Iterable[FieldSpec], values: Mapping[str, Any] | None = None
                   ) -> None:
        for editor in self.editors.values():
            self.form.removeRow(editor)  # deletes the label and the editor
        self.editors, self._specs = {}, {}
        values = values or {}
        row = self.form.getWidgetPosition(self.anchor)[0]
        for spec in specs:
            value = values.get(spec.name, spec.default)
            options = _choices(spec.check) if isinstance(spec.default, str) else None
            if options:
                editor: NumberEdit | QComboBox = QComboBox()
                editor.addItems(list(options))
                editor.setCurrentText(str(value))
                editor.setToolTip(spec.doc)
                editor.currentTextChanged.connect(self.changed)
            else:
                editor = NumberEdit(value, whole=spec.whole, check=spec.check, tooltip=spec.doc)
                editor.edited.connect(self.changed)
            row += 1
            self.form.insertRow(row, _label(spec.name), editor)
            self.form.setRowVisible(editor, self._visible)
            self.editors[spec.name] = editor
            self._specs[spec.name] = spec

    def set_visible(self, visible: bool) -> None:
        self._visible = visible
        for editor in self.editors.values():
            self.form.setRowVisible(editor, visible)

    def values(self, only_changed: bool = False) -> dict[str, Any]:
        """Name -> value; ValueError naming the first bad field. With `only_changed`, the
        values equal to their defaults are left out."""
        out: dict[str, Any] = {}
        for name, editor in self.editors.items():
            if isinstance(editor, QComboBox):
                value: Any = editor.currentText()
            else:
                try:
                    value = editor.value()
                except ValueError as exc:
                    raise ValueError(f"{_label(name)}: {exc}") from None
            if not (only_changed and value == self._specs[name].default):
                out[name] = value
        return out

    def texts(self) -> dict[str, str]:
        """Name -> text as typed, wrong or not (to show it again after another choice)."""
        return {name: e.currentText() if isinstance(e, QComboBox) else e.text()
                for name, e in self.editors.items()}

    def problems(self) -> list[str]:
        return [f"{_label(n)}: {e.problem()}" for n, e in self.editors.items()
                if isinstance(e, NumberEdit) and e.problem() is not None]


def positive(value: Any) -> str | None:
    """A check for values that must be above 0 (a max-norm, a schedule's factor)."""
    return None if value > 0 else "must be greater than 0"


def whole_box(low: int, high: int, tooltip: str) -> QSpinBox:
    box = QSpinBox()
    box.setRange(low, high)
    box.setToolTip(tooltip)
    box.setGroupSeparatorShown(True)
    return box


def fraction_box(high: float, tooltip: str) -> QDoubleSpinBox:
    box = QDoubleSpinBox()
    box.setRange(0.0, high)
    box.setDecimals(3)
    box.setSingleStep(0.05)
    box.setToolTip(tooltip)
    return box


def _choices(check: Check | None) -> tuple[str, ...] | None:
    """The options of a `choice(...)` check (nodestudio/train/optimizers.py), read from its
    closure so that the form offers a combo box instead of free text."""
    if check is None:
        return None
    options = inspect.getclosurevars(check).nonlocals.get("options")
    return tuple(options) if isinstance(options, tuple) else None


_LABELS = {"lr": "Learning rate", "lr_tau": "Final rate", "tau": "Decay steps",
           "every": "Every (steps)", "eps": "Epsilon", "beta1": "Beta 1", "beta2": "Beta 2"}


def _label(name: str) -> str:
    """"initial_accumulator_value" -> "Initial accumulator value"."""
    if name in _LABELS:
        return _LABELS[name]
    text = name.replace("_", " ")
    return text[:1].upper() + text[1:]


def _format(value: float, whole: bool) -> str:
    if whole:
        return str(int(value))
    return f"{float(value):.6g}"


__all__ = ["FieldSpec", "NumberEdit", "ParameterForm", "fraction_box", "positive", "whole_box"]
