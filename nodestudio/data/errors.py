"""The one error type of the dataset layer."""

from __future__ import annotations

from pathlib import Path

from nodestudio.errors import NodeStudioError


class DatasetError(NodeStudioError):
    """A dataset that cannot be found, read, downloaded or split.

    Messages start with the file (or URL, or dataset name) so that a user holding several files
    knows which one to fix, and quote the byte offset where one applies; `path` and `offset`
    carry the same facts for programs. `offset` counts bytes of the (decompressed) file.
    """

    def __init__(self, message: str, path: str | Path | None = None, offset: int | None = None):
        self.path = None if path is None else str(path)
        self.offset = offset
        self.detail = message
        # The offset is not added to the text: messages already say where, in their own words.
        super().__init__(message if self.path is None else f"{self.path}: {message}")
