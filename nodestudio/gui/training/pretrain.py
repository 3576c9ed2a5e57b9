"""Train > Pretrain: pretraining the layers of the document in the studio.

The dialog (`PretrainDialog`) asks for the method (the table of nodestudio/train/pretrain.py:
rbm, sae, dae, dbn, supervised), the layers (those selected on the canvas, else the whole stack
of the method's layer kind), epochs per layer, the Gibbs steps k of the RBMs (empty: each
layer's own), the optimizer, its learning rate and the batch size; its defaults come from the
graph's metadata["pretraining"]. The dataset, preprocessing, seed and device are the Training
dock's. `Pretrainer.start(request)` runs it through the Training dock's `TrainingSession`, on
the training thread like Train, so Pause / Stop and the progress bar work as for training; the
session's `layer_started` says which layer trains now (the Pretraining panel lists the layers
with their figures, the Filters panel turns to that layer's weights). When the run finishes,
the pretrained values go into the document as one undo step "Pretrain rbm: ..." and the
settings into metadata["pretraining"]; Train then fine-tunes from them.

`rbm` trains every RBM of the graph together by contrastive divergence (CD-k or PCD-k as each
layer says); a selection of some of them is pretrained one layer at a time, as `dbn` does.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from nodestudio.graph.model import Graph
from nodestudio.gui.training.fields import NumberEdit, whole_box
from nodestudio.train.events import History
from nodestudio.train.loop import FULLBATCH_METHODS, OPTIMIZER_NAMES, TrainingError
from nodestudio.train.pretrain import METHODS, parse_k
from nodestudio.train.regularise import Regularisation
from nodestudio.train.settings import TrainingSettings

if TYPE_CHECKING:
    from nodestudio.gui.training.panel import TrainingPanel

# the layer op each method trains
METHOD_OPS = {"rbm": "rbm_layer", "dbn": "rbm_layer", "sae": "autoencoder_layer",
              "dae": "autoencoder_layer", "supervised": "dense_layer"}
DEFAULTS = {"method": "rbm", "epochs": 5, "optimizer": "sgd", "lr": 0.1, "batch_size": 20}
MINIBATCH_OPTIMIZERS = tuple(name for name in OPTIMIZER_NAMES if name not in FULLBATCH_METHODS)


# how the status line names an RBM's monitoring figures (their keys in EpochRecord.metrics)
_FIGURE_WORDS = {"recon": "recon", "free_energy_gap": "free-energy gap",
                 "pseudo_likelihood": "pseudo-likelihood"}


@dataclass(frozen=True)

class PretrainRequest:
    """What to pretrain and how. `layers`: node ids, or None for the whole stack; `k`: the
    RBMs' Gibbs steps, a schedule {first epoch: k} (raising k as training goes on), or None
    for each layer's own."""

    method: str = "rbm"
    layers: tuple[str, ...] | None = None
    epochs: int = 5
    optimizer: str = "sgd"
    lr: float | None = 0.1
    batch_size: int = 20
    k: int | Mapping[int, int] | None = None

    def strategy(self, graph: Graph) -> Any:
        """The training strategy that runs it (a fresh one per run)."""
        from nodestudio.train.pretrain import make_strategy
        from nodestudio.train.strategies.layerwise import LayerwiseStrategy
        stack = stack_layers(graph, self.method)
        partial = self.layers is not None and set(self.layers) != set(stack)
        if self.method == "rbm" and not partial:
            return make_strategy("rbm", {"k": self.k})
        method = "dbn" if self.method == "rbm" else self.method  # some RBMs: one at a time
        if self.k is not None and method != "dbn":
            raise TrainingError(f"k sets the Gibbs steps of RBMs; {self.method} trains none")
        return LayerwiseStrategy(method, layers=list(self.layers) if partial else None,
                                 k=self.k)

    def settings(self, base: TrainingSettings) -> TrainingSettings:
        """The Training dock's data, seed and device with this request's optimisation (no
        regularisation, no early stopping: each layer trains its own objective)."""
        return base.replace(optimizer=self.optimizer, lr=self.lr, hyper={},
                            schedule="constant", schedule_params={},
                            batch_size=self.batch_size, epochs=self.epochs, patience=None,
                            min_epochs=0, regularisation=Regularisation())

    def to_metadata(self) -> dict[str, Any]:
        out: dict[str, Any] = {"method": self.method, "epochs": self.epochs,
                               "optimizer": self.optimizer, "batch_size": self.batch_size}
        if self.lr is not None:
            out["lr"] = self.lr
        if self.k is not None:
            out["k"] = k_text(self.k)
        return out

    def describe(self) -> str:
        what = ", ".join(self.layers) if self.layers else "the whole stack"
        k = f", k {k_text(self.k)}" if self.k is not None else ""
        lr = f", lr {self.lr:g}" if self.lr is not None else ""
        return (f"{self.method} on {what}: {self.epochs} epoch{'s' * (self.epochs != 1)} per "
                f"layer, {self.optimizer}{lr}, batch {self.batch_size}{k}")


