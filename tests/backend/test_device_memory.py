"""Device memory is checked before it is allocated: a graph whose buffers exceed the device's
memory raises a DeviceMemoryError naming the node (PoCL would otherwise abort the process with
an assertion, exit 134, once it touched the buffer it could not back), a buffer beyond the
largest single allocation likewise, and the running account of what NodeStudio holds goes up
with every function that runs and back down when it is dropped."""

from __future__ import annotations

import gc
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import nodestudio as ns
from nodestudio.backend import device as device_module
from nodestudio.errors import DeviceError, DeviceMemoryError, NodeStudioError

pytestmark = pytest.mark.opencl

ROOT = Path(__file__).resolve().parents[2]

# Outer products x yᵀ + i of two small vectors: each output is a buffer just under the device's
# largest allocation, and there are enough of them to exceed its global memory, while the
# inputs stay a few hundred KiB. On a CPU device the child process limits its own address
# space first, so that if the check ever went missing the driver's failure (PoCL aborts: exit
# 134) ends the child instead of the machine's memory.
OVERSIZED = textwrap.dedent("""
    import math, resource, sys
    import numpy as np
    import nodestudio as ns
    from nodestudio.backend import device
    rt = device.runtime()
    account = rt.memory
    if rt.info.kind == "cpu":
        with open("/proc/self/status") as status:
            vm = next(int(line.split()[1]) * 1024 for line in status
                      if line.startswith("VmSize:"))
        limit = vm + 2**31
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    per_buffer = int(min(account.max_alloc_bytes, account.global_bytes) * 0.9) // 4
    n = math.isqrt(per_buffer)
    count = math.ceil(account.global_bytes / (4 * n * n)) + 1
    x, y = ns.vector("x"), ns.vector("y")
    outer = ns.reshape(x, (-1, 1)) * ns.reshape(y, (1, -1))
    f = ns.function([x, y], [outer + float(i + 1) for i in range(count)])
    try:
        f(np.ones(n, np.float32), np.ones(n, np.float32))
    except ns.DeviceError as exc:
        print(type(exc).__name__, "|", exc, "|", account.global_bytes, "|", account.held)
        sys.exit(0)
    print("no error")
    sys.exit(3)
""")


def test_a_graph_beyond_the_device_memory_is_refused_before_anything_is_allocated():
    done = subprocess.run([sys.executable, "-c", OVERSIZED], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, (f"exit {done.returncode} (134 / -6: the driver aborted)\n"
                                  f"{done.stdout}\n{done.stderr[-3000:]}")
    kind, message, global_bytes, held = done.stdout.strip().splitlines()[-1].split(" | ")
    assert kind == "DeviceMemoryError"
    assert message.startswith("this graph (inputs x (")
    assert "MiB of device buffers; node 'add_" in message
    assert f"has {int(global_bytes) / 2**20:.1f} MiB" in message
    assert "NodeStudio already holds 0.0 MiB" in message
    assert held == "0"  # nothing was allocated


@pytest.fixture
def small_device(monkeypatch):
    """The current device's account with a capacity of 1.5 MiB beyond what is held now."""
    # garbage from earlier tests would give memory back in the middle of a test; a pickled
    # model's cycles take more than one pass to go
    while gc.collect():
        pass
    account = device_module.runtime().memory
    monkeypatch.setattr(account, "global_bytes", account.held + 3 * 2**19)
    monkeypatch.setattr(account, "is_cpu", False)
    return account


def test_the_account_rises_with_each_function_and_falls_when_it_is_dropped(small_device):
    account = small_device
    start = account.held
    x = ns.vector("x")
    first = ns.function([x], x * 2.0)
    value = np.ones(100_000, np.float32)  # 0.38 MiB; input and result: 0.76 MiB
    np.testing.assert_array_equal(first(value), value * 2)
    used = account.held - start
    assert 2 * value.nbytes <= used <= 2 * value.nbytes + 16  # input, result (and a constant)
    second = ns.function([x], x * 3.0)
    text = _refusal(second, value)
    # the input fits beside the first function's 0.76 MiB; the result no longer does
    assert re.match(r"this graph \(inputs x \(100000,\)\) needs 0\.8 MiB of device buffers; "
                    r"node 'mul_\d+' \(0\.4 MiB\) is the one that does not fit: .* has 1\.5 "
                    r"MiB, of which", text), text
    assert f"NodeStudio already holds {(start + used) / 2**20:.1f} MiB" in text
    assert account.held == start + used  # the refused one allocated nothing
    del first
    gc.collect()
    assert account.held == start
    np.testing.assert_array_equal(second(value), value * 3)  # room again
    del second
    gc.collect()
    assert account.held == start


def _refusal(fn, *args) -> str:
    """The DeviceMemoryError's message. (Kept out of the test's frame: pytest looks at the
    frame's locals, and on Python < 3.13 that snapshot would keep the dropped function
    alive.)"""
    with pytest.raises(DeviceMemoryError) as info:
        fn(*args)
    assert isinstance(info.value, DeviceError) and isinstance(info.value, NodeStudioError)
    return str(info.value)


def test_a_shared_value_that_does_not_fit_is_named(small_device):
    w = ns.shared(np.ones(400_000, np.float32), "big_w")  # 1.5 MiB with its result
    f = ns.function([], w * 2.0)
    with pytest.raises(DeviceMemoryError, match=r"node 'big_w' \(1\.5 MiB\) is the one"):
        f()


def test_a_buffer_beyond_the_largest_allocation_is_named(small_device, monkeypatch):
    monkeypatch.setattr(small_device, "max_alloc_bytes", 2**18)
    x = ns.vector("x")
    f = ns.function([x], ns.exp(x))
    with pytest.raises(DeviceMemoryError, match=r"node 'x' needs a buffer of 0\.4 MiB; .* "
                                                r"allocates at most 0\.2 MiB at once"):
        f(np.ones(100_000, np.float32))
    assert small_device.held == small_device.global_bytes - 3 * 2**19
