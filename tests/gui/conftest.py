"""GUI tests: real widgets on Qt's offscreen platform, settings kept out of the user's home."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402

_HERE = os.path.dirname(os.path.abspath(__file__))


def pytest_collection_modifyitems(config, items):
    for item in items:  # the hook sees every test of the session: mark only ours
        if str(item.path).startswith(_HERE):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def _private_settings(tmp_path, monkeypatch):
    """QSettings (window layout, recent files, theme) and the autosave folder go to tmp_path."""
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, str(tmp_path / "settings"))
    QCoreApplication.setOrganizationName("NodeStudioTests")
    QCoreApplication.setApplicationName("NodeStudioTests")
    monkeypatch.setenv("NODESTUDIO_DATA_DIR", str(tmp_path / "data"))
    yield


@pytest.fixture(autouse=True)
def _collect_garbage_between_tests():
    """Free the last test's documents, scenes and items now, not inside a later test's paint:
    a collection triggered in the middle of another test's event processing (after a test that
    made thousands of documents) crashed the raster paint engine with a segmentation fault
    (tests/gui/test_undo_history.py then test_canvas.py). The studio itself keeps one scene
    for its lifetime."""
    yield
    gc.collect()
