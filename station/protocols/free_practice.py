"""Free practice: count insert-then-remove cycles of any hole, no end.

``reps`` counts completed cycles; ``status`` is complete and ``total_s`` runs
from the first event to the last.
"""
from __future__ import annotations

from ..events import Event, PegIn, PegOut
from .base import Protocol


class FreePractice(Protocol):
    name = "free-practice"
    description = "Free practice: counted reps"
    options = {"goal": 0}

    def __init__(self, board, **options) -> None:
        super().__init__(board, **options)
        self.reps = 0
        self.seated: set[int] = set()
        self.events: list[Event] = []

    @property
    def done(self) -> bool:
        return False  # practice runs until it is stopped

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

    def finish(self, now: float | None = None) -> None:
        self.status = "complete"

    def result(self) -> dict:
        r = super().result()
        r["reps"] = self.reps
        return r
