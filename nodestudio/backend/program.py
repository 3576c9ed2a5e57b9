"""Running a lowered graph on the device: buffers, kernels, uploads, reads and updates.

A call enqueues everything without waiting (a pipelined launch costs a few microseconds, a
synchronous one tens) and waits once, for the results it returns. Kernel arguments are set only
when the buffer behind them changed, which after the first call happens only for the kernels
reading a slot whose buffer was swapped by an update (and the call counter of random kernels).
Updates are applied by swapping buffers, not copying.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pyopencl as cl

from nodestudio.backend import cache
from nodestudio.backend.device import Runtime
from nodestudio.backend.lower import LoweredGraph, host_array
from nodestudio.errors import DeviceError
from nodestudio.ir.expr import Variable
from nodestudio.ir.shared import NUMPY_TYPES, SharedValue
from nodestudio.ops.registry import FLOAT64


class DeviceParam:
    """The device copy of a SharedValue (attached as `SharedValue.device`)."""

    def __init__(self, rt: Runtime, host: np.ndarray, name: str):
        self.rt = rt
        self.name = name
        self.buffer = allocate(rt, max(host.nbytes, 4), name)
        self.shape, self.dtype = host.shape, host.dtype
        self.write(host)

    def read(self) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        cl.enqueue_copy(self.rt.queue, out, self.buffer, is_blocking=True)
        return out

    def write(self, value: np.ndarray) -> None:
        cl.enqueue_copy(self.rt.queue, self.buffer, np.ascontiguousarray(value, self.dtype),
                        is_blocking=True)


def device_param(rt: Runtime, container: SharedValue) -> DeviceParam:
    dev = container.device
    if not isinstance(dev, DeviceParam) or dev.rt.context is not rt.context:
        if isinstance(dev, DeviceParam) and container.host_stale:
            container.get_value()  # bring the newest value over from the old device
        dev = DeviceParam(rt, container.host, container.name)
        container.device = dev
        container.host_stale = False
    return dev


def allocate(rt: Runtime, nbytes: int, node: str) -> cl.Buffer:
    """A buffer for `node`, on the device's account (see backend/memory.py)."""
    return rt.memory.allocate(nbytes, node)


def check_dtypes(rt: Runtime, lowered: LoweredGraph) -> None:
    """Refuse a float64 value on a device without double (DeviceError naming the first such
    value and the device), before anything is allocated or built."""
    if rt.has_fp64:
        return
    for group in lowered.groups:
        for node in group.nodes:
            for var in (*node.inputs, *node.outputs):
                if var.dtype == FLOAT64:
                    raise DeviceError(
                        f"{var.owner.op.name} {var.owner.name!r} is float64, and "
                        f"{rt.info.label} has no double precision (cl_khr_fp64): cast it with "
                        f"ns.cast(x, 'float32') or choose another device (ns.devices())")


def _on_device(rt: Runtime, container: SharedValue) -> bool:
    return isinstance(container.device, DeviceParam) and container.device.rt.context is \
        rt.context


@dataclass
class KernelReport:
    name: str
    nodes: list[str]
    source: str
    global_size: tuple[int, ...]
    seconds: float | None = None


