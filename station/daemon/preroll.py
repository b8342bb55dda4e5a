"""The start button's pre-roll: the last second of raw records between trials.

A trial armed by the start button owns the press (coin drop and timed pegs
start their clock at it), so its trace must begin before the press, and
trace-v1 wants a trace to start with every switch open. Between trials the
daemon keeps the last ``PREROLL_S`` of raw records here, with the raw level
of every switch just before the oldest one; ``start_index`` finds where the
armed trial's records begin. Pure: no asyncio, time comes with the records.
"""
from __future__ import annotations

import collections

from station.events import Edge, RawRecord

PREROLL_S = 1.0  # raw records kept between trials: a trial armed by the start button starts with them


class Preroll:
    """The last ``PREROLL_S`` of raw records between trials, and the switch levels before them."""

    def __init__(self, levels: dict[int, int], open_level: int, buttons: set[int]) -> None:
        self.records: collections.deque[RawRecord] = collections.deque()
        self.buttons = buttons
        self.levels_before = dict(levels)  # raw level of every switch just before records[0]
        self.open_level = open_level
        self.hold = False  # an arming is pending: keep everything

    def add(self, rec: RawRecord) -> None:
        self.records.append(rec)
        if self.hold:
            return
        horizon = rec.t - PREROLL_S
        recs = self.records
        while recs[0].t < horizon:
            old = recs.popleft()
            if type(old) is Edge:
                self.levels_before[old.gpio] = old.level

    def start_index(self, press_t: float) -> tuple[int, bool]:
        """Where a trace armed by a press at ``press_t`` starts: the earliest record at or before
        the press, after any earlier button edge (an earlier press is not this trial's), with
        every switch open just before it. ``(index, all_open)``; without such a moment (a peg
        sits in a hole all along) the press edge itself, and False."""
        recs = self.records
        press_i = next((i for i, r in enumerate(recs) if r.t >= press_t), len(recs))
        floor = 0
        for i in range(press_i):
            r = recs[i]
            if type(r) is Edge and r.gpio in self.buttons:
                floor = i + 1
        opened = self.open_level
        closed = {g for g, lv in self.levels_before.items() if lv != opened}
        for i in range(press_i + 1):
            if i >= floor and not closed:
                return i, True
            rec = recs[i] if i < len(recs) else None
            if type(rec) is Edge:
                (closed.discard if rec.level == opened else closed.add)(rec.gpio)
        return press_i, False

    def clear(self, levels: dict[int, int]) -> None:
        self.records.clear()
        self.levels_before = dict(levels)
        self.hold = False
