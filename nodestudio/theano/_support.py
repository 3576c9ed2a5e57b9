"""What the compatibility layer shares: its error for Theano features it does not offer, and
the lookup of core-API pieces (`nodestudio.cast`, `nodestudio.arange`, ...) that it maps onto."""

from __future__ import annotations

from typing import Any

import nodestudio
from nodestudio.errors import NodeStudioError

DOCS = "docs/THEANO.md"


class TheanoCompatError(NodeStudioError, TypeError):
    """A Theano feature that nodestudio.theano does not provide (named in the message, with
    the place in docs/THEANO.md that says what to use instead)."""

    def __init__(self, feature: str, hint: str = ""):
        self.feature = feature
        text = f"nodestudio.theano does not support {feature}"
        if hint:
            text += f"; {hint}"
        super().__init__(f"{text} (see {DOCS})")


def core(name: str, feature: str) -> Any:
    """The core API's `nodestudio.<name>`, or a TheanoCompatError naming the Theano feature
    that needs it when this build of the core API lacks it."""
    try:
        return getattr(nodestudio, name)
    except AttributeError:
        raise TheanoCompatError(feature, f"the core API has no nodestudio.{name} yet") from None


def accepts(func: Any, keyword: str) -> bool:
    """Whether `func` takes `keyword` (so optional Theano arguments pass through only where the
    core API understands them)."""
    import inspect

    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):
        return False
    return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())
