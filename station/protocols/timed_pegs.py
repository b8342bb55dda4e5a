"""Timed pegs (Purdue-style count): how many pegs are seated in ``duration_s``.

Starts at the start button press; the score ``pegs`` counts ``peg_in`` events
before start + ``duration_s``. Always complete once the duration has passed.
"""
from __future__ import annotations

from ..events import ButtonPress, Event, PegIn
from .base import Protocol


class TimedPegs(Protocol):
    name = "timed-pegs"
    description = "Timed pegs: pegs seated in a fixed time"
    options = {"duration_s": 30.0}

    def __init__(self, board, **options) -> None:
        super().__init__(board, **options)
        self.pegs = 0
        self.events: list[Event] = []

    def advance(self, now: float) -> None:
        if self.start_t is not None and not self.done and now >= self.start_t + self.opts["duration_s"]:
            self.end_t = self.start_t + self.opts["duration_s"]
            self.status = "complete"

    def handle(self, ev: Event) -> None:
        if isinstance(ev, ButtonPress):
            if ev.name == "start" and self.start_t is None:
                self.start_t = ev.t
            return
        if self.start_t is None:
            return
        self.events.append(ev)
        if isinstance(ev, PegIn):
            self.pegs += 1

    def result(self) -> dict:
        r = super().result()
        r["pegs"] = self.pegs
        return r
