"""Starting the studio: `nodestudio` (no arguments) opens the main window on the default
example; `nodestudio --screenshot OUT.png [GRAPH.json] [--train-epochs N] [--panel NAME]` renders
the window offscreen (optionally after training, with looking-inside panels open) to a PNG and
exits, for the docs and for checks.

Two checks come before Qt starts, because Qt's own failures there are unhelpful: without a
display, creating the QApplication aborts the process with a message about xcb plugins; and a
graph that cannot be read would otherwise be reported in a message box, which in screenshot mode
nobody can close. Both print what is wrong and exit with status 2.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2
SCREENSHOT_SIZE = (1600, 1000)
TRAINING_TIMEOUT_S = 1800
PANEL_TIMEOUT_S = 120  # the most a screenshot waits for a busy panel (compiling, profiling)


def run_studio(graph: str | None = None, screenshot: str | None = None, train_epochs: int = 0,
               theme: str | None = None, panels: list[str] | tuple[str, ...] = (),
               pretrain_epochs: int = 0) -> int:
    if screenshot is not None:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
        if graph is not None and not _readable_graph(graph):
            return EXIT_BAD_INPUT
    else:
        problem = display_problem()
        if problem is not None:
            print(f"nodestudio: {problem}\n{HEADLESS_HINT}", file=sys.stderr)
            return EXIT_BAD_INPUT
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

    from nodestudio.gui.inside import panel_names

    unknown = [name for name in panels if name not in panel_names()]
    if unknown:
        print(f"nodestudio: no panel named {unknown[0]!r} (panels: "
              f"{', '.join(panel_names())})", file=sys.stderr)
        return EXIT_BAD_INPUT
    interactive = screenshot is None
    window = MainWindow(autosave=interactive, remember_layout=interactive,
                        modal_dialogs=interactive)
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
        for name in panels:
            window.show_panel(name)
        return app.exec()
    return _screenshot(app, window, Path(screenshot), train_epochs, panels, pretrain_epochs)


HEADLESS_HINT = """To run without a display:
  nodestudio --screenshot out.png [GRAPH.json]   render the window to a PNG and exit
  QT_QPA_PLATFORM=offscreen nodestudio ...       Qt's offscreen platform (nothing is shown)
  xvfb-run nodestudio ...                        a virtual X display"""
DISPLAY_TIMEOUT_S = 2.0


def display_problem(env: dict[str, str] | None = None) -> str | None:
    """Why Qt would find no display to open a window on, or None when it should find one.

    Only on Linux and the BSDs (macOS and Windows always have their own platform), and only
    when QT_QPA_PLATFORM does not choose a platform: then Qt tries Wayland (WAYLAND_DISPLAY)
    and X11 (DISPLAY). A local X display (":0") is checked by connecting to its socket, so a
    stale DISPLAY is caught too; a Wayland socket is trusted as named."""
    env = dict(os.environ) if env is None else env
    if sys.platform in ("darwin", "win32", "cygwin") or env.get("QT_QPA_PLATFORM"):
        return None
    if env.get("WAYLAND_DISPLAY"):
        return None
    display = env.get("DISPLAY", "")
    if not display:
        return ("no display to open the window on: neither DISPLAY nor WAYLAND_DISPLAY is "
                "set, and QT_QPA_PLATFORM names no other platform.")
    if not _x_display_reachable(display):
        return f"cannot connect to the X display {display!r} (DISPLAY): is the X server running?"
    return None


def _x_display_reachable(display: str) -> bool:
    """Connect to an X server as Xlib would: "[host]:N[.screen]"; no host or "unix" means the
    local socket /tmp/.X11-unix/XN (Linux also offers it in the abstract namespace)."""
    host, _, rest = display.rpartition(":")
    number = rest.split(".")[0]
    if not number.isdigit():
        return True  # a form we do not know: let Qt judge it
    if host in ("", "unix") or host.startswith("/"):
        path = host if host.startswith("/") else f"/tmp/.X11-unix/X{number}"
        candidates = [path] + (["\0" + path] if sys.platform.startswith("linux") else [])
        for address in candidates:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(DISPLAY_TIMEOUT_S)
                try:
                    sock.connect(address)
                    return True
                except OSError:
                    continue
        return False
    try:
        with socket.create_connection((host, 6000 + int(number)), timeout=DISPLAY_TIMEOUT_S):
            return True
    except OSError:
        return False


def _readable_graph(graph: str) -> bool:
    """Read the graph once before the window exists; print why when it cannot be read."""
    from nodestudio.errors import NodeStudioError
    from nodestudio.gui import files

    try:
        files.open_graph(graph)
    except (NodeStudioError, OSError) as exc:
        hint = "" if Path(graph).suffix.lower() == ".json" else \
            " (a NodeStudio graph is a .json file)"
        print(f"nodestudio: cannot open the graph: {exc}{hint}", file=sys.stderr)
        return False
    return True


def _screenshot(app, window, out: Path, train_epochs: int, panels=(),
                pretrain_epochs: int = 0) -> int:
    from PySide6.QtCore import QEventLoop, QTimer

    window.resize(*SCREENSHOT_SIZE)
    window.show()
    app.processEvents()
    window.view.fit_all()
    status = EXIT_OK
    if pretrain_epochs > 0:  # Train > Pretrain as the graph's metadata says, N epochs a layer
        from dataclasses import replace

        from nodestudio.gui.training.pretrain import stored_request
        loop = QEventLoop()
        done: dict[str, bool] = {}
        window.training.finished_run.connect(lambda ok: (done.update(ok=ok), loop.quit()))
        QTimer.singleShot(TRAINING_TIMEOUT_S * 1000, loop.quit)
        request = replace(stored_request(window.document.graph.metadata), epochs=pretrain_epochs)
        if window.pretrainer.start(request):
            loop.exec()
        if not done.get("ok", False):
            print("nodestudio: pretraining did not finish; the screenshot shows why",
                  file=sys.stderr)
            status = EXIT_FAILED
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
    for name in panels:
        window.show_panel(name)
    deadline = time.monotonic() + PANEL_TIMEOUT_S  # a panel that works in a thread says `busy`
    while any(getattr(window.panel(n), "busy", False) for n in panels) and \
            time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
    for _ in range(5):  # let the curves, panels and canvas repaint with the final figures
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
