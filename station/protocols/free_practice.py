"""Free practice: count insert-then-remove cycles of any hole.

``reps`` counts completed cycles: a ``peg_in`` then a ``peg_out`` of the same
hole. A peg picked up (from the dish or the table) and put back without being
seated is no cycle, nor is a ``peg_out`` of a hole not seen filled. ``status``
is complete and ``total_s`` runs from the first event to the last.

With no ``goal`` practice runs until it is stopped (``finish``). With a
``goal`` it also ends, complete, at the rep that reaches it: the patient sees
the session end, and events after it are not counted. The result adds
``goal``, ``goal_reached`` and the pace metrics of
``station.metrics.free_practice_metrics``.
"""
from __future__ import annotations

from station.events import Event, PegIn, PegOut
from station.metrics import free_practice_metrics
from station.protocols.base import Protocol
from station.record_types import ProtocolResult


class FreePractice(Protocol):
    name = "free-practice"
    description = "Free practice: counted reps"
    options = {"goal": 0}  # 0: no goal
    option_max = {"goal": 10000}

    def __init__(self, board, **options) -> None:
        super().__init__(board, **options)
        self.reps = 0
        self.rep_times: list[float] = []
        self.seated: set[int] = set()
        self.events: list[Event] = []

    def handle(self, ev: Event) -> None:
        if self.start_t is None:
            self.start_t = ev.t
        self.end_t = ev.t
        self.events.append(ev)
        if isinstance(ev, PegIn):
            self.seated.add(ev.hole)
        elif isinstance(ev, PegOut) and ev.hole in self.seated:
            self.seated.discard(ev.hole)
            self.reps += 1
            self.rep_times.append(ev.t)
            if self.opts["goal"] and self.reps >= self.opts["goal"]:
                self.status = "complete"

    def finish(self, now: float | None = None) -> None:
        self.status = "complete"

    def elapsed(self, now: float) -> float:
        """Seconds since the first event, up to ``now`` while practice goes on.

        ``end_t`` follows every event (the result's ``total_s`` runs to the
        last one), so the base class's rule would freeze the clock between
        reps and a screen's timer would jump back at each state message.
        """
        if self.start_t is None:
            return 0.0
        end = self.end_t if self.done and self.end_t is not None else now
        return max(0.0, end - self.start_t)

    def result(self) -> ProtocolResult:
        r = super().result()
        r["reps"] = self.reps
        goal = self.opts["goal"] or None
        r["goal"] = goal
        r["goal_reached"] = None if goal is None else self.reps >= goal
        return r | free_practice_metrics(self.rep_times, self.start_t, self.end_t)
