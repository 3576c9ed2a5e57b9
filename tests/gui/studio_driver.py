"""One studio instance for tests that need several at once: `python studio_driver.py SETTINGS`
creates the main window offscreen (settings under SETTINGS, autosaves in $NODESTUDIO_DATA_DIR)
and then obeys one command per line on stdin, answering one JSON line on stdout:

  offer yes|no    offer_recovery() as a start does, answering its questions so
  open PATH       open a graph file
  edit OP         add a node of op OP (an unsaved change)
  autosave        autosave_now(), as the timer does
  state           the document: path, node ids, modified, recovery file
  close           close the window normally (discarding unsaved changes) and exit

Every reply holds the message boxes shown since the last one, so a test sees what a user would.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QCoreApplication, QSettings  # noqa: E402
from PySide6.QtWidgets import QApplication, QMessageBox  # noqa: E402

shown: list[list[str]] = []
answer = {"question": QMessageBox.Discard}


def record(kind):
    def show(parent, title, text, *args, **kwargs):
        shown.append([kind, title, text])
        return answer["question"] if kind == "question" else QMessageBox.Ok
    return staticmethod(show)


def main(settings: str) -> None:
    QSettings.setDefaultFormat(QSettings.IniFormat)
    QSettings.setPath(QSettings.IniFormat, QSettings.UserScope, settings)
    app = QApplication(sys.argv[:1])
    QCoreApplication.setOrganizationName("NodeStudioTests")
    QCoreApplication.setApplicationName("NodeStudioTests")
    for kind in ("question", "warning", "information", "critical"):
        setattr(QMessageBox, kind, record(kind))

    from nodestudio.gui.mainwindow import MainWindow
    window = MainWindow(autosave=False, remember_layout=False)

    def state() -> dict:
        doc = window.document
        return {"path": str(doc.path) if doc.path else None, "nodes": sorted(doc.graph.nodes),
                "modified": doc.modified, "recovery": str(window.recovery.file),
                "pending": window.recovery.pending()}

    reply({"ready": True, "pid": os.getpid(), **state()})
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        out: dict = {}
        if command == "offer":
            answer["question"] = QMessageBox.Yes if argument == "yes" else QMessageBox.No
            out["restored"] = window.offer_recovery()
        elif command == "open":
            out["opened"] = window.open_path(argument, ask=False)
        elif command == "edit":
            out["node"] = window.document.add_node(argument, position=(10.0, 20.0))
        elif command == "autosave":
            window.autosave_now()
        elif command == "close":
            answer["question"] = QMessageBox.Discard
            out["closed"] = window.close()
        elif command != "state":
            out["error"] = f"unknown command {command!r}"
        app.processEvents()
        reply({**out, **state()})
        if command == "close":
            break


def reply(message: dict) -> None:
    message["shown"] = shown[:]
    shown.clear()
    print(json.dumps(message), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
