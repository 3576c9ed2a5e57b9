"""The Training dock: what to train on and how, the Train / Pause / Stop buttons and progress.

The panel owns a `TrainingSession` (`panel.session`). `panel.train(graph, title)` starts it with
`panel.settings()`; with a document attached (`set_document`), the trained arrays go back into
it as one undo step "Train: N epochs (optimizer)" when the run finishes. Everything worth telling
the user is also emitted as `log(level, message, node)` for the problems / log panel.

Defaults come from the graph's metadata["training"], then the command line's defaults
(`nodestudio.train.settings`); `set_graph_metadata(metadata)` reloads them for a newly opened
document.
"""

from __future__ import annotations

import math
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from nodestudio.api.device import devices
from nodestudio.data import PREPROCESS_CHOICES, DatasetError, preprocess_choice
from nodestudio.data.dataset import DataNote
from nodestudio.graph.model import Graph
from nodestudio.gui.training.datasets import DatasetCombo
from nodestudio.gui.training.fields import (
    FieldSpec,
    NumberEdit,
    ParameterForm,
    fraction_box,
    positive,
    whole_box,
)
from nodestudio.gui.training.gibbs import GibbsStepsRow
from nodestudio.gui.training.session import BatchProgress, TrainingSession
from nodestudio.train.events import EpochEnd, History
from nodestudio.train.loop import FULLBATCH_METHODS, OPTIMIZER_NAMES, TrainingError
from nodestudio.train.regularise import Regularisation
from nodestudio.train.schedules import SCHEDULES
from nodestudio.train.settings import (
    SCHEDULE_PARAMETERS,
    TrainingSettings,
    hyperparameters,
    note_text,
)

# how a data note's suggested preprocessing is phrased here (the CLI names its flag)
PREPROCESS_HINT = "consider Preprocessing: {} (Training dock, Data)"


