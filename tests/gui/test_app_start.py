"""Starting the studio from the command line when something is wrong: a graph that cannot be read,
no display. Each case runs `python -m nodestudio` in a subprocess with a timeout, so a start that
hangs (a message box nobody can close) fails the test instead of stalling the suite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nodestudio.gui.app import display_problem

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "resources" / "examples"
TIMEOUT_S = 60  # a start takes a few seconds; a hang waits for ever


def studio(tmp_path: Path, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess:
    """`python -m nodestudio ARGS` with this checkout first on the path and the settings and
    autosave folder kept in tmp_path."""
    base = dict(os.environ if env is None else env)
    base.update(PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(tmp_path / "config"),
                NODESTUDIO_DATA_DIR=str(tmp_path / "data"))
    try:
        return subprocess.run([sys.executable, "-m", "nodestudio", *args], cwd=tmp_path,
                              env=base, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"nodestudio {' '.join(args)} did not end within {TIMEOUT_S} s")


def without_display() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        env.pop(name, None)
    return env


def test_screenshot_of_a_missing_graph_exits_2_naming_the_file(tmp_path):
    missing = tmp_path / "missing.json"
    done = studio(tmp_path, "--screenshot", "out.png", str(missing))
    assert done.returncode == 2, done.stderr
    assert str(missing) in done.stderr and "No such file" in done.stderr
    assert not (tmp_path / "out.png").exists()


def test_screenshot_of_a_png_given_as_the_graph_exits_2_saying_what_is_wrong(tmp_path):
    picture = tmp_path / "picture.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    done = studio(tmp_path, "--screenshot", "out.png", str(picture))
    assert done.returncode == 2, done.stderr
    assert str(picture) in done.stderr and "not UTF-8" in done.stderr
    assert "a NodeStudio graph is a .json file" in done.stderr


def test_screenshot_of_a_graph_with_unknown_ops_is_written_without_waiting_for_a_dialog(
        tmp_path):
    document = json.loads((EXAMPLES / "logistic_regression.json").read_text())
    document["nodes"].append({"id": "mystery", "op": "qft", "attrs": {}})
    graph = tmp_path / "unknown.json"
    graph.write_text(json.dumps(document))
    done = studio(tmp_path, "--screenshot", "out.png", str(graph))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.png").stat().st_size > 1000
    assert "node 'mystery' (op 'qft')" in done.stderr  # what the message box would have said


def test_without_a_display_it_says_so_and_how_to_run_headless(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('{"format": "nodestudio-graph"')
    done = studio(tmp_path, str(broken), env=without_display())
    assert done.returncode == 2, done.stderr
    assert "no display" in done.stderr and "DISPLAY" in done.stderr
    for way in ("--screenshot", "QT_QPA_PLATFORM=offscreen", "xvfb-run"):
        assert way in done.stderr
    assert "xcb-cursor0" not in done.stderr  # Qt never started


def test_a_display_nobody_serves_is_named(tmp_path):
    env = without_display()
    env["DISPLAY"] = ":7391"  # no X server has that number here
    done = studio(tmp_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "cannot connect to the X display ':7391'" in done.stderr
    assert "xvfb-run" in done.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 and Wayland: Linux")
def test_display_problem_trusts_a_chosen_platform_and_wayland():
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}) is None
    assert "neither DISPLAY nor WAYLAND_DISPLAY" in display_problem({})
    assert display_problem({"DISPLAY": "localhost:7391"}).startswith("cannot connect")
