"""Autosave and crash recovery: one recovery file per studio window.

Each window autosaves into a file of its own in `<data dir>/recovery/`, named after its process
and a random token (`<pid>-<token>.json`), and holds a lock file beside it (`<pid>-<token>.lock`,
a QLockFile) for as long as that file exists. A studio that starts offers back only the recovery
files whose lock it can take, that is whose window is gone: QLockFile tells a live owner from a
dead one by the process id and name it recorded and by the flock its owner holds. A live
window's file is never read, offered or removed by another window or another studio, however
many run at once. Restoring a file adopts it: the restoring window autosaves into it from then
on and removes it when its work is saved or it closes normally, so a crash before its next
autosave still loses nothing.

A recovery file is one JSON document holding the graph and the file it came from, written
atomically (temporary file, fsync, rename: safefile.write_atomically), so a crash in the middle
of an autosave leaves the previous autosave whole, never one autosave's graph beside another's
origin (which would restore graph B under model_A.json, and Save would then overwrite A).
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QLockFile

from nodestudio.errors import FileFormatError
from nodestudio.graph import fileformat, safefile
from nodestudio.graph.model import Graph
from nodestudio.gui import files

FORMAT = "nodestudio-recovery"
VERSION = 1


def recovery_dir(folder: Path | None = None) -> Path:
    folder = Path(folder) if folder is not None else files.data_dir() / "recovery"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _lock_for(file: Path) -> QLockFile:
    lock = QLockFile(str(file.with_suffix(".lock")))
    # Stale only when its process is gone, never by age: with Qt's default (30 s) a window
    # that keeps its file longer would see it taken over by the next studio that starts.
    lock.setStaleLockTime(0)
    return lock


def encode(graph: Graph, origin: Path | None) -> bytes:
    doc = {"format": FORMAT, "version": VERSION,
           "origin": str(origin) if origin is not None else None,
           "graph": fileformat.to_dict(graph)}
    return json.dumps(doc).encode("utf-8")


def _read(file: Path) -> dict[str, Any]:
    """The recovery document, its header and origin checked; the graph is read by `load`."""
    where = str(file)
    try:
        doc = json.loads(file.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise FileFormatError(where, "$", f"cannot read the file: {exc.strerror or exc}") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise FileFormatError(where, "$", f"not a readable recovery file: {exc}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise FileFormatError(where, "$.format", f"not a NodeStudio recovery file ({FORMAT!r})")
    if doc.get("version") != VERSION:
        raise FileFormatError(where, "$.version",
                              f"recovery file version {doc.get('version')!r}; this studio "
                              f"reads version {VERSION}")
    if not isinstance(doc.get("origin"), (str, type(None))):
        raise FileFormatError(where, "$.origin", "expected a file name or null")
    return doc


class Recovery:
    """This window's recovery file: written while there are unsaved changes, removed when they
    are saved or given up and when the window closes normally. Finding it after this window
    is gone means a crash."""

    def __init__(self, folder: Path | None = None):
        self.folder = recovery_dir(folder)
        self.file = self.folder / f"{os.getpid()}-{secrets.token_hex(4)}.json"
        self._lock: QLockFile | None = None

    def write(self, graph: Graph, origin: Path | None) -> None:
        if self._lock is None:  # taken before the file first exists, held while it does
            lock = _lock_for(self.file)
            if not lock.tryLock(0):
                raise OSError(f"cannot lock {lock.fileName()}: {lock.error().name}")
            self._lock = lock
        safefile.write_atomically(self.file, encode(graph, origin))

    def pending(self) -> bool:
        return self.file.is_file()

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None

    def adopt(self, orphan: Orphan) -> None:
        """Make an orphan this window's recovery file: later autosaves replace it, and it goes
        when this window's work is saved or it closes normally."""
        self.discard()
        self.file, self._lock = orphan.file, orphan.take_lock()


class Orphan:
    """A recovery file whose window is gone, locked by this process while it is offered:
    restore it (then Recovery.adopt), discard it, or release it for a later start."""

    def __init__(self, file: Path, lock: QLockFile):
        self.file = file
        self._lock: QLockFile | None = lock
        self._doc: dict[str, Any] | None = None

    def _document(self) -> dict[str, Any]:
        if self._doc is None:
            self._doc = _read(self.file)
        return self._doc

    def origin(self) -> Path | None:
        origin = self._document()["origin"]
        return Path(origin) if origin else None

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.file.stat().st_mtime))
        try:
            origin = self.origin()
        except FileFormatError:
            return f"an autosave that may be damaged, {self.file} (autosaved {when})"
        return f"{origin.name if origin else 'an unsaved graph'} (autosaved {when})"

    def load(self) -> files.OpenedGraph:
        """The graph, prepared as an opened file is, at the path it came from."""
        doc = self._document()
        graph = fileformat.from_dict(doc["graph"], str(self.file))
        origin = self.origin()
        return files.prepare(graph, origin if origin is not None else self.file)

    def take_lock(self) -> QLockFile | None:
        lock, self._lock = self._lock, None
        return lock

    def discard(self) -> None:
        self.file.unlink(missing_ok=True)
        self.release()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.unlock()
            self._lock = None


def find_orphans(folder: Path | None = None) -> list[Orphan]:
    """The recovery files whose window is gone, newest first, each locked by this process
    until it is discarded, adopted or released. Also tidies the folder: lock files with no
    recovery file, and temporaries that killed autosaves left."""
    folder = recovery_dir(folder)
    safefile.remove_stale_temporaries(folder)
    found = []
    for file in folder.glob("*.json"):
        lock = _lock_for(file)
        if not lock.tryLock(0):
            continue  # its window is alive (in this process or another)
        if file.is_file():  # not discarded by its window between the listing and the lock
            found.append(Orphan(file, lock))
        else:
            lock.unlock()
    for stray in folder.glob("*.lock"):
        if not stray.with_suffix(".json").exists():
            lock = _lock_for(stray)
            if lock.tryLock(0):
                lock.unlock()  # removes it
    return sorted(found, key=lambda o: o.file.stat().st_mtime, reverse=True)
