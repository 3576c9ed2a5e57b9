"""Shared test configuration: import path, a private kernel cache, the `opencl` marker's skip,
and the Hypothesis profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

try:
    import nodestudio  # noqa: F401
except ImportError:  # running from a source checkout without an install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, settings  # noqa: E402

# deadline=None: the first example of a test compiles OpenCL kernels, which takes a while.
settings.register_profile("default", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", deadline=None, max_examples=10, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI")
                                     else "default"))


@pytest.fixture(scope="session", autouse=True)
def _kernel_cache_dir(tmp_path_factory):
    """Compiled programs go to a per-session folder, never to ~/.cache (unless the person
    running the tests chose a folder with NODESTUDIO_CACHE_DIR themselves)."""
    if os.environ.get("NODESTUDIO_CACHE_DIR"):
        yield os.environ["NODESTUDIO_CACHE_DIR"]
        return
    folder = tmp_path_factory.mktemp("kernel-cache")
    os.environ["NODESTUDIO_CACHE_DIR"] = str(folder)
    try:
        yield str(folder)
    finally:
        os.environ.pop("NODESTUDIO_CACHE_DIR", None)


_device_state: dict[str, str | None] = {}


def opencl_unavailable() -> str | None:
    """None when an OpenCL device is usable, else why not (computed once)."""
    if "reason" not in _device_state:
        try:
            import nodestudio as ns
            found = ns.devices()
            _device_state["reason"] = None if found else "no OpenCL device found"
        except Exception as exc:  # no ICD, broken driver, pyopencl missing
            _device_state["reason"] = f"OpenCL unavailable: {type(exc).__name__}: {exc}"
    return _device_state["reason"]


def pytest_collection_modifyitems(config, items):
    if not any(item.get_closest_marker("opencl") for item in items):
        return
    reason = opencl_unavailable()
    if reason is None:
        return
    if os.environ.get("NODESTUDIO_REQUIRE_DEVICE"):
        # CI sets this: a missing driver must fail the run, not skip half the suite.
        raise pytest.UsageError(f"NODESTUDIO_REQUIRE_DEVICE is set but {reason}")
    skip = pytest.mark.skip(reason=f"needs an OpenCL device: {reason}")
    for item in items:
        if item.get_closest_marker("opencl"):
            item.add_marker(skip)


def pytest_configure(config):
    # Hypothesis' failure report imports mypy_extensions' deprecated TypedDict; with the
    # project's "warnings are errors" setting that would turn a failing example into an
    # INTERNALERROR instead of a readable failure.
    config.addinivalue_line("filterwarnings",
                            "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning")
