"""What the compatibility layer shares: its error for Theano features it does not offer."""

from __future__ import annotations

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
