"""One editor widget per attribute kind, behind a common interface the inspector's form uses.

Each `AttrEditor` parses what the user typed into the value the op expects (with the same
`AttrDef.check` the document uses, so the messages match), shows a value coming from the
document without echoing it back as an edit, and can be marked invalid (the style sheet draws
editors with the dynamic property `invalid=true` in the error colour).
"""

from __future__ import annotations

import ast
import re
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QWidget

from nodestudio.errors import GraphError
from nodestudio.graph.limits import brief
from nodestudio.graph.model import plain
from nodestudio.ops.registry import AttrDef

INT_LIMIT = 2**31 - 1  # QSpinBox holds a C int


class AttrEditor(QObject):
    """Adapter around one widget. `edited` fires when the user finished a change (Enter, focus
    out, a toggle, a pick): the form then reads `value()` and commits it. Each subclass below
    defines `_raw()` (what the widget holds) and `_show(value)` (put a value in the widget)."""

    edited = Signal()

    def __init__(self, attr: AttrDef, widget: QWidget, node_id: str):
        super().__init__(widget)
        self.attr, self.widget, self.node_id = attr, widget, node_id
        widget.setObjectName(f"attr_{attr.name}")
        widget.setToolTip(attr.doc)

    def value(self) -> Any:
        """The edited value, normalised; GraphError with the reason when it is not valid."""
        return self.attr.check(self._raw(), self.node_id)

    def show_value(self, value: Any) -> None:
        """Display a value from the document; never emits `edited`."""
        blocked = self.widget.blockSignals(True)
        try:
            self._show(value)
        except (TypeError, ValueError, OverflowError, RecursionError):
            # a value from a file that this editor cannot hold (a NaN seed, `shape: true`):
            # the node's problem says what is wrong; the editor shows what it can
            self._show_unusable(value)
        finally:
            self.widget.blockSignals(blocked)

    def _show_unusable(self, value: Any) -> None:
        """Show a value `_show` refused (the widget keeps its state by default)."""

    def set_invalid(self, invalid: bool) -> None:
        if bool(self.widget.property("invalid")) == invalid:
            return
        self.widget.setProperty("invalid", invalid)
        style = self.widget.style()  # re-polish so the [invalid="true"] rule applies
        style.unpolish(self.widget)
        style.polish(self.widget)
        self.widget.update()

    def is_being_typed_in(self) -> bool:
        """True while the user has focus here with text not yet committed: a refresh from the
        document must not overwrite it."""
        return False


class _TextEditor(AttrEditor):
    """Line edits: the value is committed on Enter or when focus leaves."""

    def __init__(self, attr: AttrDef, node_id: str, placeholder: str = ""):
        self.line = QLineEdit()
        self.line.setPlaceholderText(placeholder)
        super().__init__(attr, self.line, node_id)
        self.line.editingFinished.connect(self.edited)
        self._shown = ""

    def _raw(self) -> Any:
        return self.line.text().strip()

    def _show(self, value: Any) -> None:
        self._shown = self.format(value)
        self.line.setText(self._shown)
        self.line.setCursorPosition(0)

    def format(self, value: Any) -> str:
        return str(value)

    def _show_unusable(self, value: Any) -> None:
        self._shown = brief(value)
        self.line.setText(self._shown)

    def is_being_typed_in(self) -> bool:
        return self.line.hasFocus() and self.line.text() != self._shown


class FloatEditor(_TextEditor):
    """Accepts anything Python's float() does: 0.001, 1e-3, -2.5E+2."""

    def __init__(self, attr: AttrDef, node_id: str):
        super().__init__(attr, node_id, placeholder="e.g. 0.01 or 1e-3")

    def format(self, value: Any) -> str:
        try:
            return repr(float(value))  # shortest text that reads back to the same float
        except (TypeError, ValueError):
            return str(value)


class ShapeEditor(_TextEditor):
    """'B, 784' or 'None, 784' (a dimension given at run time); '' is a scalar."""

    def __init__(self, attr: AttrDef, node_id: str):
        super().__init__(attr, node_id, placeholder="e.g. B, 784")

    def format(self, value: Any) -> str:
        if value is None:
            return ""
        return ", ".join("B" if d is None else str(d) for d in plain(value))

    def _raw(self) -> Any:
        return tuple(_parse_dim(token, self.attr, self.node_id)
                     for token in _tokens(self.line.text()))