def k_text(k: int | Mapping[int, int]) -> str:
    """k as --k and the dialog write it: "3", or "1:1,5:3" for a schedule."""
    if isinstance(k, Mapping):
        return ",".join(f"{epoch}:{value}" for epoch, value in sorted(k.items()))
    return str(k)


def stack_layers(graph: Graph, method: str) -> list[str]:
    """The nodes `method` pretrains, bottom first."""
    op = METHOD_OPS[method]
    return [n for n in graph.topological_order() if graph.nodes[n].op == op]


def stored_request(metadata: Any) -> PretrainRequest:
    """The graph's metadata["pretraining"] as a request (what it lacks or gets wrong: the
    defaults)."""
    stored = metadata.get("pretraining") if isinstance(metadata, dict) else None
    stored = stored if isinstance(stored, dict) else {}
    values = dict(DEFAULTS)
    for key, kind in (("method", str), ("optimizer", str), ("epochs", int),
                      ("batch_size", int), ("lr", float)):
        value = stored.get(key)
        if isinstance(value, kind) or kind is float and isinstance(value, int):
            values[key] = value
    try:  # a number, or a schedule written as --k takes it ("1:1,5:3")
        values["k"] = parse_k(str(stored["k"])) if "k" in stored else None
    except ValueError:
        values["k"] = None
    if values["method"] not in METHODS:
        values["method"] = DEFAULTS["method"]
    if values["optimizer"] not in MINIBATCH_OPTIMIZERS:
        values["optimizer"] = DEFAULTS["optimizer"]
    return PretrainRequest(values["method"], None, max(1, values["epochs"]),
                           values["optimizer"], values["lr"], max(1, values["batch_size"]),
                           values.get("k"))


