"""Training does not leak: 30 epochs of a small tanh MLP (64-32-10) on `digits` keep the device
memory held exactly flat (the buffer pools of the training and evaluation executables plus the
shared values' buffers, equal at every epoch end) and the host's resident set size within 1%
from the end of epoch 3 to the end of epoch 30. Sampled from the Trainer's epoch_end events."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.data import load_dataset
from nodestudio.train.loop import Trainer
from nodestudio.train.model import Model

pytestmark = pytest.mark.opencl

EPOCHS = 30
BATCH = 50  # 1,294 training examples: 25 full batches and one of 44 (two specialisations)


def _mlp(path):
    rng = np.random.default_rng(0)
    x, y = ns.tensor("x", (None, 64)), ns.ivector("y")
    W1 = ns.shared(rng.uniform(-0.2, 0.2, (64, 32)).astype(np.float32), "W1")
    b1 = ns.shared(np.zeros(32, np.float32), "b1")
    W2 = ns.shared(np.zeros((32, 10), np.float32), "W2")
    b2 = ns.shared(np.zeros(10, np.float32), "b2")
    logits = ns.dense(ns.tanh(ns.dense(x, W1, b1)), W2, b2)
    ns.save({"loss": ns.softmax_cross_entropy(logits, y),
             "error": ns.classification_error(logits, y)}, path)
    return Model.load(path)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _device_bytes(trainer: Trainer, model: Model) -> tuple[int, int]:
    """(bytes held on the device, number of executables) for the trainer's two functions."""
    executables = [*trainer._train_fn._executables.values(),
                   *trainer.evaluator._fn._executables.values()]
    pools = sum(e.device_bytes() for e in executables)
    shared = sum(var.container.device.buffer.size for var in model.shared.values())
    return pools + shared, len(executables)


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc/self/statm")
def test_thirty_epochs_keep_device_and_host_memory_flat(tmp_path):
    data = load_dataset("digits", seed=0)
    model = _mlp(tmp_path / "mlp64.json")
    trainer = Trainer(model, data, "sgd", 0.1, batch_size=BATCH, epochs=EPOCHS, patience=None)
    device, host = {}, {}

    def sample(event) -> None:
        if event.kind == "epoch_end":
            epoch = event.record.epoch
            device[epoch] = _device_bytes(trainer, model)
            host[epoch] = _rss_bytes()

    trainer.subscribe(sample)
    history = trainer.run()
    assert history.stop_reason == "epochs" and sorted(device) == list(range(1, EPOCHS + 1))
    assert history.test_error < 0.2  # it did train

    held, count = device[1]
    assert held > 0 and count >= 2
    changed = {e: v for e, v in device.items() if v != (held, count)}
    assert not changed, f"device memory at epoch 1: {device[1]}, later: {changed}"

    growth = (host[EPOCHS] - host[3]) / host[3]
    assert growth < 0.01, (f"resident set grew {100 * growth:.2f}% from epoch 3 "
                           f"({host[3] / 2**20:.1f} MiB) to epoch {EPOCHS} "
                           f"({host[EPOCHS] / 2**20:.1f} MiB)")
