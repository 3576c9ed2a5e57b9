"""The pretraining examples (stacked_dae, rbm, dbn, deep_autoencoder): written by
make_examples.py, loaded, pretrained layer by layer and fine-tuned on a slice of mnist5k."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nodestudio.data import load_dataset
from nodestudio.data.dataset import Splits
from nodestudio.graph import fileformat
from nodestudio.train.loop import Evaluator, Trainer
from nodestudio.train.model import Model
from nodestudio.train.strategies import ContrastiveDivergence
from nodestudio.train.strategies.layerwise import Layerwise, layer_stack
from nodestudio.train.unfold import to_classifier, to_deep_autoencoder
from tests.train.examples import EXAMPLES, make_examples

NAMES = ["stacked_dae", "rbm", "dbn", "deep_autoencoder"]


@pytest.fixture(scope="module")
def small():
    data = load_dataset("mnist5k", seed=0)
    return Splits(data.train.subset(np.arange(300)), data.valid.subset(np.arange(100)),
                  data.test.subset(np.arange(100)))


@pytest.mark.parametrize("name", NAMES)
def test_the_files_are_what_the_script_writes(name, tmp_path):
    written = make_examples().write(name, tmp_path)
    assert written.read_bytes() == (EXAMPLES / f"{name}.json").read_bytes()
    assert json.loads(written.read_text())["values"] == {}
    model = Model.load(EXAMPLES / f"{name}.json")
    assert model.x.shape == (None, 784)
    assert model.unsupervised == (name in ("rbm", "deep_autoencoder"))
    assert model.metadata["pretraining"]["method"] in ("dae", "rbm", "dbn", "sae")


@pytest.mark.parametrize("name, method, layers", [
    ("stacked_dae", "dae", ["ae1", "ae2", "ae3"]), ("dbn", "dbn", ["rbm1", "rbm2", "rbm3"])])
def test_pretrain_then_fine_tune_the_classifier(name, method, layers, small, tmp_path):
    graph = fileformat.load(EXAMPLES / f"{name}.json")
    pretrainer = Layerwise(graph, small, method, epochs=1, lr=0.05, batch_size=20)
    result = pretrainer.run()
    assert list(result.histories) == layers
    pretrainer.model.save_values(tmp_path / "params.npz")
    model = Model.load(EXAMPLES / f"{name}.json")
    model.load_values(tmp_path / "params.npz")  # the keys of the file's own layers
    history = Trainer(model, small, "sgd", 0.1, batch_size=20, epochs=2).run()
    assert history.test_error < 0.6
    clf = Model.from_document(to_classifier(graph, result.values))  # the same net unfolded
    assert Evaluator(clf)(small.test)[0] == pytest.approx(
        Evaluator(pretrainer.model)(small.test)[0], rel=1e-5)


def test_the_deep_autoencoder_unfolds_and_cg_lowers_its_cost(small):
    graph = fileformat.load(EXAMPLES / "deep_autoencoder.json")
    # every layer is on the way to the file's loss, so `nodestudio pretrain` finds the stack
    assert [n.name for n in layer_stack(Model.from_document(graph), "autoencoder_layer")] \
        == ["ae1", "ae2", "ae3"]
    pretrainer = Layerwise(graph, small, "sae", epochs=1, lr=0.1, batch_size=20)
    result = pretrainer.run()
    unfolded = to_deep_autoencoder(graph, result.values)
    assert unfolded.metadata["training"]["optimizer"] == "cg"
    deep = Model.from_document(unfolded)
    before = Evaluator(deep)(small.test)[0]
    history = Trainer(deep, small, "cg", epochs=1, fullbatch_iterations=5).run()
    assert history.test_loss < before


def test_the_rbm_trains_by_pcd(small):
    model = Model.load(EXAMPLES / "rbm.json")
    chain = model.shared["rbm/chain"].get_value()
    history = Trainer(model, small, "sgd", 0.1, batch_size=20, epochs=2,
                      strategy=ContrastiveDivergence()).run()
    assert history.epochs[-1].metrics["recon"] < history.epochs[0].metrics["recon"] * 1.05
    assert not np.array_equal(model.shared["rbm/chain"].get_value(), chain)
