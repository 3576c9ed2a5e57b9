"""Dragging a wire, as a small state object the scene drives: which port the drag started from,
whether it picked up an existing wire, and the verdict for each port it hovers (asked once per
target per drag; a check builds the hovered node alone on the annotation's types, no copy)."""

from __future__ import annotations

from nodestudio.errors import GraphError
from nodestudio.graph.model import Edge, PortRef

WRONG_KIND = "a wire joins an output port to an input port"


class WireGesture:
    """From press on a port to release. `fixed` is the end that stays put: the output pressed,
    the input pressed (wiring backwards), or the source of a wire picked up from its input."""

    def __init__(self, document, fixed: PortRef, fixed_is_output: bool,
                 picked: Edge | None = None):
        self.document = document
        self.fixed = fixed
        self.fixed_is_output = fixed_is_output
        self.picked = picked  # an existing wire being re-routed (released: moved or deleted)
        self._verdicts: dict[tuple[PortRef, bool], str | None] = {}

    def ends(self, target: PortRef) -> tuple[PortRef, PortRef]:
        """(source, destination) of the wire that would join `target`."""
        return (self.fixed, target) if self.fixed_is_output else (target, self.fixed)

    def problem(self, target: PortRef, target_is_output: bool) -> str | None:
        """Why the wire cannot end on `target`, or None when it can (cached per target)."""
        key = (target, target_is_output)
        if key not in self._verdicts:
            self._verdicts[key] = self._judge(target, target_is_output)
        return self._verdicts[key]

    def _judge(self, target: PortRef, target_is_output: bool) -> str | None:
        if target_is_output == self.fixed_is_output:
            return WRONG_KIND
        src, dst = self.ends(target)
        if self.picked is not None and Edge(src, dst) == self.picked:
            return None  # put back where it was
        # judged as if the wire being moved were gone: its old input is free again
        return self.document.connection_problem(src, dst, without=self.picked)

    def finish(self, target: PortRef | None, target_is_output: bool = False) -> str | None:
        """Apply the drop (one undo step); returns the reason when it is refused."""
        if target is None:
            if self.picked is not None:  # a picked-up wire dropped on nothing is deleted
                self.document.disconnect([self.picked])
            return None
        reason = self.problem(target, target_is_output)
        if reason is not None:
            return reason
        src, dst = self.ends(target)
        picked = self.picked
        try:
            if picked is None:
                self.document.connect(src, dst)
            elif Edge(src, dst) != picked:
                self.document.edit(f"Re-route wire to {dst}",
                                   lambda g: (g.disconnect(picked), g.connect(src, dst)))
        except GraphError as exc:
            return exc.detail
        return None