class AxesEditor(_TextEditor):
    """'0, 1' or '-1'; empty means "all axes" where the op allows it (default None)."""

    def __init__(self, attr: AttrDef, node_id: str):
        hint = "empty: all axes" if attr.default is None else "e.g. 0, 1"
        super().__init__(attr, node_id, placeholder=hint)

    def format(self, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, int):
            return str(value)
        return ", ".join(str(v) for v in plain(value))

    def _raw(self) -> Any:
        tokens = _tokens(self.line.text())
        if not tokens:
            return None if self.attr.default is None else ()
        return tuple(_parse_int(token, self.attr, self.node_id) for token in tokens)


class LiteralEditor(_TextEditor):
    """Attributes of kind 'any' (e.g. slices): a Python literal such as ((0, 10, None),)."""

    def format(self, value: Any) -> str:
        return repr(value)

    def _raw(self) -> Any:
        text = self.line.text().strip()
        try:
            return ast.literal_eval(text) if text else self.attr.default
        except (ValueError, SyntaxError) as exc:
            raise GraphError(f"attribute {self.attr.name!r} expects a Python literal such as "
                             f"((0, 10, None),), got {text!r}", node=self.node_id) from exc


class StringEditor(_TextEditor):
    pass


class IntEditor(AttrEditor):
    def __init__(self, attr: AttrDef, node_id: str):
        self.spin = QSpinBox()
        low = -INT_LIMIT if attr.low is None else int(max(attr.low, -INT_LIMIT))
        high = INT_LIMIT if attr.high is None else int(min(attr.high, INT_LIMIT))
        self.spin.setRange(low, high)
        if attr.special:
            self.spin.setSpecialValueText(attr.special)  # shown for the lowest value
        self.spin.setKeyboardTracking(False)  # no commit per keystroke
        super().__init__(attr, self.spin, node_id)
        self.spin.editingFinished.connect(self.edited)

    def _raw(self) -> Any:
        return self.spin.value()

    def _show(self, value: Any) -> None:
        # a file's value beyond the box (its problem says so) is shown at the box's end
        self.spin.setValue(min(max(int(value), self.spin.minimum()), self.spin.maximum()))
        self.spin.lineEdit().setModified(False)  # what is shown now is the document's value

    def is_being_typed_in(self) -> bool:
        return self.spin.hasFocus() and self.spin.lineEdit().isModified()


class BoolEditor(AttrEditor):
    def __init__(self, attr: AttrDef, node_id: str):
        self.box = QCheckBox(attr.doc)  # the doc beside the box: a larger target, and helpful
        super().__init__(attr, self.box, node_id)
        self.box.toggled.connect(self.edited)

    def _raw(self) -> Any:
        return self.box.isChecked()

    def _show(self, value: Any) -> None:
        self.box.setChecked(bool(value))


class ChoiceEditor(AttrEditor):
    def __init__(self, attr: AttrDef, node_id: str):
        self.combo = QComboBox()
        for choice in attr.choices:
            self.combo.addItem(str(choice), choice)
        super().__init__(attr, self.combo, node_id)
        self.combo.currentIndexChanged.connect(self.edited)

    def _raw(self) -> Any:
        return self.combo.currentData()

    def _show(self, value: Any) -> None:
        index = self.combo.findData(value)
        if index < 0:  # a value from a file that is no longer a choice: show it, flag it
            self.combo.addItem(str(value), value)
            index = self.combo.count() - 1
        self.combo.setCurrentIndex(index)


EDITORS: dict[str, type[AttrEditor]] = {
    "int": IntEditor, "float": FloatEditor, "bool": BoolEditor, "choice": ChoiceEditor,
    "shape": ShapeEditor, "axes": AxesEditor, "any": LiteralEditor, "str": StringEditor,
}


def make_editor(attr: AttrDef, node_id: str) -> AttrEditor:
    """The editor for one attribute; a choice list wins over the declared kind."""
    kind = "choice" if attr.choices else attr.kind
    return EDITORS.get(kind, LiteralEditor)(attr, node_id)


def _tokens(text: str) -> list[str]:
    """'B, 784', 'B x 784', '(None, 784)' and '[2 3]' all give ['B', '784']."""
    text = re.sub(r"\s+[x×]\s+", ",", text.strip().strip("()[]"))
    return [t for t in re.split(r"[,\s]+", text) if t]


def _parse_dim(token: str, attr: AttrDef, node_id: str) -> int | None:
    if token.lower() in ("b", "none", "?", "n"):
        return None
    return _parse_int(token, attr, node_id)


def _parse_int(token: str, attr: AttrDef, node_id: str) -> int:
    try:
        return int(token)
    except ValueError:
        raise GraphError(f"attribute {attr.name!r}: {token!r} is not a whole number",
                         node=node_id) from None