class Executable:
    """One lowered graph for one set of input shapes, bound to one device."""

    def __init__(self, rt: Runtime, lowered: LoweredGraph, inputs: Sequence[Variable],
                 results: Sequence[Variable], updates: Sequence[tuple[SharedValue, Variable]]):
        self.rt = rt
        self.lowered = lowered
        self.inputs = list(inputs)
        self.results = list(results)
        self.updates = list(updates)
        self.last_times: list[float] | None = None
        self._buffers: list[cl.Buffer | None] = []
        self._params: list[tuple[int, SharedValue]] = []
        check_dtypes(rt, lowered)
        # Everything this executable will allocate, checked before any of it is: a driver
        # asked for more than it has may abort the process instead of failing (memory.py).
        rt.memory.check([(_slot_bytes(rt, slot), slot.node) for slot in lowered.slots],
                        _describe(lowered))
        for slot in lowered.slots:
            if slot.kind == "parameter":
                self._buffers.append(None)
                self._params.append((slot.index, slot.source.data))  # type: ignore[union-attr]
            else:
                self._buffers.append(allocate(rt, slot.nbytes, slot.node))
                if slot.kind == "constant":
                    value = host_array(_constant_value(slot.source), slot.source.outputs[0])
                    cl.enqueue_copy(rt.queue, self._buffers[-1], value, is_blocking=True)
        programs = cache.build_all(rt, [(s.launch.source, s.launch.options, s.launch.kernel)
                                        for s in lowered.steps])
        self._kernels = [cl.Kernel(programs[(s.launch.source, s.launch.options)], s.launch.kernel)
                         for s in lowered.steps]
        # Which kernels read each slot, to re-set the arguments of only those whose buffer
        # changed (a swapped parameter): pyopencl's set_args costs microseconds a kernel, and a
        # step of a small network is dozens of kernels.
        self._readers: list[list[int]] = [[] for _ in lowered.slots]
        self._call_arg: list[tuple[int, int]] = []  # (step, argument) of the call counter
        for i, step in enumerate(lowered.steps):
            for position, binding in enumerate(step.bindings):
                if binding == "call_index":
                    self._call_arg.append((i, position))
                else:
                    self._readers[binding].append(i)
        self._launches = [(kernel, step.launch.global_size, step.launch.local_size)
                          for kernel, step in zip(self._kernels, lowered.steps)]
        self._stale = set(range(len(lowered.steps)))  # kernels whose arguments must be set
        self._update_slots = self._plan_updates()
        # Host arrays being uploaded and device buffers dropped by updates: pyopencl kernel
        # arguments do not keep buffers alive, and PoCL crashes if one is freed while a queued
        # launch still uses it, so both are held until the queue has drained.
        self._keepalive: list = []
        self._undo: list = []  # (container, version after, buffer before, slot, copied)

    def _plan_updates(self) -> list[tuple[SharedValue, int, bool]]:
        """(container, slot, copy?) per update; a slot not exclusively ours must be copied."""
        plan, claimed = [], set()
        for container, var in self.updates:
            slot = self.lowered.slot_of[id(var)]
            exclusive = self.lowered.slots[slot].kind == "result" and slot not in claimed
            claimed.add(slot)
            plan.append((container, slot, not exclusive))
        return plan

    def __call__(self, values: Mapping[int, np.ndarray], call_index: int,
                 queue: cl.CommandQueue | None = None) -> list[np.ndarray]:
        """Run once; `call_index` (counted by the Function) drives the random streams.
        `queue` (default: the runtime's) may be one with profiling on (`Runtime.timing_queue`):
        the call then waits for its kernels and `last_times` holds each one's seconds."""
        rt = self.rt
        if queue is None or queue is rt.queue:
            queue = rt.queue
        else:  # what earlier calls left on the main queue must be done before this one reads
            rt.queue.finish()
        timed = bool(queue.properties & cl.command_queue_properties.PROFILING_ENABLE)
        buffers, stale = self._buffers, self._stale
        for slot, container in self._params:
            buffer = device_param(rt, container).buffer
            if buffer is not buffers[slot]:
                buffers[slot] = buffer
                stale.update(self._readers[slot])
        for var in self.inputs:
            array = values[id(var)]
            self._keepalive.append(array)
            cl.enqueue_copy(queue, buffers[self.lowered.slot_of[id(var)]], array,
                            is_blocking=False)
        call_arg = np.uint32(call_index & 0xFFFFFFFF)
        for i, position in self._call_arg:
            if i not in stale:
                self._kernels[i].set_arg(position, call_arg)
        steps = self.lowered.steps
        for i in stale:
            self._kernels[i].set_args(*(call_arg if b == "call_index" else buffers[b]
                                        for b in steps[i].bindings))
        stale.clear()
        enqueue = cl.enqueue_nd_range_kernel
        events = [enqueue(queue, kernel, global_size, local_size)
                  for kernel, global_size, local_size in self._launches]
        outputs = []
        for var in self.results:
            out = np.empty(self.lowered.shapes[id(var)], NUMPY_TYPES[var.dtype])
            if out.size:
                cl.enqueue_copy(queue, out, buffers[self.lowered.slot_of[id(var)]],
                                is_blocking=False)
            outputs.append(out)
        self._apply_updates(queue)
        if outputs or timed or len(self._keepalive) > 64:
            queue.finish()
            self._keepalive.clear()
            if timed:
                self.last_times = [(e.profile.end - e.profile.start) * 1e-9 for e in events]
        return outputs

    def _apply_updates(self, queue: cl.CommandQueue) -> None:
        """Copies first, then swaps: a swap changes what a slot holds, and a later copy from
        that slot must still see the value computed in this call."""
        buffers = self._buffers
        swaps = []
        self._keepalive.extend(entry[2] for entry in self._undo)  # may still be in use
        self._undo = []
        for container, slot, copy in self._update_slots:
            param = device_param(self.rt, container)
            container.version += 1
            self._undo.append((container, container.version, param.buffer, slot, copy))
            if copy:
                fresh = allocate(self.rt, param.buffer.size, param.name)
                cl.enqueue_copy(queue, fresh, buffers[slot], byte_count=param.buffer.size)
                param.buffer = fresh
            else:
                swaps.append((param, slot))
            container.host_stale = True
        for param, slot in swaps:
            param.buffer, buffers[slot] = buffers[slot], param.buffer
            self._stale.update(self._readers[slot])

    def undo_updates(self) -> bool:
        """Put back the values the last call's updates replaced (the divergence guard's
        rollback). The old values are still in this executable's buffers, so this costs no
        copy; it is refused (False) once any of those shared values has changed since."""
        undo, self._undo = self._undo, []
        if not undo or any(container.version != version for container, version, *_ in undo):
            return False
        for container, _, old, slot, copy in undo:
            param = device_param(self.rt, container)
            if not copy:
                self._buffers[slot] = param.buffer
                self._stale.update(self._readers[slot])
            param.buffer = old
            container.version += 1
            container.host_stale = True
        return True

    def device_bytes(self) -> int:
        """Bytes of the device buffers this executable holds (inputs, intermediates, results,
        constants); parameter slots, which point at the shared values' own buffers, are not
        counted."""
        return sum(buffer.size for slot, buffer in zip(self.lowered.slots, self._buffers)
                   if slot.kind != "parameter" and buffer is not None)

    def kernels(self) -> list[KernelReport]:
        reports = []
        for i, step in enumerate(self.lowered.steps):
            seconds = self.last_times[i] if self.last_times else None
            reports.append(KernelReport(step.launch.kernel, step.group.names, step.launch.source,
                                        step.launch.global_size, seconds))
        return reports


def _slot_bytes(rt: Runtime, slot) -> int:
    """Bytes a slot will allocate: a parameter's only when its value is not on the device."""
    if slot.kind != "parameter":
        return slot.nbytes
    container = slot.source.data
    return 0 if _on_device(rt, container) else max(container.host.nbytes, 4)


def _describe(lowered: LoweredGraph) -> str:
    """"this graph" with the shapes of its inputs, for messages."""
    shapes = [f"{slot.node} {lowered.shapes[id(slot.source.outputs[0])]}"  # type: ignore
              for slot in lowered.slots if slot.kind == "input"]
    return "this graph" + (f" (inputs {', '.join(shapes)})" if shapes else "")


def _constant_value(node) -> np.ndarray:
    if node.data is not None:
        return np.asarray(node.data)
    return np.full(node.attrs["shape"], node.attrs["value"])
