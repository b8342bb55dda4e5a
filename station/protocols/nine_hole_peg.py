"""Nine Hole Peg Test: place every peg, then take every peg out, timed.

With a dish cell, timing starts at the first pick-up from the dish (its count
drops below the start) and stops when the last peg is back in the dish after
every hole has held a peg and been emptied. Without one, it starts at the
start button press and stops at the last ``peg_out``. ``timeout`` when the
cutoff passes first (``CutoffMixin``); ``incomplete`` when the input ends first.

A peg picked up from the dish and put back without being inserted is not a
cycle: only holes that have held a peg and been emptied count, and the dish
must be back at its start count (it is counted in ``returned_to_dish``).
The result adds the metrics of ``station.metrics.nine_hole_peg_metrics``.
"""
from __future__ import annotations

from station.events import ButtonPress, CellCount, Event, PegIn, PegOut
from station.metrics import nine_hole_peg_metrics
from station.protocols.base import CutoffMixin, Protocol


class NineHolePeg(CutoffMixin, Protocol):
    name = "nine-hole-peg"
    description = "Nine Hole Peg Test (9HPT)"
    options = {"pegs": 9, "cutoff_s": 300.0}
    option_max = {"pegs": 100, "cutoff_s": 3600.0}

    def __init__(self, board, **options) -> None:
        super().__init__(board, **options)
        self.has_dish = "dish" in board.cells
        self.dish_start = board.cells["dish"].units_at_start if self.has_dish else None
        self.dish = self.dish_start
        self.filled: set[int] = set()  # holes that have held a peg
        self.occupied: set[int] = set()
        self.events: list[Event] = []  # what happened between start and stop

    def handle(self, ev: Event) -> None:
        if isinstance(ev, CellCount):
            if ev.cell != "dish":
                return
            self.dish = ev.count
            if self.start_t is None and ev.count < self.dish_start:
                self.start_t = ev.t
        elif isinstance(ev, ButtonPress):
            if not self.has_dish and ev.name == "start" and self.start_t is None:
                self.start_t = ev.t
        elif isinstance(ev, PegIn):
            self.filled.add(ev.hole)
            self.occupied.add(ev.hole)
        elif isinstance(ev, PegOut):
            self.occupied.discard(ev.hole)
        if self.start_t is None:
            return
        self.events.append(ev)
        cycle_done = len(self.filled) >= self.opts["pegs"] and not self.occupied
        if not cycle_done:
            return
        if self.has_dish:
            if isinstance(ev, CellCount) and self.dish >= self.dish_start:
                self._stop(ev.t)
        elif isinstance(ev, PegOut):
            self._stop(ev.t)

    def _stop(self, t: float) -> None:
        self.end_t = t
        self.status = "complete"

    def result(self) -> dict:
        r = super().result()
        if self.start_t is None:
            return r | nine_hole_peg_metrics([], 0.0, None, self.opts["pegs"], False, self.dish_start)
        return r | nine_hole_peg_metrics(self.events, self.start_t, self.end_t, self.opts["pegs"],
                                         self.status == "complete", self.dish_start)
