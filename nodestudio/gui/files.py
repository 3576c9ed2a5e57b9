"""Files around the document: opening with clear errors, recent files, examples, and the
folder of the autosaves (recovery.py) that let the next start recover from a crash.

Opening never touches the current document until the new one has been read completely. A file
with ops this version does not know loads without them; `OpenedGraph.left_out` says what was
dropped so the window can list it (the file itself is unchanged until the user saves over it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QSettings, QStandardPaths

from nodestudio.errors import GraphError
from nodestudio.graph import fileformat, safefile
from nodestudio.graph.layout import layered_positions
from nodestudio.graph.model import Graph
from nodestudio.ops import registry
from nodestudio.paths import resource_dir

RECENT_KEY = "files/recent"
RECENT_LIMIT = 10
AUTOSAVE_SECONDS = 60
DEFAULT_EXAMPLE = "mlp.json"


@dataclass
class OpenedGraph:
    graph: Graph
    path: Path
    left_out: list[str] = field(default_factory=list)  # "node 'n' (op 'foo')", one per node
    laid_out: bool = False  # positions were missing and were computed


def open_graph(path: str | Path) -> OpenedGraph:
    """Read a graph file. FileFormatError (file, JSON path, field) when it cannot be read.
    Temporaries that a killed save of this file left beside it are removed."""
    path = Path(path)
    graph = fileformat.load(path)
    safefile.remove_stale_temporaries(path.parent, path.name)
    return prepare(graph, path)


def prepare(graph: Graph, path: Path) -> OpenedGraph:
    """A graph read from `path`, ready to show: nodes of unknown ops left out (and listed),
    positions computed when missing."""
    opened = OpenedGraph(graph, path)
    for node_id, node in list(graph.nodes.items()):
        try:
            registry.get(node.op, node=node_id)
        except GraphError:
            opened.left_out.append(f"node '{node_id}' (op '{node.op}')")
            graph.remove_node(node_id)
    if any(n.position is None for n in graph.nodes.values()):
        for node_id, position in layered_positions(graph).items():
            graph.nodes[node_id].position = position
        opened.laid_out = True
    return opened


def examples_dir() -> Path | None:
    return resource_dir("examples")


def example_files() -> list[Path]:
    folder = examples_dir()
    return sorted(folder.glob("*.json")) if folder is not None else []


# File > New from Template, simplest first; other files of resources/templates/ follow
TEMPLATE_ORDER = ("logistic_regression", "mlp", "deep_mlp", "autoencoder")


def template_files() -> list[Path]:
    folder = resource_dir("templates")
    found = sorted(folder.glob("*.json")) if folder is not None else []
    rank = {name: i for i, name in enumerate(TEMPLATE_ORDER)}
    return sorted(found, key=lambda p: (rank.get(p.stem, len(rank)), p.stem))


def default_example() -> Path | None:
    folder = examples_dir()
    return folder / DEFAULT_EXAMPLE if folder is not None else None


# --- recent files ----------------------------------------------------------------------------
def recent_files() -> list[Path]:
    stored = QSettings().value(RECENT_KEY, [])
    stored = [stored] if isinstance(stored, str) else list(stored or [])
    return [Path(p) for p in stored if Path(p).is_file()]


def add_recent_file(path: str | Path) -> list[Path]:
    resolved = str(Path(path).resolve())
    entries = [resolved] + [str(p) for p in recent_files() if str(p) != resolved]
    QSettings().setValue(RECENT_KEY, entries[:RECENT_LIMIT])
    return [Path(p) for p in entries[:RECENT_LIMIT]]


def clear_recent_files() -> None:
    QSettings().setValue(RECENT_KEY, [])


# --- autosave and recovery -------------------------------------------------------------------
def data_dir() -> Path:
    """Where the autosaves live: $NODESTUDIO_DATA_DIR, else Qt's app-data folder."""
    chosen = os.environ.get("NODESTUDIO_DATA_DIR") or QStandardPaths.writableLocation(
        QStandardPaths.AppDataLocation)
    folder = Path(chosen)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
