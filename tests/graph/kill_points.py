"""`kill -9` at every step of a piece of code that writes files, deterministically.

The code runs in a child Python whose audit hook (PEP 578) counts the file-system steps Python
reports (opening a file, renaming, removing, changing permissions, listing a folder) and sends
the child SIGKILL just before step k: nothing of the code's own clean-up runs, as with a real
`kill -9` or a power cut. Running k = 0, 1, 2, ... until the child finishes covers every step.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60

_CHILD = '''
import os, signal, sys
STEPS = {"open", "os.rename", "os.remove", "os.chmod", "os.listdir", "os.mkdir", "os.truncate"}
_left, _armed = int(sys.argv[1]), False

def _kill_before_step(event, args):
    global _left
    if _armed and event in STEPS:
        if _left == 0:
            os.kill(os.getpid(), signal.SIGKILL)
        _left -= 1

sys.addaudithook(_kill_before_step)
'''


def run_killed_at(step: int, setup: str, action: str, cwd: Path,
                  env: dict[str, str] | None = None) -> bool:
    """Run `setup`, then `action` with the child killed before its file-system step `step`.
    True when the child was killed; False when `action` finished first (fewer steps)."""
    script = (_CHILD + textwrap.dedent(setup) + "\n_armed = True\n" + textwrap.dedent(action)
              + "\n_armed = False\nprint('finished')\n")
    full_env = dict(os.environ if env is None else env)
    full_env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run([sys.executable, "-c", script, str(step)], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    if done.returncode == -signal.SIGKILL:
        return True
    assert done.returncode == 0 and "finished" in done.stdout, done.stderr
    return False