class TrainingPanel(QWidget):
    """Signals: `log(str level, str message, object node_or_None)` with level "info",
    "warning" or "error"; `node_failed(str)`: a failure that names a node (to select it);
    `running_changed(bool)`: a run started or ended; `finished_run(bool ok)`: after each run,
    True when it finished, False when it failed; `values_trained(dict, str)`: the trained
    arrays by node id and the undo text, after every successful run (already applied to the
    attached document, if any)."""

    log = Signal(str, str, object)
    node_failed = Signal(str)
    running_changed = Signal(bool)
    finished_run = Signal(bool)
    values_trained = Signal(dict, str)

    def __init__(self, document: Any = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = TrainingSession(self)
        self.document: Any = None  # a gui.document.Document, or None
        self._hyper_by_optimizer: dict[str, dict[str, Any]] = {}
        self._lr_by_optimizer: dict[str, str] = {}
        self._shown_optimizer: str | None = None
        self._metadata: dict[str, Any] | None = None  # the graph's, for optimizer defaults
        self._last_progress = ""
        self._busy: bool | None = None  # what running_changed said last
        self._build()
        self.session.state_changed.connect(self._state_changed)
        self.session.batch_progress.connect(self._progress)
        self.session.epoch_end.connect(self._epoch_end)
        self.session.finished.connect(self._finished)
        self.session.failed.connect(self._failed)
        self.session.data_note.connect(self._data_note)
        self.load_settings(TrainingSettings.from_metadata(None))
        self._state_changed("idle")
        if document is not None:
            self.set_document(document)

    # --- for the main window ---------------------------------------------------------------
    def attach_curves(self, curves: Any) -> None:
        """Let a CurvesPanel follow this panel's runs."""
        curves.connect_session(self.session)

    def set_epochs(self, epochs: int) -> None:
        self.epochs.setValue(epochs)

    def pause_or_resume(self) -> None:
        self._pause_clicked()

    def stop(self) -> None:
        self.session.stop()

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Closing the window: stop a run and wait for its thread (see TrainingSession)."""
        return self.session.shutdown(timeout)

    # --- building the form ----------------------------------------------------------------
    def _build(self) -> None:
        self.dataset = DatasetCombo()
        self.preprocess = QComboBox()
        for name, doc in PREPROCESS_CHOICES.items():
            self.preprocess.addItem(name)
            self.preprocess.setItemData(self.preprocess.count() - 1, doc,
                                        Qt.ItemDataRole.ToolTipRole)
        self.preprocess.setToolTip("How the features are prepared, fitted on the training "
                                   "split only (docs/DATASETS.md)")
        self.optimizer = QComboBox()
        self.optimizer.addItems(list(OPTIMIZER_NAMES))
        self.optimizer.currentTextChanged.connect(self._optimizer_changed)
        self.lr = NumberEdit(optional=True, low=0.0, tooltip="Starting learning rate; empty: "
                             "the optimizer's default")
        self.batch_size = whole_box(1, 1_000_000, "Examples per step")
        self.fullbatch_note = QLabel("Full-batch method: each step uses the whole training "
                                     "set and chooses its own step size.")
        self.fullbatch_note.setObjectName("muted")
        self.fullbatch_note.setWordWrap(True)

        self.schedule = QComboBox()
        self.schedule.addItems(list(SCHEDULES))
        self.schedule.currentTextChanged.connect(self._schedule_changed)

        self.epochs = whole_box(1, 100_000, "At most this many passes over the training set")
        self.early = QCheckBox("Stop early")
        self.early.setToolTip("Stop when the validation figure has not improved for "
                              "`patience` epochs; the best epoch's parameters are kept")
        self.patience = whole_box(1, 100_000, "Epochs without improvement before stopping")
        self.early.toggled.connect(self.patience.setEnabled)
        self.min_epochs = whole_box(0, 100_000, "Never stop early before this many epochs")

        self.l1 = NumberEdit(0.0, low=0.0, tooltip="Adds W × Σ|w| over the weight matrices")
        self.l2 = NumberEdit(0.0, low=0.0, tooltip="Adds W × Σw² over the weight matrices")
        self.input_noise = NumberEdit(0.0, low=0.0,
                                      tooltip="Std of Gaussian noise added to x in training")
        self.label_smoothing = fraction_box(0.99, "Smooth the labels of softmax cross-entropy")
        self.max_norm = NumberEdit(optional=True, check=positive, placeholder="off",
                                   tooltip="Rescale each weight column to at most this norm")
        self.drop_connect = fraction_box(0.95, "Drop each weight with this probability per step")
        self.shift = whole_box(0, 4, "Move 28×28 images by up to this many pixels")

        self.device = QComboBox()
        self.device.addItem("Automatic", None)
        try:
            for info in devices():
                self.device.addItem(f"{info.name} ({info.kind.upper()})", str(info.index))
                self.device.setItemData(self.device.count() - 1, str(info),
                                        Qt.ItemDataRole.ToolTipRole)
        except Exception as exc:  # noqa: BLE001  (no OpenCL: the panel still opens)
            self.device.setToolTip(f"No OpenCL device: {exc}")
        self.seed = whole_box(0, 2**31 - 1, "Data split and batch order")

        for combo in (self.dataset, self.preprocess, self.optimizer, self.schedule,
                      self.device):
            # long entries (device names, file paths) must not widen the dock
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(8)
        form = QWidget()
        self.form = QFormLayout(form)
        self.form.setContentsMargins(10, 4, 10, 10)
        self.form.setHorizontalSpacing(10)
        self.form.setVerticalSpacing(5)
        self.form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self._heading("Data")
        self.form.addRow("Dataset", self.dataset)
        self.form.addRow("Preprocessing", self.preprocess)
        self.form.addRow("Seed", self.seed)
        self._heading("Optimizer")
        self.form.addRow("Method", self.optimizer)
        self.form.addRow("Learning rate", self.lr)
        self.form.addRow("Batch size", self.batch_size)
        self.form.addRow(self.fullbatch_note)
        self.hyper = ParameterForm(self.form, self.lr)
        self._schedule_heading = self._heading("Learning-rate schedule")
        self.form.addRow("Schedule", self.schedule)
        self.schedule_form = ParameterForm(self.form, self.schedule)
        self._heading("Stopping")
        self.form.addRow("Epochs", self.epochs)
        self.form.addRow(self.early, self.patience)
        self.form.addRow("Min. epochs", self.min_epochs)
        self._regularisation_rows: list[QWidget] = [self._heading("Regularisation")]
        for label, widget in (("L1", self.l1), ("L2", self.l2), ("Input noise", self.input_noise),
                              ("Label smoothing", self.label_smoothing),
                              ("Max-norm", self.max_norm), ("DropConnect", self.drop_connect),
                              ("Shift (px)", self.shift)):
            self.form.addRow(label, widget)
            self._regularisation_rows.append(widget)
        self._heading("Device")
        self.form.addRow("OpenCL", self.device)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(form)

        self.train_button = QPushButton("Train")
        self.train_button.setObjectName("primary")
        self.train_button.clicked.connect(lambda: self.train())
        self.pause_button = QPushButton("Pause")
        self.pause_button.clicked.connect(self._pause_clicked)
        self.stop_button = QPushButton("Stop")
        self.stop_button.clicked.connect(self.session.stop)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(True)
        self.status = QLabel("")
        self.status.setObjectName("muted")
        self.status.setWordWrap(True)

        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button, 2)
        buttons.addWidget(self.pause_button, 1)
        buttons.addWidget(self.stop_button, 1)
        footer = QVBoxLayout()
        footer.setContentsMargins(10, 8, 10, 10)
        footer.setSpacing(6)
        footer.addLayout(buttons)
        self.gibbs = GibbsStepsRow(self.session)  # shown while an RBM trains
        footer.addWidget(self.gibbs)
        footer.addWidget(self.progress)
        footer.addWidget(self.status)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(scroll, 1)
        layout.addLayout(footer)

    def _heading(self, title: str) -> QLabel:
        heading = QLabel(title)
        heading.setObjectName("heading")
        if self.form.rowCount():
            heading.setContentsMargins(0, 10, 0, 0)  # air above every section but the first
        self.form.addRow(heading)
        return heading

    # --- settings in and out ---------------------------------------------------------------
    def set_document(self, document: Any) -> None:
        """Train this Document's graph by default and put the trained values back into it."""
        if self.document is not None:
            self.document.replaced.disconnect(self._document_replaced)
        self.document = document
        if document is not None:
            document.replaced.connect(self._document_replaced)  # File > Open, New
        self._document_replaced()

    def _document_replaced(self) -> None:
        graph = self.document.graph if self.document is not None else None
        self.set_graph_metadata(graph.metadata if graph is not None else None)

    def set_graph_metadata(self, metadata: dict[str, Any] | None) -> None:
        """Show the defaults of a newly opened graph (its metadata["training"], then the CLI's);
        the dataset, its preprocessing, the device and the seed stay as chosen unless the
        metadata names them."""
        keep = {"dataset": self.dataset.value(), "preprocess": self.preprocess.currentText(),
                "device": self.device.currentData(), "seed": self.seed.value()}
        stored = (metadata or {}).get("training") if isinstance(metadata, dict) else None
        stored = stored if isinstance(stored, dict) else {}
        try:
            settings = TrainingSettings.from_metadata(
                metadata, **{k: v for k, v in keep.items() if k not in stored})
        except TrainingError as exc:
            self.log.emit("warning", f"ignoring the graph's training settings: {exc}", None)
            settings = TrainingSettings.from_metadata(None, **keep)
        self._metadata = metadata if isinstance(metadata, dict) else None
        # what was typed for the previous graph does not carry over to this one
        self._hyper_by_optimizer.clear()
        self._lr_by_optimizer.clear()
        self._shown_optimizer = None
        self.load_settings(settings)

    def load_settings(self, s: TrainingSettings) -> None:
        """Fill every field from `s`."""
        self.dataset.select(s.dataset)
        try:  # "standardize" and the other spellings the settings accept
            self.preprocess.setCurrentText(preprocess_choice(s.preprocess))
        except DatasetError:  # already refused by the settings' check
            self.preprocess.setCurrentText("auto")
        self.seed.setValue(s.seed)
        self._hyper_by_optimizer[s.optimizer] = dict(s.hyper)
        self.optimizer.blockSignals(True)
        self.optimizer.setCurrentText(s.optimizer)
        self.optimizer.blockSignals(False)
        self._optimizer_changed(s.optimizer)
        self.lr.set_value(s.lr)
        self.batch_size.setValue(s.batch_size)
        self.schedule.blockSignals(True)
        self.schedule.setCurrentText(s.schedule)
        self.schedule.blockSignals(False)
        self._schedule_changed(s.schedule, s.schedule_params)
        self.epochs.setValue(s.epochs)
        self.early.setChecked(s.patience is not None)
        self.patience.setEnabled(s.patience is not None)
        self.patience.setValue(s.patience if s.patience is not None else 10)
        self.min_epochs.setValue(s.min_epochs)
        r = s.regularisation
        self.l1.set_value(r.l1)
        self.l2.set_value(r.l2)
        self.input_noise.set_value(r.input_noise)
        self.label_smoothing.setValue(r.label_smoothing)
        self.max_norm.set_value(r.max_norm)
        self.drop_connect.setValue(r.drop_connect)
        self.shift.setValue(r.shift)
        index = self.device.findData(s.device)
        self.device.setCurrentIndex(max(index, 0))

    def settings(self) -> TrainingSettings:
        """The settings shown; TrainingError naming the first field that is wrong."""
        try:
            lr = self.lr.value()
            hyper = self.hyper.values(only_changed=True)
            schedule_params = self.schedule_form.values()
            regularisation = Regularisation(
                l1=self.l1.value() or 0.0, l2=self.l2.value() or 0.0,
                input_noise=self.input_noise.value() or 0.0,
                label_smoothing=self.label_smoothing.value(), max_norm=self.max_norm.value(),
                drop_connect=self.drop_connect.value(), shift=self.shift.value())
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        hyper.pop("lr", None)  # the learning rate has its own field
        settings = TrainingSettings(
            dataset=self.dataset.value(), optimizer=self.optimizer.currentText(), lr=lr,
            hyper=hyper, schedule=self.schedule.currentText(),
            schedule_params=schedule_params, batch_size=self.batch_size.value(),
            epochs=self.epochs.value(),
            patience=self.patience.value() if self.early.isChecked() else None,
            min_epochs=self.min_epochs.value(), regularisation=regularisation,
            preprocess=self.preprocess.currentText(), device=self.device.currentData(),
            seed=self.seed.value())
        if settings.fullbatch:  # those fields are hidden: the method uses none of them
            settings = settings.replace(hyper={}, schedule="constant", schedule_params={},
                                        lr=None, regularisation=Regularisation())
        settings.check()
        return settings

    # --- training --------------------------------------------------------------------------
    def train(self, graph: Graph | None = None, title: str | None = None) -> bool:
        """Start training `graph` (the attached document's when None); False, with an error
        logged, when the settings are wrong or a run is going already."""
        chosen = self.graph_to_run(graph, title, "train")
        if chosen is None:
            return False
        graph, title = chosen
        try:
            settings = self.settings()
        except TrainingError as exc:
            self.log.emit("error", f"cannot train: {exc}", None)
            self.status.setText(str(exc))
            return False
        self.session.start(graph, settings, title)
        self.log.emit("info", f"Training {title}: {settings.describe()}", None)
        return True

    def graph_to_run(self, graph: Graph | None, title: str | None,
                     verb: str) -> tuple[Graph, str] | None:
        """`graph` (the attached document's when None) and its title, or None with the reason
        logged: no graph, or a run going already. Train and Pretrain start through it."""
        if graph is None and self.document is not None:
            graph, title = self.document.graph, title or self.document.title
        if graph is None:
            self.log.emit("error", f"no graph to {verb}", None)
            return None
        if self.session.running:
            self.log.emit("warning", "a training run is already in progress", None)
            return None
        return graph, title or "graph"

    def _pause_clicked(self) -> None:
        if self.session.state == "paused":
            self.session.resume()
        else:
            self.session.pause()

    def _state_changed(self, state: str) -> None:
        busy = state != "idle"
        if busy != self._busy:
            self._busy = busy
            self.running_changed.emit(busy)
        self.train_button.setEnabled(not busy)
        self.pause_button.setEnabled(state in ("running", "paused"))
        self.pause_button.setText("Resume" if state == "paused" else "Pause")
        self.stop_button.setEnabled(busy and state != "stopping")
        if state == "compiling":
            self.progress.setRange(0, 0)  # busy: the length of a compile is unknown
            self.progress.setFormat("Compiling…")
            self.status.setText("")
        elif state == "paused":
            self.progress.setFormat("Paused · " + self._last_progress)
        elif state == "stopping":
            self.progress.setFormat("Stopping after this step…")

    def _progress(self, p: BatchProgress) -> None:
        if self.session.state not in ("running",):
            return
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(1000 * p.fraction))
        layer, settings = self.session.layer, self.session.settings
        if self.session.pretraining is not None and layer is not None and settings is not None:
            from nodestudio.gui.training.pretrain import layer_progress_text
            self._last_progress = layer_progress_text(layer, p, settings.epochs)
        else:
            self._last_progress = progress_text(p)
        self.progress.setFormat(self._last_progress)

    def _epoch_end(self, event: EpochEnd) -> None:
        r = event.record
        best = " ★" if event.best_epoch == r.epoch else ""
        text = (f"Epoch {r.epoch}: train loss {r.train_loss:.4f}{_pct(r.train_error)}"
                + (f" · valid loss {r.valid_loss:.4f}{_pct(r.valid_error)}"
                   if r.valid_loss is not None else "") + best)
        self.log.emit("info", text, None)
        settings = self.session.settings
        if settings is not None and self.session.state == "running" and \
                self.session.pretraining is None:  # pretraining: the batch progress says
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(1000 * min(1.0, r.epoch / settings.epochs)))

    def _finished(self, history: History) -> None:
        settings = self.session.settings
        n = len(history.epochs)
        optimizer = settings.optimizer if settings is not None else "?"
        text = f"Train: {n} epoch{'s' if n != 1 else ''} ({optimizer})"
        values = dict(self.session.values)
        pretraining = self.session.pretraining is not None  # gui/training/pretrain.py: its
        if self.document is not None and values and n and settings is not None and \
                not pretraining:  # own undo step and metadata["pretraining"]
            # nodes deleted meanwhile get nothing; the settings are kept with the graph
            kept = settings.to_metadata()
            kept.pop("device", None)  # which device is a property of the machine, not the graph
            self.document.apply_training(values, kept, text)
        if values and n:
            self.values_trained.emit(values, text)
        test = (f"test error {100 * history.test_error:.2f}%" if history.test_error is not None
                else f"test loss {history.test_loss:.4g}" if history.test_loss is not None
                else "no test figures")
        summary = (f"Finished after {n} epoch{'s' if n != 1 else ''} "
                   f"({_REASONS.get(history.stop_reason, history.stop_reason)}) in "
                   f"{_duration(history.seconds)}; best epoch {history.best_epoch}, {test}")
        self.log.emit("info", summary, None)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000 if history.stop_reason != "stopped" else
                               self.progress.value())
        self.progress.setFormat(f"Done · {test}")
        self.status.setText(summary)
        self.finished_run.emit(True)

    def _data_note(self, note: DataNote) -> None:
        """What the data needed or what 'auto' did to it, from the run being prepared."""
        self.log.emit(note.level, note_text(note, PREPROCESS_HINT), None)

    def _failed(self, message: str, node: object) -> None:
        self.log.emit("error", f"Training failed: {message}", node)
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setFormat("Failed")
        self.status.setText(message)
        if isinstance(node, str):
            self.node_failed.emit(node)
        self.finished_run.emit(False)

    # --- choices -----------------------------------------------------------------------------
    def _optimizer_changed(self, name: str) -> None:
        previous = self._shown_optimizer
        if previous is not None and previous != name:
            # each optimizer keeps the values typed for it: Adam's rate is not SGD's
            self._hyper_by_optimizer[previous] = self.hyper.texts()
            self._lr_by_optimizer[previous] = self.lr.text()
            if name not in self._lr_by_optimizer:
                # first shown: the graph's values when it is the graph's optimizer, else the
                # optimizer's own defaults (the CLI's --optimizer rule, one function for both)
                lr, hyper = self._stored_for(name)
                self._lr_by_optimizer[name] = "" if lr is None else f"{lr:.6g}"
                self._hyper_by_optimizer.setdefault(name, hyper)
            self.lr.setText(self._lr_by_optimizer[name])
        self._shown_optimizer = name
        specs = [FieldSpec(h.name, h.default, h.doc, h.check) for h in hyperparameters(name)
                 if h.name != "lr"]
        self.hyper.set_fields(specs, self._hyper_by_optimizer.get(name, {}))
        full = name in FULLBATCH_METHODS
        default_lr = next((h.default for h in hyperparameters(name) if h.name == "lr"), None)
        self.lr.setPlaceholderText(f"default {default_lr:g}" if default_lr is not None else "")
        # full-batch methods use neither rates, batches nor regularisation (a TrainingError)
        for widget in (self.lr, self.batch_size, self._schedule_heading, self.schedule,
                       *self._regularisation_rows):
            self.form.setRowVisible(widget, not full)
        self.form.setRowVisible(self.fullbatch_note, full)
        self.schedule_form.set_visible(not full)

    def _stored_for(self, optimizer: str) -> tuple[float | None, dict[str, Any]]:
        """The learning rate and hyperparameters `optimizer` starts from with this graph."""
        try:
            s = TrainingSettings.from_metadata(self._metadata, optimizer=optimizer)
        except TrainingError:  # already reported by set_graph_metadata
            return None, {}
        return s.lr, dict(s.hyper)

    def _schedule_changed(self, name: str, values: dict[str, Any] | None = None) -> None:
        specs = [FieldSpec(p.name, p.default, p.doc, positive, p.whole)
                 for p in SCHEDULE_PARAMETERS.get(name, ())]
        self.schedule_form.set_fields(specs, values)
        self.schedule_form.set_visible(self.optimizer.currentText() not in FULLBATCH_METHODS)


def progress_text(p: BatchProgress) -> str:
    """"Epoch 3 / 30 · 12,400 samples/s · 0:42 left"."""
    text = f"Epoch {p.epoch} / {p.epochs} · {p.samples_per_second:,.0f} samples/s"
    left = p.seconds_left
    return text + (f" · {_duration(left)} left" if left is not None else "")


def _duration(seconds: float) -> str:
    seconds = max(0, int(math.ceil(seconds)))
    hours, rest = divmod(seconds, 3600)
    return (f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours
            else f"{rest // 60}:{rest % 60:02d}")


def _pct(value: float | None) -> str:
    return "" if value is None else f", error {100 * value:.2f}%"


_REASONS = {"epochs": "all epochs done", "patience": "early stopping", "converged": "converged",
            "stopped": "stopped by the user", "diverged": "diverged", "error": "error"}


__all__ = ["TrainingPanel", "progress_text"]
