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
    set_aside,
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
    with pytest.raises(TrainingError, match=r"^metadata\.training: expected an object, got "
                       r'"not a dict"$'):
        TrainingSettings.from_metadata({"training": "not a dict"})


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


def test_describe_is_one_readable_line_with_every_setting():
    assert TrainingSettings(optimizer="adam", epochs=5, patience=2).describe() == (
        "adam (lr 0.001, beta1 0.9, beta2 0.999, eps 1e-08), batch 100, 5 epochs, patience 2, "
        "preprocessing auto, seed 0 on mnist5k")
    assert TrainingSettings(optimizer="momentum", lr=0.05, schedule="step",
                            schedule_params={"factor": 0.5, "every": 100}, epochs=1,
                            regularisation=Regularisation(l2=1e-4, input_noise=0.3),
                            preprocess="standardise", dataset="digits").describe() == (
        "momentum (lr 0.05, momentum 0.9, variant classic), schedule step (factor 0.5, "
        "every 100), batch 100, 1 epoch, preprocessing standardise, l2 0.0001, "
        "input noise 0.3, seed 0 on digits")
    assert TrainingSettings(optimizer="lbfgs").describe().startswith("lbfgs (full batch)")


MLP = {"training": {"optimizer": "sgd", "lr": 0.1, "batch_size": 20}}  # mlp.json's
DEEP = {"training": {"optimizer": "adam", "lr": 0.001}}  # deep_mlp.json's


def test_another_optimizer_starts_from_its_own_defaults():
    # `nodestudio train mlp.json --optimizer adam` used to run Adam at SGD's stored 0.1
    adam = TrainingSettings.from_metadata(MLP, optimizer="adam")
    assert (adam.lr, adam.effective_lr(), adam.batch_size) == (None, 0.001, 20)
    sgd = TrainingSettings.from_metadata(DEEP, optimizer="sgd")
    assert sgd.effective_lr() == 0.01  # not Adam's 0.001
    stored = {"training": {"optimizer": "momentum", "lr": 0.05, "hyper": {"momentum": 0.5},
                           "schedule": "exponential", "schedule_params": {"gamma": 0.9}}}
    nesterov = TrainingSettings.from_metadata(stored, optimizer="nesterov")
    assert nesterov.hyperparameter_values() == {"lr": 0.01, "momentum": 0.9}
    assert (nesterov.schedule, nesterov.schedule_params) == ("exponential", {"gamma": 0.9})
    assert set_aside(stored, "nesterov") == {"lr": 0.05, "hyper": {"momentum": 0.5}}


def test_the_stored_optimizer_keeps_its_values_and_given_values_always_win():
    assert TrainingSettings.from_metadata(MLP, optimizer="sgd").lr == 0.1
    assert set_aside(MLP, "sgd") == {} and set_aside(MLP, None) == {}
    assert TrainingSettings.from_metadata(MLP, optimizer="adam", lr=0.01).lr == 0.01
    given = TrainingSettings.from_metadata(MLP, optimizer="adam", hyper={"beta1": 0.5})
    assert given.hyper == {"beta1": 0.5} and given.effective_lr() == 0.001
    # a file that names no optimizer stored its rate for the default one, sgd
    assert TrainingSettings.from_metadata({"training": {"lr": 0.3}}, optimizer="sgd").lr == 0.3
    assert TrainingSettings.from_metadata({"training": {"lr": 0.3}}, optimizer="adam").lr is None


def test_effective_settings_name_every_value_the_run_uses():
    from nodestudio.data import load_dataset
    settings = TrainingSettings(optimizer="rmsprop", lr=0.002, hyper={"alpha": 0.9},
                                dataset="digits", regularisation=Regularisation(l2=1e-3))
    effective = settings.effective(load_dataset("digits"), device="some device")
    assert effective == {
        "dataset": "digits", "optimizer": "rmsprop",
        "hyperparameters": {"lr": 0.002, "alpha": 0.9, "eps": 1e-8},
        "schedule": {"kind": "constant"}, "batch_size": 100, "epochs": 20, "patience": None,
        "min_epochs": 0, "preprocess": "auto", "preprocessing_applied": "scale",
        "regularisation": {"l2": 1e-3}, "seed": 0, "device": "some device"}
    full = TrainingSettings(optimizer="cg", preprocess="standardize").effective()
    assert full["batch_size"] == "full" and "hyperparameters" not in full
    assert full["preprocess"] == "standardise"


