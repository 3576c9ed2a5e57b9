"""A minimal observer, shared by the graph document and the training loop (no Qt, no OpenCL:
the GUI subscribes from above)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class Observable:
    """A list of subscribers; `subscribe` returns the function that unsubscribes. Callbacks are
    called in subscription order with whatever `emit` is given."""

    def __init__(self) -> None:
        self._callbacks: list[Callable[..., None]] = []

    def subscribe(self, callback: Callable[..., None]) -> Callable[[], None]:
        self._callbacks.append(callback)

        def unsubscribe() -> None:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
        return unsubscribe

    def emit(self, *args: Any) -> None:
        for callback in list(self._callbacks):  # a callback may unsubscribe itself
            callback(*args)
