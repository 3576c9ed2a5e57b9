"""GUI tests: real widgets on Qt's offscreen platform, settings kept out of the user's home."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import gc  # noqa: E402

import pytest  # noqa: E402
from PySide6.QtCore import QCoreApplication, QEvent, QSettings  # noqa: E402
from PySide6.QtWidgets import QMessageBox  # noqa: E402

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
def _collect_garbage_between_tests(monkeypatch):
    """Free the last test's documents, scenes and items when it ends, in a safe order: each
    document's undo stack is cleared while everything it refers to is alive, then the garbage
    is collected. Left to a collection at a random later moment, the C++ undo stack of a
    document in a reference cycle was destroyed after parts of it (a segmentation fault in
    QUndoStack::clear, seen with test_undo_history.py before test_canvas.py). The studio keeps
    its one document for its lifetime."""
    from nodestudio.gui.document import Document
    made: list = []
    original = Document.__init__

    def recording_init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        made.append(self)
    monkeypatch.setattr(Document, "__init__", recording_init)
    yield
    for document in made:
        try:
            document.undo_stack.clear()
        except RuntimeError:  # its C++ side is gone already
            pass
    made.clear()
    gc.collect()


class Dialogs:
    """Stands in for the modal message boxes: records them and answers as told."""

    def __init__(self, monkeypatch):
        self.shown: list[tuple[str, str, str]] = []
        self.answer = QMessageBox.Discard
        for kind in ("warning", "information", "critical"):
            monkeypatch.setattr(QMessageBox, kind, self._record(kind))
        monkeypatch.setattr(QMessageBox, "question", self._question)

    def _record(self, kind):
        def show(parent, title, text, *args, **kwargs):
            self.shown.append((kind, title, text))
            return QMessageBox.Ok
        return staticmethod(show)

    def _question(self, parent, title, text, *args, **kwargs):
        self.shown.append(("question", title, text))
        return self.answer


@pytest.fixture
def dialogs(monkeypatch):
    return Dialogs(monkeypatch)


@pytest.fixture
def studio(qtbot):
    """Makes main windows as the tests use them (no autosave, no remembered layout, no modal
    boxes), shown at `size`; at the end stops any run, leaves the document clean so that
    closing asks nothing, and closes them (not through qtbot, which closes before this runs)."""
    from nodestudio.gui.mainwindow import MainWindow

    made = []

    def make(size: tuple[int, int] = (1600, 1000)):
        window = MainWindow(autosave=False, remember_layout=False, modal_dialogs=False)
        window.resize(*size)
        window.show()
        qtbot.waitExposed(window)
        made.append(window)
        return window

    yield make
    for window in made:
        assert window.training.shutdown(timeout=30)
        window.document.undo_stack.setClean()
        window.close()
        window.deleteLater()  # as qtbot does: windows left alive slow every later restyle
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
