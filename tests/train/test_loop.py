"""The training loop on the `digits` data (1,294 / 144 / 359 examples, 64 features): history,
determinism, early stopping with an exact restore, the divergence guard, events, and control
from another thread. Most runs use one softmax regression graph and batches of 647 (two equal
steps per epoch), so the kernels are compiled once for the whole file."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.data import load_dataset
from nodestudio.graph import fileformat
from nodestudio.ir.autodiff import grad
from nodestudio.ir.expr import toposort
from nodestudio.train.loop import EarlyStopping, Evaluator, Trainer, TrainingError
from nodestudio.train.model import (
    DataMismatchError,
    Model,
    ModelError,
    RolesError,
    locate_non_finite,
)

BATCH = 647  # 1,294 training examples: two steps per epoch, one kernel specialisation


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", seed=0)


def _save_classifier(path, features=64, classes=10, extra=None, **outputs_only):
    """Softmax regression features -> classes, zeros init, saved with ns.save; `extra(x, params)`
    returns a term added to the loss (the planted faults)."""
    x, y = ns.tensor("x", (None, features)), ns.ivector("y")
    W, b = ns.shared(np.zeros((features, classes)), "W"), ns.shared(np.zeros(classes), "b")
    logits = ns.dense(x, W, b)
    loss = ns.softmax_cross_entropy(logits, y)
    if extra is not None:
        loss = loss + extra(x)
    outputs = {"loss": loss, "error": ns.classification_error(logits, y)}
    outputs.update(outputs_only)
    ns.save(outputs, path)
    return path


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    return _save_classifier(tmp_path_factory.mktemp("graphs") / "softmax64.json")


def _without_seconds(history):
    return [{k: v for k, v in r.as_dict().items() if k != "seconds"} for r in history.epochs]


# --- runs on the device --------------------------------------------------------------------------

@pytest.mark.opencl
def test_history_records_each_epoch_and_tests_with_the_best_parameters(graph, digits):
    model = Model.load(graph)
    history = Trainer(model, digits, "sgd", 2.0, batch_size=BATCH, epochs=6).run()
    assert [r.epoch for r in history.epochs] == [1, 2, 3, 4, 5, 6]
    assert history.stop_reason == "epochs" and history.iterations == 12
    first, last = history.epochs[0], history.epochs[-1]
    assert last.train_loss < first.train_loss and last.valid_error < first.valid_error
    valid = [r.valid_error for r in history.epochs]
    assert history.best_epoch == 1 + valid.index(min(valid))  # the first of equal bests
    # the model holds the best epoch's parameters, and the test figures are theirs
    loss, error = Evaluator(model)(digits.test)
    assert (history.test_loss, history.test_error) == (loss, error)
    assert 0.0 <= history.test_error < 0.3
    assert set(history.metrics()) == {"epochs", "best_epoch", "test_error", "test_loss"}


@pytest.mark.opencl
def test_two_runs_with_one_seed_are_identical_and_another_seed_differs(graph, digits):
    def run(seed):
        return Trainer(Model.load(graph), digits, "momentum", 0.5, batch_size=BATCH, epochs=3,
                       seed=seed).run()
    a, b, c = run(3), run(3), run(4)
    assert _without_seconds(a) == _without_seconds(b)
    assert (a.test_loss, a.test_error, a.best_epoch) == (b.test_loss, b.test_error, b.best_epoch)
    assert _without_seconds(a) != _without_seconds(c)


@pytest.mark.opencl
def test_early_stopping_restores_the_best_parameters_bit_for_bit(graph, digits):
    model = Model.load(graph)
    trainer = Trainer(model, digits, "momentum", 0.5, batch_size=BATCH, epochs=40, patience=3)
    snapshots = {}
    trainer.subscribe(lambda e: snapshots.__setitem__(e.record.epoch, model.values())
                      if e.kind == "epoch_end" else None)
    history = trainer.run()
    assert history.stop_reason == "patience"
    last = history.epochs[-1].epoch
    assert last == history.best_epoch + 3 and last < 40
    final = model.values()
    best = snapshots[history.best_epoch]
    for name in best:
        assert final[name].dtype == best[name].dtype
        assert final[name].tobytes() == best[name].tobytes(), name
    assert any(final[n].tobytes() != snapshots[last][n].tobytes() for n in final)


@pytest.mark.opencl
def test_events_arrive_in_order(graph, digits):
    trainer = Trainer(Model.load(graph), digits, "sgd", 1.0, batch_size=BATCH, epochs=2)
    events = []
    trainer.subscribe(events.append)
    history = trainer.run()
    kinds = [e.kind for e in events]
    assert kinds == ["batch_end", "batch_end", "epoch_end"] * 2 + ["finished"]
    batches = [e for e in events if e.kind == "batch_end"]
    assert [e.iteration for e in batches] == [0, 1, 2, 3]
    assert [e.epoch for e in batches] == [1, 1, 2, 2]
    assert all(e.samples_per_second > 0 and np.isfinite(e.loss) for e in batches)
    assert [e.record for e in events if e.kind == "epoch_end"] == history.epochs
    assert events[-1].history is history


@pytest.mark.opencl
def test_a_planted_log_of_a_dying_relu_stops_at_once_and_names_the_node(tmp_path, digits):
    # loss + log(relu(probe)): sgd pushes probe down by lr / probe per step, from 1.0 to
    # -0.002 after six steps; the seventh step's forward pass computes log(0) = -inf.
    def plant(x):
        probe = ns.shared(np.float32(1.0), "probe")
        return ns.log(ns.relu(probe))
    path = _save_classifier(tmp_path / "planted.json", extra=plant)
    log_node = next(n.id for n in fileformat.load(path).nodes.values() if n.op == "log")
    model = Model.load(path)
    trainer = Trainer(model, digits, "sgd", 0.1, batch_size=BATCH, epochs=20)
    before = [model.values()]  # the values before each step
    events = []
    trainer.subscribe(events.append)
    trainer.subscribe(lambda e: before.append(model.values()) if e.kind == "batch_end" else None)
    history = trainer.run()

    failure = history.failure
    assert failure is not None and history.stop_reason == "diverged"
    assert failure.iteration == 6 and failure.epoch == 4
    assert trainer._train_fn.calls == 7  # nothing ran after the failing step
    assert failure.node == log_node and failure.phase == "forward" and failure.rolled_back
    assert log_node in failure.message and "-inf" in failure.message
    assert events[-1].kind == "failed" and events[-1].node == log_node
    assert "finished" not in [e.kind for e in events]
    assert len(before) == 7  # the initial values and one copy after each good step
    final = model.values()
    for name, value in before[-1].items():
        assert final[name].tobytes() == value.tobytes(), name
    assert 0.0 > float(final["probe"]) > -0.01  # the step that failed was undone


@pytest.mark.opencl
def test_a_non_finite_gradient_with_a_finite_loss_is_caught_in_the_backward_pass(tmp_path,
                                                                               digits):
    # sqrt(p * p) at p = 0: the loss term is 0, its gradient 0.5 / sqrt(0) * 0 = NaN
    def plant(x):
        p = ns.shared(np.float32(0.0), "p")
        return ns.sqrt(p * p)
    path = _save_classifier(tmp_path / "sqrt.json", extra=plant)
    sqrt_node = next(n.id for n in fileformat.load(path).nodes.values() if n.op == "sqrt")
    model = Model.load(path)
    start = model.values()
    trainer = Trainer(model, digits, "sgd", 0.1, batch_size=BATCH, epochs=2)
    events = []
    trainer.subscribe(events.append)
    history = trainer.run()
    failure = history.failure
    assert failure is not None and failure.iteration == 0
    # the user's node, which the studio selects, not the backward node "grad/sqrt_N/div_M"
    assert failure.phase == "backward" and failure.node == sqrt_node
    assert events[-1].node == sqrt_node and failure.ir_node.startswith(f"grad/{sqrt_node}/")
    assert (f"first produced in the gradient of node {sqrt_node!r} (sqrt), at its inner op "
            "div (backward pass: inf in 1 of 1 element(s))") in failure.message
    assert "grad/" not in failure.message
    assert all(model.values()[n].tobytes() == v.tobytes() for n, v in start.items())


@pytest.mark.opencl
def test_a_non_finite_value_inside_a_composite_names_the_composite(tmp_path, digits):
    # binary_cross_entropy(p, 0) at p = 1: its inner log(1 - p) is log(0) = -inf; the message
    # names the loss node of the file, and the inner op, not "binary_cross_entropy_N/log_M"
    def plant(x):
        return ns.binary_cross_entropy(ns.shared(np.float32(1.0), "p"), ns.constant(0.0))
    path = _save_classifier(tmp_path / "bce.json", extra=plant)
    bce = next(n.id for n in fileformat.load(path).nodes.values()
               if n.op == "binary_cross_entropy")
    history = Trainer(Model.load(path), digits, "sgd", 0.1, batch_size=BATCH, epochs=2).run()
    failure = history.failure
    assert failure.node == bce and failure.phase == "forward"
    assert failure.ir_node.startswith(f"{bce}/log_")
    assert (f"first produced in node {bce!r} (binary_cross_entropy), at its inner op log "
            "(forward pass: -inf in 1 of 1 element(s))") in failure.message


@pytest.mark.opencl
def test_an_error_naming_an_inner_node_names_the_users_node(graph, digits):
    # an error raised while a step runs (a shape checked at run time) that names a node of
    # the expanded graph is told in the user's terms, and the Failed event selects that node
    from nodestudio.errors import ShapeError
    model = Model.load(graph)
    trainer = Trainer(model, digits, "sgd", 0.1, batch_size=BATCH, epochs=1)
    dense = next(n for n, op in model.nodes.items() if op == "dense")

    def fail(*_):
        raise ShapeError("input 'x' has size 1 at run time along free axis 0",
                         node=f"grad/{dense}/matmul_7/matmul_9", port="b")
    trainer._train_fn = fail
    events = []
    trainer.subscribe(events.append)
    with pytest.raises(ShapeError) as caught:
        trainer.run()
    assert caught.value.node == dense and caught.value.port is None
    assert str(caught.value) == (f"the gradient of node {dense!r} (dense), at its inner op "
                                 "matmul: input 'x' has size 1 at run time along free axis 0")
    failure = events[-1].failure
    assert events[-1].node == failure.node == dense
    assert failure.ir_node == f"grad/{dense}/matmul_7/matmul_9"


@pytest.mark.opencl
def test_an_overflow_only_float32_sees_is_found_on_the_device(tmp_path, digits):
    # exp(120) is 1.3e52 in float64 but Inf in float32: the reference interpreter finds nothing,
    # so the graph is re-run on the device with every intermediate value as an output
    path = _save_classifier(tmp_path / "overflow.json",
                            extra=lambda x: 0.0 * ns.mean(ns.exp(x * 100.0 + 20.0)))
    exp_node = next(n.id for n in fileformat.load(path).nodes.values() if n.op == "exp")
    history = Trainer(Model.load(path), digits, "sgd", 0.1, batch_size=BATCH, epochs=2).run()
    failure = history.failure
    assert failure is not None and failure.iteration == 0
    assert failure.node == exp_node and failure.phase == "forward"
    assert "inf in" in failure.message and "float32" in failure.message


@pytest.mark.opencl
def test_stop_and_pause_from_another_thread(graph, digits):
    trainer = Trainer(Model.load(graph), digits, "sgd", 0.5, batch_size=BATCH, epochs=1000)
    count = [0]
    started = threading.Event()

    def on_event(event):
        if event.kind == "batch_end":
            count[0] += 1
            if count[0] == 5:
                started.set()
    trainer.subscribe(on_event)
    thread = trainer.start()
    assert started.wait(60)
    t0 = time.perf_counter()
    trainer.pause()
    assert time.perf_counter() - t0 < 0.05  # never blocks the caller
    time.sleep(0.1)
    held = count[0]
    time.sleep(0.3)
    assert count[0] <= held + 1 and trainer.paused
    trainer.resume()
    while count[0] < held + 20:
        time.sleep(0.005)
    t0 = time.perf_counter()
    trainer.stop()
    at_stop = count[0]
    assert time.perf_counter() - t0 < 0.05
    thread.join(30)
    assert not thread.is_alive() and trainer.exception is None
    assert count[0] <= at_stop + 1  # within one batch
    assert trainer.history.stop_reason == "stopped"
    assert trainer.history.test_loss is not None


@pytest.mark.opencl
def test_balanced_batches_and_lbfgs_chunks(graph, digits):
    history = Trainer(Model.load(graph), digits, "sgd", 1.0, batch_size=BATCH, epochs=2,
                      balanced=True).run()
    assert history.iterations == 4 and history.epochs[-1].valid_error < 0.5
    events = []
    trainer = Trainer(Model.load(graph), digits, "lbfgs", epochs=2, fullbatch_iterations=5)
    trainer.subscribe(events.append)
    history = trainer.run()
    assert [e.kind for e in events].count("batch_end") == history.iterations == 10
    assert history.epochs[1].train_loss < history.epochs[0].train_loss < np.log(10)
    assert history.epochs[-1].valid_error < 0.2


# --- errors (no device needed) ---------------------------------------------------------------

def test_the_one_scalar_output_is_the_loss_and_an_ambiguous_graph_is_refused_with_fixes(
        tmp_path):
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W = ns.shared(np.zeros((64, 10)), "W")
    cost = ns.softmax_cross_entropy(ns.dot(x, W), y)
    path = tmp_path / "cost.json"
    ns.save({"cost": cost}, path)
    model = Model.load(path)
    assert model.loss.name == cost.name
    assert model.roles.inferred == [
        f"took {cost.name}:loss as the loss, the only scalar output",
        f"reporting the classification error of {cost.owner.inputs[0].name}, as no error is "
        "marked"]
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=(50, 64)), rng.integers(0, 10, 50)
    Wv = model.shared["W"].get_value().astype(np.float64) + rng.normal(size=(64, 10))
    model.shared["W"].set_value(Wv)
    (err,) = ns.reference_eval([model.error], {model.x: xv, model.y: yv})
    assert err == pytest.approx(np.mean(np.argmax(xv @ Wv, axis=1) != yv), abs=1e-6)
    penalty = ns.l2_penalty(W)
    ns.save({"cost": cost, "penalty": penalty}, tmp_path / "two.json")
    with pytest.raises(RolesError, match=r"two\.json: which output is the loss to minimise: "
                       f"{cost.name}:loss, {penalty.name}:loss") as caught:
        Model.load(tmp_path / "two.json")
    fix = caught.value.problems[0].fixes[1]
    assert fix.label == f"Mark {penalty.name}:loss as the loss"
    document = fileformat.load(tmp_path / "two.json")
    fix.apply(document)
    assert Model.from_document(document).loss.name == penalty.name


def test_inputs_and_parameters_are_checked(tmp_path):
    x, labels = ns.tensor("x", (None, 4)), ns.ivector("labels")
    W = ns.shared(np.zeros((4, 3)), "W")
    path = tmp_path / "labels.json"
    ns.save({"loss": ns.softmax_cross_entropy(ns.dot(x, W), labels)}, path)
    model = Model.load(path)  # the one integer input is the labels, whatever its name
    assert model.y.name == "labels" and "took 'labels' as the labels" in model.roles.inferred[0]
    a, z = ns.tensor("a", (None, 4)), ns.tensor("z", (None, 4))
    ns.save({"loss": ns.softmax_cross_entropy(ns.dot(a + z, W), labels)}, path)
    with pytest.raises(RolesError, match="which input holds the dataset's features: a, z"):
        Model.load(path)
    ns.save({"loss": ns.softmax_cross_entropy(ns.dot(x + z, W), labels)}, path)
    with pytest.raises(RolesError, match="input 'z' is neither the features nor the labels"):
        Model.load(path)  # x is the features by its name
    x, y = ns.tensor("x", (None, 4)), ns.ivector("y")
    frozen = ns.shared(np.zeros((4, 3)), "W", attrs={"trainable": False})
    ns.save({"loss": ns.softmax_cross_entropy(ns.dot(x, frozen), y)}, path)
    with pytest.raises(ModelError, match="no trainable parameters"):
        Model.load(path)


def test_mismatched_features_and_classes_are_refused(tmp_path, digits):
    with pytest.raises(DataMismatchError, match=r"784 features.*'digits:train' has 64"):
        Trainer(Model.load(_save_classifier(tmp_path / "a.json", features=784)), digits)
    with pytest.raises(DataMismatchError, match="has 10 classes, but the graph's output "
                                                "distinguishes 3"):
        Trainer(Model.load(_save_classifier(tmp_path / "b.json", classes=3)), digits)


def test_unknown_optimizer_and_bad_settings(graph, digits):
    model = Model.load(graph)
    with pytest.raises(TrainingError, match=r"unknown optimizer 'adamw' \(known: sgd.*lbfgs"):
        Trainer(model, digits, "adamw")
    with pytest.raises(TrainingError, match="batch_size"):
        Trainer(model, digits, batch_size=0)
    with pytest.raises(TrainingError, match="learning rate"):
        Trainer(model, digits, "sgd", -1.0)


def _stopping_epochs(early, values, first_epoch=1):
    stops = []
    for epoch, value in enumerate(values, start=first_epoch):
        early.update(epoch, value)
        stops.append(early.should_stop(epoch))
    return stops


def test_patience_counts_epochs_without_improvement():
    early = EarlyStopping(patience=2, min_epochs=0, doubling=False, threshold=0.995)
    assert _stopping_epochs(early, [5.0, 4.0, 4.0, 4.5]) == [False, False, False, True]
    assert early.best_epoch == 2
    late = EarlyStopping(patience=1, min_epochs=5, doubling=False, threshold=0.995)
    assert _stopping_epochs(late, [1.0] * 5) == [False, False, False, False, True]


def test_patience_doubles_on_each_sufficient_improvement():
    early = EarlyStopping(patience=3, min_epochs=0, doubling=True, threshold=0.9)
    values = [10.0, 8.0, 7.9, 7.0, 6.9, 6.8, 6.7, 6.6]
    stopped = None
    for epoch, value in enumerate(values, start=1):
        early.update(epoch, value)
        if early.should_stop(epoch):
            stopped = epoch
            break
    # 10 -> 8 at epoch 2 (better than 0.9 x 10): horizon 4; 7.9 is too small a gain;
    # 7.0 at epoch 4 (< 0.9 x 7.9 = 7.11): horizon 8; the small gains after that do not extend it
    assert stopped == 8 and early.horizon == 8 and early.best_epoch == 8


def test_image_shaped_inputs_and_one_hot_targets_are_fed_as_declared(tmp_path, digits):
    x, y = ns.tensor("x", (None, 8, 8)), ns.tensor("y", (None, 10))
    W = ns.shared(np.zeros((64, 10)), "W")
    scores = ns.softmax(ns.dot(ns.reshape(x, (-1, 64)), W))
    ns.save({"loss": ns.squared_error(scores, y)}, tmp_path / "images.json")
    model = Model.load(tmp_path / "images.json")
    assert model.n_classes == 10 and model.error is None
    model.check_data(digits)
    xv, yv = model.feed(digits.train, np.array([3, 1]))
    assert xv.shape == (2, 8, 8) and yv.shape == (2, 10) and yv.dtype == np.float32
    np.testing.assert_array_equal(xv[0].reshape(-1), digits.train.x[3])
    np.testing.assert_array_equal(yv.argmax(axis=1), digits.train.y[[3, 1]])
    assert yv.sum() == 2.0


def test_the_models_nodes_are_the_users_nodes(graph, tmp_path):
    # what failures may name (Model.nodes): the file's node ids; for a graph built in Python,
    # its nodes before expansion, a layer's own parameters ("hidden/W") part of the layer
    document = fileformat.load(graph)
    assert Model.load(graph).nodes == {i: n.op for i, n in document.nodes.items()}
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    hidden = ns.dense_layer(x, 8, activation="tanh", name="hidden")
    loss = ns.softmax_cross_entropy(ns.dense_layer(hidden, 10, name="logits"), y)
    shared = {n.name: n.outputs[0] for n in toposort([loss]) if n.op.name == "parameter"}
    assert "hidden/W" in shared
    built = Model.from_loaded(SimpleNamespace(inputs={"x": x, "y": y}, outputs={"loss": loss},
                                              shared=shared), "<python>")
    assert {"hidden": "dense_layer", "logits": "dense_layer", "x": "input", "y": "input"} \
        .items() <= built.nodes.items()
    assert not any("/" in name for name in built.nodes)


def test_locate_non_finite_names_the_users_node_from_the_reference(tmp_path):
    # the float64 reference finds log(1 - p) = -inf inside binary_cross_entropy: no device
    p = ns.shared(np.float32(1.0), "p")
    x = ns.tensor("x", (None, 2))
    loss = ns.binary_cross_entropy(p * ns.mean(x * 0.0 + 1.0), ns.constant(0.0))
    nodes = {"p": "parameter", "x": "input", loss.owner.name: "binary_cross_entropy"}
    found = locate_non_finite([loss, *grad(loss, [p])], {x: np.ones((3, 2), np.float32)},
                              user_nodes=nodes)
    assert found.node == loss.owner.name and found.phase == "forward" and not found.on_device
    assert found.describe() == (f"node {loss.owner.name!r} (binary_cross_entropy), at its inner "
                                "op log (forward pass: -inf in 1 of 1 element(s))")


def _dense_classifier(path, units: int):
    """x (B, 64) -> dense_layer `out` with `units` -> softmax cross-entropy with y."""
    from nodestudio.graph import fileformat
    from nodestudio.graph.model import Graph
    graph = Graph()
    graph.add_node("input", {"shape": [None, 64], "role": "features"}, id="x")
    graph.add_node("input", {"shape": [None], "dtype": "int32", "role": "labels"}, id="y")
    graph.add_node("dense_layer", {"units": units}, id="out")
    graph.add_node("softmax_cross_entropy", {}, id="loss")
    graph.connect("x:out", "out:x")
    graph.connect("out:out", "loss:logits")
    graph.connect("y:out", "loss:labels")
    graph.set_output("loss", "loss:loss")
    fileformat.save(graph, path)
    return graph


def test_too_few_logits_come_with_the_fix_and_too_many_with_a_warning(tmp_path, digits):
    graph = _dense_classifier(tmp_path / "few.json", 4)
    with pytest.raises(DataMismatchError, match="has 10 classes, but the graph's output "
                                                "distinguishes 4") as info:
        Trainer(Model.load(tmp_path / "few.json"), digits)
    fix = info.value.fix
    assert fix is not None and fix.label == "Set the units of out to 10"
    fix.apply(graph)
    assert graph.nodes["out"].attrs["units"] == 10
    model = Model.from_document(graph)
    model.check_data(digits)  # fits now
    assert model.class_notes(digits) == []

    _dense_classifier(tmp_path / "many.json", 100)
    model = Model.load(tmp_path / "many.json")
    [note] = model.class_notes(digits)
    assert note.level == "warning"
    assert note.message == ("the graph's output distinguishes 100 classes, but dataset "
                            "'digits' has 10: 90 of its outputs are never a label (set the "
                            "units of 'out' to 10)")


def test_the_command_line_warns_of_outputs_that_are_never_a_label(tmp_path, capsys):
    from nodestudio.cli import main
    _dense_classifier(tmp_path / "many.json", 100)
    assert main(["train", str(tmp_path / "many.json"), "--data", "digits", "--epochs", "1",
                 "--out", str(tmp_path / "run")]) == 0
    assert ("nodestudio: warning: the graph's output distinguishes 100 classes, but dataset "
            "'digits' has 10") in capsys.readouterr().err
