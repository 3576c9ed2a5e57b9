"""Choosing the OpenCL device, for the layers above the API (training, CLI, studio).

The backend (nodestudio/backend/device.py) owns the device, its context and queue; what the
training engine, the command line and the studio need of it goes through here, so that none
of them imports the backend:

    from nodestudio.api.device import current_device, devices, select_device
    for info in devices(): print(info)       # DeviceInfo: index, label, kind, ...
    select_device("1")                       # by index or part of "platform: device"
"""

from __future__ import annotations

from nodestudio.backend import device as _backend
from nodestudio.backend.device import DeviceInfo


def devices() -> list[DeviceInfo]:
    """Every OpenCL device on this machine, in a stable order (index = position)."""
    return _backend.devices()


def current_device() -> DeviceInfo:
    """The device in use (chosen from NODESTUDIO_DEVICE, or the preferred one, on first use)."""
    return _backend.runtime().info


def supports_float64() -> bool:
    """Whether the device in use computes in double (cl_khr_fp64): float64 graphs compile
    there; elsewhere they are refused with a DeviceError naming the value and the device."""
    return _backend.runtime().has_fp64


def set_device(spec: str | int | None, profiling: bool = False) -> DeviceInfo:
    """Select a device by index or by a case-insensitive part of "platform: device" (None:
    the preferred one); programs compiled for another device are rebuilt. DeviceError when
    nothing matches."""
    return _backend.set_device(spec, profiling)


def select_device(spec: str | int | None) -> DeviceInfo | None:
    """Like `set_device`, but keeps the current device (and its compiled programs) when `spec`
    names it already. None or blank changes nothing (and opens no device): returns None."""
    text = "" if spec is None else str(spec).strip()
    if not text:
        return None
    current = current_device()
    if text == str(current.index) or (not text.isdigit() and
                                      text.lower() in current.label.lower()):
        return current
    return set_device(text)


def enable_profiling(on: bool = True) -> None:
    """Time every kernel from now on (Function.kernels() then reports seconds)."""
    _backend.enable_profiling(on)


__all__ = ["DeviceInfo", "current_device", "devices", "enable_profiling", "select_device",
           "set_device"]