def test_preprocessing_is_a_checked_setting_stored_with_the_graph():
    settings = TrainingSettings(preprocess="pca-whiten")
    settings.check()
    assert settings.to_metadata()["preprocess"] == "pca-whiten"
    assert TrainingSettings.from_metadata({"training": settings.to_metadata()}) == settings
    assert "preprocess" not in TrainingSettings().to_metadata()  # auto, the default
    with pytest.raises(TrainingError, match="unknown preprocessing 'whitening'.*standardise"):
        TrainingSettings(preprocess="whitening").check()


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


# --- metadata["training"] of the wrong types: each named like a field of a file ----------------
@pytest.mark.parametrize("stored, message", [
    ({"epochs": None}, "metadata.training.epochs: expected a whole number >= 1 (at most "
                       "100,000), got null"),
    ({"epochs": 2.5}, "metadata.training.epochs: expected a whole number >= 1 (at most "
                      "100,000), got 2.5"),
    ({"epochs": 10**9}, "metadata.training.epochs: expected a whole number >= 1 (at most "
                        "100,000), got 1000000000"),
    ({"min_epochs": 2**31}, "metadata.training.min_epochs: expected a whole number >= 0 (at "
                            "most 100,000), got 2147483648"),
    ({"batch_size": True}, "metadata.training.batch_size: expected a whole number >= 1 (at "
                           "most 1,000,000), got true"),
    ({"patience": 0}, "metadata.training.patience: expected a whole number >= 1 or null (at "
                      "most 100,000), got 0"),
    ({"regularisation": []}, "metadata.training.regularisation: expected an object of "
                             "numbers, got []"),
    ({"regularisation": [1]}, "metadata.training.regularisation: expected an object of "
                              "numbers, got [1]"),
    ({"regularisation": {"l5": 1}}, "metadata.training.regularisation: unknown option 'l5'"),
    ({"regularisation": {"l1": -1}}, "metadata.training.regularisation: l1 must be a number "
                                     ">= 0, got -1"),
    ({"hyper": 5}, "metadata.training.hyper: expected an object of hyperparameters"),
    ({"hyper": {"momentum": 0.5}}, "metadata.training.hyper: sgd: unknown hyperparameter "
                                   "'momentum'"),
    ({"optimizer": "x"}, 'metadata.training.optimizer: expected one of sgd, momentum'),
    ({"optimizer": "lbfgs", "hyper": {"lr": 0.1}}, "metadata.training.hyper: lbfgs takes no "
                                                   "hyperparameters"),
    ({"schedule_params": [1, 2]}, "metadata.training.schedule_params: expected an object of "
                                  "numbers, got [1, 2]"),
    ({"schedule": "step", "schedule_params": {"factor": "x"}},
     "metadata.training.schedule_params: expected an object of numbers"),
    ({"schedule": "bogus"}, "metadata.training.schedule: expected one of constant"),
    ({"lr": -1}, "metadata.training.lr: expected a finite number >= 0 or null, got -1"),
    ({"lr": "0.1"}, 'metadata.training.lr: expected a finite number >= 0 or null, got "0.1"'),
    ({"dataset": ""}, 'metadata.training.dataset: expected a non-empty string, got ""'),
    ({"preprocess": 3}, "metadata.training.preprocess: expected one of auto, none"),
    ({"seed": -1}, "metadata.training.seed: expected a whole number >= 0 (at most "
                   "2,147,483,647), got -1"),
    ({"device": []}, "metadata.training.device: expected a device index or name, or null"),
])
def test_stored_settings_of_the_wrong_type_are_named_like_fields_of_the_file(stored, message):
    with pytest.raises(TrainingError) as exc:
        TrainingSettings.from_metadata({"training": stored})
    assert str(exc.value).startswith(message), str(exc.value)
    # the caller's own values do not hide a broken file: it is refused the same way
    with pytest.raises(TrainingError, match="^metadata.training"):
        TrainingSettings.from_metadata({"training": stored}, epochs=3, dataset="digits")


def test_stored_settings_of_the_right_types_still_load():
    stored = {"optimizer": "momentum", "lr": 0.05, "hyper": {"momentum": 0.5,
                                                             "variant": "smoothed"},
              "schedule": "step", "schedule_params": {"factor": 0.5},  # every: the default
              "batch_size": 20, "epochs": 3, "patience": None, "min_epochs": 0,
              "regularisation": {"l2": 1e-4, "max_norm": None}, "preprocess": "standardize",
              "device": None, "seed": 4, "a_key_from_a_newer_version": [1, 2]}
    s = TrainingSettings.from_metadata({"training": stored})
    assert (s.optimizer, s.lr, s.hyper["momentum"], s.batch_size, s.epochs, s.seed) == (
        "momentum", 0.05, 0.5, 20, 3, 4)
    assert s.regularisation == Regularisation(l2=1e-4)
    assert TrainingSettings.from_metadata({"title": "no training key"}) == \
        TrainingSettings.from_metadata(None)
