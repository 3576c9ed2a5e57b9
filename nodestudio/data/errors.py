"""The one error type of the dataset layer."""

from __future__ import annotations

from pathlib import Path

from nodestudio.errors import NodeStudioError


class DatasetError(NodeStudioError):
    """A dataset that cannot be found, read, downloaded or split.

    Messages start with the file (or URL, or dataset name) so that a user holding several files
    knows which one to fix, and say where in it: the byte offset (binary files) or the line
    (text files). `path`, `offset` and `line` carry the same facts for programs; `offset`
    counts bytes of the (decompressed) file, `line` counts from 1.
    """

    def __init__(self, message: str, path: str | Path | None = None, offset: int | None = None,
                 line: int | None = None):
        self.path = None if path is None else str(path)
        self.offset = offset
        self.line = line
        self.detail = message
        # The place is not added to the text: messages already say where, in their own words.
        super().__init__(message if self.path is None else f"{self.path}: {message}")
