"""Layer freezing (Model.freeze, the file's "frozen" metadata) and greedy layer-wise
pretraining (sae, dae, supervised) on small stacks, checked against NumPy / PyTorch where a
step can be computed exactly, and by what each stage may and may not change."""

from __future__ import annotations

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.data.dataset import Dataset, Splits
from nodestudio.ir.convert import to_document
from nodestudio.ir.layers import layer
from nodestudio.train.events import EpochEnd
from nodestudio.train.loop import Trainer, TrainingError
from nodestudio.train.model import Model, ModelError
from nodestudio.train.strategies.layerwise import (
    LayerStart,
    Layerwise,
    LayerwiseStrategy,
    layer_stack,
    select_stages,
)

V, K = 12, 3
RNG = np.random.default_rng(5)


def _data(n=60) -> Splits:
    """Binary-ish rows of three prototypes (one per class), flipped at random."""
    protos = RNG.uniform(0, 1, (K, V)) > 0.5
    y = np.arange(n) % K
    x = np.where(RNG.uniform(0, 1, (n, V)) < 0.1, ~protos[y], protos[y]).astype(np.float32)
    parts = [Dataset(x[i::3], y[i::3].astype(np.int32), (V,), K, name) for i, name in
             enumerate(("train", "valid", "test"))]
    return Splits(*parts)


def stacked(hidden=(8, 6), noise="none", kind="autoencoder_layer"):
    x, y = ns.tensor("x", (None, V)), ns.ivector("y")
    h = x
    for i, units in enumerate(hidden, start=1):
        if kind == "autoencoder_layer":
            h = layer(kind, h, name=f"ae{i}", hidden=units, noise=noise, noise_level=0.2)
        elif kind == "rbm_layer":
            h = layer(kind, h, name=f"rbm{i}", hidden=units, persistent=i == 2, particles=5)
        else:
            h = ns.dense_layer(h, units, "sigmoid", name=f"hidden{i}")
    logits = ns.dense_layer(h, K, name="logits")
    loss = ns.softmax_cross_entropy(logits, y)
    loss.owner.name = "loss"
    error = ns.classification_error(logits, y)
    error.owner.name = "error"
    return to_document({"loss": loss, "error": error})


# --- freezing ----------------------------------------------------------------------------------

def test_freeze_leaves_layers_out_of_params_and_training_keeps_them_bit_for_bit():
    model = Model.from_document(stacked(kind="dense"))
    assert model.freeze("hidden1") == ["hidden1/W", "hidden1/b"]
    assert [p.name for p in model.params] == ["hidden2/W", "hidden2/b", "logits/W", "logits/b"]
    before = model.values()
    Trainer(model, _data(), "sgd", 0.5, batch_size=10, epochs=2).run()
    after = model.values()
    for key in ("hidden1/W", "hidden1/b"):
        np.testing.assert_array_equal(after[key], before[key])
    assert not np.array_equal(after["hidden2/W"], before["hidden2/W"])
    model.unfreeze()
    assert [p.name for p in model.params][:2] == ["hidden1/W", "hidden1/b"]
    assert len(model.params) == 6 and not model.frozen


def test_a_frozen_step_matches_pytorch():
    """One full-batch SGD step with hidden1 frozen: hidden2 and logits move by exactly
    -lr * gradient (PyTorch, float64), hidden1 not at all."""
    torch = pytest.importorskip("torch")
    model = Model.from_document(stacked(kind="dense"))
    model.freeze("hidden1/W", "hidden1")
    data = _data(30)
    before = {k: v.astype(np.float64) for k, v in model.values().items()}
    Trainer(model, data, "sgd", 0.3, batch_size=len(data.train), epochs=1).run()
    after = model.values()
    t = {k: torch.tensor(v, requires_grad=True) for k, v in before.items()}
    h = torch.tensor(data.train.x, dtype=torch.float64)
    for name in ("hidden1", "hidden2"):
        h = torch.sigmoid(h @ t[f"{name}/W"] + t[f"{name}/b"])
    logits = h @ t["logits/W"] + t["logits/b"]
    labels = torch.tensor(data.train.y, dtype=torch.long)
    torch.nn.functional.cross_entropy(logits, labels).backward()
    for key, value in before.items():
        want = value if key.startswith("hidden1") else value - 0.3 * t[key].grad.numpy()
        np.testing.assert_allclose(after[key], want, rtol=2e-4, atol=2e-6, err_msg=key)
    np.testing.assert_array_equal(after["hidden1/W"], before["hidden1/W"].astype(np.float32))


