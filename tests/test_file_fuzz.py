"""Fuzzing the graph-file readers with mutations of the shipped examples and templates (see
tests/file_mutations.py): through every way a file is read outside the studio (the file
format's `load`, `ns.load`, `Model.load`, `nodestudio train`), each outcome is a document or
the project's own error naming the place, within a time and a memory bound. The studio's
way (open_graph, Document, canvas, inspector, Training panel) is in
tests/gui/test_open_fuzz.py."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

import nodestudio as ns
from nodestudio.cli import main
from nodestudio.errors import NodeStudioError
from nodestudio.graph import fileformat, limits
from nodestudio.ir.annotate import annotate
from nodestudio.ir.convert import from_document
from nodestudio.train.model import Model
from nodestudio.train.settings import TrainingSettings
from tests.file_mutations import (
    SHIPPED,
    check_refusal,
    structure_mutations,
    targeted_mutations,
    text_mutations,
    value_mutations,
    write,
)

SECONDS = 30.0  # per mutated file, every reader together (a 2-core machine, shared)
PEAK_BYTES = 400e6  # beside the parameter limit below
LIMIT = "64M"  # NODESTUDIO_MAX_PARAMETER_BYTES for these tests: what bounds their memory
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextlib.contextmanager
def parameter_limit(value: str):
    old = os.environ.get(limits.PARAMETER_BYTES_VARIABLE)
    os.environ[limits.PARAMETER_BYTES_VARIABLE] = value
    try:
        yield
    finally:
        if old is None:
            del os.environ[limits.PARAMETER_BYTES_VARIABLE]
        else:
            os.environ[limits.PARAMETER_BYTES_VARIABLE] = old


def read_everywhere(content: str | bytes) -> None:
    """Every reader on one mutated file; fails on a Python error, a message without a place,
    or a read beyond the time or memory bound."""
    with tempfile.TemporaryDirectory() as folder, parameter_limit(LIMIT):
        path = write(Path(folder), content)
        start = time.perf_counter()
        tracemalloc.start()
        try:
            _file_format(path)
            _api(path)
            _model(path)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        _command_line(path, Path(folder))
        elapsed = time.perf_counter() - start
    assert peak < PEAK_BYTES, f"peak {peak / 1e6:.0f} MB"
    assert elapsed < SECONDS, f"{elapsed:.1f} s"


def _file_format(path: Path) -> None:
    try:
        graph = fileformat.load(path)
    except NodeStudioError as exc:
        check_refusal(exc, path)
        return
    assert fileformat.loads(fileformat.dumps(graph)) == graph  # what was read can be saved
    annotate(graph)  # never raises: problems are kept per node
    for strict in (True, False):
        try:
            from_document(graph, strict=strict)
        except NodeStudioError as exc:
            check_refusal(exc, path)
    try:
        TrainingSettings.from_metadata(graph.metadata)
    except NodeStudioError as exc:
        check_refusal(exc, path)


def _api(path: Path) -> None:
    for strict in (True, False):
        try:
            ns.load(path, strict=strict)
        except NodeStudioError as exc:
            check_refusal(exc, path)


def _model(path: Path) -> None:
    try:
        Model.load(path)
    except NodeStudioError as exc:
        check_refusal(exc, path)


def _command_line(path: Path, folder: Path) -> None:
    """`nodestudio train` on a dataset that does not exist: a good file gets as far as the
    data (and no further: nothing trains); a bad one is refused in one line, exit 2."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["train", str(path), "--data", str(folder / "absent.csv"),
                     "--out", str(folder / "run")])
    lines = err.getvalue().strip().splitlines()
    assert code == 2 and lines and lines[-1].startswith("nodestudio: "), err.getvalue()
    said = lines[-1]
    assert str(path) in said or "metadata.training" in said or "node '" in said or \
        "absent.csv" in said, said


@FUZZ
@given(value_mutations())
def test_values_replaced_anywhere(content):
    read_everywhere(content)


@FUZZ
@given(targeted_mutations())
def test_the_fields_a_hostile_file_aims_at(content):
    read_everywhere(content)


@FUZZ
@given(structure_mutations())
def test_keys_and_entries_added_deleted_and_swapped(content):
    read_everywhere(content)


@FUZZ
@given(text_mutations())
def test_text_cut_spliced_and_flipped(content):
    read_everywhere(content)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_shipped_files_read_everywhere(path):
    read_everywhere(path.read_text(encoding="utf-8"))
