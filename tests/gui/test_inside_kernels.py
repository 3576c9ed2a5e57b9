"""The Kernels panel: the same kernels as `nodestudio kernels`, the fused nodes of a clicked
kernel selected on the canvas, shares of the step time that sum to 100 %."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QMessageBox

from nodestudio.cli import main
from nodestudio.gui.mainwindow import MainWindow
from nodestudio.paths import resource_dir

pytestmark = [pytest.mark.gui, pytest.mark.opencl]
EXAMPLE = resource_dir("examples") / "mlp.json"
BATCH = 16


@pytest.fixture
def panel(qtbot, monkeypatch):
    # never a modal question on close, even when a test fails half-way through an edit
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Discard)
    window = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
    qtbot.addWidget(window)
    assert window.open_path(EXAMPLE, ask=False)
    window.training.batch_size.setValue(BATCH)
    window.resize(1600, 1000)
    window.show()
    qtbot.waitExposed(window)
    panel = window.show_panel("kernels")
    qtbot.waitUntil(lambda: panel.programs is not None and not panel.busy, timeout=60_000)
    yield panel
    window.document.undo_stack.setClean()  # nothing to ask on close


def _cli_rows(capsys) -> list[tuple[str, str]]:
    assert main(["kernels", str(EXAMPLE), "--batch-size", str(BATCH)]) == 0
    rows = []
    for line in capsys.readouterr().out.splitlines():
        name, _, rest = line.partition(" ")
        nodes = rest.split(" ms  ", 1)[1].split("  (")[0]
        rows.append((name, nodes))
    return rows


def _table_rows(panel) -> list[tuple[str, str]]:
    table = panel.table
    return [(table.item(i, 1).text(), table.item(i, 3).text()) for i in range(table.rowCount())]


def test_inference_lists_the_kernels_of_the_command_line(panel, capsys):
    panel.which.setCurrentIndex(1)  # Inference: what `nodestudio kernels` compiles
    assert _table_rows(panel) == _cli_rows(capsys)
    assert "14 kernels per inference" in panel.summary.text()
    assert panel.program().device in panel.summary.text()


def test_training_step_shares_sum_to_100_percent_and_phases_are_shown(panel):
    program = panel.program()
    assert program.title == "training step"
    shares = [panel.table.item(i, 5).data(Qt.ItemDataRole.UserRole)
              for i in range(panel.table.rowCount())]
    assert sum(shares) == pytest.approx(1.0)
    times = [float(panel.table.item(i, 4).text()) for i in range(panel.table.rowCount())]
    assert sum(times) == pytest.approx(program.kernel_seconds * 1e6, rel=0.01)
    phases = {panel.table.item(i, 2).text() for i in range(panel.table.rowCount())}
    assert phases == {"forward", "backward", "update"}
    assert f"{len(program.rows)} kernels per training step" in panel.summary.text()


def test_clicking_a_kernel_selects_its_fused_nodes_and_shows_its_source(panel, qtbot):
    program = panel.program()
    index = next(i for i, row in enumerate(program.rows) if len(row.nodes) == 2)
    assert program.rows[index].nodes == ("hidden", "hidden_tanh")  # bias add + tanh fused
    table = panel.table
    table.scrollToItem(table.item(index, 1))
    rect = table.visualItemRect(table.item(index, 1))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.selected_row() is program.rows[index]
    assert panel.window.scene.selected_node_ids() == ["hidden", "hidden_tanh"]
    assert panel.source.toPlainText() == program.rows[index].source
    assert "__kernel" in panel.source.toPlainText()
    # a backward kernel of the hidden layer selects that layer
    backward = next(i for i, row in enumerate(program.rows)
                    if row.phase == "backward" and row.nodes == ("hidden",))
    table.scrollToItem(table.item(backward, 1))
    rect = table.visualItemRect(table.item(backward, 1))
    QTest.mouseClick(table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert panel.window.scene.selected_node_ids() == ["hidden"]


def test_an_edit_recompiles_after_a_quiet_second(panel, qtbot):
    panel.which.setCurrentIndex(1)
    before = [row.name for row in panel.program().rows]
    assert before[-1] == "softmax_rows"  # the prediction output
    window = panel.window
    window.document.edit("remove the prediction", lambda g: g.remove_node("prediction"))
    qtbot.waitUntil(panel._debounce.isActive, timeout=5_000)  # types first, then the timer
    qtbot.waitUntil(lambda: not panel._debounce.isActive() and not panel.busy, timeout=60_000)
    after = panel.program()
    assert [row.name for row in after.rows] == before[:-1]
    assert panel.table.rowCount() == len(before) - 1
