"""The toolbar's word on what Train will do with the graph: which output it minimises and from
which inputs, whether that was marked or inferred, or what is missing. One click marks an
inferred loss, or applies the first fix of a problem; the full list of fixes comes when Train
is pressed."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget

from nodestudio.gui.document import Document
from nodestudio.gui.theme import signals as theme_signals
from nodestudio.gui.theme import theme
from nodestudio.train.roles import Fix, mark_output


class RolesHint(QWidget):
    """Follows the document's annotation; `text()` is what it says, `button` its one action."""

    def __init__(self, document: Document, parent: QWidget | None = None):
        super().__init__(parent)
        self.document = document
        self.setObjectName("rolesHint")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 0, 4, 0)
        layout.setSpacing(8)
        self.label = QLabel()
        self.label.setTextFormat(Qt.PlainText)
        self.button = QPushButton()
        self.button.setFlat(True)
        self.button.clicked.connect(self._act)
        layout.addWidget(self.label)
        layout.addWidget(self.button)
        self._fix: Fix | None = None
        document.annotated.connect(self.refresh)
        document.replaced.connect(self.refresh)
        theme_signals.theme_changed.connect(self._theme_changed)  # a method: goes with us
        self.refresh()

    def _theme_changed(self, _theme: object) -> None:
        self.refresh()

    def text(self) -> str:
        return self.label.text()

    def refresh(self) -> None:
        graph, roles = self.document.graph, self.document.roles
        t = theme()
        self._fix = None
        if not graph.nodes:
            message, colour = "Drag ops from the palette, or File > New from Template", t.muted
        elif roles.problems:
            problem = roles.problems[0]
            message, colour = f"Train needs: {problem.message}", t.warning
            self._fix = problem.fixes[0] if problem.fixes else None
        elif roles.loss is not None and graph.outputs.get("loss") != roles.loss:
            message, colour = f"Train will minimise {roles.loss} (inferred)", t.muted
            self._fix = Fix(f"Mark {roles.loss} as the loss",
                            lambda g, ref=roles.loss: mark_output(g, "loss", ref))
        else:
            message, colour = f"Train minimises {roles.loss}", t.muted
        if len(message) > 110:  # the toolbar is not the place for a paragraph
            message = message[:108] + "…"
        self.label.setText(message)
        self.label.setToolTip("\n".join([*(str(p) for p in roles.problems), *roles.inferred]))
        self.label.setStyleSheet(f"color: {colour};")
        self.button.setVisible(self._fix is not None)
        if self._fix is not None:
            self.button.setText(self._fix.label)

    def _act(self) -> None:
        if self._fix is not None:
            self.document.apply_fix(self._fix)
