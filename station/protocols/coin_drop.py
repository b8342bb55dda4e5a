"""Coin drop: place ``coins`` coins on the tray one at a time, then pick them back up.

Starts at the start button press (or, with no press, at the first tray
change); the placing phase ends when the tray holds ``coins``, the pick-up
phase when it is back at 0. ``timeout`` after ``cutoff_s``; ``incomplete``
when the input ends first. The result has ``place_s`` and ``pickup_s`` (the
two phases) and the metrics of ``station.metrics.coin_drop_metrics``.

A tray count that moves against its phase is no part of the task: fewer
coins while placing (a coin knocked off the tray) or more while picking up
(one put back). Each is reported in the result's ``incidents`` (``t``,
``kind`` ``coin_off_tray``/``coin_back_on_tray``, ``detail``), never silently
ignored; the trial goes on (the count rules the phases as before).
"""
from __future__ import annotations

from station.events import ButtonPress, CellCount, Event
from station.metrics import coin_drop_metrics
from station.protocols.base import CutoffMixin, Protocol
from station.record_types import ProtocolResult


class CoinDrop(CutoffMixin, Protocol):
    name = "coin-drop"
    description = "Coin drop: place the coins, then pick them up"
    options = {"coins": 8, "cutoff_s": 300.0}
    option_max = {"coins": 100, "cutoff_s": 3600.0}

    def __init__(self, board, **options) -> None:
        super().__init__(board, **options)
        self.placed_t: float | None = None
        self.tray = board.cells["tray"].units_at_start if "tray" in board.cells else 0
        self.events: list[Event] = []
        self.incidents: list[dict] = []

    @property
    def phase(self) -> str:
        """``placing`` until the tray has held ``coins``, then ``pickup``."""
        return "placing" if self.placed_t is None else "pickup"

    def handle(self, ev: Event) -> None:
        if isinstance(ev, ButtonPress):
            if ev.name == "start" and self.start_t is None:
                self.start_t = ev.t
            return
        if not isinstance(ev, CellCount) or ev.cell != "tray":
            return
        if self.start_t is None:
            self.start_t = ev.t
        self._check_direction(ev)
        self.tray = ev.count
        self.events.append(ev)
        if self.placed_t is None:
            if ev.count >= self.opts["coins"]:
                self.placed_t = ev.t
        elif ev.count == 0:
            self.end_t = ev.t
            self.status = "complete"

    def _check_direction(self, ev: CellCount) -> None:
        before = self.tray
        if self.phase == "placing" and ev.count < before:
            n = before - ev.count
            self.incidents.append({"t": ev.t, "kind": "coin_off_tray",
                                   "detail": f"{n} coin{'s' * (n > 1)} left the tray while placing "
                                             f"({before} -> {ev.count}): knocked off?"})
        elif self.phase == "pickup" and ev.count > before:
            n = ev.count - before
            self.incidents.append({"t": ev.t, "kind": "coin_back_on_tray",
                                   "detail": f"{n} coin{'s' * (n > 1)} came back onto the tray while picking up "
                                             f"({before} -> {ev.count})"})

    def result(self) -> ProtocolResult:
        r = super().result()
        r["incidents"] = [dict(i) for i in self.incidents]
        r["place_s"] = None if self.placed_t is None or self.start_t is None else round(self.placed_t - self.start_t, 6)
        r["pickup_s"] = None if self.end_t is None or self.placed_t is None or self.status != "complete" \
            else round(self.end_t - self.placed_t, 6)
        start = self.start_t if self.start_t is not None else 0.0
        return r | coin_drop_metrics(self.events, start, self.opts["coins"])
