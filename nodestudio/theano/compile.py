"""`theano.function`, `theano.shared` and `theano.In` on the core API.

Optional Theano arguments pass through where the core API understands them (`name`,
`allow_input_downcast`, `borrow`); `mode`, `profile` and `on_unused_input` only select Theano's
own machinery and are accepted and ignored."""

from __future__ import annotations

from typing import Any

import numpy as np

import nodestudio as ns
from nodestudio.theano._support import TheanoCompatError
from nodestudio.theano.config import config

_IGNORED = ("mode", "profile", "on_unused_input", "accept_inplace", "rebuild_strict")


def function(inputs, outputs=None, mode=None, updates=None, givens=None,
             no_default_updates: bool = False, name: str | None = None,
             allow_input_downcast: bool | None = None, **kwargs: Any):
    """Compile like theano.function; inputs may hold theano.In entries."""
    unknown = sorted(k for k in kwargs if k not in _IGNORED)
    if unknown:
        raise TheanoCompatError(f"theano.function argument(s) {', '.join(unknown)}")
    if no_default_updates:
        raise TheanoCompatError("theano.function(no_default_updates=True)")
    if updates is not None and hasattr(updates, "items"):
        updates = list(updates.items())
    return ns.function(list(inputs), outputs, updates=updates, givens=givens, name=name,
                       allow_input_downcast=bool(allow_input_downcast))


def shared(value: Any, name: str | None = None, strict: bool = False,
           allow_downcast: bool | None = None, borrow: bool = False, **kwargs: Any):
    """A shared variable. float64 values are held in floatX (float32 by default, float64 when
    theano.config.floatX is 'float64'), float32 ones in float32; integers in int32 (int64
    labels usually fit; the tutorials cast them with T.cast(y, 'int32') anyway)."""
    if kwargs:
        raise TheanoCompatError(f"theano.shared argument(s) {', '.join(sorted(kwargs))}")
    array = np.asarray(value)
    dtype = config.floatX if array.dtype == np.float64 else None
    return ns.shared(value, name, borrow=borrow, dtype=dtype)


def In(variable, name=None, value=None, update=None, mutable=None, strict=False,  # noqa: N802
       allow_downcast=None, autoname=True, implicit=None, borrow=None, shared=False):
    """theano.In: an input with a default value (the core API's ns.In)."""
    if update is not None or mutable:
        raise TheanoCompatError("theano.In(update=...) / mutable inputs")
    kwargs: dict[str, Any] = {"value": value}
    if name is not None:
        kwargs["name"] = name
    return ns.In(variable, **kwargs)
