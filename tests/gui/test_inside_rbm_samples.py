"""The RBM samples panel: the tiles drawn are the Gibbs sampler's output (train/sampling.py) from
the persistent particles or from data, the reconstructions beside their inputs, the steps
control, and live frames from the training thread while Pretrain runs."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from nodestudio.gui.inside import panel_names
from nodestudio.train.sampling import GibbsSampler

LONG = 180_000


@pytest.fixture
def window(studio):
    return studio()


def _rbm_values(seed=3):
    rng = np.random.default_rng(seed)
    return {"rbm/W": rng.normal(0.0, 0.3, (784, 500)).astype(np.float32),
            "rbm/vbias": rng.normal(-1.0, 0.5, 784).astype(np.float32),
            "rbm/hbias": rng.normal(0.0, 0.5, 500).astype(np.float32),
            "rbm/chain": (rng.random((20, 784)) < 0.3).astype(np.float32)}


def _expected(values, start, call, steps):
    sampler = GibbsSampler("bernoulli", seed=0)
    sampler.calls = call
    return sampler.run(start, values["rbm/W"], values["rbm/vbias"], values["rbm/hbias"], steps)


def _set_steps(qtbot, panel, steps):
    panel.steps.setFocus()
    qtbot.keyClick(panel.steps, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    qtbot.keyClicks(panel.steps, str(steps))
    assert panel.steps.value() == steps


def test_tiles_are_the_samplers_output_and_the_steps_control_works(qtbot, window):
    assert "rbm-samples" in panel_names()
    assert window.open_path("resources/examples/rbm.json", ask=False)
    values = _rbm_values()
    window.document.set_values(values)
    panel = window.show_panel("rbm-samples")
    assert panel.layer.currentData() == "rbm" and panel.start.currentData() == "particles"
    qtbot.waitUntil(lambda: panel.frame is not None, timeout=60_000)  # the timer's frames
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)  # pause the chains
    assert not panel.run_button.isChecked() and not panel._timer.isActive()
    qtbot.mouseClick(panel.restart_button, Qt.MouseButton.LeftButton)
    frame = panel.advance()  # from the particles, 10 steps
    assert frame.steps == 10 and frame.total_steps == 10
    want = _expected(values, values["rbm/chain"], frame.call, 10)
    np.testing.assert_allclose(frame.means, want.means, atol=1e-5)
    np.testing.assert_array_equal(frame.samples, want.samples)
    assert len(frame.means) == 20  # one chain per particle
    assert panel.shape == (28, 28)
    for j in (0, 7, 19):
        np.testing.assert_array_equal(panel.sample_tile(j), want.means[j].reshape(28, 28))

    _set_steps(qtbot, panel, 3)
    second = panel.advance()  # the chains go on, 3 steps
    assert second.steps == 3 and second.total_steps == 13
    want = _expected(values, frame.samples, second.call, 3)
    np.testing.assert_allclose(second.means, want.means, atol=1e-5)
    np.testing.assert_array_equal(panel.sample_tile(5), want.means[5].reshape(28, 28))
    assert "13 steps (3 per frame)" in panel.samples_plot.titleLabel.text

    # reconstructions beside their inputs: validation rows, p(v | h) of each
    inputs, recon = second.inputs, second.reconstructions
    assert inputs.shape == (16, 784) and inputs.max() <= 1.0
    sampler = GibbsSampler("bernoulli", seed=0)
    sampler.calls = second.call + 1
    np.testing.assert_allclose(recon, sampler.reconstruct(inputs, values["rbm/W"],
                                                          values["rbm/vbias"],
                                                          values["rbm/hbias"]), atol=1e-5)
    shown_input, shown_recon = panel.pair_tiles(4)
    np.testing.assert_array_equal(shown_input, inputs[4].reshape(28, 28))
    np.testing.assert_array_equal(shown_recon, recon[4].reshape(28, 28))

    # from data: the chains start at validation rows (their count is then the user's; from
    # the particles it is the layer's, and the box is off)
    assert not panel.chains.isEnabled()
    panel.start.setCurrentIndex(panel.start.findData("data"))
    assert panel.chains.isEnabled()
    _set_steps(qtbot, panel, 1)
    panel.chains.setValue(9)
    third = panel.advance()
    assert len(third.means) == 9 and third.total_steps == 1
    want = _expected(values, inputs[:9] if len(inputs) >= 9 else None, third.call, 1)
    np.testing.assert_allclose(third.means, want.means, atol=1e-5)


def test_frames_come_live_from_the_training_thread_while_pretraining(qtbot, window):
    assert window.open_path("resources/examples/rbm.json", ask=False)
    panel = window.show_panel("rbm-samples")
    qtbot.mouseClick(panel.run_button, Qt.MouseButton.LeftButton)  # no idle frames
    frames = []
    window.training.session.step_task_done.connect(lambda task, result: frames.append(result))
    qtbot.keyClick(window.view, Qt.Key.Key_F5, Qt.KeyboardModifier.ControlModifier)
    dialog = window.pretrain_dialog
    dialog.epochs.setValue(1)
    dialog.accept()
    with qtbot.waitSignal(window.training.session.finished, timeout=LONG):
        pass
    live = [f for f in frames if not isinstance(f, Exception)]
    assert live, f"no live frame ({frames!r})"
    assert all(f.source.startswith("live: epoch 1") for f in live)
    assert panel.frame is not None and panel.frame.layer == "rbm"


def test_screenshot_cli_pretrains_then_shows_the_samples_panel(tmp_path):
    import os
    import subprocess
    import sys

    from PySide6.QtGui import QImage

    out = tmp_path / "samples.png"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": os.getcwd()}
    done = subprocess.run(
        [sys.executable, "-m", "nodestudio", "--screenshot", str(out),
         "resources/examples/rbm.json", "--pretrain-epochs", "1", "--panel", "rbm-samples"],
        capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    image = QImage(str(out))
    assert not image.isNull() and image.width() >= 1600
