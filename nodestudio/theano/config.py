"""`theano.config`: the settings the tutorials read. `floatX` is 'float32' (the default, as
the course's code expects) or 'float64' where the device computes in double: the type of
`T.matrix`, `T.scalar`, ... and of float64 NumPy values given to `theano.shared`."""

from __future__ import annotations

from typing import Any

from nodestudio.theano._support import TheanoCompatError

_FIXED = {"floatX": "float32", "device": "opencl", "mode": "FAST_RUN"}


class _Config:
    def __init__(self) -> None:
        object.__setattr__(self, "_values", dict(_FIXED))

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"theano.config has no setting {name!r} in nodestudio.theano; "
                                 f"it offers {', '.join(sorted(self._values))}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "floatX":
            if value not in ("float32", "float64"):
                raise TheanoCompatError(f"config.floatX = {value!r}",
                                        "floatX is 'float32' or 'float64'")
            from nodestudio.api.device import current_device, supports_float64  # the device
            if value == "float64" and not supports_float64():
                raise TheanoCompatError(
                    "config.floatX = 'float64'",
                    f"the OpenCL device {current_device().label} has no double precision "
                    "(cl_khr_fp64)")
        self._values[name] = value


config = _Config()
