"""Timed pegs (Purdue-style count): how many pegs are seated in ``duration_s``.

Starts at the start button press; the score ``pegs`` counts ``peg_in`` events
before start + ``duration_s`` (a peg seated at or after that moment does not
count, even if the pipeline releases it late: see ``base``). Always complete
once the duration has passed; ``incomplete`` if the input ends first. The
result adds the metrics of ``station.metrics.timed_pegs_metrics``.
"""
from __future__ import annotations

from station.events import ButtonPress, Event, PegIn
from station.metrics import timed_pegs_metrics
from station.protocols.base import Protocol
from station.record_types import ProtocolResult


class TimedPegs(Protocol):
    name = "timed-pegs"
    description = "Timed pegs: pegs seated in a fixed time"
    options = {"duration_s": 30.0}
    option_max = {"duration_s": 3600.0}

    def __init__(self, board, **options) -> None:
        super().__init__(board, **options)
        self.pegs = 0
        self.events: list[Event] = []
        self.dish_start = board.cells["dish"].units_at_start if "dish" in board.cells else None

    def on_time(self, now: float) -> None:
        if self.start_t is not None and now >= self.start_t + self.opts["duration_s"]:
            self.end_by_deadline("complete", self.start_t + self.opts["duration_s"])

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

    def result(self) -> ProtocolResult:
        r = super().result()
        r["pegs"] = self.pegs
        start = self.start_t if self.start_t is not None else 0.0
        return r | timed_pegs_metrics(self.events, start, self.end_t, self.dish_start)