class PretrainDialog(QDialog):
    """The method, the layers and the settings; `request()` reads them (TrainingError naming
    the field that is wrong)."""

    def __init__(self, graph: Graph, selected: list[str], parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Pretrain")
        self.setObjectName("pretrain_dialog")
        self.graph, self.selected = graph, list(selected)
        stored = stored_request(graph.metadata)
        self.method = QComboBox()
        for method in METHODS.values():
            self.method.addItem(method.name, method.name)
            self.method.setItemData(self.method.count() - 1, method.doc,
                                    Qt.ItemDataRole.ToolTipRole)
        self.layers = QListWidget()
        self.layers.setToolTip("The layers to pretrain, bottom first (the canvas selection, "
                               "else the whole stack)")
        self.layers.setMaximumHeight(120)
        self.layer_note = QLabel()
        self.layer_note.setObjectName("muted")
        self.layer_note.setWordWrap(True)
        self.epochs = whole_box(1, 100_000, "Passes over the training set, per layer")
        self.epochs.setValue(stored.epochs)
        self.k = QLineEdit(k_text(stored.k) if stored.k is not None else "")
        self.k.setPlaceholderText("each layer's own")
        self.k.setToolTip("Gibbs steps of contrastive divergence (CD-k, PCD-k): a number, "
                          "or from which epoch which k, e.g. 1:1, 5:3, 10:10 (CD-1 first, "
                          "more steps as the model sharpens). The Training dock can also "
                          "raise k while the run goes on.")
        self.optimizer = QComboBox()
        self.optimizer.addItems(list(MINIBATCH_OPTIMIZERS))
        self.optimizer.setCurrentText(stored.optimizer)
        self.lr = NumberEdit(stored.lr, optional=True, low=0.0,
                             tooltip="Learning rate; empty: the optimizer's default")
        self.batch_size = whole_box(1, 1_000_000, "Examples per step")
        self.batch_size.setValue(stored.batch_size)
        form = QFormLayout()
        form.addRow("Method", self.method)
        form.addRow("Layers", self.layers)
        form.addRow(self.layer_note)
        form.addRow("Epochs per layer", self.epochs)
        form.addRow("Gibbs steps k", self.k)
        form.addRow("Optimizer", self.optimizer)
        form.addRow("Learning rate", self.lr)
        form.addRow("Batch size", self.batch_size)
        self.problem = QLabel()
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        self.buttons.button(QDialogButtonBox.Ok).setText("Pretrain")
        self.buttons.accepted.connect(self._accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        self.method.currentIndexChanged.connect(lambda _: self._fill_layers())
        self.method.setCurrentText(self._fitting_method(stored.method))
        self._fill_layers()

    def _fitting_method(self, stored: str) -> str:
        """The stored method when the graph has its layers, else the first that fits."""
        for method in (stored, *METHODS):
            if stack_layers(self.graph, method):
                return method
        return stored

    def _fill_layers(self) -> None:
        method = self.method.currentData()
        stack = stack_layers(self.graph, method)
        chosen = [n for n in stack if n in self.selected] or stack
        self.layers.clear()
        for node in stack:
            item = QListWidgetItem(f"{node}  ({self.graph.nodes[node].op})")
            item.setData(Qt.ItemDataRole.UserRole, node)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if node in chosen
                               else Qt.CheckState.Unchecked)
            self.layers.addItem(item)
        op = METHOD_OPS[method]
        self.layer_note.setText(f"no {op} node in this graph" if not stack else
                                "checked layers train one after the other, bottom first"
                                if method != "rbm" else
                                "all checked RBMs train together by contrastive divergence; "
                                "some of them: one after the other")
        self.k.setEnabled(method in ("rbm", "dbn"))

    def checked_layers(self) -> list[str]:
        return [self.layers.item(i).data(Qt.ItemDataRole.UserRole)
                for i in range(self.layers.count())
                if self.layers.item(i).checkState() == Qt.CheckState.Checked]

    def request(self) -> PretrainRequest:
        method = self.method.currentData()
        stack = stack_layers(self.graph, method)
        layers = self.checked_layers()
        if not stack:
            raise TrainingError(f"{method} pretrains {METHOD_OPS[method]} nodes; this graph "
                                "has none")
        if not layers:
            raise TrainingError("check at least one layer to pretrain")
        try:
            lr = self.lr.value()
        except ValueError as exc:
            raise TrainingError(str(exc)) from None
        k = None
        if self.k.isEnabled() and self.k.text().strip():
            try:
                k = parse_k(self.k.text().replace(" ", ""))
            except ValueError:
                raise TrainingError(f"Gibbs steps k: write a number or EPOCH:K pairs such as "
                                    f"1:1, 5:3; got {self.k.text()!r}") from None
            if isinstance(k, int) and k < 1 or isinstance(k, dict) and (
                    not k or min(k.values()) < 1 or min(k) < 1):
                raise TrainingError(f"Gibbs steps k: each k and epoch is at least 1; got "
                                    f"{self.k.text()!r}")
        return PretrainRequest(method, None if layers == stack else tuple(layers),
                               self.epochs.value(), self.optimizer.currentText(), lr,
                               self.batch_size.value(), k)

    def _accept(self) -> None:
        try:
            self.request()
        except TrainingError as exc:
            self.problem.setText(str(exc))
            return
        self.accept()


class Pretrainer(QObject):
    """Runs pretraining requests through a Training panel's session and writes the values
    back to its document. `started(request)`, `finished(history)` (after the values went in)."""

    started = Signal(object)
    finished = Signal(object)

    def __init__(self, training: TrainingPanel):
        super().__init__(training)
        self.training = training
        self.session = training.session
        self.session.finished.connect(self._finished)

    def start(self, request: PretrainRequest, graph: Graph | None = None,
              title: str | None = None) -> bool:
        """Start pretraining (the attached document's graph when None); False, with the
        reason logged, when it cannot start."""
        panel = self.training
        chosen = panel.graph_to_run(graph, title, "pretrain")
        if chosen is None:
            return False
        graph, title = chosen
        try:
            settings = request.settings(panel.settings())
            settings.check()
            strategy = request.strategy(graph)
        except (TrainingError, ValueError) as exc:
            panel.log.emit("error", f"cannot pretrain: {exc}", None)
            panel.status.setText(str(exc))
            return False
        self.session.start(graph, settings, title, strategy=strategy,
                           pretraining=request)
        panel.log.emit("info", f"Pretraining {title}: {request.describe()}", None)
        self.started.emit(request)
        return True

    def _finished(self, history: History) -> None:
        request = self.session.pretraining
        if request is None:
            return  # ordinary training: the Training panel writes its values back
        values = dict(self.session.values)
        document = self.training.document
        n = len(history.epochs)
        # the Training panel's words are Train's (a test error of the graph's outputs): say
        # what pretraining did instead
        last = history.epochs[-1] if history.epochs else None
        layer = self.session.layer.layer if self.session.layer is not None else ""
        trained = [n.strip() for n in layer.split(",")]
        figures = "" if last is None else "; " + " · ".join(
            f"{_FIGURE_WORDS.get(name.rpartition('/')[2], name)} {value:.4g}"
            for name, value in last.metrics.items()
            if name.rpartition("/")[2] in ("recon", "free_energy_gap", "pseudo_likelihood")
            and (name.rpartition("/")[0] or trained[0]) in trained)
        layers_done = (", ".join(request.layers) if request.layers else "all layers")
        self.training.progress.setFormat(f"Pretrained {request.method} · {layers_done}")
        how = {"epochs": "", "patience": ", stopped early", "converged": ", converged",
               "stopped": ", stopped by the user"}.get(history.stop_reason,
                                                       f", {history.stop_reason}")
        self.training.status.setText(
            f"Pretrained {request.method}: {n} "
            f"{'layer' if request.method != 'rbm' else 'epoch'}{'s' * (n != 1)}{how}{figures}")
        if document is not None and values and n:
            layers = ", ".join(request.layers) if request.layers else "all layers"
            text = f"Pretrain {request.method}: {layers}, {request.epochs} epochs"

            def change(g: Graph) -> None:
                g.values = {**g.values, **{k: np.asarray(v) for k, v in values.items()
                                           if k in g.nodes or k.rpartition("/")[0] in g.nodes}}
                g.metadata = {**g.metadata, "pretraining": copy.deepcopy(
                    request.to_metadata())}
            document.edit(text, change)
            self.training.log.emit("info", f"{text}: values written to the graph (Undo "
                                   "takes them back; Train fine-tunes from them)", None)
        self.finished.emit(history)


def layer_progress_text(layer: Any, progress: Any, per_layer: int) -> str:
    """"Layer 2 / 3 (rbm2) · epoch 4 / 15 · 3,200 samples/s": `progress` (a BatchProgress)
    counts epochs over the run, `per_layer` of them per layer."""
    text = f"Layer {layer.index} / {layer.total} ({layer.layer})"
    if progress is not None:
        epoch = progress.epoch - (layer.index - 1) * per_layer
        text += (f" · epoch {epoch} / {per_layer} · "
                 f"{progress.samples_per_second:,.0f} samples/s")
    return text


__all__ = ["DEFAULTS", "METHOD_OPS", "PretrainDialog", "PretrainRequest", "Pretrainer",
           "layer_progress_text", "stack_layers", "stored_request"]