def test_the_files_frozen_metadata_is_honoured_and_checked():
    graph = stacked(kind="dense")
    model = Model.from_document(graph, "g.json", {"frozen": ["hidden2", "logits/b"]})
    assert sorted(model.frozen) == ["hidden2/W", "hidden2/b", "logits/b"]
    assert "hidden2/W" in model.shared and "hidden2/W" in model.values()
    with pytest.raises(ModelError, match="g.json: cannot freeze 'nope'"):
        Model.from_document(graph, "g.json", {"frozen": ["nope"]})
    with pytest.raises(ModelError, match="must be a list"):
        Model.from_document(graph, "g.json", {"frozen": "hidden2"})


# --- layer-wise ----------------------------------------------------------------------------------

def _snapshots(pretrainer):
    """The model's values as each layer starts, and at the end."""
    seen = []
    pretrainer.subscribe(lambda e: seen.append((e.layer, pretrainer.model.values()))
                         if isinstance(e, LayerStart) else None)
    return seen


def _changed(a, b, prefix):
    return any(not np.array_equal(a[k], b[k]) for k in a if k.startswith(prefix))


@pytest.mark.parametrize("method", ["sae", "dae"])
def test_autoencoder_stack_trains_one_layer_at_a_time(method):
    graph = stacked(noise="none")
    pretrainer = Layerwise(graph, _data(), method, epochs=4, optimizer="sgd", lr=0.1,
                           batch_size=10)
    noise = {s.loss.owner.attrs["noise"] for s in pretrainer.stages}
    assert noise == ({"none"} if method == "sae" else {"masking"})
    assert graph.nodes["ae1"].attrs["noise"] == "none"  # the user's document is untouched
    seen = _snapshots(pretrainer)
    result = pretrainer.run()
    assert [layer for layer, _ in seen] == ["ae1", "ae2"]
    start2, end = seen[1][1], result.values
    assert _changed(seen[0][1], start2, "ae1/") and not _changed(seen[0][1], start2, "ae2/")
    assert not _changed(start2, end, "ae1/") and _changed(start2, end, "ae2/")
    assert not _changed(seen[0][1], end, "logits/")  # the classifier waits for fine-tuning
    for history in result.histories.values():  # each layer's reconstruction cost goes down
        first, last = history.epochs[0], history.epochs[-1]
        assert last.train_loss < first.train_loss


def test_dbn_trains_each_rbm_in_turn_watching_its_reconstruction():
    graph = stacked(kind="rbm_layer")
    pretrainer = Layerwise(graph, _data(), "dbn", epochs=3, optimizer="sgd", lr=0.1,
                           batch_size=10)
    seen = _snapshots(pretrainer)
    result = pretrainer.run()
    start2, end = seen[1][1], result.values
    assert _changed(seen[0][1], start2, "rbm1/") and not _changed(seen[0][1], start2, "rbm2/")
    assert not _changed(start2, end, "rbm1/") and _changed(start2, end, "rbm2/W")
    assert _changed(start2, end, "rbm2/chain")  # PCD's particles move as declared state
    for history in result.histories.values():  # the error watched is the reconstruction
        assert history.epochs[-1].valid_error < history.epochs[0].valid_error * 1.05
        assert history.epochs[-1].train_error > 0


def test_dae_keeps_a_layers_own_noise_and_sae_switches_it_off():
    model = Model.from_document(stacked(noise="gaussian"))
    dae = select_stages(model, "dae", None)
    assert [s.loss.owner.attrs["noise"] for s in dae] == ["gaussian", "gaussian"]
    sae = select_stages(model, "sae", ["ae2"])
    assert [(s.layer, s.loss.owner.attrs["noise"]) for s in sae] == [("ae2", "none")]
    assert sae[0].params == [model.shared["ae2/W"], model.shared["ae2/b"],
                             model.shared["ae2/b_prime"]]


def test_supervised_greedy_adds_one_hidden_layer_at_a_time():
    graph = stacked(hidden=(8, 6, 5), kind="dense")
    pretrainer = Layerwise(graph, _data(), "supervised", epochs=3, optimizer="sgd", lr=0.5,
                           batch_size=10)
    assert [s.layer for s in pretrainer.stages] == ["hidden1", "hidden2", "hidden3"]
    assert [sorted(s.extra) for s in pretrainer.stages] == [["W", "b"], ["W", "b"], []]
    seen = _snapshots(pretrainer)
    result = pretrainer.run()
    values = [v for _, v in seen] + [result.values]
    for k, name in enumerate(("hidden1", "hidden2", "hidden3")):
        for j in range(3):  # each hidden layer changes during its own stage only
            assert _changed(values[j], values[j + 1], f"{name}/") == (j == k), (name, j)
    assert _changed(values[2], values[3], "logits/") and not _changed(values[0], values[2],
                                                                      "logits/")
    assert not any("@" in key for key in result.values)  # the temporary heads are dropped
    for history in result.histories.values():
        assert history.epochs[-1].train_error is not None


