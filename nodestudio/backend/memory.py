"""Device memory: a running account of the buffers NodeStudio holds on each device, checked
before anything is allocated.

A driver that is asked for more memory than it has does not always say so: PoCL hands out a
buffer it cannot back and aborts the whole process with an assertion when it is first used
(exit 134), and GPU drivers fail later, at a launch, with an error that names no node. OpenCL
has no portable query for free memory, so NodeStudio keeps its own account: every buffer it
creates is a `TrackedBuffer` whose bytes count until the object is gone. Before an executable
allocates anything, the sum of its buffers plus what is already held is compared with the
device's global memory (on a CPU device, also with what the host has available), and each
buffer with the device's largest single allocation; what does not fit raises a
`DeviceMemoryError` naming the node whose buffer it is.
"""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Sequence

import pyopencl as cl

from nodestudio.errors import DeviceMemoryError

MIB = 2**20


class TrackedBuffer(cl.Buffer):
    """A cl.Buffer that stays on its device's account while it lives."""

    __slots__ = ("__weakref__",)


class MemoryAccount:
    """Bytes of device buffers NodeStudio holds in one context, and the device's limits."""

    def __init__(self, context: cl.Context, device: cl.Device, label: str, is_cpu: bool):
        self.context = context
        self.label = label
        self.global_bytes = int(device.global_mem_size)
        self.max_alloc_bytes = int(device.max_mem_alloc_size)
        self.is_cpu = is_cpu
        self.held = 0
        self._lock = threading.RLock()  # a finalizer may run inside a locked section (gc)

    def capacity(self) -> int:
        """What NodeStudio may hold in all: the device's global memory; on a CPU device (whose
        memory is the host's) no more than it holds already plus what the host has free."""
        limit = self.global_bytes
        if self.is_cpu:
            available = host_available_bytes()
            if available is not None:
                limit = min(limit, self.held + available)
        return limit

    def check(self, requests: Sequence[tuple[int, str]], what: str = "this graph") -> None:
        """Raise DeviceMemoryError unless buffers of these sizes (bytes, the node each is for)
        fit beside what is held: each within the largest allocation, all within capacity."""
        for nbytes, node in requests:
            if nbytes > self.max_alloc_bytes:
                raise DeviceMemoryError(
                    f"node {node!r} needs a buffer of {nbytes / MIB:.1f} MiB; {self.label} "
                    f"allocates at most {self.max_alloc_bytes / MIB:.1f} MiB at once (use "
                    "smaller batches)")
        total = sum(n for n, _ in requests)
        if self.held + total <= self.capacity():
            return
        gc.collect()  # functions that are garbage but not yet collected give theirs back
        capacity = self.capacity()
        if self.held + total <= capacity:
            return
        nbytes, node = _crossing(requests, capacity - self.held)
        free = "" if capacity == self.global_bytes else \
            f" (the host has {(capacity - self.held) / MIB:.1f} MiB free)"
        raise DeviceMemoryError(
            f"{what} needs {total / MIB:.1f} MiB of device buffers; node {node!r} "
            f"({nbytes / MIB:.1f} MiB) is the one that does not fit: {self.label} has "
            f"{self.global_bytes / MIB:.1f} MiB{free}, of which NodeStudio already holds "
            f"{self.held / MIB:.1f} MiB (use smaller batches, or drop functions no longer "
            "used)")

    def allocate(self, nbytes: int, node: str) -> TrackedBuffer:
        """A read-write buffer of `nbytes` for `node`, checked and counted."""
        self.check([(nbytes, node)], f"node {node!r}")
        try:
            buffer = TrackedBuffer(self.context, cl.mem_flags.READ_WRITE, nbytes)
        except cl.Error as exc:
            raise DeviceMemoryError(f"node {node!r}: could not allocate {nbytes / MIB:.1f} MiB "
                                    f"on {self.label}: {exc}") from exc
        with self._lock:
            self.held += nbytes
        weakref.finalize(buffer, self._release, nbytes).atexit = False
        return buffer

    def _release(self, nbytes: int) -> None:
        with self._lock:
            self.held -= nbytes


def _crossing(requests: Sequence[tuple[int, str]], room: int) -> tuple[int, str]:
    """The first request that no longer fits in `room` bytes, counting those before it."""
    running = 0
    for request in requests:
        running += request[0]
        if running > room:
            return request
    return requests[-1]


_HOST_READING_SECONDS = 0.5  # updates that copy allocate on every call: read at most this often
_host_reading: tuple[float, int | None] = (-1.0, None)


def host_available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), or None where it cannot be read."""
    global _host_reading
    when, value = _host_reading
    now = time.monotonic()
    if now - when < _HOST_READING_SECONDS and when >= 0:
        return value
    value = None
    try:
        with open("/proc/meminfo", encoding="ascii") as lines:
            for line in lines:
                if line.startswith("MemAvailable:"):
                    value = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        value = None
    _host_reading = (now, value)
    return value
