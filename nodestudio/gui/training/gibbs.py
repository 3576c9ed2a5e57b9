"""The Training dock's Gibbs-steps row: raise contrastive divergence's k during a run.

Shown only while an RBM trains (Train on an RBM's cost, Train > Pretrain by rbm or dbn): a spin
box holding the k the run uses now and an Apply button that makes the run use the spin box's k
from its next epoch on (`TrainingSession.set_gibbs_steps`, the strategy's `set_k`). CD-1 learns
fast at first and its gradient grows biased as the model sharpens; raising k then is the usual
remedy (Hinton, "A practical guide to training RBMs", 3.2).
"""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSpinBox, QWidget

from nodestudio.errors import NodeStudioError

MAX_K = 10_000  # rbm_layer's own limit on k


class GibbsStepsRow(QWidget):
    """See the module docstring. `refresh()` follows the session (called on its signals);
    `pending` is the k applied and not yet run, if any."""

    def __init__(self, session, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("gibbs_steps_row")
        self.session = session
        self.pending: int | None = None
        self._shown_k: int | None = None
        self.label = QLabel("Gibbs steps k")
        self.spin = QSpinBox()
        self.spin.setRange(1, MAX_K)
        self.spin.setToolTip("Gibbs steps of contrastive divergence (CD-k / PCD-k): Apply "
                             "makes the run use this k from its next epoch on")
        self.apply = QPushButton("Apply")
        self.apply.setToolTip("Use this k from the next epoch on")
        self.apply.clicked.connect(self._apply)
        self._edited = self._following = False  # typed by the user / set by refresh()
        self.spin.valueChanged.connect(lambda _: self._spin_changed())
        self.note = QLabel("")
        self.note.setObjectName("muted")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.label)
        layout.addWidget(self.spin)
        layout.addWidget(self.apply)
        layout.addWidget(self.note, 1)
        for signal in (session.layer_started, session.batch_progress, session.epoch_end,
                       session.state_changed):
            signal.connect(lambda *_: self.refresh())
        self.setVisible(False)

    def refresh(self) -> None:
        k = self.session.gibbs_steps() if self.session.state != "idle" else None
        self.setVisible(k is not None)
        if k is None:
            self.pending = self._shown_k = None
            self._edited = False
            return
        if self.pending is not None and k == self.pending:
            self.pending = None  # the run has reached it
        if k != self._shown_k:
            self._shown_k = k
            if not self._edited:  # follow the run's k unless the user is choosing another
                self._set_spin(k)
        self._show()

    def _set_spin(self, k: int) -> None:
        self._following = True
        self.spin.setValue(k)
        self._following = False

    def _spin_changed(self) -> None:
        if not self._following:
            self._edited = True
        self._show()

    def _show(self) -> None:
        self.note.setText(f"k = {self.pending} from the next epoch" if self.pending is not None
                          else f"now {self._shown_k}" if self._shown_k is not None else "")
        wanted = self.pending if self.pending is not None else self._shown_k
        self.apply.setEnabled(self.spin.value() != wanted)

    def _apply(self) -> None:
        k = self.spin.value()
        try:
            self.session.set_gibbs_steps(k)
        except NodeStudioError as exc:  # the run ended between the click and now
            self.note.setText(str(exc))
            return
        self.pending = None if k == self._shown_k else k
        self._edited = False
        self._show()


__all__ = ["GibbsStepsRow"]
