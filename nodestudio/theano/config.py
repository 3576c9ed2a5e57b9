"""`theano.config`: the settings the tutorials read. NodeStudio computes in float32 (and int32),
so `floatX` is 'float32' and cannot be changed to float64."""

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
        if name == "floatX" and value != "float32":
            raise TheanoCompatError(f"config.floatX = {value!r}",
                                    "NodeStudio computes in float32")
        self._values[name] = value


config = _Config()
