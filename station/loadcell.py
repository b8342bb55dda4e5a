"""Load-cell item counting as trace-v1 defines it (the excursion rule).

Units are grams / unit weight (one peg, one coin). The count changes from n
to m when units stay within +/-``band`` of m for ``hold_s``. The change is
timed at the first sample of the excursion: the first sample outside the band
around n after units last *rested* there for ``rest_s`` (so a finger pressing
down before lifting a peg does not restart it). An excursion that comes back
to rest at n changes nothing (an impact spike, a hand on the tray: a hand is
never still enough to hold one band for ``hold_s``). A saturated reading is a
sensor fault, and the cell reports no changes until it reads normally again.

Pure logic: time is passed in with each sample.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Calibration:
    """How to turn HX711 counts into items on one cell."""

    offset: float
    counts_per_gram: float
    unit_g: float
    sample_hz: float = 80.0

    def units(self, counts: int) -> float:
        return (counts - self.offset) / self.counts_per_gram / self.unit_g

    def grams(self, counts: int) -> float:
        return (counts - self.offset) / self.counts_per_gram


class LoadCellCounter:
    """Counts the items on one cell from its samples.

    ``sample`` returns ``(t, new_count)`` when a change is accepted, else None.
    Sensor faults are returned by ``sample``/``fault`` as a detail string via
    ``pending_fault`` (read and cleared by the caller).
    """

    __slots__ = ("cal", "count", "band", "hold_s", "rest_s", "_scale", "_offset",
                 "_rest_since", "excursion_start", "_run_k", "_run_start", "faulted", "pending_fault")

    def __init__(self, cal: Calibration, count: int, *, band: float = 0.35,
                 hold_s: float = 0.2, rest_s: float = 0.1) -> None:
        self.cal = cal
        self.count = count
        self.band = band
        self.hold_s = hold_s
        self.rest_s = rest_s
        # units = counts * _scale - _offset: one multiply on the hot path
        self._scale = 1.0 / (cal.counts_per_gram * cal.unit_g)
        self._offset = cal.offset * self._scale
        self._rest_since: float | None = None  # start of the current in-band-n run
        self.excursion_start: float | None = None  # first sample of the current excursion
        self._run_k: int | None = None  # integer whose band the last samples sit in
        self._run_start = 0.0
        self.faulted = False
        self.pending_fault: str | None = None

    def horizon(self, now: float) -> float:
        """The earliest time a change this cell may still report."""
        return now if self.excursion_start is None else self.excursion_start

    def fault(self, t: float, detail: str) -> None:
        """The driver reported it could not read the cell."""
        if not self.faulted:
            self.pending_fault = detail
        self.faulted = True
        self._forget()

    def sample(self, t: float, counts: int) -> tuple[float, int] | None:
        if counts == 8388607 or counts == -8388608:
            self.fault(t, f"saturated reading {counts}: sensor disconnected or overloaded")
            return None
        self.faulted = False
        u = counts * self._scale - self._offset
        n = self.count
        band = self.band
        if -band <= u - n <= band:
            rs = self._rest_since
            if rs is None:
                self._rest_since = rs = t
            if self.excursion_start is not None and t - rs >= self.rest_s:
                self.excursion_start = None  # rested back at n: no change
            self._run_k = None
            return None
        self._rest_since = None
        if self.excursion_start is None:
            self.excursion_start = t
        k = round(u)
        if k < 0 or not (-band <= u - k <= band):
            self._run_k = None
            return None
        if k != self._run_k:
            self._run_k = k
            self._run_start = t
            return None
        if t - self._run_start >= self.hold_s:
            onset = self.excursion_start
            self.count = k
            self.excursion_start = None
            self._rest_since = self._run_start
            self._run_k = None
            return (onset, k)
        return None

    def _forget(self) -> None:
        # After a fault nothing before it can be trusted as rest or excursion.
        self._rest_since = None
        self.excursion_start = None
        self._run_k = None
