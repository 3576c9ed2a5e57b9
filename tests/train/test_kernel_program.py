"""The lowered programs of a graph in the user's terms (nodestudio/train/program.py and
nodestudio/api/kernels.py): the training step's kernels, their nodes, phases and times."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.backend import device as backend
from nodestudio.graph import fileformat
from nodestudio.train.program import lowered_programs
from nodestudio.train.settings import TrainingSettings

pytestmark = pytest.mark.opencl
EXAMPLES = Path(__file__).resolve().parents[2] / "resources" / "examples"


def test_training_step_lists_forward_backward_and_update_kernels_in_user_names():
    graph = fileformat.load(EXAMPLES / "mlp.json")
    step, infer = lowered_programs(graph, TrainingSettings(batch_size=16), "mlp.json", runs=2)
    assert step.title == "training step" and infer.title == "inference"
    phases = [row.phase for row in step.rows]
    assert {"forward", "backward", "update"} <= set(phases)
    # the first kernel is the hidden layer's matmul; the largest backward one its weight gradient
    assert step.rows[0].nodes == ("hidden",) and step.rows[0].phase == "forward"
    backward = [row for row in step.rows if row.phase == "backward"]
    assert any(row.nodes == ("hidden",) and "gemm" in row.name for row in backward)
    assert all(node in graph.nodes for row in step.rows for node in row.nodes)
    # inference: no gradient, no update, and every kernel timed
    assert {row.phase for row in infer.rows} == {"forward"}
    assert all(row.seconds is not None and row.seconds >= 0 for row in infer.rows)
    for program in (step, infer):
        assert sum(program.shares()) == pytest.approx(1.0)
        assert program.batch_size == 16 and program.device == ns.current_device().label


def test_profiling_uses_its_own_queue_and_leaves_the_parameters_of_the_document():
    graph = fileformat.load(EXAMPLES / "mlp.json")
    before = {key: np.array(value) for key, value in graph.values.items()}
    rt = backend.runtime()
    queue, profiling = rt.queue, rt.profiling
    lowered_programs(graph, TrainingSettings(batch_size=16), runs=1)
    assert rt.queue is queue and rt.profiling == profiling  # the main queue untouched
    for key, value in before.items():
        np.testing.assert_array_equal(graph.values[key], value)


def test_function_profile_gives_each_kernel_a_median_time():
    x = ns.matrix("x")
    fn = ns.function([x], ns.tanh(x) * 2.0)
    reports = fn.profile(np.ones((4, 3), np.float32), runs=3)
    assert len(reports) == 1 and reports[0].seconds is not None
    with pytest.raises(ValueError, match="runs"):
        fn.profile(np.ones((4, 3), np.float32), runs=0)
