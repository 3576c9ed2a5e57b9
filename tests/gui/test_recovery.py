"""Autosave and crash recovery with several studio windows and instances: each window autosaves
into a file of its own; a file is offered back only once its window is gone, and never read,
offered or removed by another live window; a recovery file holds the graph and its origin
together and is written atomically, so a kill at any moment restores a consistent pair."""

from __future__ import annotations

import gc
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from PySide6.QtWidgets import QMessageBox

from nodestudio.graph import fileformat
from nodestudio.graph.history import capture
from nodestudio.gui import files
from nodestudio.gui.mainwindow import MainWindow
from nodestudio.gui.recovery import Recovery, find_orphans, recovery_dir
from tests.graph.kill_points import run_killed_at
from tests.train.examples import EXAMPLES

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TEST_TIMEOUT_S = 120


def recovery_files(suffix: str = ".json") -> list[Path]:
    return sorted(recovery_dir().glob(f"*{suffix}"))


@pytest.fixture
def models(tmp_path):
    """Two graph files the windows edit: model_A.json and model_B.json."""
    a, b = tmp_path / "model_A.json", tmp_path / "model_B.json"
    shutil.copy(EXAMPLES / "mlp.json", a)
    shutil.copy(EXAMPLES / "logistic_regression.json", b)
    return a, b


def studio_window(qtbot, path: Path) -> MainWindow:
    w = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(w)
    assert w.open_path(path, ask=False)
    return w


def crashed_window_autosave(path: Path, op: str) -> tuple[Path, dict]:
    """The autosave a window left when it went without closing: written, then its owner gone
    (the lock it held is released, its file stays)."""
    opened = files.open_graph(path)
    opened.graph.add_node(op, position=(5.0, 6.0), id="added")
    gone = Recovery()
    gone.write(opened.graph, path)
    file, edited = gone.file, capture(opened.graph)
    del gone
    gc.collect()
    return file, edited


# --- several windows in one process ----------------------------------------------------------
def test_two_windows_autosave_into_files_of_their_own(qtbot, dialogs, models):
    a, b = studio_window(qtbot, models[0]), studio_window(qtbot, models[1])
    a.document.add_node("softplus")
    b.document.add_node("tanh")
    a.autosave_now()
    b.autosave_now()
    assert a.recovery.file != b.recovery.file and a.recovery.pending() and b.recovery.pending()
    # one file per window, holding graph and origin together, and the lock held beside it
    assert recovery_files() == sorted([a.recovery.file, b.recovery.file])
    assert [p.with_suffix(".json") for p in recovery_files(".lock")] == recovery_files()
    for window, model in ((a, models[0]), (b, models[1])):
        doc = json.loads(window.recovery.file.read_text(encoding="utf-8"))
        assert doc["origin"] == str(model)
        assert fileformat.from_dict(doc["graph"]) == window.document.graph


def test_a_live_windows_autosave_is_neither_offered_nor_removed_by_another(qtbot, dialogs,
                                                                         models):
    a = studio_window(qtbot, models[0])
    a.document.add_node("softplus")
    a.autosave_now()
    saved = a.recovery.file.read_bytes()
    b = studio_window(qtbot, models[1])
    assert not b.offer_recovery()
    assert dialogs.shown == []  # no "did not close normally": A is running
    b.document.add_node("tanh")
    b.autosave_now()
    b._save_to(models[1])  # B's own autosave goes; A's stays
    assert not b.recovery.pending() and a.recovery.file.read_bytes() == saved
    b.document.add_node("relu")
    b.autosave_now()
    dialogs.answer = QMessageBox.Discard
    assert b.close()
    assert recovery_files() == [a.recovery.file] and a.recovery.file.read_bytes() == saved


