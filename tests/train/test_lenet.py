"""The LeNet example (resources/examples/lenet.json, Theano's convolutional_mlp) trained by
NodeStudio's trainer (float32, OpenCL) and by PyTorch on the same mnist5k split, from the same
initial weights (NodeStudio's initial values copied into torch), on the same minibatches in the
same order, at the same constant learning rate: the first costs agree within 1 %, the test
errors within 1 point. The file is what make_examples.py writes, and its layers have the shapes
and initialisers of the tutorial's."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from nodestudio.cli import main
from nodestudio.data import load_dataset
from nodestudio.data.batches import epoch_batches
from nodestudio.train.loop import Trainer
from nodestudio.train.model import Model
from tests.train.examples import EXAMPLES, make_examples

LENET = EXAMPLES / "lenet.json"
LR, BATCH = 0.1, 50
SHAPES = {"conv1/W": (20, 1, 5, 5), "conv1/b": (20,), "conv2/W": (50, 20, 5, 5),
          "conv2/b": (50,), "hidden/W": (800, 500), "hidden/b": (500,), "logits/W": (500, 10),
          "logits/b": (10,)}


def test_the_file_is_what_the_script_writes_and_has_the_tutorials_layers(tmp_path):
    written = make_examples().write("lenet", tmp_path)
    assert written.read_bytes() == LENET.read_bytes()
    assert json.loads(written.read_text())["values"] == {}  # drawn from the initialisers
    model = Model.load(LENET)
    assert model.x.shape == (None, 784) and model.n_classes == 10
    values = model.values()
    assert {k: v.shape for k, v in values.items()} == SHAPES
    for name, fan_in, fan_out in (("conv1/W", 25, 500), ("conv2/W", 500, 1250),
                                  ("hidden/W", 800, 500)):  # Glorot uniform for tanh
        bound = math.sqrt(6.0 / (fan_in + fan_out))
        assert 0.95 * bound < np.abs(values[name]).max() <= bound, name
    assert not values["logits/W"].any() and not values["conv1/b"].any()
    again = Model.load(LENET).values()  # every load starts from the same weights
    np.testing.assert_array_equal(again["conv2/W"], values["conv2/W"])


def _torch_run(init, data, epochs):
    """The same network in PyTorch (float32): the loss of every step, and the test error with
    the parameters of the best validation epoch (as the trainer keeps them)."""
    torch = pytest.importorskip("torch")
    fn = torch.nn.functional
    torch.manual_seed(0)
    p = {k: torch.tensor(v, requires_grad=True) for k, v in init.items()}

    def forward(x):
        h = torch.as_tensor(x).reshape(-1, 1, 28, 28)
        for i in (1, 2):
            h = fn.max_pool2d(torch.tanh(fn.conv2d(h, p[f"conv{i}/W"], p[f"conv{i}/b"])), 2)
        h = torch.tanh(h.reshape(-1, 800) @ p["hidden/W"] + p["hidden/b"])
        return h @ p["logits/W"] + p["logits/b"]

    def error(split):
        with torch.no_grad():
            return float((forward(split.x).argmax(1).numpy() != split.y).mean())

    opt = torch.optim.SGD(p.values(), lr=LR)
    losses, best, best_test = [], math.inf, None
    for epoch in range(epochs):
        for index in epoch_batches(len(data.train), BATCH, seed=0, epoch=epoch):
            opt.zero_grad()
            loss = fn.cross_entropy(forward(data.train.x[index]),
                                    torch.as_tensor(data.train.y[index]).long())
            loss.backward()
            opt.step()
            losses.append(loss.item())
        valid = error(data.valid)
        if valid < best:
            best, best_test = valid, error(data.test)
    return losses, best_test


@pytest.mark.opencl
def test_lenet_trains_as_in_pytorch_from_the_same_weights_and_batches():
    pytest.importorskip("torch")
    data = load_dataset("mnist5k", seed=0)
    model = Model.load(LENET)
    init = model.values()
    trainer = Trainer(model, data, "sgd", LR, batch_size=BATCH, epochs=2, seed=0)
    ours: list[float] = []
    trainer.subscribe(lambda e: ours.append(e.loss) if e.kind == "batch_end" else None)
    history = trainer.run()
    theirs, torch_test = _torch_run(init, data, epochs=2)
    assert len(ours) == len(theirs) == 2 * math.ceil(len(data.train) / BATCH)
    assert ours[0] == pytest.approx(theirs[0], rel=0.01)
    assert ours[0] == pytest.approx(math.log(10), rel=1e-4)  # zero output layer: uniform
    # the step that follows the first update already depends on every gradient
    assert ours[1] == pytest.approx(theirs[1], rel=0.01)
    assert ours[-1] < 0.5 * ours[0]  # it learns
    assert abs(history.test_error - torch_test) <= 0.01, (history.test_error, torch_test)
    assert history.test_error < 0.15


@pytest.mark.opencl
def test_the_command_line_trains_lenet(tmp_path):
    out = tmp_path / "run"
    assert main(["train", str(LENET), "--data", "mnist5k", "--epochs", "1",
                 "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    settings = metrics["settings"]  # the file's defaults
    assert settings["batch_size"] == BATCH and settings["hyperparameters"]["lr"] == LR
    assert metrics["test_error"] < 0.2
    with np.load(out / "params.npz") as archive:
        assert {k: archive[k].shape for k in archive.files} == SHAPES
