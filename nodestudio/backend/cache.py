"""Compiled-program cache: in memory per context, and on disk as device binaries.

The disk key covers everything that changes the binary: source, build options, device name,
driver and platform versions, and the pyopencl version. A corrupt or stale cache entry is simply
rebuilt. Build failures raise KernelBuildError with the device and the compiler's log.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyopencl as cl

from nodestudio.backend.device import Runtime
from nodestudio.errors import KernelBuildError

_memory: dict[tuple[int, str], cl.Program] = {}
_lock = threading.Lock()
stats = {"memory_hits": 0, "disk_hits": 0, "builds": 0}  # counted for tests and reports


def cache_dir() -> Path | None:
    """`NODESTUDIO_CACHE_DIR`, else ~/.cache/nodestudio/kernels; "off" disables the disk cache."""
    configured = os.environ.get("NODESTUDIO_CACHE_DIR")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "nodestudio" / "kernels"


def _key(rt: Runtime, source: str, options: str) -> str:
    digest = hashlib.sha256()
    for part in (source, options, rt.info.name, rt.info.driver_version,
                 rt.info.platform_version, cl.VERSION_TEXT):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def build(rt: Runtime, source: str, options: str, name: str) -> cl.Program:
    """A built program for `source`, from memory, disk, or the compiler (in that order).
    Thread-safe; the lock is not held while compiling, so programs build in parallel."""
    key = _key(rt, source, options)
    with _lock:
        program = _memory.get((id(rt.context), key))
        if program is not None:
            stats["memory_hits"] += 1
            return program
    folder = cache_dir()
    program = _from_disk(rt, folder, key, options) if folder else None
    if program is None:
        program = _compile(rt, source, options, name)
        if folder:
            _to_disk(rt, program, folder, key)
    with _lock:
        return _memory.setdefault((id(rt.context), key), program)


def build_all(rt: Runtime, requests: list[tuple[str, str, str]]
              ) -> dict[tuple[str, str], cl.Program]:
    """Build (source, options, name) requests on all cores; keyed by (source, options)."""
    unique = {(src, opts): name for src, opts, name in requests}
    workers = min(len(unique), os.cpu_count() or 1)
    if workers <= 1:
        return {key: build(rt, key[0], key[1], name) for key, name in unique.items()}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {key: pool.submit(build, rt, key[0], key[1], name)
                   for key, name in unique.items()}
        return {key: future.result() for key, future in futures.items()}


def _compile(rt: Runtime, source: str, options: str, name: str) -> cl.Program:
    with _lock:
        stats["builds"] += 1
    program = cl.Program(rt.context, source)
    try:
        program.build(options=options, devices=[rt.device])
    except cl.Error as exc:
        try:
            log = program.get_build_info(rt.device, cl.program_build_info.LOG)
        except cl.Error:
            log = ""
        raise KernelBuildError(rt.info.label, name, log or str(exc), source) from None
    return program


def _from_disk(rt: Runtime, folder: Path, key: str, options: str) -> cl.Program | None:
    path = folder / f"{key}.bin"
    try:
        binary = path.read_bytes()
    except OSError:
        return None
    try:
        program = cl.Program(rt.context, [rt.device], [binary])
        program.build(options=options, devices=[rt.device])
    except cl.Error:
        path.unlink(missing_ok=True)  # stale or corrupt: rebuild from source
        return None
    with _lock:
        stats["disk_hits"] += 1
    return program


def _to_disk(rt: Runtime, program: cl.Program, folder: Path, key: str) -> None:
    try:
        binary = program.get_info(cl.program_info.BINARIES)[0]
        if not binary:
            return
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, delete=False) as tmp:
            tmp.write(binary)
        os.replace(tmp.name, folder / f"{key}.bin")
    except (OSError, cl.Error):
        pass  # the disk cache is an optimisation; never fail a build because of it


def clear_memory() -> None:
    with _lock:
        _memory.clear()
