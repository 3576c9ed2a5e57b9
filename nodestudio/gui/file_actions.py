"""The main window's file actions: New (empty or from a template), Open, Save, Save As,
parameter arrays in and out, the window picture, the recent / examples / templates menus, and
autosave with recovery. A mixin of `MainWindow`, which provides the document, the docks, the
log and the recovery store these use."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMessageBox

from nodestudio.errors import NodeStudioError
from nodestudio.graph.model import Graph
from nodestudio.gui import files
from nodestudio.gui.recovery import Orphan, find_orphans

GRAPH_FILTER = "NodeStudio graphs (*.json);;All files (*)"
PARAMS_FILTER = "Parameter arrays (*.npz)"
# What File > New starts with in the Training dock: Adam trains a network built from scratch
# well without tuning (the examples keep the settings of the course they come from).
NEW_GRAPH_TRAINING = {"optimizer": "adam", "lr": 0.001, "batch_size": 100, "epochs": 20}


class FileActions:
    """See the module docstring."""

    def new_document(self) -> None:
        if self._may_discard_changes():
            graph = Graph()
            graph.metadata = {"training": dict(NEW_GRAPH_TRAINING)}
            self.show_graph(graph, None)
            self.log_panel.log("info", "New graph")

    def new_from_template(self, path: str | Path) -> bool:
        """A new, unsaved graph that starts as a copy of a template (Save asks for a name)."""
        if not self._may_discard_changes():
            return False
        try:
            opened = files.open_graph(path)
        except (NodeStudioError, OSError) as exc:
            self._tell("warning", "Could not open the template", str(exc))
            return False
        self.show_graph(opened.graph, None)
        self.log_panel.log("info", f"New graph from the template {example_title(Path(path))}")
        return True

    def open_dialog(self) -> None:
        start = str(self.document.path.parent) if self.document.path else str(Path.cwd())
        path, _ = QFileDialog.getOpenFileName(self, "Open graph", start, GRAPH_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path, ask: bool = True) -> bool:
        """Open a graph file; on error show what is wrong and keep the current graph."""
        if ask and not self._may_discard_changes():
            return False
        try:
            opened = files.open_graph(path)
        except (NodeStudioError, OSError) as exc:
            self.log_panel.log("error", f"Could not open {path}: {exc}")
            self._tell("warning", "Could not open the graph", str(exc))
            return False
        self.show_graph(opened.graph, opened.path, opened.left_out)
        self._refresh_recent_menu(files.add_recent_file(opened.path))
        nodes = len(opened.graph.nodes)
        counts = f"{nodes} node{'s' if nodes != 1 else ''}" + (
            f", {len(opened.left_out)} left out: see Problems" if opened.left_out else "")
        self.log_panel.log("info", f"Opened {opened.path.name} ({counts}) from "
                           f"{opened.path.resolve().parent}")
        if opened.left_out:
            listing = "\n".join(f"• {item}" for item in opened.left_out)
            message = (f"{opened.path.name} uses ops this version of NodeStudio does not know. "
                       f"They were left out (the file itself is unchanged):\n{listing}")
            for item in opened.left_out:
                self.problems.report("warning", f"Left out {item}: unknown op")
            self._tell("information", "Some nodes were left out", message)
        return True

    def _tell(self, kind: str, title: str, text: str) -> None:
        """A message box ("warning", "information"), or stderr without modal dialogs."""
        if self.modal_dialogs:
            getattr(QMessageBox, kind)(self, title, text)
        else:
            print(f"nodestudio: {title}: {text}", file=sys.stderr)

    def save(self) -> bool:
        if self.document.path is None:
            return self.save_as()
        if self._left_out and self.document.path.exists():
            answer = QMessageBox.question(
                self, "Overwrite nodes NodeStudio cannot read?",
                f"{self.document.path.name} holds {len(self._left_out)} node(s) with ops this "
                "version does not know; saving over it removes them. Save over it anyway? "
                "(No: choose another file.)", QMessageBox.Yes | QMessageBox.No, QMessageBox.No)
            if answer != QMessageBox.Yes:
                return self.save_as()
        return self._save_to(self.document.path)

    def save_as(self) -> bool:
        start = str(self.document.path or Path.cwd() / "graph.json")
        path, _ = QFileDialog.getSaveFileName(self, "Save graph as", start, GRAPH_FILTER)
        return self._save_to(Path(path)) if path else False

    def _save_to(self, path: Path) -> bool:
        if path.suffix == "":
            path = path.with_suffix(".json")
        try:
            self.document.save(path)
        except (NodeStudioError, OSError) as exc:
            QMessageBox.warning(self, "Could not save", f"{path}: {exc}")
            return False
        self.recovery.discard()
        self._left_out = []  # the file on disk is now what the window shows
        self._refresh_recent_menu(files.add_recent_file(path))
        self.statusBar().showMessage(f"Saved {path}", 4000)
        self.log_panel.log("info", f"Saved {path}")
        return True

    def save_parameters_dialog(self) -> None:
        base = self.document.path.with_suffix(".npz") if self.document.path else \
            Path.cwd() / "parameters.npz"
        path, _ = QFileDialog.getSaveFileName(self, "Save parameters", str(base), PARAMS_FILTER)
        if path:
            try:
                self.document.save_parameters(path)
                self.statusBar().showMessage(f"Saved parameters to {path}", 4000)
            except (NodeStudioError, OSError) as exc:
                QMessageBox.warning(self, "Could not save parameters", str(exc))

    def load_parameters_dialog(self) -> None:
        base = self.document.path.with_suffix(".npz") if self.document.path else Path.cwd()
        path, _ = QFileDialog.getOpenFileName(self, "Load parameters", str(base), PARAMS_FILTER)
        if path:
            try:
                names = self.document.load_parameters(path)
                self.log_panel.log("info",
                                   f"Loaded {len(names)} parameter arrays from {path}")
            except (NodeStudioError, OSError, ValueError) as exc:
                QMessageBox.warning(self, "Could not load parameters", str(exc))

    def export_window_image(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export window image",
                                              str(Path.cwd() / "nodestudio.png"), "PNG (*.png)")
        if path:
            self.grab().save(path)

    def _may_discard_changes(self) -> bool:
        if not self.document.modified:
            return True
        answer = QMessageBox.question(
            self, "Unsaved changes", f"Save the changes to {self.document.title}?",
            QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save)
        if answer == QMessageBox.Save:
            return self.save()
        return answer == QMessageBox.Discard

    def _refresh_recent_menu(self, entries: list[Path] | None = None) -> None:
        menu = self.menus["recent"]
        menu.clear()
        for path in entries if entries is not None else files.recent_files():
            menu.addAction(path.name, lambda p=path: self.open_path(p)).setStatusTip(str(path))
        if menu.isEmpty():
            menu.addAction("No recent files").setEnabled(False)
        else:
            menu.addSeparator()
            menu.addAction("Clear Recent Files",
                           lambda: (files.clear_recent_files(), self._refresh_recent_menu([])))

    def _refresh_examples_menu(self) -> None:
        menu = self.menus["examples"]
        for path in files.example_files():
            menu.addAction(example_title(path),
                           lambda p=path: self.open_path(p)).setStatusTip(str(path))

    def _refresh_templates_menu(self) -> None:
        menu = self.menus["templates"]
        for path in files.template_files():
            action = menu.addAction(example_title(path), lambda p=path: self.new_from_template(p))
            action.setStatusTip(template_description(path))

    # --- autosave and recovery ---------------------------------------------------------------
    def autosave_now(self) -> None:
        if not self.document.modified:  # back to what is on disk (undone): nothing to lose
            self.recovery.discard()
            return
        try:
            self.recovery.write(self.document.graph, self.document.path)
        except (NodeStudioError, OSError) as exc:
            self.statusBar().showMessage(f"Autosave failed: {exc}", 8000)

    def offer_recovery(self) -> bool:
        """At start: offer back, newest first, the autosaves of windows that are gone (never
        those of a studio still running). True when one was restored into this window; the
        others stay for a later start."""
        restored = False
        for orphan in find_orphans():
            if restored:
                orphan.release()
                continue
            answer = QMessageBox.question(
                self, "Recover unsaved work?",
                f"NodeStudio did not close normally. Restore {orphan.describe()}?",
                QMessageBox.Yes | QMessageBox.No, QMessageBox.Yes)
            if answer == QMessageBox.Yes:
                restored = self.restore_recovery(orphan)
            else:
                orphan.discard()
        return restored

    def restore_recovery(self, orphan: Orphan) -> bool:
        """Show an orphaned autosave as unsaved work; this window takes over its file. One
        that cannot be read is left for a later start (where No removes it)."""
        try:
            opened = orphan.load()
        except (NodeStudioError, OSError) as exc:
            orphan.release()
            QMessageBox.warning(self, "Could not recover", str(exc))
            return False
        origin = orphan.origin()
        self.show_graph(opened.graph, origin, opened.left_out)
        self.recovery.adopt(orphan)
        self.document.undo_stack.resetClean()  # it differs from the file on disk: unsaved
        self.log_panel.log("info",
                           f"Recovered autosaved work ({origin or 'unsaved graph'})")
        return True

    # --- editing -----------------------------------------------------------------------------


def template_description(path: Path) -> str:
    try:
        text = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get(
            "description")
    except (OSError, ValueError, AttributeError):
        text = None
    return text if isinstance(text, str) else str(path)


def example_title(path: Path) -> str:
    """An example's menu entry: its metadata.title, else its file name."""
    try:
        title = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("title")
    except (OSError, ValueError, AttributeError):
        title = None
    return title if isinstance(title, str) and title.strip() else \
        path.stem.replace("_", " ").capitalize()