def test_the_autosave_of_a_window_that_is_gone_is_offered_and_taken_over(qtbot, dialogs,
                                                                       models):
    file, edited = crashed_window_autosave(models[0], "softplus")
    live = studio_window(qtbot, models[1])
    live.document.add_node("tanh")
    live.autosave_now()
    dialogs.answer = QMessageBox.Yes
    second = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(second)
    assert second.offer_recovery()
    assert len(dialogs.shown) == 1 and "model_A.json" in dialogs.shown[0][2]
    assert capture(second.document.graph) == edited
    assert second.document.modified and second.document.path == models[0]
    # the window took the file over: its autosaves replace it, a normal close removes it
    assert second.recovery.file == file
    second.document.add_node("relu")
    second.autosave_now()
    assert recovery_files() == sorted([file, live.recovery.file])
    dialogs.answer = QMessageBox.Discard
    assert second.close()
    assert recovery_files() == [live.recovery.file]


def test_answering_no_removes_only_the_autosave_of_the_window_that_is_gone(qtbot, dialogs,
                                                                         models):
    file, _ = crashed_window_autosave(models[0], "softplus")
    live = studio_window(qtbot, models[1])
    live.document.add_node("tanh")
    live.autosave_now()
    dialogs.answer = QMessageBox.No
    second = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(second)
    assert not second.offer_recovery() and len(dialogs.shown) == 1
    assert not file.exists() and recovery_files() == [live.recovery.file]


def test_several_orphans_are_offered_newest_first_and_the_rest_kept(qtbot, dialogs, models):
    older, _ = crashed_window_autosave(models[0], "softplus")
    os.utime(older, (1e9, 1e9))
    newer, edited = crashed_window_autosave(models[1], "tanh")
    dialogs.answer = QMessageBox.Yes
    w = MainWindow(autosave=False, remember_layout=False)
    qtbot.addWidget(w)
    assert w.offer_recovery() and len(dialogs.shown) == 1  # one graph per window
    assert "model_B.json" in dialogs.shown[0][2] and capture(w.document.graph) == edited
    assert [o.file for o in find_orphans()] == [older]  # offered at the next start


def test_a_damaged_autosave_is_reported_and_kept_until_refused(qtbot, dialogs, models):
    file, _ = crashed_window_autosave(models[0], "softplus")
    file.write_text('{"format": "nodestudio-recovery", "version": 1, "origin": null, '
                    '"graph": {"format": "nodestudio-graph", "version": 1, "nodes": 3}}')
    dialogs.answer = QMessageBox.Yes
    w = studio_window(qtbot, models[1])
    assert not w.offer_recovery()
    assert dialogs.shown[-1][0] == "warning" and str(file) in dialogs.shown[-1][2]
    assert w.document.path == models[1] and file.exists()
    dialogs.answer = QMessageBox.No
    assert not w.offer_recovery() and not file.exists()


def test_opening_a_file_removes_what_a_killed_save_of_it_left(qtbot, dialogs, models):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    left = models[0].parent / f".model_A.json.nodestudio-{child.pid}-abcd1234.tmp"
    left.write_bytes(b"half a graph")
    studio_window(qtbot, models[0])
    assert not left.exists()


# --- kill -9 in the middle of an autosave ----------------------------------------------------
def test_an_autosave_killed_at_any_step_restores_a_graph_with_its_own_origin(tmp_path,
                                                                             models):
    """Before: the graph and its origin were two files, so a kill between them restored graph
    B under model_A.json (and Save then overwrote A)."""
    a_graph, b_graph = fileformat.load(models[0]), fileformat.load(models[1])
    pairs = [(models[0], capture(a_graph)), (models[1], capture(b_graph))]
    setup = f"""
        from pathlib import Path
        from PySide6.QtCore import QCoreApplication
        from nodestudio.graph import fileformat
        from nodestudio.gui.recovery import Recovery
        app = QCoreApplication([])
        recovery = Recovery()
        a, b = Path({str(models[0])!r}), Path({str(models[1])!r})
        recovery.write(fileformat.load(a), a)
        b_graph = fileformat.load(b)
    """
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    step, killed, outcomes = 0, True, []
    while killed:
        killed = run_killed_at(step, setup, "recovery.write(b_graph, b)", tmp_path, env)
        # what the next start finds, its temporaries removed: killed or ended without closing,
        # the writer is gone and its autosave is offered
        orphans = find_orphans()
        assert len(orphans) == 1, f"killed before step {step}"
        assert list(recovery_dir().glob("*.tmp")) == []
        for orphan in orphans:
            opened = orphan.load()
            restored = (orphan.origin(), capture(opened.graph))
            assert restored in pairs, f"graph and origin do not match after step {step}"
            outcomes.append(pairs.index(restored))
            orphan.discard()
        step += 1
    assert outcomes[0] == 0 and outcomes[-1] == 1  # the old pair, then the new one
    assert step > 3  # the kill fell on the temporary's steps and on the rename