def test_the_strategy_runs_one_layer_per_epoch_of_a_trainer():
    """What `nodestudio pretrain` drives: one Trainer over the whole graph whose epochs are
    the layers (each trained for the run's epochs by a trainer of its own)."""
    model = Model.from_document(stacked())
    before = model.values()
    events = []
    trainer = Trainer(model, _data(), "sgd", 0.1, batch_size=10, epochs=3, patience=1,
                      strategy=LayerwiseStrategy("dae"))
    trainer.subscribe(events.append)
    history = trainer.run()
    assert trainer.epochs == 2 and len(history.epochs) == 2 and history.stop_reason == "epochs"
    assert [e.layer for e in events if isinstance(e, LayerStart)] == ["ae1", "ae2"]
    assert [e.kind for e in events].count("finished") == 1  # the run's, not each layer's
    assert 2.0 <= history.epochs[0].metrics["ae1/epochs"] <= 3.0  # patience 1 in each layer
    assert "ae2/valid_cost" in history.epochs[1].metrics
    after = model.values()
    assert _changed(before, after, "ae1/") and _changed(before, after, "ae2/")
    assert not _changed(before, after, "logits/")


def test_a_graph_without_the_methods_layers_is_refused():
    with pytest.raises(ModelError, match="no autoencoder_layer node"):
        Layerwise(stacked(kind="dense"), _data(), "dae")
    model = Model.from_document(stacked(kind="dense"))
    assert [n.name for n in layer_stack(model, "dense_layer")] == ["hidden1", "hidden2",
                                                                    "logits"]


def test_contrastive_divergence_watches_and_trains_only_the_rbms_not_frozen():
    """A DBN stage's cost reads the frozen RBM below it: that layer is neither monitored nor
    rebuilt, and when every RBM is frozen there is nothing to train (a clear refusal)."""
    from nodestudio.train.loop import TrainingError
    from nodestudio.train.strategies import ContrastiveDivergence

    model = Model.from_document(stacked(kind="rbm_layer"))
    model.freeze("rbm1")
    strategy = ContrastiveDivergence(objective="layers")
    history = Trainer(model, _data(), "sgd", 0.1, batch_size=10, epochs=1,
                      strategy=strategy).run()
    assert [node.name for node in strategy.nodes] == ["rbm2"]
    assert "free_energy_gap" in history.epochs[0].metrics
    assert not any(key.startswith("rbm1/") for key in history.epochs[0].metrics)

    model.freeze("rbm2")
    with pytest.raises(TrainingError, match="every rbm_layer .* is frozen"):
        Trainer(model, _data(), "sgd", 0.1, batch_size=10, epochs=1,
                strategy=ContrastiveDivergence(objective="layers")).run()


def test_a_dbns_k_raised_during_the_first_layer_reaches_every_layer_after_it():
    """LayerwiseStrategy.set_k (the Training dock's Apply during Pretrain dbn): the layer
    training now runs the new k from its next epoch, the layers above it from their first."""
    model = Model.from_document(stacked(kind="rbm_layer"))
    strategy = LayerwiseStrategy("dbn")
    ks = []

    def on_event(event):
        if isinstance(event, EpochEnd) and event.record.epoch == 1 and not ks:
            assert strategy.current_k == 1
            strategy.set_k(3)
        if isinstance(event, EpochEnd):
            ks.append({k: v for k, v in event.record.metrics.items() if k.endswith("k")})
    trainer = Trainer(model, _data(), "sgd", 0.1, batch_size=10, epochs=2, strategy=strategy)
    trainer.subscribe(on_event)
    trainer.run()
    # rbm1's two epochs, the run's epoch for rbm1 (its last epoch's figures), rbm2's two
    # epochs, the run's epoch for rbm2
    assert ks == [{"k": 1.0}] + [{"k": 3.0}] * 5
    assert strategy.current_k == 3
    with pytest.raises(TrainingError, match="trains none"):
        LayerwiseStrategy("dae").set_k(2)
