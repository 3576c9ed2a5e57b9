"""Choosing the OpenCL device and holding its context and queue.

Order of preference when nothing is asked for: a GPU, then Debian's PoCL over older PoCL builds
(PoCL 3.1 runs our kernels about 5x faster than pip's 3.0 release candidate), then any CPU.
`NODESTUDIO_DEVICE` or `set_device()` picks one by index (as listed by `devices()`) or by a
case-insensitive substring of "platform: device".
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field

import pyopencl as cl

from nodestudio.backend.memory import MemoryAccount
from nodestudio.errors import DeviceError


@dataclass(frozen=True)
class DeviceInfo:
    index: int
    platform: str
    platform_version: str
    name: str
    kind: str  # "gpu", "cpu" or "other"
    compute_units: int
    global_mem_bytes: int
    driver_version: str

    @property
    def label(self) -> str:
        return f"{self.platform}: {self.name}"

    def __str__(self) -> str:
        mem = self.global_mem_bytes / 2**30
        return (f"[{self.index}] {self.label} ({self.kind.upper()}, {self.compute_units} compute "
                f"units, {mem:.1f} GiB, {self.platform_version})")


def _kind(device: cl.Device) -> str:
    if device.type & cl.device_type.GPU:
        return "gpu"
    if device.type & cl.device_type.CPU:
        return "cpu"
    return "other"


def _pocl_version(platform_version: str) -> tuple[int, ...]:
    match = re.search(r"PoCL (\d+)\.(\d+)", platform_version, re.IGNORECASE)
    return tuple(int(g) for g in match.groups()) if match else (0, 0)


def _all_devices() -> list[tuple[cl.Platform, cl.Device]]:
    try:
        platforms = cl.get_platforms()
    except cl.Error as exc:  # no ICD installed at all
        raise DeviceError(f"no OpenCL platform found ({exc}); install an OpenCL driver, "
                          "e.g. Debian's pocl-opencl-icd") from exc
    found = []
    for platform in platforms:
        try:
            found.extend((platform, d) for d in platform.get_devices())
        except cl.Error:
            continue  # a platform with no usable devices is skipped, not fatal
    return found


def devices() -> list[DeviceInfo]:
    """Every OpenCL device on this machine, in a stable order."""
    infos = []
    for index, (platform, device) in enumerate(_all_devices()):
        infos.append(DeviceInfo(
            index=index, platform=platform.name.strip(), platform_version=platform.version.strip(),
            name=device.name.strip(), kind=_kind(device), compute_units=device.max_compute_units,
            global_mem_bytes=device.global_mem_size, driver_version=device.driver_version.strip()))
    return infos


def _preference(info: DeviceInfo) -> tuple:
    return (info.kind == "gpu", info.kind == "cpu", _pocl_version(info.platform_version),
            info.compute_units)


def _pick(spec: str | int | None) -> int:
    infos = devices()
    if not infos:
        raise DeviceError("no OpenCL device found; install an OpenCL driver such as "
                          "Debian's pocl-opencl-icd")
    if spec is None or spec == "":
        return max(infos, key=_preference).index
    text = str(spec).strip()
    if text.isdigit():
        index = int(text)
        if index >= len(infos):
            raise DeviceError(f"device index {index} out of range: {len(infos)} device(s) found")
        return index
    matches = [i for i in infos if text.lower() in i.label.lower()]
    if not matches:
        listing = "; ".join(i.label for i in infos)
        raise DeviceError(f"no OpenCL device matches {text!r}; devices: {listing}")
    return max(matches, key=_preference).index


@dataclass
class Runtime:
    """The chosen device with its context, in-order queue and the account of the buffers
    NodeStudio holds there."""

    info: DeviceInfo
    device: cl.Device
    context: cl.Context
    queue: cl.CommandQueue
    profiling: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    memory: MemoryAccount = field(init=False, repr=False)
    _timing_queue: cl.CommandQueue | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.memory = MemoryAccount(self.context, self.device, self.info.label,
                                    self.info.kind == "cpu")

    def timing_queue(self) -> cl.CommandQueue:
        """A second queue on the same context, with profiling on, for timing a few calls
        (the studio's Kernels panel) without switching profiling on for everyone: the main
        queue stays as it is, so a training run in another thread is not disturbed."""
        if self.profiling:
            return self.queue
        with self._lock:
            if self._timing_queue is None:
                self._timing_queue = cl.CommandQueue(
                    self.context, self.device,
                    properties=cl.command_queue_properties.PROFILING_ENABLE)
            return self._timing_queue

    @property
    def is_gpu(self) -> bool:
        return self.info.kind == "gpu"

    @property
    def has_fp64(self) -> bool:
        """Whether the device computes in double (cl_khr_fp64, or a double_fp_config). int64
        needs nothing: every OpenCL device has `long`."""
        return device_has_fp64(self.device)


def device_has_fp64(device: cl.Device) -> bool:
    if "cl_khr_fp64" in device.extensions.split():
        return True
    try:
        return bool(device.double_fp_config)
    except cl.Error:  # a driver that does not answer the query
        return False


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def set_device(spec: str | int | None, profiling: bool = False) -> DeviceInfo:
    """Select the device used from now on. Programs compiled for another device are rebuilt."""
    global _runtime
    index = _pick(spec)
    platform, device = _all_devices()[index]
    context = cl.Context([device])
    props = cl.command_queue_properties.PROFILING_ENABLE if profiling else 0
    queue = cl.CommandQueue(context, device, properties=props)
    with _runtime_lock:
        _runtime = Runtime(devices()[index], device, context, queue, profiling)
    return _runtime.info


def runtime() -> Runtime:
    """The current runtime, chosen from `NODESTUDIO_DEVICE` on first use."""
    if _runtime is None:
        set_device(os.environ.get("NODESTUDIO_DEVICE"))
    assert _runtime is not None
    return _runtime


def enable_profiling(on: bool = True) -> None:
    """Recreate the queue with or without profiling; compiled programs stay valid."""
    rt = runtime()
    if rt.profiling != on:
        props = cl.command_queue_properties.PROFILING_ENABLE if on else 0
        rt.queue.finish()
        rt.queue = cl.CommandQueue(rt.context, rt.device, properties=props)
        rt.profiling = on
