"""Switch debouncing as trace-v1 defines it.

A switch changes state when its new level holds for ``settle_s`` with no
further edge; the change is timed at the *first* edge that left the old
stable level (the start of the bounce burst), not when it was confirmed. A
burst that ends back at the old level is a glitch and changes nothing. Edges
closer than ``settle_s`` for longer than ``chatter_s`` are a chatter fault.

Pure logic: no pins, no clock; every time is passed in.
"""
from __future__ import annotations


class Debouncer:
    """Debounces one switch. Feed raw edges with ``edge``; call ``advance`` as time passes.

    Confirmed changes are returned as ``(t, level)`` tuples; a chatter fault
    sets ``chatter_since`` and is returned once per burst by ``edge``.
    """

    __slots__ = ("settle_s", "chatter_s", "stable", "level", "burst_start", "last_edge", "chatter_reported")

    def __init__(self, settle_s: float, initial_level: int, chatter_s: float = 1.0) -> None:
        self.settle_s = settle_s
        self.chatter_s = chatter_s
        self.stable = initial_level  # last confirmed level
        self.level = initial_level  # last raw level seen
        self.burst_start: float | None = None
        self.last_edge = 0.0
        self.chatter_reported = False

    @property
    def deadline(self) -> float | None:
        """When the pending burst settles if no further edge comes, or None."""
        return None if self.burst_start is None else self.last_edge + self.settle_s

    def horizon(self, now: float) -> float:
        """The earliest time a change this switch may still report."""
        return now if self.burst_start is None else self.burst_start

    def edge(self, t: float, level: int) -> tuple[tuple[float, int] | None, float | None]:
        """Take a raw edge. Returns (change confirmed before it, chatter burst start)."""
        if level == self.level:
            return None, None  # a repeated level is no edge
        change = None
        if self.burst_start is not None and t - self.last_edge >= self.settle_s:
            change = self._settle()
        self.level = level
        if self.burst_start is None:
            self.burst_start = t
            self.chatter_reported = False
        self.last_edge = t
        chatter = None
        if not self.chatter_reported and t - self.burst_start > self.chatter_s:
            self.chatter_reported = True
            chatter = self.burst_start
        return change, chatter

    def advance(self, now: float) -> tuple[float, int] | None:
        """Confirm the pending burst if it has settled by ``now``."""
        if self.burst_start is not None and now - self.last_edge >= self.settle_s:
            return self._settle()
        return None

    def finish(self) -> tuple[float, int] | None:
        """The input ended (end of a trace): take the last level as settled."""
        if self.burst_start is not None:
            return self._settle()
        return None

    def _settle(self) -> tuple[float, int] | None:
        start, self.burst_start = self.burst_start, None
        assert start is not None  # only called with a burst pending
        if self.level == self.stable:
            return None  # glitch: the burst came back to where it started
        self.stable = self.level
        return (start, self.level)
