"""Nine Hole Peg Test: place every peg, then take every peg out, timed.

With a dish cell, timing starts at the first pick-up from the dish (its count
drops below the start) and stops when the last peg is back in the dish after
every hole has held a peg and been emptied. Without one, it starts at the
start button press and stops at the last ``peg_out``. ``timeout`` when the
cutoff passes first (``CutoffMixin``); ``incomplete`` when the input ends first.

The two are different definitions of the time, so the result says which one
it used (``timing``, a key of ``TIMINGS``). Only the dish timing matches the
stopwatch definition the published norms use (Mathiowetz et al. 1985: from
touching the first peg to the last peg hitting the container); a time from
the start button to the last peg out leaves out the return of the last peg
and adds the reaction to the button, so it is never scored against those
norms (``station.norms.score_time``).

A peg picked up from the dish and put back without being inserted is not a
cycle: only holes that have held a peg and been emptied count, and the dish
must be back at its start count (it is counted in ``returned_to_dish``).
The result adds the metrics of ``station.metrics.nine_hole_peg_metrics``.
"""
from __future__ import annotations

from station.events import ButtonPress, CellCount, Event, PegIn, PegOut
from station.metrics import nine_hole_peg_metrics
from station.protocols.base import CutoffMixin, Protocol
from station.record_types import ProtocolResult

DISH_TIMING = "first-peg-to-dish"
BUTTON_TIMING = "button-to-last-peg-out"
#: timing definition -> what it measures, as the screen and the clinical note say it
TIMINGS = {
    DISH_TIMING: "from the first peg lifted out of the dish to the last peg back in it, as a stopwatch times it",
    BUTTON_TIMING: "from the start button to the last peg out of the board (no dish cell)",
}


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
            start = self.dish_start  # not None: the board has a dish
            if self.start_t is None and start is not None and ev.count < start:
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
        if self.dish_start is not None:  # the board has a dish (and ``ev``, a CellCount, is the dish's)
            if isinstance(ev, CellCount) and ev.count >= self.dish_start:
                self._stop(ev.t)
        elif isinstance(ev, PegOut):
            self._stop(ev.t)

    def _stop(self, t: float) -> None:
        self.end_t = t
        self.status = "complete"

    def result(self) -> ProtocolResult:
        r = super().result() | {"timing": DISH_TIMING if self.has_dish else BUTTON_TIMING}
        if self.start_t is None:
            return r | nine_hole_peg_metrics([], 0.0, None, self.opts["pegs"], False, self.dish_start)
        return r | nine_hole_peg_metrics(self.events, self.start_t, self.end_t, self.opts["pegs"],
                                         self.status == "complete", self.dish_start)
