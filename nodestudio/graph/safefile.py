"""Writing a file so that a crash never leaves it half-written, and clearing away what a crash
left behind.

`write_atomically` writes a temporary file beside the target, fsyncs it and renames it over the
target: at every moment the target holds either the old content or the new, never a mix. The
temporary's name says who wrote it, `.<target name>.nodestudio-<pid>-<random>.tmp`, so that a
later save or start can recognise the ones a killed process left (`kill -9`, power loss) and
remove them, and only those: a temporary of a process that is gone, or whose process id now
belongs to a process started after the temporary was last written. A temporary that a live
process may still be writing is never touched, nor is any file not named by this module.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path

TAG = "nodestudio"
_TEMPORARY = re.compile(rf"^\.(?P<target>.+)\.{TAG}-(?P<pid>\d+)-[a-z0-9_]+\.tmp$")
# /proc gives a process's start in clock ticks after boot, and the boot time in whole seconds:
# a start time read that way can be a second off, so a temporary counts as older than its
# process only by more than this
START_SLACK_S = 2.0


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace `path` by `data`: a temporary file in the same folder, fsync, os.replace (then
    fsync the folder where the platform allows). The file keeps its permissions (0644 when
    new). Stale temporaries of the same target are removed once the new content is in place."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = 0o644
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.{TAG}-{os.getpid()}-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _sync_folder(folder)
    remove_stale_temporaries(folder, name)


def _sync_folder(folder: str) -> None:
    """Make the rename itself durable; not possible on every platform."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(folder: str | os.PathLike[str],
                             target: str | None = None) -> list[Path]:
    """Remove the temporaries that killed writers left in `folder` (of the file named `target`
    only, when given). Returns what was removed; a file that cannot be examined or removed is
    left alone, since tidying up must never make a save or a start fail."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _TEMPORARY.match(name)
        if match is None or (target is not None and match["target"] != target):
            continue
        path = Path(folder) / name
        try:
            written = path.lstat().st_mtime
            if path.is_symlink() or _may_be_writing(int(match["pid"]), written):
                continue
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _may_be_writing(pid: int, written: float) -> bool:
    """Whether process `pid` may still be writing a temporary last written at `written`: it
    is running and did not start after that moment (a process id is reused once its process
    is gone). Unsure means yes."""
    if pid <= 0 or os.name != "posix":
        return pid > 0  # no cheap, safe check here (os.kill on Windows ends the process)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # running, as another user
    started = _start_time(pid)
    if started is None:
        return True
    if started == float("inf"):  # a zombie: ended, only not yet reaped by its parent
        return False
    return started <= written + START_SLACK_S


def _start_time(pid: int) -> float | None:
    """When process `pid` started (seconds since the epoch), from Linux's /proc; inf for a
    zombie; None where that cannot be read."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        fields = stat[stat.rindex(")") + 2:].split()  # the name in (...) may hold spaces
        if fields[0] == "Z":
            return float("inf")
        return boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22: starttime
    except (OSError, ValueError, IndexError, StopIteration):
        return None
