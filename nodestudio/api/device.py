"""Device listing and selection, the API's door to the backend for the layers above it: the
training engine, the command line and the studio choose devices here, never in
`nodestudio.backend` (tests/test_layering.py)."""

from __future__ import annotations

from nodestudio.backend.device import DeviceInfo, devices, enable_profiling, runtime, set_device


def current_device() -> DeviceInfo:
    """The device the API computes on: the one `set_device` chose, else (on first use) the one
    `NODESTUDIO_DEVICE` names, else the preferred one (a GPU, then the newest PoCL)."""
    return runtime().info


__all__ = ["DeviceInfo", "current_device", "devices", "enable_profiling", "set_device"]
