"""What every protocol is: a pure state machine over the event model.

The same object scores a trial live (the daemon feeds it released events and
calls ``advance`` as time passes) and in replay (events from a trace, then
``finish`` at the trace's end). No clock, no I/O.
"""
from __future__ import annotations

from ..errors import UserError

import math
from typing import Any, ClassVar

from ..board import BoardSpec
from ..events import Event


class ProtocolError(UserError, ValueError):
    """Unknown protocol or bad option; the message says which."""


class Protocol:
    """Base class. Subclasses set ``name``, ``options`` (defaults) and the rules."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: option name -> default; the type of the default is the type accepted
    options: ClassVar[dict[str, Any]] = {}

    def __init__(self, board: BoardSpec, **options: Any) -> None:
        self.board = board
        self.opts = self.validate_options(options)
        self.status = "running"  # -> complete | timeout | incomplete
        self.start_t: float | None = None
        self.end_t: float | None = None
        self.last_t: float | None = None

    @classmethod
    def validate_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults filled in; raise ProtocolError naming an unknown or mistyped option."""
        out = dict(cls.options)
        for key, value in options.items():
            if key == "name":
                continue
            if key not in cls.options:
                known = ", ".join(sorted(cls.options)) or "none"
                raise ProtocolError(f"{cls.name}: unknown option {key!r} (options: {known})")
            default = cls.options[key]
            if default is not None and not _fits(value, type(default)):
                raise ProtocolError(f"{cls.name}: option {key!r} must be a {type(default).__name__}, not {value!r}")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0:
                raise ProtocolError(f"{cls.name}: option {key!r} must be positive")
            out[key] = value
        return out

    @property
    def done(self) -> bool:
        """The trial has ended (complete or timed out); live recording can stop."""
        return self.status in ("complete", "timeout")

    @property
    def started(self) -> bool:
        return self.start_t is not None

    def on_event(self, ev: Event) -> None:
        """Take one released event (events come in time order)."""
        if self.done:
            return
        self.advance(ev.t)
        if self.done:
            return
        self.last_t = ev.t
        self.handle(ev)

    def handle(self, ev: Event) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def advance(self, now: float) -> None:
        """Time passed with no event: apply cutoffs and windows."""

    def finish(self, now: float | None = None) -> None:
        """The input ended. A trial still running is incomplete (or timed out)."""
        if now is not None:
            self.advance(now)
        if not self.done:
            self.status = "incomplete"

    def elapsed(self, now: float) -> float:
        """Seconds since the start (0 before it); frozen once ended."""
        if self.start_t is None:
            return 0.0
        end = self.end_t if self.end_t is not None else now
        return max(0.0, end - self.start_t)

    def total_s(self) -> float | None:
        if self.status != "complete" or self.start_t is None or self.end_t is None:
            return None
        return round(self.end_t - self.start_t, 6)

    def result(self) -> dict:
        """The trial's result: always ``status`` and ``total_s``, plus protocol keys."""
        return {"status": self.status, "total_s": self.total_s()}


class CutoffMixin:
    """Times out ``cutoff_s`` after the start."""

    def advance(self, now: float) -> None:
        if self.start_t is not None and not self.done and now - self.start_t > self.opts["cutoff_s"]:
            self.status = "timeout"
            self.end_t = self.start_t + self.opts["cutoff_s"]


def _fits(value: Any, typ: type) -> bool:
    if isinstance(value, bool) != (typ is bool):
        return False
    if typ is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, typ)
