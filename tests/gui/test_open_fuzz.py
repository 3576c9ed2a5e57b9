"""Fuzzing the studio's way of opening a file (File > Open: `files.open_graph`, the Document
and its annotation, the canvas, the inspector, the Training panel's settings) with the
mutations of tests/file_mutations.py: the window either shows the graph or logs the
project's own error naming the place, never a Python error (pytest-qt fails a test on an
exception in any Qt callback), within a time bound and with a canvas of sane size."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from PySide6.QtWidgets import QApplication

from nodestudio.graph.limits import POSITION_LIMIT
from nodestudio.gui.mainwindow import MainWindow
from tests.file_mutations import (
    structure_mutations,
    targeted_mutations,
    text_mutations,
    value_mutations,
    write,
)
from tests.test_file_fuzz import LIMIT, parameter_limit

SECONDS = 30.0
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.function_scoped_fixture])


@pytest.fixture
def window(studio):
    return studio((1200, 800))


def open_in_studio(window: MainWindow, content: str | bytes) -> None:
    app = QApplication.instance()
    with tempfile.TemporaryDirectory() as folder, parameter_limit(LIMIT):
        path = write(Path(folder), content)
        start = time.perf_counter()
        logged = len(window.log_panel.entries())
        opened = window.open_path(path, ask=False)
        app.processEvents()
        if not opened:
            level, message, _ = window.log_panel.entries()[-1]
            assert level == "error" and str(path) in message, message
            assert ": at $" in message or "cannot read" in message, message
        else:
            _look_around(window, app)
            for level, message, _ in window.log_panel.entries()[logged:]:
                if "training settings" in message:  # the panel fell back to its defaults
                    assert level == "warning" and "metadata.training" in message, message
        elapsed = time.perf_counter() - start
    assert elapsed < SECONDS, f"{elapsed:.1f} s"


def _look_around(window: MainWindow, app) -> None:
    """What a user does first with an opened file: look at it whole, at each node in the
    inspector, and at the problems."""
    document = window.document
    note = document.annotation
    assert set(note.errors) | note.blocked | {r.node for r in note.types} >= \
        set(document.graph.nodes) - set(note.errors) - note.blocked
    window.view.fit_all()
    window.view.viewport().repaint()
    room = window.view.sceneRect()
    assert max(abs(room.left()), abs(room.right()), abs(room.top()),
               abs(room.bottom())) <= 2 * POSITION_LIMIT
    for node_id in list(document.graph.nodes)[:12]:
        window.inspector.show_nodes([node_id])
    window.inspector.show_nodes(list(document.graph.nodes))
    app.processEvents()


@FUZZ
@given(value_mutations())
def test_studio_opens_values_replaced_anywhere(window, content):
    open_in_studio(window, content)


@FUZZ
@given(targeted_mutations())
def test_studio_opens_the_fields_a_hostile_file_aims_at(window, content):
    open_in_studio(window, content)


@FUZZ
@given(structure_mutations())
def test_studio_opens_files_with_keys_added_deleted_and_swapped(window, content):
    open_in_studio(window, content)


@FUZZ
@given(text_mutations())
def test_studio_opens_files_cut_spliced_and_flipped(window, content):
    open_in_studio(window, content)
