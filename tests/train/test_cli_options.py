"""`nodestudio train` reaches optimizer hyperparameters, schedules and early-stopping options."""

from __future__ import annotations

import json

import pytest

from nodestudio.cli import _key_values, _settings, build_parser, main
from nodestudio.train import Momentum
from nodestudio.train.loop import TrainingError

pytestmark = pytest.mark.opencl


def test_key_values_parse_numbers_and_words():
    assert _key_values("momentum=0.9,variant=smoothed,tau=20", "--hyper") == {
        "momentum": 0.9, "variant": "smoothed", "tau": 20}
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        _key_values("momentum", "--hyper")


def _optimizer_and_schedule(name, lr, hyper, schedule):
    """What `nodestudio train --optimizer NAME [--lr LR] [--hyper H]... [--schedule S]` builds."""
    argv = ["train", "g.json", "--data", "digits", "--out", "o", "--optimizer", name]
    argv += ["--lr", str(lr)] if lr is not None else []
    for text in hyper:
        argv += ["--hyper", text]
    argv += ["--schedule", schedule] if schedule is not None else []
    return _settings(build_parser().parse_args(argv), {}).optimizer_and_schedule()


def test_hyperparameters_and_schedule_are_built():
    optimizer, schedule = _optimizer_and_schedule(
        "momentum", 0.2, ["momentum=0.5,variant=smoothed"], "linear:lr_tau=0.02,tau=10")
    assert isinstance(optimizer, Momentum) and optimizer.momentum == 0.5
    assert optimizer.variant == "smoothed"
    assert schedule.lr_at(0) == pytest.approx(0.2)
    assert schedule.lr_at(5) == pytest.approx(0.11)
    assert schedule.lr_at(50) == pytest.approx(0.02)
    with pytest.raises(TrainingError, match="nonsense"):
        _optimizer_and_schedule("adam", None, ["nonsense=1"], None)
    with pytest.raises(TrainingError, match="takes no"):
        _optimizer_and_schedule("lbfgs", None, [], "exponential:gamma=0.9")


def test_train_with_a_schedule_and_hyperparameters(tmp_path, capsys):
    import numpy as np

    import nodestudio as ns
    from nodestudio.api.io import save
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W = ns.shared(np.zeros((64, 10)), "W")
    b = ns.shared(np.zeros(10), "b")
    logits = ns.dense(x, W, b)
    save({"loss": ns.softmax_cross_entropy(logits, y),
          "error": ns.classification_error(logits, y)}, tmp_path / "lr.json")
    code = main(["train", str(tmp_path / "lr.json"), "--data", "digits", "--epochs", "3",
                 "--optimizer", "momentum", "--lr", "0.05", "--hyper", "momentum=0.8",
                 "--schedule", "exponential:gamma=0.99", "--min-epochs", "2",
                 "--patience-doubling", "--patience", "2", "--out", str(tmp_path / "run")])
    assert code == 0
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    losses = [e["train_loss"] for e in metrics["epochs"]]
    assert len(losses) >= 2 and losses[-1] < losses[0]
    assert metrics["test_error"] < 0.2


def test_progress_bar_on_a_terminal():
    import io
    from types import SimpleNamespace

    from nodestudio.train.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    progress = Progress(stream, n_train=100, epochs=2, batch_size=25)
    progress.drawn = -1e9
    progress(SimpleNamespace(kind="batch_end", epoch=1, loss=0.5, samples_per_second=1000.0))
    assert progress.bar() == "[======>                 ]  25%"
    assert "epoch 1/2 [======>" in stream.getvalue()
    progress.seen = 4
    assert progress.bar() == "[========================] 100%"


def test_settings_the_studio_stored_in_the_graph_apply_unless_the_command_line_says_otherwise():
    stored = {"training": {"optimizer": "momentum", "hyper": {"momentum": 0.5},
                           "regularisation": {"l2": 0.01}, "schedule": "exponential",
                           "schedule_params": {"gamma": 0.9}}}
    base = ["train", "g.json", "--data", "digits", "--out", "o"]
    plain = _settings(build_parser().parse_args(base), stored)
    assert (plain.optimizer, plain.hyper, plain.regularisation.l2) == ("momentum",
                                                                       {"momentum": 0.5}, 0.01)
    assert (plain.schedule, plain.schedule_params) == ("exponential", {"gamma": 0.9})
    given = _settings(build_parser().parse_args(
        base + ["--l2", "0.1", "--hyper", "momentum=0.8", "--schedule", "constant"]), stored)
    assert (given.hyper, given.regularisation.l2, given.schedule) == ({"momentum": 0.8}, 0.1,
                                                                      "constant")


@pytest.mark.parametrize("example, optimizer, lr", [
    ("mlp", "adam", 0.001),  # mlp.json stores sgd at 0.1: Adam used to run at 0.1
    ("deep_mlp", "sgd", 0.01),  # deep_mlp.json stores adam at 0.001
    ("mlp", "sgd", 0.1),  # the stored optimizer keeps its stored rate
])
def test_the_example_graphs_with_another_optimizer(example, optimizer, lr):
    from nodestudio.graph import fileformat
    metadata = fileformat.load(f"resources/examples/{example}.json").metadata
    args = build_parser().parse_args(["train", f"{example}.json", "--data", "mnist5k",
                                      "--out", "o", "--optimizer", optimizer])
    assert _settings(args, metadata).effective_lr() == lr
