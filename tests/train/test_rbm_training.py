"""Training RBM layers read from files: CD-1 and PCD-k steps through the Trainer against NumPy
float64 fed the same Philox draws, k raised between epochs without losing the chain or the
optimizer's state, the monitoring metrics, and the persistent chain as state declared only in
the op definition (file, expanded composite, default strategy)."""

from __future__ import annotations

import numpy as np
import pytest

from nodestudio.data.batches import epoch_batches
from nodestudio.graph import fileformat
from nodestudio.ir.composites import expand_node
from nodestudio.train import Model, Trainer, TrainingError
from nodestudio.train.events import EpochEnd
from nodestudio.train.strategies import ContrastiveDivergence
from tests.train import rbm_reference as ref
from tests.train.rbm_graphs import binary_splits, rbm_graph, save_rbm_graph

pytestmark = pytest.mark.opencl

WIDTH, HIDDEN, SEED = 16, 8, 3


def _load(tmp_path, **attrs) -> Model:
    return Model.load(save_rbm_graph(tmp_path / "rbm.json", WIDTH, HIDDEN, seed=SEED, **attrs))


def _params(model):
    return [model.shared[f"rbm1/{n}"].get_value().astype(np.float64)
            for n in ("W", "vbias", "hbias")]


def _batch(data, epoch):
    """The one batch of an epoch when batch_size covers the training set."""
    index = next(epoch_batches(len(data.train), len(data.train), seed=0, epoch=epoch - 1))
    return data.train.x[index].astype(np.float64)


def test_a_cd1_sgd_step_through_the_trainer_matches_numpy(tmp_path):
    model, data, lr = _load(tmp_path), binary_splits(), 0.1
    before = _params(model)
    Trainer(model, data, "sgd", lr, batch_size=len(data.train), epochs=1,
            strategy=ContrastiveDivergence()).run()
    grads, _ = ref.cd_gradients(_batch(data, 1), *before, "bernoulli", 1, SEED, 0)
    for got, start, g in zip(_params(model), before, grads):
        np.testing.assert_allclose(got, start - lr * g, atol=1e-6)


def test_k_raised_between_epochs_keeps_the_chain_and_the_momentum(tmp_path):
    model, data = _load(tmp_path, persistent=True, particles=5), binary_splits()
    lr, mu = 0.05, 0.5
    W, b, c = _params(model)
    chain = model.shared["rbm1/chain"].get_value().astype(np.float64)
    cd = ContrastiveDivergence(k={1: 1, 2: 3})
    trainer = Trainer(model, data, "momentum", lr, batch_size=len(data.train), epochs=2,
                      strategy=cd)
    trainer.optimizer.momentum = mu
    trainer.run()
    assert cd.nodes[0].attrs["k"] == 3
    velocity = [np.zeros_like(p) for p in (W, b, c)]
    params = [W, b, c]
    for epoch, k in ((1, 1), (2, 3)):  # call index = epoch - 1: the streams went on
        grads, chain = ref.cd_gradients(_batch(data, epoch), *params, "bernoulli", k, SEED,
                                        epoch - 1, chain=chain)
        velocity = [mu * v - lr * g for v, g in zip(velocity, grads)]
        params = [p + v for p, v in zip(params, velocity)]
    for got, want in zip(_params(model), params):
        np.testing.assert_allclose(got, want, atol=2e-6)
    np.testing.assert_allclose(model.shared["rbm1/chain"].get_value(), chain)


def test_the_monitoring_metrics_are_in_the_history_and_the_events(tmp_path):
    model, data = _load(tmp_path), binary_splits()
    events = []
    cd = ContrastiveDivergence()
    trainer = Trainer(model, data, "sgd", 0.1, batch_size=20, epochs=4, strategy=cd)
    trainer.subscribe(lambda e: events.append(e) if isinstance(e, EpochEnd) else None)
    history = trainer.run()
    metrics = [r.metrics for r in history.epochs]
    assert [e.record.metrics for e in events] == metrics
    assert [e.best_epoch for e in events] == [1, 2, 3, 4]  # the parameters kept: the last
    assert set(metrics[0]) == {"k", "recon", "free_energy_train", "free_energy_valid",
                               "free_energy_gap", "pseudo_likelihood"}
    assert [m["k"] for m in metrics] == [1.0] * 4
    assert metrics[-1]["recon"] < 0.8 * metrics[0]["recon"]  # it learns
    assert metrics[-1]["pseudo_likelihood"] > metrics[0]["pseudo_likelihood"]
    last = metrics[-1]
    assert last["free_energy_gap"] == pytest.approx(last["free_energy_valid"]
                                                    - last["free_energy_train"])
    # the figures themselves, recomputed in float64 with the final parameters
    W, b, c = _params(model)
    rows = data.train.x[cd._sample].astype(np.float64)
    assert last["free_energy_train"] == pytest.approx(ref.free_energy(rows, W, b, c).mean(),
                                                      rel=1e-5)
    rng = np.random.default_rng([0, 4])
    x = np.round(rows)
    flipped = x.copy()
    bits = rng.integers(0, WIDTH, len(x))
    flipped[np.arange(len(x)), bits] = 1 - flipped[np.arange(len(x)), bits]
    gap = ref.free_energy(flipped, W, b, c) - ref.free_energy(x, W, b, c)
    assert last["pseudo_likelihood"] == pytest.approx(
        WIDTH * np.mean(-np.logaddexp(0.0, -gap)), rel=1e-4)
    assert history.best_epoch == 4  # CD keeps the last parameters
    assert history.metrics()["epochs"][0]["metrics"] == metrics[0]