# --- two studio instances ----------------------------------------------------------------------
class Studio:
    """A studio instance in a subprocess (tests/gui/studio_driver.py), driven line by line."""

    def __init__(self, tmp_path: Path):
        env = dict(os.environ, PYTHONPATH=str(ROOT), QT_QPA_PLATFORM="offscreen",
                   NODESTUDIO_DATA_DIR=str(tmp_path / "data"))
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "studio_driver.py"), str(tmp_path / "settings")],
            cwd=tmp_path, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.state = self._reply()

    def _reply(self) -> dict:
        line = self.process.stdout.readline()  # a hang is cut by the fixture's watchdog
        if not line:
            pytest.fail(f"the studio ended (exit status {self.process.wait(10)}): it crashed "
                        f"or took longer than {TEST_TIMEOUT_S} s")
        return json.loads(line)

    def __call__(self, command: str) -> dict:
        self.process.stdin.write(command + "\n")
        self.process.stdin.flush()
        self.state = self._reply()
        return self.state

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(TEST_TIMEOUT_S)

    def end(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TEST_TIMEOUT_S)
        self.process.stdin.close()
        self.process.stdout.close()


@pytest.fixture
def studios(tmp_path):
    """Starts studio instances; all are killed after TEST_TIMEOUT_S, so that a hang waiting
    for a reply ends the test (the reply is then empty) instead of stalling the suite."""
    started: list[Studio] = []

    def start() -> Studio:
        started.append(Studio(tmp_path))
        return started[-1]

    def kill_all() -> None:
        for studio in started:
            if studio.process.poll() is None:
                studio.process.kill()
    watchdog = threading.Timer(TEST_TIMEOUT_S, kill_all)
    watchdog.start()
    yield start
    watchdog.cancel()
    for studio in started:
        studio.end()


def test_two_instances_one_killed_its_edits_come_back_in_the_next(tmp_path, models, studios):
    model_a, model_b = models
    a_text = model_a.read_bytes()
    a = studios()
    assert a("offer no")["shown"] == [] and a(f"open {model_a}")["opened"]
    a_node = a("edit softplus")["node"]
    a_file = Path(a("autosave")["recovery"])
    assert a.state["pending"]

    b = studios()
    assert b("offer yes")["shown"] == []  # A is running: not "did not close normally"
    assert b(f"open {model_b}")["opened"]
    b("edit tanh")
    b_file = Path(b("autosave")["recovery"])
    assert b_file != a_file and a_file.is_file() and b_file.is_file()
    b_saved, b_stamp = b_file.read_bytes(), b_file.stat().st_mtime_ns

    a.kill()  # kill -9: no clean-up runs
    c = studios()
    restored = c("offer yes")
    assert restored["restored"] and len(restored["shown"]) == 1
    assert "did not close normally" in restored["shown"][0][2]
    assert "model_A.json" in restored["shown"][0][2]
    assert a_node in restored["nodes"] and restored["modified"]
    assert restored["path"] == str(model_a) and model_a.read_bytes() == a_text
    # B's autosave is untouched, and still B's
    assert b_file.read_bytes() == b_saved and b_file.stat().st_mtime_ns == b_stamp
    assert b_file.with_suffix(".lock").is_file()
    assert c("autosave")["recovery"] == str(a_file)  # C took A's file over

    assert c("close")["closed"]
    assert not a_file.exists() and b_file.read_bytes() == b_saved
    assert b("state")["pending"] and b("close")["closed"]
    assert list(recovery_dir().iterdir()) == []  # no autosave, lock or temporary left
