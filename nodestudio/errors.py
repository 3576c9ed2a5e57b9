"""Typed errors shared by every layer. Each names the place that is wrong."""

from __future__ import annotations


class NodeStudioError(Exception):
    """Base class of every error NodeStudio raises on bad input."""


class GraphError(NodeStudioError):
    """A graph that cannot be built or compiled: wiring, shapes, cycles, unknown ops."""

    def __init__(self, message: str, node: str | None = None, port: str | None = None):
        self.node = node
        self.port = port
        where = ""
        if node is not None:
            where = f"node {node!r}" + (f", port {port!r}" if port is not None else "") + ": "
        super().__init__(where + message)
        self.detail = message


class CycleError(GraphError):
    def __init__(self, cycle: list[str]):
        self.cycle = cycle
        super().__init__("the graph has a cycle: " + " -> ".join(cycle), node=cycle[0])


class ShapeError(GraphError):
    """Shapes or dtypes that do not fit; the message names node, port and both shapes."""


class FileFormatError(NodeStudioError):
    """A graph file that cannot be read: names the file, the JSON path and what is wrong."""

    def __init__(self, path: str, json_path: str, message: str):
        self.path = path
        self.json_path = json_path
        self.detail = message
        super().__init__(f"{path}: at {json_path}: {message}")


class MissingInputError(NodeStudioError):
    """A compiled function called without a value for one of its inputs."""


class DeviceError(NodeStudioError):
    """No usable OpenCL device, or the requested one does not exist."""


class InputValueError(NodeStudioError, ValueError):
    """A value (fed to an input, set on a shared variable, held by a constant) that the
    device's dtype cannot hold exactly: an integer outside int32, a fraction, NaN or text for
    an int32 input, a finite number beyond float32's range. Names the place, the first
    offending value and its position."""


class KernelBuildError(NodeStudioError):
    """An OpenCL program failed to build; carries the device and the build log."""

    def __init__(self, device: str, kernel: str, log: str, source: str):
        self.device = device
        self.kernel = kernel
        self.log = log
        self.source = source
        super().__init__(f"OpenCL build of {kernel!r} failed on {device}:\n{log.strip()}")


class DeviceMemoryError(DeviceError):
    """Buffers that do not fit the device: says how much was asked for, for which node, and
    how much the device has."""
