"""What every protocol is: a pure state machine over the event model.

The same object scores a trial live (the daemon feeds it released events and
calls ``advance`` as time passes) and in replay (events from a trace, then
``finish`` at the trace's end). No clock, no I/O.

Live and replay must agree. The pipeline releases an event only once no
detector can still report an earlier one (a load-cell change is confirmed
200 ms after its onset), so live, ``advance(now)`` can pass a deadline (the
cutoff, the timed-pegs window) while an event from *before* the deadline is
still held. Such a late event is applied as if it had come in time: the
deadline decision is reopened, the event handled, and the deadline applied
again (``Protocol.on_event``). In replay events always come before any later
time, so the result is the same either way.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

from station.board_spec import BoardSpec
from station.errors import UserError
from station.events import Event
from station.record_types import ProtocolResult


class ProtocolError(UserError, ValueError):
    """Unknown protocol or bad option; the message says which."""


class Protocol:
    """Base class. Subclasses set ``name``, ``options`` (defaults) and the rules.

    Subclasses implement ``handle(ev)`` (one event, in time order, after the
    deadline check) and, when time alone can end the trial, ``on_time(now)``,
    which ends it through ``end_by_deadline``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    #: option name -> default; the type of the default is the type accepted
    options: ClassVar[dict[str, Any]] = {}
    #: option name -> the largest value accepted (a trial is minutes and tens of items, never 10**4000)
    option_max: ClassVar[dict[str, float]] = {}

    def __init__(self, board: BoardSpec, **options: Any) -> None:
        self.board = board
        self.opts = self.validate_options(options)
        self.status = "running"  # -> complete | timeout | incomplete
        self.start_t: float | None = None
        self.end_t: float | None = None
        self.last_t: float | None = None
        #: the latest time ``advance`` has seen
        self.clock = -math.inf
        #: set while the status was decided by a deadline at this time (see module doc)
        self._deadline_t: float | None = None

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
            # positive, or the default's own value (free practice's goal 0: "no goal", as its trace says)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value <= 0 and value != default:
                raise ProtocolError(f"{cls.name}: option {key!r} must be positive")
            if key in cls.option_max and value > cls.option_max[key]:
                raise ProtocolError(f"{cls.name}: option {key!r} must be at most {cls.option_max[key]:g}")
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
        reopened = False
        if self.done:
            if self._deadline_t is None or ev.t >= self._deadline_t:
                return
            # An event from before the deadline, released late: it counts.
            self.status, self.end_t, self._deadline_t = "running", None, None
            reopened = True
        self.advance(ev.t)
        if self.done:
            return
        self.last_t = ev.t
        self.handle(ev)
        if reopened:
            self._apply_time(self.clock)

    def handle(self, ev: Event) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def advance(self, now: float) -> None:
        """Time passed with no event: apply cutoffs and windows."""
        if now > self.clock:
            self.clock = now
        self._apply_time(now)

    def _apply_time(self, now: float) -> None:
        if not self.done:
            self.on_time(now)

    def on_time(self, now: float) -> None:
        """Subclasses: end the trial if ``now`` is past a deadline (via ``end_by_deadline``)."""

    def end_by_deadline(self, status: str, t: float) -> None:
        """End the trial at deadline ``t`` with ``status`` (reopened by an earlier late event)."""
        self.status, self.end_t, self._deadline_t = status, t, t

    def finish(self, now: float | None = None) -> None:
        """The input ended. A trial still running is incomplete (or timed out)."""
        if now is None and self.clock != -math.inf:
            now = self.clock  # a late event may have reopened a deadline already passed
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

    def result(self) -> ProtocolResult:
        """The trial's result: always ``status`` and ``total_s``, plus protocol keys."""
        return {"status": self.status, "total_s": self.total_s()}


class CutoffMixin:
    """Times out ``cutoff_s`` after the start: a trial must end strictly within the cutoff."""

    if TYPE_CHECKING:  # what it uses of the Protocol it is mixed into
        start_t: float | None
        opts: dict[str, Any]

        def end_by_deadline(self, status: str, t: float) -> None: ...

    def on_time(self, now: float) -> None:
        if self.start_t is not None and now - self.start_t >= self.opts["cutoff_s"]:
            self.end_by_deadline("timeout", self.start_t + self.opts["cutoff_s"])


def _fits(value: Any, typ: type) -> bool:
    if isinstance(value, bool) != (typ is bool):
        return False
    if typ is float:
        return isinstance(value, (int, float)) and math.isfinite(value)
    return isinstance(value, typ)
