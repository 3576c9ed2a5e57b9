"""Starting the studio: `nodestudio` (no arguments) opens the main window on the default
example; `nodestudio --screenshot OUT.png [GRAPH.json] [--train-epochs N]` renders the window
offscreen (optionally after training) to a PNG and exits, for the docs and for checks."""

from __future__ import annotations

import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
SCREENSHOT_SIZE = (1600, 1000)
TRAINING_TIMEOUT_S = 1800


def run_studio(graph: str | None = None, screenshot: str | None = None, train_epochs: int = 0,
               theme: str | None = None) -> int:
    if screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QGuiApplication, QIcon
    from PySide6.QtWidgets import QApplication

    from nodestudio.gui import files
    from nodestudio.gui.mainwindow import MainWindow
    from nodestudio.paths import resource_dir

    if QApplication.instance() is None:  # crisp at fractional scale factors (150 %, 175 %)
        QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
            Qt.HighDpiScaleFactorRoundingPolicy.PassThrough)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setOrganizationName("NodeStudio")
    app.setApplicationName("NodeStudio")
    icons = resource_dir("icons")
    if icons is not None:
        app.setWindowIcon(QIcon(str(icons / "nodestudio.svg")))

    interactive = screenshot is None
    window = MainWindow(autosave=interactive, remember_layout=interactive)
    if theme is not None:
        window.set_theme(theme, remember=False)
    restored = interactive and window.offer_recovery()
    if not restored:
        target = Path(graph) if graph is not None else files.default_example()
        if target is not None and not window.open_path(target, ask=False) and graph is not None \
                and not interactive:
            return EXIT_BAD_INPUT
    if interactive:
        window.show()
        return app.exec()
    return _screenshot(app, window, Path(screenshot), train_epochs)


def _screenshot(app, window, out: Path, train_epochs: int) -> int:
    from PySide6.QtCore import QEventLoop, QTimer

    window.resize(*SCREENSHOT_SIZE)
    window.show()
    app.processEvents()
    window.view.fit_all()
    status = EXIT_OK
    if train_epochs > 0:
        loop = QEventLoop()
        outcome: dict[str, bool] = {}
        window.training.set_epochs(train_epochs)
        window.training.finished_run.connect(lambda ok: (outcome.update(ok=ok), loop.quit()))
        QTimer.singleShot(TRAINING_TIMEOUT_S * 1000, loop.quit)
        window.train()
        loop.exec()
        if not outcome.get("ok", False):
            print("nodestudio: training did not finish; the screenshot shows why",
                  file=sys.stderr)
            status = EXIT_FAILED
    for _ in range(5):  # let the curves and the canvas repaint with the final figures
        app.processEvents()
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        print(f"nodestudio: could not write {out}", file=sys.stderr)
        status = EXIT_BAD_INPUT
    else:
        print(f"wrote {out}")
    window.document.undo_stack.setClean()  # nothing to ask on close in this mode
    window.close()
    return status
