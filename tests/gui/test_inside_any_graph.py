"""Every looking-inside panel on graphs it was not written for: the example MLP, the deep MLP
with batch norm and dropout, and a 2-D toy classifier, all panels open while one epoch trains.
Each panel must follow the run without a Python error (pytest-qt fails the test on an exception
in any Qt callback) and show its content for that graph afterwards; the panels' own tests check
their figures against independent computations."""

from __future__ import annotations

from pathlib import Path

import pytest

from nodestudio.graph import fileformat
from tests.train.test_results import moons_graph

pytestmark = pytest.mark.opencl
EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"
LONG = 240_000
SMALL_RUN = {"epochs": 1, "batch_size": 100, "patience": None}


@pytest.fixture
def window(studio):
    return studio()


def _toy(tmp_path: Path) -> Path:
    graph = moons_graph()
    graph.metadata = {"training": {"dataset": "moons", "lr": 0.5, **SMALL_RUN}}
    path = tmp_path / "moons.json"
    fileformat.save(graph, path)
    return path


def _example(name: str, tmp_path: Path) -> Path:
    graph = fileformat.load(EXAMPLES / name)
    graph.metadata = {**graph.metadata,
                      "training": {**graph.metadata.get("training", {}), **SMALL_RUN}}
    path = tmp_path / name
    fileformat.save(graph, path)
    return path


@pytest.mark.parametrize("make", [
    lambda tmp: _example("mlp.json", tmp),
    lambda tmp: _example("deep_mlp.json", tmp),
    _toy,
], ids=["mlp", "deep_mlp", "moons"])
def test_every_panel_follows_a_run_on_any_graph(qtbot, window, tmp_path, make):
    assert window.open_path(make(tmp_path), ask=False)
    names = list(window.inspect_specs)
    assert {"filters", "gradients", "activations", "wires", "backward", "gradcheck", "kernels",
            "results", "compare"} <= set(names)
    panels = {name: window.show_panel(name) for name in names}
    with qtbot.waitSignal(window.training.session.finished, timeout=LONG):
        window.train()
    qtbot.waitUntil(lambda: not any(getattr(p, "busy", False) for p in panels.values()),
                    timeout=LONG)
    for name in names:
        window.show_panel(name)  # each in front once, drawn with what the run left
        qtbot.wait(50)
    graph = window.document.graph
    # a weight matrix to tile, its gradient norms plotted, kernels listed, results computed
    assert panels["filters"].layer.count() >= 1
    assert window.live.latest is not None and set(window.live.latest.grads) >= {
        k for k, v in graph.values.items() if v.ndim == 2}
    assert panels["kernels"].table.rowCount() > 0
    results = panels["results"].results()
    assert results is not None and results.confusion.sum() == results.total > 0
    assert panels["backward"].backward_view.cards
    for name, panel in panels.items():
        assert not panel.grab().isNull(), name
