"""Saving a graph when the process is killed part-way (`kill -9`): the file is the old one or the
new one, never a mix, and the temporaries a killed save leaves are removed by the next save, but
only those of dead writers and only those this code names."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodestudio.graph import fileformat, safefile
from tests.graph.kill_points import run_killed_at
from tests.train.examples import EXAMPLES

MODEL = EXAMPLES / "logistic_regression.json"


def temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temporary(folder: Path, target: str, pid: int, written: float | None = None,
              token: str = "abc_1234") -> Path:
    """A temporary named as safefile names them, as if process `pid` had left it."""
    path = folder / f".{target}.nodestudio-{pid}-{token}.tmp"
    path.write_bytes(b"half a graph")
    if written is not None:
        os.utime(path, (written, written))
    return path


def test_a_save_killed_at_any_step_leaves_the_old_or_the_new_file(tmp_path):
    target = tmp_path / "model.json"
    old = fileformat.load(MODEL)
    new = fileformat.load(MODEL)
    new.move(next(iter(new.nodes)), (123.0, 456.0))
    old_text, new_text = fileformat.dumps(old), fileformat.dumps(new)
    assert old_text != new_text
    setup = f"""
        from nodestudio.graph import fileformat
        graph = fileformat.load({str(MODEL)!r})
        graph.move(next(iter(graph.nodes)), (123.0, 456.0))
    """
    outcomes = []
    step = 0
    while True:
        fileformat.save(old, target)  # also the "next save" after the last kill
        assert temporaries(tmp_path) == [], f"after the kill before step {step - 1}"
        killed = run_killed_at(step, setup, f"fileformat.save(graph, {str(target)!r})",
                               tmp_path)
        text = target.read_text(encoding="utf-8")
        assert text in (old_text, new_text), f"a mix after a kill before step {step}"
        outcomes.append((killed, text == new_text, bool(temporaries(tmp_path))))
        if not killed:
            break
        step += 1
    assert outcomes[0] == (True, False, False)  # killed before anything: the old file
    assert outcomes[-1] == (False, True, False)  # not killed: the new file, nothing left
    # killed between writing the temporary and renaming it: the case the next save tidies
    assert (True, False, True) in outcomes
    fileformat.save(old, target)
    assert temporaries(tmp_path) == []


def test_only_temporaries_of_dead_writers_are_removed(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)  # so its temporary is written after it started
        dead = temporary(tmp_path, "model.json", dead_pid())
        alive = temporary(tmp_path, "model.json", sleeper.pid)
        in_flight = temporary(tmp_path, "model.json", os.getpid())
        # our pid, written long before this process started: a dead writer whose pid we reuse
        reused = temporary(tmp_path, "model.json", os.getpid(), written=1e9, token="old_5678")
        other_file = temporary(tmp_path, "other.json", dead_pid())
        not_ours = [tmp_path / ".model.json.abcd1234.tmp", tmp_path / "model.json.tmp",
                    tmp_path / f".model.json.{os.getpid()}.tmp"]
        for path in not_ours:
            path.write_bytes(b"someone else's")

        removed = safefile.remove_stale_temporaries(tmp_path, "model.json")
        assert sorted(removed) == sorted([dead, reused])
        assert alive.exists() and in_flight.exists() and other_file.exists()
        assert all(p.exists() for p in not_ours)
        assert safefile.remove_stale_temporaries(tmp_path) == [other_file]  # whole folder
        assert alive.exists() and in_flight.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert safefile.remove_stale_temporaries(tmp_path) == [alive]  # its writer is gone now
    assert in_flight.exists() and all(p.exists() for p in not_ours)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="zombies read from /proc")
def test_a_killed_writer_not_yet_reaped_counts_as_dead(tmp_path):
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        left = temporary(tmp_path, "model.json", child.pid)
        child.kill()
        for _ in range(100):  # until the kernel has made it a zombie
            if Path(f"/proc/{child.pid}/stat").read_text().split(") ")[1][0] == "Z":
                break
            time.sleep(0.05)
        os.kill(child.pid, 0)  # still there as a process id: only /proc tells it ended
        assert safefile.remove_stale_temporaries(tmp_path) == [left]
    finally:
        child.kill()
        child.wait()


def test_a_save_removes_what_a_killed_save_of_the_same_file_left(tmp_path):
    target = tmp_path / "model.json"
    left = temporary(tmp_path, "model.json", dead_pid())
    fileformat.save(fileformat.load(MODEL), target)
    assert not left.exists() and temporaries(tmp_path) == []
    assert fileformat.load(target) == fileformat.load(MODEL)
