"""The one error type of the dataset layer."""

from __future__ import annotations

from pathlib import Path

from nodestudio.errors import NodeStudioError


class DatasetError(NodeStudioError):
    """A dataset that cannot be found, read, downloaded or split.

    Messages start with the file (or URL, or dataset name) so that a user holding several files
    knows which one to fix; `path` and `offset` carry the same facts for programs. `offset` is a
    byte offset into the (decompressed) file where that is meaningful, else None.
    """

    def __init__(self, message: str, path: str | Path | None = None, offset: int | None = None):
        self.path = None if path is None else str(path)
        self.offset = offset
        self.detail = message
        where = ""
        if self.path is not None:
            where = f"{self.path}: "
            if offset is not None:
                where += f"at byte {offset}: "
        super().__init__(where + message)