def test_gaussian_visibles_report_no_pseudo_likelihood(tmp_path):
    model, data = _load(tmp_path, visible="gaussian"), binary_splits()
    history = Trainer(model, data, "sgd", 0.01, batch_size=40, epochs=1,
                      strategy=ContrastiveDivergence()).run()
    assert "pseudo_likelihood" not in history.epochs[0].metrics
    assert np.isfinite(history.epochs[0].metrics["recon"])


def test_contrastive_divergence_needs_an_rbm(tmp_path):
    model = Model.load("resources/examples/logistic_regression.json")
    from nodestudio.data import load_dataset
    with pytest.raises(TrainingError, match="rbm_layer"):
        Trainer(model, load_dataset("mnist5k"), "sgd", strategy=ContrastiveDivergence())


def test_the_chain_is_state_declared_in_the_op_alone(tmp_path):
    """A PCD graph read from a file, collapsed or expanded on the canvas, trained by the
    default strategy (contrastive divergence for the layer's cost, minibatch for the
    expanded graph's): the chain advances as NumPy's does, with no special case."""
    data = binary_splits()
    chains = []
    for expanded in (False, True):
        graph = rbm_graph(WIDTH, HIDDEN, seed=SEED, persistent=True, particles=4)
        if expanded:
            expand_node(graph, "rbm1")
            assert "rbm1" not in graph.nodes
        path = tmp_path / f"pcd_{expanded}.json"
        fileformat.save(graph, path)
        model = Model.load(path)
        chain = model.shared["rbm1/chain"]
        assert chain.default_update is not None
        before = _params(model)
        start = chain.get_value().astype(np.float64)
        Trainer(model, data, "sgd", 0.1, batch_size=len(data.train), epochs=1).run()
        _, want = ref.cd_gradients(_batch(data, 1), *before, "bernoulli", 1, SEED, 0,
                                   chain=start)
        np.testing.assert_allclose(chain.get_value(), want)
        chains.append(chain.get_value())
    assert not np.allclose(chains[0], 0.0)


def test_no_state_is_special_cased_by_op_name():
    """Declared state is bound from the op definitions alone: nothing in the IR, the API or
    the trainer compares an op's name with a stateful op's to find its state."""
    from pathlib import Path

    import nodestudio
    root = Path(nodestudio.__file__).parent
    stateful = ("batch_norm", "batch_norm_layer", "rbm_layer")
    for folder in ("ir", "api", "train"):
        for path in (root / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for name in stateful:
                for pattern in (f'op.name == "{name}"', f'op.name != "{name}"',
                                f'op == "{name}"'):
                    assert pattern not in text, f"{path}: {pattern}"


def test_an_rbms_cost_trains_by_contrastive_divergence_by_default(tmp_path):
    from nodestudio.train.strategies import Minibatch
    model, data = _load(tmp_path), binary_splits()
    assert isinstance(Trainer(model, data, "sgd", 0.1).strategy, ContrastiveDivergence)
    classifier = Model.load("resources/examples/dbn.json")  # RBMs under a classifier's loss
    from nodestudio.data import load_dataset
    trainer = Trainer(classifier, load_dataset("mnist5k"), "sgd", 0.1, epochs=1)
    assert type(trainer.strategy) is Minibatch


def test_k_set_during_a_run_takes_effect_from_the_next_epoch(tmp_path):
    """What the Training dock's Apply does: set_k from another thread between epochs; the
    steps after it match NumPy's CD-2 from the parameters the CD-1 epoch left."""
    model, data, lr = _load(tmp_path), binary_splits(), 0.1
    cd = ContrastiveDivergence()
    trainer = Trainer(model, data, "sgd", lr, batch_size=len(data.train), epochs=3,
                      strategy=cd)
    seen = []

    def on_event(event):
        if isinstance(event, EpochEnd):
            seen.append((cd.current_k, _params(model)))
            if event.record.epoch == 1:
                cd.set_k(2)
    trainer.subscribe(on_event)
    history = trainer.run()
    assert [r.metrics["k"] for r in history.epochs] == [1.0, 2.0, 2.0]
    assert [k for k, _ in seen] == [1, 2, 2]
    grads, _ = ref.cd_gradients(_batch(data, 2), *seen[0][1], "bernoulli", 2, SEED, 1)
    for got, start, g in zip(seen[1][1], seen[0][1], grads):
        np.testing.assert_allclose(got, start - lr * g, atol=2e-6)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="k must be a whole number"):
            cd.set_k(bad)
