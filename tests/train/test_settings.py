"""TrainingSettings and build_trainer: the settings shared by the CLI and the Training panel."""

from __future__ import annotations

import pytest

from nodestudio.train import Adam, Momentum, schedules
from nodestudio.train.loop import OPTIMIZER_NAMES, TrainingError
from nodestudio.train.regularise import Regularisation
from nodestudio.train.settings import (
    SCHEDULE_PARAMETERS,
    TRAIN_DEFAULTS,
    TrainingSettings,
    build_trainer,
    hyperparameters,
    optimizer_and_schedule,
)


def test_defaults_come_from_the_given_values_then_the_metadata_then_the_cli_defaults():
    metadata = {"training": {"optimizer": "adam", "lr": 0.002, "epochs": 7, "patience": 3,
                             "unknown_future_key": 1}}
    s = TrainingSettings.from_metadata(metadata, epochs=2)
    assert (s.optimizer, s.lr, s.epochs, s.patience) == ("adam", 0.002, 2, 3)
    assert s.batch_size == TRAIN_DEFAULTS["batch_size"]
    plain = TrainingSettings.from_metadata(None)
    assert (plain.optimizer, plain.lr, plain.epochs, plain.patience) == (
        TRAIN_DEFAULTS["optimizer"], None, TRAIN_DEFAULTS["epochs"], None)
    assert TrainingSettings.from_metadata({"training": "not a dict"}) == plain


def test_metadata_round_trip_keeps_only_what_differs():
    s = TrainingSettings(dataset="digits", optimizer="momentum", lr=0.05,
                         hyper={"momentum": 0.5}, schedule="step",
                         schedule_params={"factor": 0.5, "every": 100},
                         regularisation=Regularisation(l2=1e-4), seed=3)
    stored = s.to_metadata()
    assert stored["regularisation"] == {"l2": 1e-4}
    assert "min_epochs" not in stored and "device" not in stored
    assert TrainingSettings.from_metadata({"training": stored}) == s


def test_optimizer_and_schedule_are_built_from_the_settings():
    optimizer, schedule = TrainingSettings(optimizer="momentum", lr=0.2,
                                           hyper={"momentum": 0.5, "variant": "smoothed"},
                                           schedule="linear",
                                           schedule_params={"lr_tau": 0.02, "tau": 10}
                                           ).optimizer_and_schedule()
    assert isinstance(optimizer, Momentum) and optimizer.momentum == 0.5
    assert schedule.lr_at(0) == pytest.approx(0.2) and schedule.lr_at(50) == pytest.approx(0.02)
    optimizer, schedule = TrainingSettings(optimizer="adam").optimizer_and_schedule()
    assert isinstance(optimizer, Adam)
    assert schedule == schedules.constant(optimizer.lr)  # the optimizer's own default rate
    assert optimizer_and_schedule("lbfgs", None, {}, None, {}) == ("lbfgs", None)
    with pytest.raises(TrainingError, match="takes no"):
        optimizer_and_schedule("cg", None, {}, "exponential", {"gamma": 0.9})


@pytest.mark.parametrize("changes, match", [
    ({"optimizer": "newton"}, "unknown optimizer"),
    ({"epochs": 0}, "epochs"),
    ({"batch_size": 2.5}, "batch_size"),
    ({"patience": 0}, "patience"),
    ({"lr": -1.0}, "learning rate"),
    ({"lr": float("nan")}, "learning rate"),
    ({"hyper": {"beta1": 1.5}, "optimizer": "adam"}, "beta1"),
    ({"hyper": {"nonsense": 1}}, "nonsense"),
    ({"schedule": "linear", "schedule_params": {"tau": 10}}, "lr_tau"),
    ({"schedule": "cosine"}, "unknown schedule"),
    ({"dataset": " "}, "dataset"),
])
def test_check_names_the_setting_that_cannot_work(changes, match):
    with pytest.raises(TrainingError, match=match):
        TrainingSettings(**changes).check()


def test_bad_regularisation_in_metadata_is_a_training_error():
    with pytest.raises(TrainingError, match="drop-connect"):
        TrainingSettings.from_metadata({"training": {"regularisation": {"drop_connect": 2}}})


def test_every_optimizer_and_schedule_has_a_description_of_its_parameters():
    for name in OPTIMIZER_NAMES:
        names = [h.name for h in hyperparameters(name)]
        assert names == [] or names[0] == "lr"
    assert hyperparameters("lbfgs") == ()
    with pytest.raises(TrainingError):
        hyperparameters("newton")
    for name, params in SCHEDULE_PARAMETERS.items():
        s = TrainingSettings(schedule=name, schedule_params={p.name: p.default for p in params})
        s.check()


def test_describe_is_one_readable_line():
    assert TrainingSettings(optimizer="adam", epochs=5, patience=2).describe() == (
        "adam, lr 0.001, batch 100, 5 epochs, patience 2 on mnist5k")
    assert TrainingSettings(optimizer="lbfgs").describe().startswith("lbfgs (full batch)")


@pytest.mark.opencl
def test_build_trainer_passes_every_setting_to_the_trainer():
    import numpy as np

    import nodestudio as ns
    from nodestudio.data import load_dataset
    from nodestudio.train.model import Model
    x, y = ns.tensor("x", (None, 2)), ns.ivector("y")
    W, b = ns.shared(np.zeros((2, 2)), "W"), ns.shared(np.zeros(2), "b")
    logits = ns.dense(x, W, b)
    model = Model.from_loaded(type("L", (), {
        "inputs": {"x": x, "y": y}, "shared": {"W": W, "b": b},
        "outputs": {"loss": ns.softmax_cross_entropy(logits, y),
                    "error": ns.classification_error(logits, y)}})())
    settings = TrainingSettings(dataset="xor", optimizer="nesterov", lr=0.3, batch_size=50,
                                epochs=2, patience=1, min_epochs=2, seed=4,
                                regularisation=Regularisation(l2=1e-3))
    trainer = build_trainer(model, load_dataset("xor", seed=4), settings)
    assert (trainer.method, trainer.batch_size, trainer.epochs, trainer.seed) == (
        "nesterov", 50, 2, 4)
    assert trainer.schedule.lr_at(0) == pytest.approx(0.3)
    assert trainer.early.patience == 1 and trainer.early.min_epochs == 2
    assert trainer.regularisation.l2 == 1e-3
    history = trainer.run()
    assert len(history.epochs) == 2
